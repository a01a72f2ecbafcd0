import type { MeshConfig } from './mesh-config.js';
import type { ConfigProblem, LoadedResource } from './types.js';

/** The whole configuration as a source holds it at one moment. */
export interface ConfigState {
  resources: readonly LoadedResource[];
  /** Problems met while reading (an unreadable file, a malformed document, a skipped kind). */
  problems: readonly ConfigProblem[];
  /**
   * Istio's mesh config when the source follows it (the Kubernetes source and the `istio`
   * ConfigMap): the snapshot compiled from this state carries it. Absent: the one given at start.
   */
  meshConfig?: MeshConfig | undefined;
}

export interface ConfigSourceHandlers {
  /** The configuration changed: the full resource set as it is now. */
  change(state: ConfigState): void;
  /** The source could not read (it keeps trying; the last good snapshot keeps serving). */
  error(err: Error): void;
}

/**
 * Where raw resources come from: files today (`FileConfigSource`), the Kubernetes API next. A
 * source only reads; `src/snapshot/store.ts` compiles what it hands over and swaps the snapshot.
 */
export interface ConfigSource {
  /** For logs and errors: `files ./mesh/`, `kubernetes https://…`. */
  readonly description: string;
  /** Reads the whole configuration now (the first load; a reload on demand). */
  read(): Promise<ConfigState>;
  /** Starts following changes; resolves once watching. */
  start(handlers: ConfigSourceHandlers): Promise<void>;
  /** Stops following changes; nothing is delivered afterwards. */
  stop(): void;
  /**
   * Sources whose first `read()` waits on something remote (the Kubernetes API's informers) say
   * why it is not complete yet, or undefined once it is: the waypoint then serves readiness (503,
   * this reason) while it waits. Files answer at once and leave this out.
   */
  syncProblem?(): string | undefined;
}
