import type { Endpoint } from '../../config/types.js';
import type { Labels, TrafficPolicy } from '../../routes/types.js';
import type { PickContext } from './load-balancer.js';
import type { OutlierOutcome } from './outlier.js';

/**
 * What the upstream side (the retrying forwarder, the TCP relay) needs from the clusters: an
 * endpoint choice, a circuit-breaker slot, and outlier feedback. `ClusterRegistry` implements it;
 * tests may pass a simpler one.
 */
export interface ClusterAccess {
  /** Chooses an endpoint of the cluster (subset-filtered, ejected ones skipped); undefined → 503 `UH`. */
  pick(cluster: string, endpoints: readonly Endpoint[], policy: TrafficPolicy, subsetLabels: Labels | undefined, ctx: PickContext): Endpoint | undefined;
  /** Reserves a request (and, for a retry, a retry) slot; undefined when a circuit breaker is open (503 `UO`). */
  acquire(cluster: string, endpoint: Endpoint, retry: boolean): (() => void) | undefined;
  /** Feeds an attempt's outcome to outlier detection. */
  report(cluster: string, endpointKey: string, outcome: OutlierOutcome): void;
}
