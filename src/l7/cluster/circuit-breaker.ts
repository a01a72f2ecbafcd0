/**
 * Envoy's per-cluster circuit breakers (`envoy/config/cluster/v3/circuit_breaker.proto`), as
 * Istio's `connectionPool` sets them: active requests (`http2MaxRequests`, any protocol), pending
 * requests waiting for a connection (`http1MaxPendingRequests`), connections (`tcp.maxConnections`)
 * and concurrent retries (`http.maxRetries`). Istio's defaults are 2^32-1 for all four, i.e.
 * unlimited. A request over the limit is answered 503 with flag `UO`; a retry over the limit is
 * not made (Envoy counts `upstream_rq_retry_overflow` and returns the last response).
 */
import type { ConnectionPoolLimits } from '../../routes/types.js';

/** Gives the slot back; calling it more than once is harmless. */
export type Release = () => void;

export const UNLIMITED = 0xffffffff;

type Resource = 'requests' | 'pending' | 'connections' | 'retries';

export interface CircuitBreakerStats {
  limits: Record<Resource, number>;
  active: Record<Resource, number>;
  /** Refusals per resource (Envoy `upstream_rq_pending_overflow`, `upstream_cx_overflow`, `upstream_rq_retry_overflow`, ...). */
  overflows: Record<Resource, number>;
}

export class CircuitBreaker {
  private limits: Record<Resource, number>;
  private readonly active: Record<Resource, number> = { requests: 0, pending: 0, connections: 0, retries: 0 };
  private readonly overflows: Record<Resource, number> = { requests: 0, pending: 0, connections: 0, retries: 0 };

  constructor(limits: ConnectionPoolLimits = {}) {
    this.limits = toLimits(limits);
  }

  /** New limits (configuration reload); requests in flight keep their slots. */
  updateLimits(limits: ConnectionPoolLimits = {}): void {
    this.limits = toLimits(limits);
  }

  /** A request to the cluster (held until its response ends); undefined → 503 `UO`. */
  tryAcquireRequest(): Release | undefined {
    return this.acquire('requests');
  }

  /** A request waiting for an upstream connection; undefined → 503 `UO`. */
  tryAcquirePending(): Release | undefined {
    return this.acquire('pending');
  }

  /** An upstream connection; undefined → the connection is not opened (the request overflows). */
  tryAcquireConnection(): Release | undefined {
    return this.acquire('connections');
  }

  /** A retry in flight; undefined → do not retry. */
  tryAcquireRetry(): Release | undefined {
    return this.acquire('retries');
  }

  stats(): CircuitBreakerStats {
    return { limits: { ...this.limits }, active: { ...this.active }, overflows: { ...this.overflows } };
  }

  private acquire(r: Resource): Release | undefined {
    if (this.active[r] >= this.limits[r]) {
      this.overflows[r]++;
      return undefined;
    }
    this.active[r]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active[r]--;
    };
  }
}

function toLimits(l: ConnectionPoolLimits): Record<Resource, number> {
  return {
    requests: l.http2MaxRequests ?? UNLIMITED,
    pending: l.http1MaxPendingRequests ?? UNLIMITED,
    connections: l.maxConnections ?? UNLIMITED,
    retries: l.maxRetries ?? UNLIMITED,
  };
}
