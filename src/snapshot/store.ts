/**
 * Holds the current configuration snapshot and replaces it on reload. A reload that finds errors
 * keeps the last good snapshot. Readers take `store.current`: one reference, swapped whole.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listConfigFiles } from '../config/files.js';
import { loadResources } from '../config/load.js';
import { compileSnapshot, emptySnapshot } from './compile.js';
import type { ConfigProblem, ConfigSnapshot } from '../config/types.js';
import { hasFatalErrors } from './validate.js';

export interface ConfigStoreOptions {
  /** Files and directories of Kubernetes YAML/JSON. */
  paths: string[];
  namespace?: string | undefined;
  name?: string | undefined;
  trustDomain: string;
  clusterId: string;
  rootNamespace?: string | undefined;
  /** Quiet time after the last file event before reloading. Default 200 ms. */
  debounceMs?: number | undefined;
}

export interface ReloadResult {
  /** True when the configuration had no errors and became `current`. */
  ok: boolean;
  /** `current` after the reload: the new snapshot, or the last good one. */
  snapshot: ConfigSnapshot;
  /** Everything found: warnings on success, errors (and warnings) on rejection. */
  problems: ConfigProblem[];
}

export type ConfigStoreEvents = {
  /** A new snapshot is current. */
  snapshot: [snapshot: ConfigSnapshot];
  /** A reload found errors; the previous snapshot stays current. */
  rejected: [problems: ConfigProblem[]];
};

interface DirWatch {
  watcher: FSWatcher;
  /** Inode when the watch started: a directory replaced under the same path needs a new watch. */
  ino: number;
  /** Names that matter in this directory; undefined: every (non-hidden) name. */
  names: Set<string> | undefined;
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  readonly #opts: ConfigStoreOptions;
  #current: ConfigSnapshot;
  /** Reloads run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #watching = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #watches = new Map<string, DirWatch>();

  constructor(opts: ConfigStoreOptions) {
    super();
    this.#opts = { ...opts, paths: [...opts.paths] };
    this.#current = emptySnapshot({
      namespace: opts.namespace,
      name: opts.name,
      trustDomain: opts.trustDomain,
      clusterId: opts.clusterId,
    });
  }

  /** The current snapshot (version 0, nothing bound, until a configuration has loaded). */
  get current(): ConfigSnapshot {
    return this.#current;
  }

  /** Loads and compiles the configuration; swaps it in unless it has errors. */
  reload(): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#reloadNow());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Watches the configured paths and reloads after changes (debounced). Resolves once the watches
   * are in place. Directories are watched one by one, so new subdirectories are picked up on the
   * next reload; for each given path its parent is watched too, which catches files that appear
   * later, editors that replace files, and Kubernetes ConfigMap volumes swapping `..data`.
   */
  async watch(): Promise<void> {
    if (this.#closed || this.#watching) return;
    this.#watching = true;
    await this.#syncWatches();
  }

  /** Stops watching; pending debounced reloads are dropped. */
  close(): void {
    this.#closed = true;
    this.#watching = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watches.values()) w.watcher.close();
    this.#watches.clear();
  }

  async #reloadNow(): Promise<ReloadResult> {
    let problems: ConfigProblem[];
    let snapshot: ConfigSnapshot | undefined;
    try {
      const loaded = await loadResources(this.#opts.paths);
      const compiled = compileSnapshot(loaded.resources, {
        namespace: this.#opts.namespace,
        name: this.#opts.name,
        trustDomain: this.#opts.trustDomain,
        clusterId: this.#opts.clusterId,
        rootNamespace: this.#opts.rootNamespace,
        version: this.#current.version + 1,
        loadWarnings: loaded.problems,
      });
      problems = [...loaded.problems, ...compiled.problems];
      if (!hasFatalErrors(problems)) snapshot = compiled.snapshot;
    } catch (err) {
      problems = [{ severity: 'error', file: this.#opts.paths.join(', '), message: `reload failed: ${err instanceof Error ? err.message : String(err)}` }];
    }
    if (this.#watching) await this.#syncWatches().catch(() => undefined);
    if (snapshot === undefined) {
      this.emit('rejected', problems);
      return { ok: false, snapshot: this.#current, problems };
    }
    this.#current = snapshot;
    this.emit('snapshot', snapshot);
    return { ok: true, snapshot, problems };
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) void this.reload();
    }, this.#opts.debounceMs ?? 200);
  }

  /** Brings the set of watched directories in line with what the paths now contain. */
  async #syncWatches(): Promise<void> {
    const wanted = new Map<string, Set<string> | undefined>();
    for (const given of this.#opts.paths) {
      const abs = path.resolve(given);
      const parent = path.dirname(abs);
      if (parent !== abs && !wanted.has(parent)) wanted.set(parent, new Set());
      wanted.get(parent)?.add(path.basename(abs));
    }
    const listing = await listConfigFiles(this.#opts.paths);
    for (const dir of listing.directories) wanted.set(path.resolve(dir), undefined);
    if (this.#closed || !this.#watching) return;

    for (const [dir, w] of this.#watches) {
      if (!wanted.has(dir)) {
        w.watcher.close();
        this.#watches.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      const info = await stat(dir).catch(() => undefined);
      if (this.#closed || !this.#watching) return;
      const existing = this.#watches.get(dir);
      if (existing !== undefined && info !== undefined && existing.ino === info.ino) {
        existing.names = names;
        continue;
      }
      existing?.watcher.close();
      this.#watches.delete(dir);
      if (info === undefined || !info.isDirectory()) continue;
      try {
        const watcher = watch(dir, { persistent: true }, (_event, filename) => this.#onEvent(dir, filename));
        watcher.on('error', () => {
          watcher.close();
          if (this.#watches.get(dir)?.watcher === watcher) this.#watches.delete(dir);
          this.#schedule();
        });
        this.#watches.set(dir, { watcher, ino: info.ino, names });
      } catch {
        // The directory vanished between stat and watch; the next reload tries again.
      }
    }
  }

  #onEvent(dir: string, filename: string | Buffer | null): void {
    const w = this.#watches.get(dir);
    if (w === undefined) return;
    const name = filename === null ? undefined : filename.toString();
    if (name !== undefined) {
      const configMapSwap = name.startsWith('..');
      if (w.names !== undefined && !w.names.has(name) && !configMapSwap) return;
      if (w.names === undefined && name.startsWith('.') && !configMapSwap) return;
    }
    this.#schedule();
  }
}
