import { describe, expect, it } from 'vitest';
import { adminAddressDecision, isLoopbackHost } from '../../../src/admin/admin-address.js';
import { startupWarnings } from '../../../src/admin/startup-checks.js';
import { validityProblem } from '../../../src/hbone/tls-source.js';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { compileSnapshot } from '../../../src/snapshot/compile.js';

describe('admin address', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.157.9.9', true],
    ['::1', true],
    ['[::1]', true],
    ['localhost', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    // Addresses here are only classified, never dialled.
    ['10.0.0.7', false], // never dialled
    ['pod.example', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it.each([
    ['loopback, not allowed', '127.0.0.1', false, {}],
    ['loopback, allowed', '127.0.0.1', true, {}],
    ['wildcard, not allowed', '0.0.0.0', false, { refuse: expect.stringMatching(/^refusing to serve admin on non-loopback address 0\.0\.0\.0: .*--admin-allow-remote/) }],
    ['wildcard, allowed', '0.0.0.0', true, { warn: expect.stringMatching(/reachable from outside this host/) }],
  ])('%s', (_name, host, allow, expected) => {
    expect(adminAddressDecision(host, allow)).toStrictEqual(expected);
  });
});

describe('certificate validity', () => {
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-01-02T00:00:00Z');
  it.each([
    ['before notBefore', '2025-12-31T23:59:59Z', /is not valid before 2026-01-01T00:00:00\.000Z/],
    ['inside', '2026-01-01T12:00:00Z', undefined],
    ['after notAfter', '2026-01-02T00:00:01Z', /expired at 2026-01-02T00:00:00\.000Z/],
  ])('%s', (_name, now, expected) => {
    const p = validityProblem({ notBefore, notAfter, identity: 'spiffe://td/ns/a/sa/b' }, new Date(now));
    if (expected === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(expected);
  });
});

describe('start-up warnings', () => {
  const gateway = (meta: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: ns1${meta} }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
`;
  const bound = `---
apiVersion: v1
kind: Service
metadata: { name: s, namespace: ns1, labels: { istio.io/use-waypoint: wp } }
spec: { clusterIP: 127.157.200.1, ports: [{ name: http, port: 80 }] }
`;
  const snap = (yaml: string) => {
    const loaded = loadResourcesFromText([{ file: 'm.yaml', text: yaml }]);
    return compileSnapshot(loaded.resources, { namespace: 'ns1', name: 'wp', trustDomain: 'td', clusterId: 'K', version: 1, loadWarnings: [] }).snapshot;
  };
  it.each([
    ['all well', gateway('') + bound, 'spiffe://td/ns/ns1/sa/wp', []],
    ['another identity', gateway('') + bound, 'spiffe://td/ns/ns1/sa/other', ['identity']],
    ['no identity', gateway('') + bound, undefined, ['identity']],
    ['service-account annotation honoured', gateway(', annotations: { gateway.istio.io/service-account: x }') + bound, 'spiffe://td/ns/ns1/sa/x', []],
    ['nothing bound', gateway(''), 'spiffe://td/ns/ns1/sa/wp', ['unbound']],
    ['for-service-account annotation', gateway(', annotations: { istio.io/for-service-account: a }') + bound, 'spiffe://td/ns/ns1/sa/wp', ['obsolete']],
    ['waypoint-for as an annotation', gateway(', annotations: { istio.io/waypoint-for: all }') + bound, 'spiffe://td/ns/ns1/sa/wp', ['obsolete']],
  ])('%s', (_name, yaml, identity, kinds) => {
    expect(startupWarnings(snap(yaml), identity).map((w) => w.key.slice(0, w.key.indexOf(':')))).toStrictEqual(kinds);
  });
});
