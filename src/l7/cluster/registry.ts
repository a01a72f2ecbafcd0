import type { Endpoint } from '../../config/types.js';
import type { Labels, TrafficPolicy } from '../../routes/types.js';
import type { ClusterAccess } from './access.js';
import { ClusterState, type ClusterDeps, type ClusterView } from './cluster-state.js';
import type { PickContext } from './load-balancer.js';
import type { OutlierOutcome } from './outlier.js';

/**
 * Every cluster's `ClusterState`, by cluster name. The state lives outside the immutable
 * configuration snapshot and survives reloads for as long as the cluster name does; `retain`
 * drops the clusters a new snapshot no longer has. Implements `ClusterAccess` for the forwarder
 * and the TCP relay.
 */
export class ClusterRegistry implements ClusterAccess {
  readonly #clusters = new Map<string, ClusterState>();
  readonly #deps: ClusterDeps;

  constructor(deps: Partial<ClusterDeps> = {}) {
    this.#deps = { clock: deps.clock ?? (() => performance.now()), random: deps.random ?? Math.random };
  }

  get(name: string): ClusterState | undefined {
    return this.#clusters.get(name);
  }

  /** The cluster's state, created on first use and updated with the current policy and endpoints. */
  ensure(name: string, policy: TrafficPolicy, endpoints: readonly Endpoint[], subsetLabels?: Labels): ClusterState {
    const existing = this.#clusters.get(name);
    if (existing !== undefined) {
      existing.update(policy, endpoints, subsetLabels);
      return existing;
    }
    const created = new ClusterState(name, policy, endpoints, this.#deps, subsetLabels);
    this.#clusters.set(name, created);
    return created;
  }

  /** Drops the state of every cluster not named (after a snapshot reload). */
  retain(liveClusterNames: Iterable<string>): void {
    const live = new Set(liveClusterNames);
    for (const name of [...this.#clusters.keys()]) if (!live.has(name)) this.#clusters.delete(name);
  }

  names(): string[] {
    return [...this.#clusters.keys()].sort();
  }

  /** For the admin `/clusters` view. */
  describe(): ClusterView[] {
    return this.names().map((n) => (this.#clusters.get(n) as ClusterState).describe());
  }

  pick(cluster: string, endpoints: readonly Endpoint[], policy: TrafficPolicy, subsetLabels: Labels | undefined, ctx: PickContext): Endpoint | undefined {
    return this.ensure(cluster, policy, endpoints, subsetLabels).pick(ctx);
  }

  acquire(cluster: string, endpoint: Endpoint, retry: boolean): (() => void) | undefined {
    const state = this.#clusters.get(cluster);
    if (state === undefined) return noop;
    const request = state.breaker.tryAcquireRequest();
    if (request === undefined) return undefined;
    let retrySlot: (() => void) | undefined;
    if (retry) {
      retrySlot = state.breaker.tryAcquireRetry();
      if (retrySlot === undefined) {
        request();
        return undefined;
      }
    }
    const active = state.startRequest(endpoint);
    return () => {
      request();
      retrySlot?.();
      active();
    };
  }

  report(cluster: string, endpointKey: string, outcome: OutlierOutcome): void {
    this.#clusters.get(cluster)?.onResult(endpointKey, outcome);
  }
}

function noop(): void {}
