/**
 * Holds the current configuration snapshot: takes the resource set a `ConfigSource` hands over,
 * compiles it and swaps it in whole. A set with errors keeps the last good snapshot. Readers take
 * `store.current`: one reference, so a request never sees half a configuration.
 */
import { EventEmitter } from 'node:events';
import { hasFatalErrors } from '../config/problems.js';
import type { ConfigSource, ConfigState } from '../config/source.js';
import type { AmbientDetection } from '../config/dataplane.js';
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
  /** See `CompileOptions.ambientDetection`: `kubernetes` for the Kubernetes source. */
  ambientDetection?: AmbientDetection | undefined;
}

export interface ReloadResult {
  /** True when the configuration had no errors and became `current`. */
  ok: boolean;
  /** `current` after the reload: the new snapshot, or the last good one. */
  snapshot: ConfigSnapshot;
  /** Everything found: warnings on success, errors (and warnings) on rejection. */
  problems: ConfigProblem[];
}

/** The last configuration refused, kept for `/config_dump` and the dashboard. */
export interface RejectedAttempt {
  at: Date;
  /** The errors (and warnings) that refused it. */
  problems: ConfigProblem[];
}

/** Reload bookkeeping: what is served, since when, and what was refused last. */
export interface ReloadStatus {
  /** Version of the snapshot being served (0 before the first load). */
  version: number;
  /** When the served snapshot was compiled (undefined before the first load). */
  loadedAt: Date | undefined;
  accepted: number;
  rejected: number;
  /** The most recent refused configuration, if any since start. */
  lastRejected: RejectedAttempt | undefined;
  /** True when the last attempt was refused: the waypoint serves an older configuration. */
  servingOlder: boolean;
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
  #accepted = 0;
  #rejected = 0;
  #lastRejected: RejectedAttempt | undefined;
  #lastFailed = false;

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

  /** Reload bookkeeping (counts, the last refused attempt). */
  get status(): ReloadStatus {
    return {
      version: this.#current.version,
      loadedAt: this.#accepted === 0 ? undefined : this.#current.loadedAt,
      accepted: this.#accepted,
      rejected: this.#rejected,
      lastRejected: this.#lastRejected,
      servingOlder: this.#lastFailed,
    };
  }

  #refused(problems: ConfigProblem[]): void {
    this.#rejected++;
    this.#lastFailed = true;
    this.#lastRejected = { at: new Date(), problems };
    this.emit('rejected', problems);
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
      error: (err) => this.#refused([{ severity: 'error', file: this.source.description, message: err.message }]),
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
          ambientDetection: this.#opts.ambientDetection,
          meshConfig: state.meshConfig,
        });
        problems = [...state.problems, ...compiled.problems];
        if (!hasFatalErrors(problems)) snapshot = compiled.snapshot;
      } catch (err) {
        problems = [{ severity: 'error', file: this.source.description, message: `reload failed: ${err instanceof Error ? err.message : String(err)}` }];
      }
    }
    if (snapshot === undefined) {
      this.#refused(problems);
      return { ok: false, snapshot: this.#current, problems };
    }
    this.#accepted++;
    this.#lastFailed = false;
    this.#current = snapshot;
    this.emit('snapshot', snapshot);
    return { ok: true, snapshot, problems };
  }
}
