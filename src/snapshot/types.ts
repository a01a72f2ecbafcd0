import type { AccessLogSetting } from '../config/telemetry.js';
import type { MeshConfig } from '../config/mesh-config.js';
import type { ConfigProblem, LoadedResource, MeshModel } from '../config/types.js';
import type { CompiledPolicies } from '../policy/index.js';
import type { DestinationPolicies, RouteTables } from '../routes/types.js';

/**
 * The compiled, immutable configuration snapshot the data path reads: the mesh model plus the
 * compiled routes, DestinationRules and AuthorizationPolicies. Built once from a set of loaded
 * resources (`compile.ts`) and never mutated; a reload builds a new one and the store swaps a
 * single reference, so a request never sees half a configuration.
 */
export interface ConfigSnapshot extends MeshModel {
  /** Increases by one on every successful (re)load. */
  version: number;
  loadedAt: Date;
  resources: readonly LoadedResource[];
  /** Compiled HTTPRoute/GRPCRoute/VirtualService tables. */
  routes?: RouteTables;
  /** Compiled DestinationRules. */
  destinations?: DestinationPolicies;
  /** Compiled AuthorizationPolicies; absent means none apply. */
  policies?: CompiledPolicies;
  /** Access logging as a `Telemetry` resource sets it; absent when none applies. */
  accessLogging?: AccessLogSetting;
  /**
   * Istio's mesh config when the source follows it (the `istio` ConfigMap in Kubernetes mode);
   * absent: the one given at start (`--mesh-config`), if any, is in force.
   */
  meshConfig?: MeshConfig;
  /** Warnings (dangling references, skipped kinds). Errors never reach a snapshot. */
  warnings: readonly ConfigProblem[];
}
