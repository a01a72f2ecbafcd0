import { describe, expect, it } from 'vitest';
import { hostPortKey } from '../../../../src/config/address.js';
import type { Endpoint } from '../../../../src/config/types.js';
import { compileDestinationRules } from '../../../../src/routes/istio/destination-rule.js';
import { meshSnapshot, REVIEWS, seededRandom } from '../../../helpers/istio-mesh.js';
import type { TrafficPolicy } from '../../../../src/routes/types.js';
import { subsetEndpoints } from '../../../../src/l7/cluster/cluster-state.js';
import { ClusterRegistry } from '../../../../src/l7/cluster/registry.js';

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {http: {http2MaxRequests: 1}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

function fixture() {
  const { snapshot, resources } = meshSnapshot(DR);
  const policies = compileDestinationRules(resources, { services: snapshot.services, waypointNamespace: 'bookinfo' }).policies;
  const endpoints = snapshot.byHostPort.get(hostPortKey(REVIEWS, 9080))?.endpoints ?? [];
  let now = 0;
  const states = new ClusterRegistry({ clock: () => now, random: seededRandom(7) });
  return { policies, endpoints, states, tick: (t: number) => (now = t) };
}

const ips = (eps: readonly Endpoint[]) => eps.map((e) => e.ip);

describe('subsetEndpoints', () => {
  it('keeps the endpoints whose workload has every subset label', () => {
    const { endpoints } = fixture();
    expect(ips(endpoints)).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    expect(ips(subsetEndpoints(endpoints, { version: 'v2' }))).toEqual(['127.0.1.2']);
    expect(ips(subsetEndpoints(endpoints, { version: 'v9' }))).toEqual([]);
    expect(subsetEndpoints(endpoints, undefined)).toBe(endpoints);
  });
});

describe('ClusterRegistry', () => {
  it('ties policy, subset, load balancer, breaker and outlier detection together', () => {
    const { policies, endpoints, states } = fixture();
    const { policy, subsetLabels } = policies.forCluster(REVIEWS, 9080, 'v1');
    const c = states.ensure(`inbound-vip|9080|http/v1|${REVIEWS}`, policy, endpoints, subsetLabels);
    expect(ips(c.endpoints)).toEqual(['127.0.1.1']);
    expect(c.pick()?.ip).toBe('127.0.1.1');
    const held = c.breaker.tryAcquireRequest();
    expect(held).toBeDefined();
    expect(c.breaker.tryAcquireRequest()).toBeUndefined(); // → 503 UO
    held?.();
  });

  it('picks round-robin over the cluster and skips an ejected endpoint', () => {
    const { policies, endpoints, states } = fixture();
    const c = states.ensure(`inbound-vip|9080|http|${REVIEWS}`, policies.forCluster(REVIEWS, 9080).policy, endpoints);
    expect([c.pick(), c.pick(), c.pick()].map((e) => e?.ip)).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    c.onHttpStatus('127.0.1.2:9080', 500);
    expect(c.isEjected('127.0.1.2:9080')).toBe(true);
    const picks = Array.from({ length: 6 }, () => c.pick()?.ip);
    expect(picks).not.toContain('127.0.1.2');
  });

  it('counts requests in flight for LEAST_REQUEST', () => {
    const { endpoints, states } = fixture();
    const policy: TrafficPolicy = { loadBalancer: { kind: 'LEAST_REQUEST' } };
    const c = states.ensure('lr', policy, endpoints);
    const busy = [c.startRequest(endpoints[0] as Endpoint), c.startRequest(endpoints[0] as Endpoint), c.startRequest('127.0.1.2:9080')];
    expect(c.activeRequests('127.0.1.1:9080')).toBe(2);
    const picks = Array.from({ length: 300 }, () => c.pick()?.ip);
    const count = (ip: string): number => picks.filter((p) => p === ip).length;
    // Seeded, so exact: the idle endpoint gets the most, the busiest the fewest.
    expect({ busiest: count('127.0.1.1'), busy: count('127.0.1.2'), idle: count('127.0.1.3') }).toEqual({ busiest: 26, busy: 93, idle: 181 });
    busy.forEach((release) => release());
    expect(c.activeRequests('127.0.1.1:9080')).toBe(0);
  });

  it('keeps state across reloads while the cluster name lives, and drops it after', () => {
    const { policies, endpoints, states, tick } = fixture();
    const name = `inbound-vip|9080|http|${REVIEWS}`;
    const first = states.ensure(name, policies.forCluster(REVIEWS, 9080).policy, endpoints);
    first.onResult('127.0.1.3:9080', 'connect-failure');
    expect(first.isEjected('127.0.1.3:9080')).toBe(true);

    // A reload: new snapshot objects for the same configuration.
    const reloaded = fixture();
    tick(1000);
    const again = states.ensure(name, reloaded.policies.forCluster(REVIEWS, 9080).policy, reloaded.endpoints);
    expect(again).toBe(first);
    expect(again.isEjected('127.0.1.3:9080')).toBe(true);
    tick(31_000);
    expect(again.isEjected('127.0.1.3:9080')).toBe(false);

    states.retain(['something-else']);
    expect(states.get(name)).toBeUndefined();
    expect(states.ensure(name, reloaded.policies.forCluster(REVIEWS, 9080).policy, reloaded.endpoints)).not.toBe(first);
  });

  it('a policy change swaps the load balancer and limits in place', () => {
    const { endpoints, states } = fixture();
    const c = states.ensure('x', { loadBalancer: { kind: 'ROUND_ROBIN' }, connectionPool: { http2MaxRequests: 1 } }, endpoints);
    const held = c.breaker.tryAcquireRequest();
    states.ensure('x', { loadBalancer: { kind: 'RANDOM' } }, endpoints);
    expect(c.policy.loadBalancer.kind).toBe('RANDOM');
    expect(c.breaker.tryAcquireRequest()).toBeDefined();
    held?.();
  });

  it('describes clusters for the admin view', () => {
    const { policies, endpoints, states } = fixture();
    const c = states.ensure(`inbound-vip|9080|http|${REVIEWS}`, policies.forCluster(REVIEWS, 9080).policy, endpoints);
    c.onResult('127.0.1.1:9080', '5xx');
    const [view] = states.describe();
    expect(view?.name).toBe(`inbound-vip|9080|http|${REVIEWS}`);
    expect(view?.loadBalancer).toEqual({ kind: 'ROUND_ROBIN' });
    expect(view?.endpoints[0]).toEqual({ address: '127.0.1.1:9080', ready: true, ejected: true, activeRequests: 0, workload: 'Pod/bookinfo/reviews-v1' });
    expect(view?.circuitBreakers.limits.requests).toBe(1);
    expect(view?.outlierDetection?.ejectedCount).toBe(1);
  });
});
