import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../../../src/config/problems.js';
import { compileDestinationRules, DEFAULT_TRAFFIC_POLICY, type DrCompileContext } from '../../../../src/routes/istio/destination-rule.js';
import { DETAILS, meshSnapshot, MULTI, REVIEWS } from '../../../helpers/istio-mesh.js';

function compile(yaml: string, opts: Partial<DrCompileContext> = {}) {
  const { snapshot, resources } = meshSnapshot(yaml);
  const out = compileDestinationRules(resources, { services: snapshot.services, waypointNamespace: 'bookinfo', ...opts });
  return { policies: out.policies, problems: out.problems.map(formatProblem) };
}

const dr = (spec: string, meta = 'name: reviews, namespace: bookinfo'): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {${meta}}
spec:
${spec}`;

describe('DestinationRule load balancers', () => {
  it('no DestinationRule: round robin (this project\'s default; Istio\'s is LEAST_REQUEST), no limits, no outlier detection', () => {
    const { policies } = compile('');
    expect(policies.forCluster(REVIEWS, 9080)).toEqual({ policy: DEFAULT_TRAFFIC_POLICY });
    expect(DEFAULT_TRAFFIC_POLICY).toEqual({ loadBalancer: { kind: 'ROUND_ROBIN' } });
  });

  it.each<[string, string, object]>([
    ['ROUND_ROBIN', '{simple: ROUND_ROBIN}', { kind: 'ROUND_ROBIN' }],
    ['LEAST_REQUEST', '{simple: LEAST_REQUEST}', { kind: 'LEAST_REQUEST' }],
    ['LEAST_CONN (deprecated alias)', '{simple: LEAST_CONN}', { kind: 'LEAST_REQUEST' }],
    ['RANDOM', '{simple: RANDOM}', { kind: 'RANDOM' }],
    ['PASSTHROUGH (treated as ROUND_ROBIN)', '{simple: PASSTHROUGH}', { kind: 'ROUND_ROBIN' }],
    ['UNSPECIFIED', '{simple: UNSPECIFIED}', { kind: 'LEAST_REQUEST' }],
    ['consistent hash on a header', '{consistentHash: {httpHeaderName: X-User}}', { kind: 'CONSISTENT_HASH', header: 'x-user' }],
    ['consistent hash on a cookie', '{consistentHash: {httpCookie: {name: session, ttl: 1h, path: /}}}', { kind: 'CONSISTENT_HASH', cookie: { name: 'session', ttlSeconds: 3600, path: '/' } }],
    ['consistent hash on the source IP', '{consistentHash: {useSourceIp: true}}', { kind: 'CONSISTENT_HASH', sourceIp: true }],
    ['consistent hash on a query parameter', '{consistentHash: {httpQueryParameterName: user}}', { kind: 'CONSISTENT_HASH', queryParameter: 'user' }],
  ])('%s', (_n, lb, want) => {
    const { policies } = compile(dr(`  host: reviews\n  trafficPolicy: {loadBalancer: ${lb}}\n`));
    expect(policies.forCluster(REVIEWS, 9080).policy.loadBalancer).toEqual(want);
  });

  it('warns about PASSTHROUGH', () => {
    const { problems } = compile(dr('  host: reviews\n  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}\n'));
    expect(problems).toContainEqual(expect.stringContaining('spec.trafficPolicy.loadBalancer.simple: PASSTHROUGH is treated as ROUND_ROBIN'));
  });
});

describe('DestinationRule connection pool and outlier detection', () => {
  it('connection pool limits (values > 0 only, as Istio)', () => {
    const { policies } = compile(
      dr(`  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 10, connectTimeout: 1s}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 20, maxRequestsPerConnection: 5, maxRetries: 0}
`),
    );
    expect(policies.forCluster(REVIEWS, 9080).policy.connectionPool).toEqual({
      maxConnections: 10,
      http1MaxPendingRequests: 1,
      http2MaxRequests: 20,
      maxRequestsPerConnection: 5,
    });
  });

  it.each<[string, string, object]>([
    ['empty: Envoy defaults', '{}', { consecutive5xxErrors: 5, intervalMs: 10000, baseEjectionTimeMs: 30000, maxEjectionPercent: 10 }],
    [
      'everything set',
      '{consecutive5xxErrors: 3, consecutiveGatewayErrors: 2, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}',
      { consecutive5xxErrors: 3, consecutiveGatewayErrors: 2, intervalMs: 1000, baseEjectionTimeMs: 60000, maxEjectionPercent: 100 },
    ],
    ['5xx turned off', '{consecutive5xxErrors: 0, consecutiveGatewayErrors: 1}', { consecutive5xxErrors: 0, consecutiveGatewayErrors: 1, intervalMs: 10000, baseEjectionTimeMs: 30000, maxEjectionPercent: 10 }],
  ])('outlier detection: %s', (_n, od, want) => {
    const { policies } = compile(dr(`  host: reviews\n  trafficPolicy: {outlierDetection: ${od}}\n`));
    expect(policies.forCluster(REVIEWS, 9080).policy.outlierDetection).toEqual(want);
  });
});

describe('DestinationRule subsets and port-level settings', () => {
  const yaml = dr(`  host: reviews
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool: {http: {http2MaxRequests: 100}}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: ROUND_ROBIN}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      outlierDetection: {consecutive5xxErrors: 1}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 9080}
        connectionPool: {http: {http2MaxRequests: 3}}
`);
  const { policies } = compile(yaml);

  it('a port-level entry replaces the whole rule policy for that port (no inheritance)', () => {
    expect(policies.forCluster(REVIEWS, 9080).policy).toEqual({ loadBalancer: { kind: 'ROUND_ROBIN' } });
    expect(policies.forCluster(REVIEWS, 9999).policy).toEqual({ loadBalancer: { kind: 'RANDOM' }, connectionPool: { http2MaxRequests: 100 } });
  });

  it('subset labels', () => {
    expect(policies.forCluster(REVIEWS, 9080, 'v1')).toEqual({ policy: { loadBalancer: { kind: 'ROUND_ROBIN' } }, subsetLabels: { version: 'v1' } });
  });

  it('a subset policy overrides field by field', () => {
    expect(policies.forCluster(REVIEWS, 9999, 'v2').policy).toEqual({
      loadBalancer: { kind: 'RANDOM' },
      connectionPool: { http2MaxRequests: 100 },
      outlierDetection: { consecutive5xxErrors: 1, intervalMs: 10000, baseEjectionTimeMs: 30000, maxEjectionPercent: 10 },
    });
  });

  it("a subset's port-level entry replaces everything for that port", () => {
    expect(policies.forCluster(REVIEWS, 9080, 'v3').policy).toEqual({ loadBalancer: { kind: 'ROUND_ROBIN' }, connectionPool: { http2MaxRequests: 3 } });
  });

  it('a subset that is not defined: missingSubset (Envoy answers 503 NC: no such cluster)', () => {
    expect(policies.forCluster(REVIEWS, 9080, 'v9')).toMatchObject({ missingSubset: true });
    expect(compile('').policies.forCluster(REVIEWS, 9080, 'v1')).toMatchObject({ missingSubset: true });
  });
});

describe('DestinationRule selection', () => {
  const rule = (ns: string, host: string, lb: string, extra = ''): string =>
    dr(`  host: "${host}"\n  trafficPolicy: {loadBalancer: {simple: ${lb}}}\n${extra}`, `name: r-${lb.toLowerCase().replace(/_/g, "-")}, namespace: ${ns}`);

  it.each<[string, string[], string, string]>([
    ["the waypoint's namespace beats the Service's", [rule('other', 'details.other.svc.cluster.local', 'RANDOM'), rule('bookinfo', 'details.other.svc.cluster.local', 'ROUND_ROBIN')], DETAILS, 'ROUND_ROBIN'],
    ["the Service's namespace", [rule('other', 'details', 'RANDOM')], DETAILS, 'RANDOM'],
    ['the root namespace last', [rule('istio-system', '*.local', 'RANDOM')], DETAILS, 'RANDOM'],
    ["the Service's namespace before the root", [rule('istio-system', '*.local', 'RANDOM'), rule('other', 'details', 'ROUND_ROBIN')], DETAILS, 'ROUND_ROBIN'],
    ['a third namespace never applies', [rule('third', 'details.other.svc.cluster.local', 'RANDOM')], DETAILS, 'ROUND_ROBIN'],
    ['exact host beats a wildcard', [rule('bookinfo', '*.bookinfo.svc.cluster.local', 'RANDOM'), rule('bookinfo', 'reviews', 'ROUND_ROBIN')], REVIEWS, 'ROUND_ROBIN'],
    ['a longer wildcard beats a shorter one', [rule('bookinfo', '*.svc.cluster.local', 'RANDOM'), rule('bookinfo', '*.bookinfo.svc.cluster.local', 'ROUND_ROBIN')], REVIEWS, 'ROUND_ROBIN'],
    ['not exported to the waypoint namespace', [rule('other', 'details', 'RANDOM', '  exportTo: ["."]\n')], DETAILS, 'ROUND_ROBIN'],
  ])('%s', (_n, docs, host, want) => {
    const { policies } = compile(docs.join('---\n'));
    expect(policies.forCluster(host, 9080).policy.loadBalancer.kind).toBe(want);
  });

  it('merges rules for one host: the oldest traffic policy, the union of subsets', () => {
    const { policies } = compile(
      [
        dr('  host: reviews\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  subsets: [{name: v2, labels: {version: v2}}, {name: v1, labels: {version: other}}]\n', 'name: newer, namespace: bookinfo, creationTimestamp: "2024-06-01T00:00:00Z"'),
        dr('  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n  subsets: [{name: v1, labels: {version: v1}}]\n', 'name: older, namespace: bookinfo, creationTimestamp: "2024-05-01T00:00:00Z"'),
      ].join('---\n'),
    );
    expect(policies.forCluster(REVIEWS, 9080, 'v1')).toEqual({ policy: { loadBalancer: { kind: 'ROUND_ROBIN' } }, subsetLabels: { version: 'v1' } });
    expect(policies.forCluster(REVIEWS, 9080, 'v2').subsetLabels).toEqual({ version: 'v2' });
  });

  it('a rule with a workloadSelector is skipped with a warning', () => {
    const { policies, problems } = compile(dr('  host: reviews\n  workloadSelector: {matchLabels: {app: x}}\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n'));
    expect(policies.forCluster(REVIEWS, 9080).policy.loadBalancer.kind).toBe('ROUND_ROBIN');
    expect(problems).toContainEqual(expect.stringContaining('spec.workloadSelector'));
  });

  it('a host matching no Service is a warning (with a hint for name.namespace)', () => {
    const { problems } = compile(dr('  host: reviews.bookinfo\n'));
    expect(problems).toContainEqual(expect.stringContaining('write reviews.bookinfo.svc.cluster.local or the short name'));
  });

  it.each<[string, string, RegExp]>([
    ['simple and consistentHash together', '  host: reviews\n  trafficPolicy: {loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}}\n', /only one of simple and consistentHash/],
    ['an unknown simple load balancer', '  host: reviews\n  trafficPolicy: {loadBalancer: {simple: FASTEST}}\n', /loadBalancer.simple: must be one of/],
    ['duplicate subset names', '  host: reviews\n  subsets: [{name: v1}, {name: v1}]\n', /subsets\[1\].name: duplicates the name of subsets\[0\]/],
    ['a negative limit', '  host: reviews\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: -1}}}\n', /maxConnections: must be at least 0/],
    ['maxEjectionPercent over 100', '  host: reviews\n  trafficPolicy: {outlierDetection: {maxEjectionPercent: 150}}\n', /maxEjectionPercent: must be at most 100/],
  ])('rejects %s and keeps the other rules', (_n, spec, message) => {
    const { policies, problems } = compile([dr(spec), dr('  host: multi\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n', 'name: multi, namespace: bookinfo')].join('---\n'));
    expect(problems.join('\n')).toMatch(message);
    expect(problems.join('\n')).toMatch(/error: mesh.yaml: DestinationRule bookinfo\/reviews: spec/);
    expect(policies.forCluster(REVIEWS, 9080).policy).toEqual(DEFAULT_TRAFFIC_POLICY);
    expect(policies.forCluster(MULTI, 80).policy.loadBalancer.kind).toBe('RANDOM');
  });

  it('describes the rules per host', () => {
    const { policies } = compile(dr('  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}]\n'));
    expect(policies.describe()).toEqual({
      destinationRules: [{ host: REVIEWS, rule: REVIEWS, from: ['bookinfo/reviews'], subsets: [{ name: 'v1', labels: { version: 'v1' } }], trafficPolicy: DEFAULT_TRAFFIC_POLICY }],
    });
  });
});
