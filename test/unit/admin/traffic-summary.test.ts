import { describe, expect, it } from 'vitest';
import { isError, serviceOf, TrafficSummary } from '../../../src/admin/traffic-summary.js';
import type { AccessRecord } from '../../../src/metrics/access-log.js';
import { NO_RESPONSE_FLAGS, responseFlags } from '../../../src/metrics/response-flags.js';

const rec = (over: Partial<AccessRecord>): AccessRecord => ({
  type: 'http',
  start_time: '2026-01-01T00:00:00Z',
  duration_ms: 3,
  protocol: 'HTTP/1.1',
  response_code: 200,
  response_flags: NO_RESPONSE_FLAGS,
  bytes_received: 0,
  bytes_sent: 0,
  connect_authority: '127.157.9.1:80',
  chain: 'inbound-vip|80|http|a.ns.svc.cluster.local',
  source_principal: '',
  source_address: '127.157.9.2',
  ...over,
});

describe('traffic summary', () => {
  it.each([
    ['a VIP chain', { chain: 'inbound-vip|80|http|a.ns.svc.cluster.local' }, 'a.ns.svc.cluster.local'],
    ['the direct chain', { chain: 'direct-http' }, 'direct-http (workload)'],
    ['no chain (refused)', { chain: '' }, '(unrouted) 127.157.9.1:80'],
  ])('names the service of %s', (_n, over, name) => {
    expect(serviceOf(rec(over))).toBe(name);
  });

  it.each([
    ['200', { response_code: 200 }, false],
    ['403 (a denial is not an error)', { response_code: 403 }, false],
    ['503 UH', { response_code: 503, response_flags: responseFlags('UH') }, true],
    ['TCP closed cleanly', { type: 'tcp', response_code: undefined, response_flags: NO_RESPONSE_FLAGS }, false],
    ['TCP with UF', { type: 'tcp', response_code: undefined, response_flags: responseFlags('UF') }, true],
  ] as const)('%s counts as an error: %s', (_n, over, error) => {
    expect(isError(rec(over as Partial<AccessRecord>))).toBe(error);
  });

  it('counts by service, route, backend and policy, with latency quantiles as bucket bounds', () => {
    const s = new TrafficSummary();
    for (let i = 0; i < 9; i++) s.record(rec({ duration_ms: 3, route: 'HTTPRoute/ns/r#0', upstream_cluster: 'c1' }));
    s.record(rec({ duration_ms: 300, response_code: 503, response_flags: responseFlags('UF'), route: 'HTTPRoute/ns/r#0', upstream_cluster: 'c1' }));
    s.record(rec({ response_code: 403, policy: 'ns/deny-admin', response_code_details: 'rbac_access_denied_matched_policy[ns/deny-admin]' }));
    const snap = s.snapshot(1000);
    expect(snap.services).toStrictEqual([{ name: 'a.ns.svc.cluster.local', requests: 11, errors: 1, p50Ms: 5, p90Ms: 5, p99Ms: 500 }]);
    expect(snap.routes.map((r) => [r.name, r.requests, r.errors])).toStrictEqual([['HTTPRoute/ns/r#0', 10, 1]]);
    expect(snap.backends.map((r) => [r.name, r.requests])).toStrictEqual([['c1', 10]]);
    expect(snap.policies).toStrictEqual([
      { policy: '(allowed)', decision: 'allow', count: 10 },
      { policy: 'ns/deny-admin', decision: 'deny', count: 1 },
    ]);
  });

  it('keeps at most maxKeys rows, folding the rest into (other)', () => {
    const s = new TrafficSummary(2);
    for (const host of ['a', 'b', 'c', 'd']) s.record(rec({ chain: `inbound-vip|80|http|${host}` }));
    expect(s.snapshot().services.map((r) => [r.name, r.requests]).sort()).toStrictEqual([['(other)', 2], ['a', 1], ['b', 1]]);
  });
});
