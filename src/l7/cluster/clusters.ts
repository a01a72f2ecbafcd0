import type { Endpoint } from '../../config/types.js';
import { ClusterStates } from './cluster-state.js';
import type { ClusterRuntime } from '../upstream/forward.js';
import type { Labels, TrafficPolicy } from '../../routes/types.js';

/**
 * The forwarder's view of per-cluster runtime state (load balancer, circuit breakers, outlier
 * detection), kept across configuration reloads by cluster name.
 */
export class ClusterRuntimeStates implements ClusterRuntime {
  readonly states: ClusterStates;

  constructor(opts: { random?: () => number; clock?: () => number } = {}) {
    this.states = new ClusterStates(opts);
  }

  pick(cluster: string, endpoints: readonly Endpoint[], policy: TrafficPolicy, subsetLabels: Labels | undefined, ctx: { hashKey?: string | undefined; exclude?: ReadonlySet<string> | undefined }): Endpoint | undefined {
    return this.states.ensure(cluster, policy, endpoints, subsetLabels).pick(ctx);
  }

  acquire(cluster: string, endpoint: Endpoint, retry: boolean): (() => void) | undefined {
    const state = this.states.get(cluster);
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

  report(cluster: string, endpointKey: string, outcome: 'success' | '5xx' | 'gateway-error' | 'connect-failure'): void {
    this.states.get(cluster)?.onResult(endpointKey, outcome);
  }
}

function noop(): void {}
