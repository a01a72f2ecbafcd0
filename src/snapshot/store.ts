/**
 * Holds the current configuration snapshot: takes the resource set a `ConfigSource` hands over,
 * compiles it and swaps it in whole. A set with errors keeps the last good snapshot. Readers take
 * `store.current`: one reference, so a request never sees half a configuration.
 */
import { EventEmitter } from 'node:events';
import { hasFatalErrors } from '../config/problems.js';
import type { ConfigSource, ConfigState } from '../config/source.js';
import type { ConfigProblem } from '../config/types.js';
import { compileSnapshot, emptySnapshot } from './compile.js';
import type { ConfigSnapshot } from './types.js';

export interface SnapshotStoreOptions {
  source: ConfigSource;
  namespace?: string | undefined;
  name?: string | undefined;
  trustDomain: string;
  clusterId: string;
  rootNamespace?: string | undefined;
  /** See `CompileOptions.failClosedPolicies`: set for sources that follow objects one by one. */
  failClosedPolicies?: boolean | undefined;
}

export interface ReloadResult {
  /** True when the configuration had no errors and became `current`. */
  ok: boolean;
  /** `current` after the reload: the new snapshot, or the last good one. */
  snapshot: ConfigSnapshot;
  /** Everything found: warnings on success, errors (and warnings) on rejection. */
  problems: ConfigProblem[];
}

export type SnapshotStoreEvents = {
  /** A new snapshot is current. */
  snapshot: [snapshot: ConfigSnapshot];
  /** A configuration was refused for its errors; the previous snapshot stays current. */
  rejected: [problems: ConfigProblem[]];
};

export class SnapshotStore extends EventEmitter<SnapshotStoreEvents> {
  readonly source: ConfigSource;
  readonly #opts: SnapshotStoreOptions;
  #current: ConfigSnapshot;
  /** Compiles run one at a time, in the order the states arrived. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: SnapshotStoreOptions) {
    super();
    this.#opts = opts;
    this.source = opts.source;
    this.#current = emptySnapshot({ namespace: opts.namespace, name: opts.name, trustDomain: opts.trustDomain, clusterId: opts.clusterId });
  }

  /** The current snapshot (version 0, nothing bound, until a configuration has loaded). */
  get current(): ConfigSnapshot {
    return this.#current;
  }

  /** Reads the source now and compiles what it holds; swaps it in unless it has errors. */
  reload(): Promise<ReloadResult> {
    return this.#enqueue(() => this.source.read());
  }

  /** Follows the source: every change it reports is compiled and, when good, swapped in. */
  async watch(): Promise<void> {
    if (this.#closed) return;
    await this.source.start({
      change: (state) => void this.#enqueue(() => Promise.resolve(state)),
      error: (err) => this.emit('rejected', [{ severity: 'error', file: this.source.description, message: err.message }]),
    });
  }

  /** Stops following the source; changes it reports later are dropped. */
  close(): void {
    this.#closed = true;
    this.source.stop();
  }

  #enqueue(state: () => Promise<ConfigState>): Promise<ReloadResult> {
    const run = this.#queue.then(async () => this.#apply(await state()));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #apply(state: ConfigState): ReloadResult {
    let problems: ConfigProblem[] = [...state.problems];
    let snapshot: ConfigSnapshot | undefined;
    if (!hasFatalErrors(problems)) {
      try {
        const compiled = compileSnapshot(state.resources, {
          namespace: this.#opts.namespace,
          name: this.#opts.name,
          trustDomain: this.#opts.trustDomain,
          clusterId: this.#opts.clusterId,
          rootNamespace: this.#opts.rootNamespace,
          version: this.#current.version + 1,
          loadWarnings: state.problems,
          failClosedPolicies: this.#opts.failClosedPolicies,
        });
        problems = [...state.problems, ...compiled.problems];
        if (!hasFatalErrors(problems)) snapshot = compiled.snapshot;
      } catch (err) {
        problems = [{ severity: 'error', file: this.source.description, message: `reload failed: ${err instanceof Error ? err.message : String(err)}` }];
      }
    }
    if (snapshot === undefined) {
      this.emit('rejected', problems);
      return { ok: false, snapshot: this.#current, problems };
    }
    this.#current = snapshot;
    this.emit('snapshot', snapshot);
    return { ok: true, snapshot, problems };
  }
}
