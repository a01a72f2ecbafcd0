/**
 * The runtime state of one cluster (`inbound-vip|<port>|http[/<subset>]|<host>`): its load
 * balancer, outlier detection, circuit breakers and active-request counts. `ClusterRegistry`
 * (registry.ts) holds one per cluster name.
 */
import type { Endpoint } from '../../config/types.js';
import type { Labels, LoadBalancer, TrafficPolicy } from '../../routes/types.js';
import { CircuitBreaker, type CircuitBreakerStats, type Release } from './circuit-breaker.js';
import { createPicker, endpointKey, type EndpointPicker, type PickContext, type RandomSource } from './load-balancer.js';
import { OutlierDetector, type OutlierOutcome, type OutlierView } from './outlier.js';

export interface ClusterDeps {
  /** Milliseconds, monotonic. */
  clock: () => number;
  random: RandomSource;
}

/** Endpoints whose workload carries every label of the subset (all endpoints without a subset). */
export function subsetEndpoints(endpoints: readonly Endpoint[], labels: Labels | undefined): readonly Endpoint[] {
  if (labels === undefined) return endpoints;
  const wanted = Object.entries(labels);
  if (wanted.length === 0) return endpoints;
  return endpoints.filter((e) => {
    const have = e.workload?.labels;
    return have !== undefined && wanted.every(([k, v]) => have[k] === v);
  });
}

export interface ClusterView {
  name: string;
  loadBalancer: LoadBalancer;
  endpoints: Array<{ address: string; ready: boolean; ejected: boolean; activeRequests: number; workload?: string }>;
  circuitBreakers: CircuitBreakerStats;
  outlierDetection?: OutlierView;
}

export class ClusterState {
  readonly breaker: CircuitBreaker;
  private policyValue: TrafficPolicy;
  private sourceEndpoints: readonly Endpoint[] = [];
  private subsetLabels: Labels | undefined;
  private endpointList: readonly Endpoint[] = [];
  private picker: EndpointPicker;
  private detector: OutlierDetector | undefined;
  private readonly active = new Map<string, number>();

  constructor(
    readonly name: string,
    policy: TrafficPolicy,
    endpoints: readonly Endpoint[],
    private readonly deps: ClusterDeps,
    subsetLabels?: Labels,
  ) {
    this.policyValue = policy;
    this.breaker = new CircuitBreaker(policy.connectionPool);
    this.picker = this.newPicker(policy.loadBalancer);
    if (policy.outlierDetection !== undefined) this.detector = new OutlierDetector(policy.outlierDetection, { clock: deps.clock });
    this.setEndpoints(endpoints, subsetLabels);
  }

  get policy(): TrafficPolicy {
    return this.policyValue;
  }

  /** The cluster's endpoints (after subset filtering). */
  get endpoints(): readonly Endpoint[] {
    return this.endpointList;
  }

  /**
   * Applies a (possibly) new policy and endpoint list; cheap when both are the same objects as
   * last time. Counters, ejections and round-robin position are kept.
   */
  update(policy: TrafficPolicy, endpoints: readonly Endpoint[], subsetLabels?: Labels): void {
    if (policy !== this.policyValue) {
      const prev = this.policyValue;
      this.policyValue = policy;
      this.breaker.updateLimits(policy.connectionPool);
      if (policy.loadBalancer.kind !== prev.loadBalancer.kind) this.picker = this.newPicker(policy.loadBalancer);
      if (policy.outlierDetection === undefined) this.detector = undefined;
      else if (this.detector === undefined) {
        this.detector = new OutlierDetector(policy.outlierDetection, { clock: this.deps.clock });
        this.detector.setEndpoints(this.endpointList.map(endpointKey));
      } else this.detector.updatePolicy(policy.outlierDetection);
    }
    if (endpoints !== this.sourceEndpoints || subsetLabels !== this.subsetLabels) this.setEndpoints(endpoints, subsetLabels);
  }

  /** An endpoint for a request (or a retry: pass the endpoints tried in `exclude`); undefined → 503 `UH`. */
  pick(ctx?: PickContext): Endpoint | undefined {
    return this.picker.pick(this.endpointList, ctx);
  }

  /** Counts a request in flight to an endpoint (for LEAST_REQUEST) until the returned release is called. */
  startRequest(endpoint: Endpoint | string): Release {
    const key = typeof endpoint === 'string' ? endpoint : endpointKey(endpoint);
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.active.get(key) ?? 1) - 1;
      if (n <= 0) this.active.delete(key);
      else this.active.set(key, n);
    };
  }

  activeRequests(key: string): number {
    return this.active.get(key) ?? 0;
  }

  onResult(key: string, outcome: OutlierOutcome): void {
    this.detector?.onResult(key, outcome);
  }

  onHttpStatus(key: string, status: number): void {
    this.detector?.onHttpStatus(key, status);
  }

  isEjected(key: string): boolean {
    return this.detector?.isEjected(key) ?? false;
  }

  describe(): ClusterView {
    const now = this.deps.clock();
    const ejected = new Set(this.detector?.ejected(now) ?? []);
    return {
      name: this.name,
      loadBalancer: this.policyValue.loadBalancer,
      endpoints: this.endpointList.map((e) => {
        const key = endpointKey(e);
        return {
          address: key,
          ready: e.ready,
          ejected: ejected.has(key),
          activeRequests: this.activeRequests(key),
          ...(e.workload !== undefined ? { workload: e.workload.uid } : {}),
        };
      }),
      circuitBreakers: this.breaker.stats(),
      ...(this.detector !== undefined ? { outlierDetection: this.detector.describe(now) } : {}),
    };
  }

  private setEndpoints(endpoints: readonly Endpoint[], subsetLabels: Labels | undefined): void {
    this.sourceEndpoints = endpoints;
    this.subsetLabels = subsetLabels;
    this.endpointList = subsetEndpoints(endpoints, subsetLabels);
    this.detector?.setEndpoints(this.endpointList.map(endpointKey));
  }

  private newPicker(lb: LoadBalancer): EndpointPicker {
    return createPicker(lb, {
      random: this.deps.random,
      isEjected: (key) => this.isEjected(key),
      activeRequests: (key) => this.activeRequests(key),
    });
  }
}
