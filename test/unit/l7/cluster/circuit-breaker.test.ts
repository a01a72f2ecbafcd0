import { describe, expect, it } from 'vitest';
import { CircuitBreaker, UNLIMITED, type Release } from '../../../../src/l7/cluster/circuit-breaker.js';

describe('CircuitBreaker', () => {
  it.each<[string, 'tryAcquireRequest' | 'tryAcquirePending' | 'tryAcquireConnection' | 'tryAcquireRetry', 'requests' | 'pending' | 'connections' | 'retries', object]>([
    ['http2MaxRequests limits active requests', 'tryAcquireRequest', 'requests', { http2MaxRequests: 2 }],
    ['http1MaxPendingRequests limits pending requests', 'tryAcquirePending', 'pending', { http1MaxPendingRequests: 2 }],
    ['maxConnections limits connections', 'tryAcquireConnection', 'connections', { maxConnections: 2 }],
    ['maxRetries limits concurrent retries', 'tryAcquireRetry', 'retries', { maxRetries: 2 }],
  ])('%s; the overflow is refused and counted', (_n, method, resource, limits) => {
    const cb = new CircuitBreaker(limits);
    const a = cb[method]();
    const b = cb[method]();
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(cb[method]()).toBeUndefined();
    expect(cb.stats().overflows[resource]).toBe(1);
    expect(cb.stats().active[resource]).toBe(2);
    (a as Release)();
    (a as Release)(); // a second release is harmless
    expect(cb.stats().active[resource]).toBe(1);
    expect(cb[method]()).toBeDefined();
  });

  it('is unlimited by default (Istio sets 2^32-1)', () => {
    const cb = new CircuitBreaker();
    const held = Array.from({ length: 1000 }, () => cb.tryAcquireRequest());
    expect(held.every((r) => r !== undefined)).toBe(true);
    expect(cb.stats().limits).toEqual({ requests: UNLIMITED, pending: UNLIMITED, connections: UNLIMITED, retries: UNLIMITED });
  });

  it('new limits apply to new requests; requests in flight keep their slots', () => {
    const cb = new CircuitBreaker({ http2MaxRequests: 3 });
    const held = [cb.tryAcquireRequest(), cb.tryAcquireRequest(), cb.tryAcquireRequest()];
    cb.updateLimits({ http2MaxRequests: 1 });
    expect(cb.tryAcquireRequest()).toBeUndefined();
    held.forEach((r) => r?.());
    expect(cb.tryAcquireRequest()).toBeDefined();
    expect(cb.tryAcquireRequest()).toBeUndefined();
  });
});
