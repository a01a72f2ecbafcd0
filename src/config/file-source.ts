/**
 * The configuration from files and directories of Kubernetes YAML/JSON, followed with `fs.watch`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listConfigFiles } from './files.js';
import { loadResources } from './load.js';
import type { ConfigSource, ConfigSourceHandlers, ConfigState } from './source.js';

export interface FileConfigSourceOptions {
  /** Files and directories of Kubernetes YAML/JSON. */
  paths: readonly string[];
  /** Quiet time after the last file event before reading again. Default 200 ms. */
  debounceMs?: number | undefined;
}

interface DirWatch {
  watcher: FSWatcher;
  /** Inode when the watch started: a directory replaced under the same path needs a new watch. */
  ino: number;
  /** Names that matter in this directory; undefined: every (non-hidden) name. */
  names: Set<string> | undefined;
}

/**
 * Directories are watched one by one, so new subdirectories are picked up on the next read; for
 * each given path its parent is watched too, which catches files that appear later, editors that
 * replace files, and Kubernetes ConfigMap volumes swapping `..data`.
 */
export class FileConfigSource implements ConfigSource {
  readonly description: string;
  readonly #paths: readonly string[];
  readonly #debounceMs: number;
  #handlers: ConfigSourceHandlers | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Reads run one at a time, in order, so a later change is never overtaken by an earlier one. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #watches = new Map<string, DirWatch>();

  constructor(opts: FileConfigSourceOptions) {
    this.#paths = [...opts.paths];
    this.#debounceMs = opts.debounceMs ?? 200;
    this.description = `files ${this.#paths.join(', ')}`;
  }

  read(): Promise<ConfigState> {
    const run = this.#queue.then(() => this.#readNow());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async start(handlers: ConfigSourceHandlers): Promise<void> {
    if (this.#stopped || this.#handlers !== undefined) return;
    this.#handlers = handlers;
    await this.#syncWatches();
  }

  stop(): void {
    this.#stopped = true;
    this.#handlers = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watches.values()) w.watcher.close();
    this.#watches.clear();
  }

  async #readNow(): Promise<ConfigState> {
    let state: ConfigState;
    try {
      state = await loadResources([...this.#paths]);
    } catch (err) {
      state = { resources: [], problems: [{ severity: 'error', file: this.#paths.join(', '), message: `reload failed: ${err instanceof Error ? err.message : String(err)}` }] };
    }
    if (this.#handlers !== undefined) await this.#syncWatches().catch(() => undefined);
    return state;
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      this.read().then(
        (state) => this.#handlers?.change(state),
        (err: unknown) => this.#handlers?.error(err instanceof Error ? err : new Error(String(err))),
      );
    }, this.#debounceMs);
  }

  /** Brings the set of watched directories in line with what the paths now contain. */
  async #syncWatches(): Promise<void> {
    const wanted = new Map<string, Set<string> | undefined>();
    for (const given of this.#paths) {
      const abs = path.resolve(given);
      const parent = path.dirname(abs);
      if (parent !== abs && !wanted.has(parent)) wanted.set(parent, new Set());
      wanted.get(parent)?.add(path.basename(abs));
    }
    const listing = await listConfigFiles([...this.#paths]);
    for (const dir of listing.directories) wanted.set(path.resolve(dir), undefined);
    if (this.#stopped || this.#handlers === undefined) return;

    for (const [dir, w] of this.#watches) {
      if (!wanted.has(dir)) {
        w.watcher.close();
        this.#watches.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      const info = await stat(dir).catch(() => undefined);
      if (this.#stopped || this.#handlers === undefined) return;
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
        // The directory vanished between stat and watch; the next read tries again.
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
