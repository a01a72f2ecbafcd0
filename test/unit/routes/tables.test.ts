import { describe, expect, it } from 'vitest';
import { applyHeaderMutation, pickWeighted, redirectLocation, rewritePath, type MutableHeaders } from '../../../src/routes/actions.js';
import { CONFORMANCE, CONSUMER_NS, MESH_NS, compileMesh, host, request } from '../../helpers/gateway-api-conformance.js';
import { createRandom } from '../../helpers/random.js';
import { istioVirtualServices, type VirtualServiceCompiler, type VirtualServiceRoutes } from '../../../src/routes/tables.js';
import type { CompiledRule, RouteMatchResult, RouteRequest, RouteTable } from '../../../src/routes/types.js';

/** What a lookup comes to, in one line: `echo-v1:8080`, `NR`, `default`, `302 http://…`, `direct 500`. */
function outcome(table: RouteTable | undefined, req: RouteRequest): string {
  if (table === undefined) return 'no table';
  const m = table.match(req);
  if (m === undefined) return 'NR';
  return describeResult(m, req);
}

function describeResult(m: RouteMatchResult, req: RouteRequest): string {
  const a = m.rule.action;
  if (m.rule.routeName === 'default') return 'default';
  switch (a.kind) {
    case 'direct':
      return `direct ${a.status}`;
    case 'redirect':
      return `${a.status} ${redirectLocation(a, req, m.matchedPrefix)}`;
    case 'forward':
      return a.backends.map((b) => `${b.target?.service.name ?? `missing(${b.cluster})`}:${b.target?.port.port ?? '?'}${a.backends.length > 1 ? `@${b.weight}` : ''}`).join(',');
  }
}

function ruleOf(table: RouteTable | undefined, req: RouteRequest): CompiledRule {
  const m = table?.match(req);
  if (m === undefined) throw new Error(`no route for ${req.path}`);
  return m.rule;
}

const echo80 = (yaml: string) => compileMesh([yaml]).tables.get(host('echo'), 80);

describe('GAMMA conformance: which backend answers', () => {
  const cases: Array<{ manifest: string; path: string; headers?: Record<string, string>; want: string }> = [
    // MeshSplit
    { manifest: 'mesh-split.yaml', path: '/v1', want: 'echo-v1:80' },
    { manifest: 'mesh-split.yaml', path: '/v2', want: 'echo-v2:80' },
    { manifest: 'mesh-split.yaml', path: '/', want: 'NR' },
    { manifest: 'mesh-split.yaml', path: '/v1/x', want: 'NR' },
    // MeshHTTPRouteMatching
    { manifest: 'httproute-matching.yaml', path: '/', want: 'echo-v1:8080' },
    { manifest: 'httproute-matching.yaml', path: '/example', want: 'echo-v1:8080' },
    { manifest: 'httproute-matching.yaml', path: '/', headers: { version: 'one' }, want: 'echo-v1:8080' },
    { manifest: 'httproute-matching.yaml', path: '/v2', want: 'echo-v2:8080' },
    { manifest: 'httproute-matching.yaml', path: '/v2/example', want: 'echo-v2:8080' },
    { manifest: 'httproute-matching.yaml', path: '/', headers: { version: 'two' }, want: 'echo-v2:8080' },
    { manifest: 'httproute-matching.yaml', path: '/v2/', want: 'echo-v2:8080' },
    { manifest: 'httproute-matching.yaml', path: '/v2example', want: 'echo-v1:8080' },
    { manifest: 'httproute-matching.yaml', path: '/foo/v2/example', want: 'echo-v1:8080' },
    // MeshHTTPRouteQueryParamMatching
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=whale', want: 'echo-v1:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=dolphin', want: 'echo-v2:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=whale&otherparam=irrelevant', want: 'echo-v1:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=dolphin&color=yellow', want: 'echo-v2:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?color=blue', want: 'NR' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=dog', want: 'NR' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=whaledolphin', want: 'NR' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/', want: 'NR' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/path1?animal=whale', want: 'echo-v1:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=whale', headers: { version: 'one' }, want: 'echo-v2:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/path3?animal=shark', want: 'echo-v1:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/path4?animal=kraken', headers: { version: 'three' }, want: 'echo-v1:8080' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/?animal=shark', want: 'NR' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/path4?animal=kraken', want: 'NR' },
    { manifest: 'httproute-query-param-matching.yaml', path: '/path5?animal=hydra', want: 'echo-v1:8080' },
    // MeshHTTPRouteSimpleSameNamespace, MeshHTTPRouteNamedRule
    { manifest: 'httproute-simple-same-namespace.yaml', path: '/anything', want: 'echo-v1:8080' },
    { manifest: 'httproute-named-rule.yaml', path: '/named', want: 'echo-v1:8080' },
    { manifest: 'httproute-named-rule.yaml', path: '/unnamed', want: 'echo-v2:8080' },
  ];
  it.each(cases)('$manifest: $path $headers → $want', ({ manifest, path, headers, want }) => {
    const table = echo80(CONFORMANCE[manifest]!);
    expect(outcome(table, request({ path, headers: headers ?? {} }))).toBe(want);
  });

  it('every conformance manifest compiles without errors', () => {
    for (const [name, yaml] of Object.entries(CONFORMANCE)) {
      const { problems } = compileMesh([yaml]);
      expect(problems.filter((p) => p.severity === 'error'), name).toEqual([]);
    }
  });

  it('named rules keep their name; unnamed ones are numbered', () => {
    const table = echo80(CONFORMANCE['httproute-named-rule.yaml']!);
    expect(ruleOf(table, request({ path: '/named' })).ruleName).toBe('named-rule');
    expect(ruleOf(table, request({ path: '/unnamed' })).ruleName).toBe('1');
    expect(ruleOf(table, request({ path: '/named' })).routeName).toBe(`HTTPRoute/${MESH_NS}/mesh-http-named-rules`);
  });
});

describe('GAMMA conformance: ports and frontends', () => {
  it('MeshPorts: a parentRef port limits the route to that port; none means every port', () => {
    const { tables } = compileMesh([CONFORMANCE['mesh-ports.yaml']!]);
    const header = (t: RouteTable | undefined): string | undefined => ruleOf(t, request()).responseHeaders.set[0]?.[1];
    expect(header(tables.get(host('echo-v1'), 80))).toBe('v1');
    expect(tables.get(host('echo-v1'), 8080)).toBeUndefined();
    expect(header(tables.get(host('echo-v2'), 80))).toBe('v2');
    expect(header(tables.get(host('echo-v2'), 8080))).toBe('v2');
    expect(header(tables.get(host('echo-v2'), 7070))).toBe('v2');
  });

  it('MeshFrontend: a route applies to its parent Service only', () => {
    const { tables } = compileMesh([CONFORMANCE['mesh-frontend.yaml']!]);
    const rule = ruleOf(tables.get(host('echo-v2'), 80), request({ authority: 'echo-v2' }));
    expect(rule.responseHeaders.set).toEqual([['x-header-set', 'set']]);
    expect(tables.get(host('echo-v1'), 80)).toBeUndefined();
    expect(tables.get(host('echo'), 80)).toBeUndefined();
  });

  it('MeshFrontendHostname: the Host header does not choose the route, the Service does', () => {
    const { tables } = compileMesh([CONFORMANCE['mesh-frontend.yaml']!]);
    const rule = ruleOf(tables.get(host('echo-v2'), 80), request({ authority: 'echo-v1' }));
    expect(rule.responseHeaders.set).toEqual([['x-header-set', 'set']]);
  });
});

describe('GAMMA conformance: consumer routes', () => {
  const { tables, problems } = compileMesh([CONFORMANCE['mesh-consumer-route.yaml']!]);
  const table = tables.get(host('echo-v1'), 80);

  it('applies to clients in the route namespace', () => {
    const rule = ruleOf(table, request({ authority: `echo-v1.${MESH_NS}`, sourceNamespace: CONSUMER_NS }));
    expect(rule.routeName).toBe(`HTTPRoute/${CONSUMER_NS}/mesh-echo-add-header`);
    expect(rule.responseHeaders.set).toEqual([['x-header-set', 'set']]);
  });

  it('does not apply to clients elsewhere: they get the Service default route', () => {
    for (const sourceNamespace of [MESH_NS, 'other', undefined]) {
      const m = table?.match(request({ sourceNamespace }));
      expect(m?.rule.routeName).toBe('default');
      expect(m?.rule.responseHeaders.set).toEqual([]);
      expect(m?.rule.action.kind === 'forward' && m.rule.action.backends[0]?.cluster).toBe(`inbound-vip|80|http|${host('echo-v1')}`);
    }
  });

  it('attaches to every port of the parent (no port given)', () => {
    expect(tables.get(host('echo-v1'), 8080)).toBeDefined();
  });

  it('compiles without problems', () => {
    expect(problems).toEqual([]);
  });

  it('consumer routes replace producer routes for their clients; others keep the producer routes', () => {
    const producer = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: producer, namespace: ${MESH_NS}}
spec:
  parentRefs: [{group: "", kind: Service, name: echo-v1, port: 80}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /only-producer}}]
    backendRefs: [{name: echo-v2, port: 80}]
  - backendRefs: [{name: echo-v2, port: 8080}]
`;
    const t = compileMesh([CONFORMANCE['mesh-consumer-route.yaml']!, producer]).tables.get(host('echo-v1'), 80);
    expect(outcome(t, request({ path: '/only-producer', sourceNamespace: MESH_NS }))).toBe('echo-v2:80');
    expect(outcome(t, request({ path: '/x', sourceNamespace: 'elsewhere' }))).toBe('echo-v2:8080');
    expect(outcome(t, request({ path: '/only-producer', sourceNamespace: CONSUMER_NS }))).toBe('echo-v1:80');
  });
});

describe('GAMMA conformance: redirects (exact Location)', () => {
  const cases: Array<{ manifest: string; path: string; authority?: string; want: string }> = [
    { manifest: 'httproute-303-redirect.yaml', path: '/redirect', want: '303 http://echo/redirect' },
    { manifest: 'httproute-307-redirect.yaml', path: '/temporary', want: '307 http://echo/temporary' },
    { manifest: 'httproute-308-redirect.yaml', path: '/permanent', want: '308 http://echo/permanent' },
    { manifest: 'httproute-redirect-host-and-status.yaml', path: '/hostname-redirect', want: '302 http://example.org/hostname-redirect' },
    { manifest: 'httproute-redirect-host-and-status.yaml', path: '/host-and-status', want: '301 http://example.org/host-and-status' },
    { manifest: 'httproute-redirect-path.yaml', path: '/original-prefix/lemon', want: '302 http://echo/replacement-prefix/lemon' },
    { manifest: 'httproute-redirect-path.yaml', path: '/full/path/original', want: '302 http://echo/full-path-replacement' },
    { manifest: 'httproute-redirect-path.yaml', path: '/path-and-host', want: '302 http://example.org/replacement-prefix' },
    { manifest: 'httproute-redirect-path.yaml', path: '/path-and-status', want: '301 http://echo/replacement-prefix' },
    { manifest: 'httproute-redirect-path.yaml', path: '/full-path-and-host', want: '302 http://example.org/replacement-full' },
    { manifest: 'httproute-redirect-path.yaml', path: '/full-path-and-status', want: '301 http://echo/replacement-full' },
    { manifest: 'httproute-redirect-port.yaml', path: '/port', want: '302 http://echo:8083/port' },
    { manifest: 'httproute-redirect-port.yaml', path: '/port-and-host', want: '302 http://example.org:8083/port-and-host' },
    { manifest: 'httproute-redirect-port.yaml', path: '/port-and-status', want: '301 http://echo:8083/port-and-status' },
    { manifest: 'httproute-redirect-port.yaml', path: '/port-and-host-and-status', want: '302 http://example.org:8083/port-and-host-and-status' },
    { manifest: 'httproute-redirect-scheme.yaml', path: '/scheme', want: '302 https://echo/scheme' },
    { manifest: 'httproute-redirect-scheme.yaml', path: '/scheme-and-host', want: '302 https://example.org/scheme-and-host' },
    { manifest: 'httproute-redirect-scheme.yaml', path: '/scheme-and-status', want: '301 https://echo/scheme-and-status' },
    { manifest: 'httproute-redirect-scheme.yaml', path: '/scheme-and-host-and-status', want: '302 https://example.org/scheme-and-host-and-status' },
    // Host header variants.
    { manifest: 'httproute-303-redirect.yaml', path: '/redirect?x=1', authority: 'echo:80', want: '303 http://echo/redirect?x=1' },
    { manifest: 'httproute-redirect-scheme.yaml', path: '/scheme', authority: 'echo.gateway-conformance-mesh:80', want: '302 https://echo.gateway-conformance-mesh/scheme' },
    { manifest: 'httproute-redirect-port.yaml', path: '/port', authority: '127.0.10.1:80', want: '302 http://127.0.10.1:8083/port' },
  ];
  it.each(cases)('$manifest: $path → $want', ({ manifest, path, authority, want }) => {
    expect(outcome(echo80(CONFORMANCE[manifest]!), request({ path, authority: authority ?? 'echo' }))).toBe(want);
  });

  it('keeps a non-default Service port when the redirect sets neither port nor scheme', () => {
    const yaml = CONFORMANCE['httproute-303-redirect.yaml']!.replace('port: 80', 'port: 8080');
    const t = compileMesh([yaml]).tables.get(host('echo'), 8080);
    expect(outcome(t, request({ path: '/redirect', authority: 'echo:8080' }))).toBe('303 http://echo:8080/redirect');
  });

  it('uses the scheme default port, not the Service port, when only the scheme is set', () => {
    const yaml = CONFORMANCE['httproute-redirect-scheme.yaml']!.replace('port: 80', 'port: 8080');
    const t = compileMesh([yaml]).tables.get(host('echo'), 8080);
    expect(outcome(t, request({ path: '/scheme', authority: 'echo:8080' }))).toBe('302 https://echo/scheme');
  });
});

describe('GAMMA conformance: path rewrite and header modifiers', () => {
  const cases: Array<{ path: string; want: string }> = [
    { path: '/prefix/one/two', want: '/one/two' },
    { path: '/strip-prefix/three', want: '/three' },
    { path: '/strip-prefix', want: '/' },
    { path: '/full/one/two', want: '/one' },
    { path: '/full/rewrite-path-and-modify-headers/test', want: '/test' },
    { path: '/prefix/rewrite-path-and-modify-headers/one', want: '/prefix/one' },
  ];
  const table = echo80(CONFORMANCE['httproute-rewrite-path.yaml']!);
  it.each(cases)('$path is forwarded as $want', ({ path, want }) => {
    const m = table?.match(request({ path }));
    if (m === undefined || m.rule.action.kind !== 'forward') throw new Error('expected a forward');
    const rewrite = m.rule.action.urlRewrite?.path;
    expect(rewrite === undefined ? path : rewritePath(path, rewrite, m.matchedPrefix)).toBe(want);
    expect(outcome(table, request({ path }))).toBe('echo-v1:80');
  });

  it('rewrites and modifies headers on the same rule', () => {
    const rule = ruleOf(table, request({ path: '/full/rewrite-path-and-modify-headers/test' }));
    const headers: MutableHeaders = { 'x-header-remove': 'remove-val', 'x-header-add-append': 'append-val-1', 'x-header-set': 'set-val' };
    applyHeaderMutation(headers, rule.requestHeaders);
    expect(headers).toEqual({ 'x-header-add': 'header-val-1', 'x-header-add-append': ['append-val-1', 'header-val-2'], 'x-header-set': 'set-overwrites-values' });
  });

  const headerCases: Array<{ path: string; before: MutableHeaders; after: MutableHeaders }> = [
    { path: '/set', before: { 'some-other-header': 'val' }, after: { 'some-other-header': 'val', 'x-header-set': 'set-overwrites-values' } },
    { path: '/set', before: { 'x-header-set': 'some-other-value' }, after: { 'x-header-set': 'set-overwrites-values' } },
    { path: '/add', before: { 'x-header-add': 'some-other-value' }, after: { 'x-header-add': ['some-other-value', 'add-appends-values'] } },
    { path: '/remove', before: { 'x-header-remove': 'val' }, after: {} },
    {
      path: '/case-insensitivity',
      before: { 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'original-val-remove' },
      after: { 'x-header-set': 'header-set', 'x-header-add': ['original-val-add', 'header-add'] },
    },
  ];
  it.each(headerCases)('RequestHeaderModifier on the rule: $path', ({ path, before, after }) => {
    const rule = ruleOf(echo80(CONFORMANCE['httproute-request-header-modifier.yaml']!), request({ path }));
    const headers = { ...before };
    applyHeaderMutation(headers, rule.requestHeaders);
    expect(headers).toEqual(after);
  });

  it.each(headerCases)('RequestHeaderModifier on the backend: $path', ({ path, before, after }) => {
    const rule = ruleOf(echo80(CONFORMANCE['httproute-request-header-modifier-backend.yaml']!), request({ path }));
    expect(rule.requestHeaders.set.length + rule.requestHeaders.add.length + rule.requestHeaders.remove.length).toBe(0);
    if (rule.action.kind !== 'forward') throw new Error('expected a forward');
    const headers = { ...before };
    applyHeaderMutation(headers, rule.action.backends[0]!.requestHeaders!);
    expect(headers).toEqual(after);
  });

  it('GRPCRoute header matches pick the rule and its RequestHeaderModifier', () => {
    const t = compileMesh([CONFORMANCE['grpcroute-request-header-modifier.yaml']!]).tables.get(host('echo'), 7070);
    const grpc = (testCase: string) => request({ method: 'POST', path: '/grpc.testing.TestService/UnaryCall', headers: { 'x-test-case': testCase, 'content-type': 'application/grpc' } });
    expect(ruleOf(t, grpc('set')).requestHeaders.set).toEqual([['x-header-set', 'set-overwrites-values']]);
    expect(ruleOf(t, grpc('add')).requestHeaders.add).toEqual([['x-header-add', 'add-appends-values']]);
    expect(ruleOf(t, grpc('remove')).requestHeaders.remove).toEqual(['x-header-remove']);
    expect(outcome(t, grpc('multi'))).toBe('echo-v2:7070');
    expect(outcome(t, grpc('other'))).toBe('NR');
  });
});

describe('GAMMA conformance: weights', () => {
  function split(yaml: string, port: number, seed: number, n = 1000): Map<string, number> {
    const m = compileMesh([yaml]).tables.get(host('echo'), port)?.match(request({ method: 'POST', path: '/grpc.testing.TestService/UnaryCall' }));
    if (m === undefined || m.rule.action.kind !== 'forward') throw new Error('expected a forward');
    const action = m.rule.action;
    const random = createRandom(seed);
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const b = pickWeighted(action.backends, action.totalWeight, random);
      const name = b?.cluster ?? '500';
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return counts;
  }

  // The seed fixes the sequence, so the counts are exact; each is within the conformance
  // tolerance (± 5 points) of the configured split.
  it.each([
    [1, 721],
    [7, 674],
    [99, 707],
  ])('HTTPRoute 70/30 over 1000 requests: seed %i sends exactly %i to echo-v1, the rest to echo-v2', (seed, v1) => {
    const counts = split(CONFORMANCE['httproute-weight.yaml']!, 80, seed);
    expect(Object.fromEntries(counts)).toEqual({
      [`inbound-vip|8080|http|${host('echo-v1')}`]: v1,
      [`inbound-vip|8080|http|${host('echo-v2')}`]: 1000 - v1,
    });
  });

  it('GRPCRoute 70/30/0: the weight-0 (and absent) echo-v3 never gets a request; backends are h2c', () => {
    const counts = split(CONFORMANCE['grpcroute-weight.yaml']!, 7070, 3);
    expect(Object.fromEntries(counts)).toEqual({
      [`inbound-vip|7070|http|${host('echo-v1')}`]: 698,
      [`inbound-vip|7070|http|${host('echo-v2')}`]: 302,
    });
    const rule = ruleOf(compileMesh([CONFORMANCE['grpcroute-weight.yaml']!]).tables.get(host('echo'), 7070), request({ method: 'POST', path: '/a.B/C' }));
    if (rule.action.kind !== 'forward') throw new Error('expected a forward');
    expect(rule.action.backends.map((b) => b.upstreamProtocol)).toEqual(['h2c', 'h2c', 'h2c']);
    expect(rule.action.totalWeight).toBe(100);
  });

  it('all weights 0 answers 500', () => {
    const yaml = CONFORMANCE['httproute-weight.yaml']!.replace('weight: 70', 'weight: 0').replace('weight: 30', 'weight: 0');
    expect(outcome(compileMesh([yaml]).tables.get(host('echo'), 80), request())).toBe('direct 500');
  });

  it('a rule without backendRefs answers 500', () => {
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: nothing, namespace: ${MESH_NS}}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
  rules:
  - filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: a, value: b}]}}]
`;
    expect(outcome(compileMesh([yaml]).tables.get(host('echo'), 80), request())).toBe('direct 500');
  });

  it('a dangling backend keeps its share, which fails with 500 (target undefined)', () => {
    const yaml = CONFORMANCE['httproute-weight.yaml']!.replace('name: echo-v2', 'name: echo-missing');
    const { tables, problems } = compileMesh([yaml]);
    const rule = ruleOf(tables.get(host('echo'), 80), request());
    if (rule.action.kind !== 'forward') throw new Error('expected a forward');
    const missing = rule.action.backends[1]!;
    expect(missing.target).toBeUndefined();
    expect(missing.weight).toBe(30);
    expect(missing.missingReason).toBe(`Service ${MESH_NS}/echo-missing is not in the configuration`);
    expect(problems).toEqual([
      expect.objectContaining({ severity: 'warning', field: 'spec.rules[0].backendRefs[1]', message: expect.stringContaining('fails with 500') }),
    ]);
    const random = createRandom(5);
    let failed = 0;
    for (let i = 0; i < 1000; i++) if (pickWeighted(rule.action.backends, rule.action.totalWeight, random)?.target === undefined) failed++;
    // The seed makes the count exact: 280 of 1000 for the missing backend's 30 % share.
    expect(failed).toBe(280);
  });
});

// ---- precedence across routes and rules --------------------------------------------------------

function route(name: string, rules: string, opts: { ns?: string; created?: string; kind?: string; parent?: string } = {}): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: ${opts.kind ?? 'HTTPRoute'}
metadata:
  name: ${name}
  namespace: ${opts.ns ?? MESH_NS}
${opts.created ? `  creationTimestamp: "${opts.created}"\n` : ''}spec:
  parentRefs: [${opts.parent ?? `{group: "", kind: Service, name: echo, namespace: ${MESH_NS}, port: 80}`}]
  rules:
${rules}`;
}

/** A rule sending to echo-v1 or echo-v2 on `port`, so the outcome names the winner. */
const to = (svc: 'echo-v1' | 'echo-v2', port: number) => `    backendRefs: [{name: ${svc}, namespace: ${MESH_NS}, port: ${port}}]\n`;

describe('precedence (Gateway API HTTPRouteRule.matches)', () => {
  const cases: Array<{ name: string; routes: string[]; req: Partial<RouteRequest>; want: string }> = [
    {
      name: 'Exact beats a longer PathPrefix, across routes',
      routes: [route('a', `  - matches: [{path: {type: PathPrefix, value: /foo/bar}}]\n${to('echo-v1', 80)}`), route('b', `  - matches: [{path: {type: Exact, value: /foo/bar}}]\n${to('echo-v2', 80)}`)],
      req: { path: '/foo/bar' },
      want: 'echo-v2:80',
    },
    {
      name: 'the longest PathPrefix wins, across routes',
      routes: [route('a', `  - matches: [{path: {type: PathPrefix, value: /foo}}]\n${to('echo-v1', 80)}`), route('b', `  - matches: [{path: {type: PathPrefix, value: /foo/bar}}]\n${to('echo-v2', 80)}`)],
      req: { path: '/foo/bar/baz' },
      want: 'echo-v2:80',
    },
    {
      name: 'PathPrefix beats RegularExpression',
      routes: [route('a', `  - matches: [{path: {type: RegularExpression, value: "/foo/.*"}}]\n${to('echo-v1', 80)}`), route('b', `  - matches: [{path: {type: PathPrefix, value: /}}]\n${to('echo-v2', 80)}`)],
      req: { path: '/foo/x' },
      want: 'echo-v2:80',
    },
    {
      name: 'RegularExpression is used when no prefix matches',
      routes: [route('a', `  - matches: [{path: {type: RegularExpression, value: "/foo/[0-9]+"}}]\n${to('echo-v1', 80)}\n  - matches: [{path: {type: PathPrefix, value: /bar}}]\n${to('echo-v2', 80)}`)],
      req: { path: '/foo/42' },
      want: 'echo-v1:80',
    },
    {
      name: 'a method match beats header matches',
      routes: [route('a', `  - matches: [{headers: [{name: a, value: "1"}, {name: b, value: "2"}]}]\n${to('echo-v1', 80)}\n  - matches: [{method: POST}]\n${to('echo-v2', 80)}`)],
      req: { method: 'POST', headers: { a: '1', b: '2' } },
      want: 'echo-v2:80',
    },
    {
      name: 'more header matches win',
      routes: [route('a', `  - matches: [{headers: [{name: a, value: "1"}]}]\n${to('echo-v1', 80)}`), route('b', `  - matches: [{headers: [{name: a, value: "1"}, {name: B, value: "2"}]}]\n${to('echo-v2', 80)}`)],
      req: { headers: { a: '1', b: '2' } },
      want: 'echo-v2:80',
    },
    {
      name: 'header names are case-insensitive',
      routes: [route('a', `  - matches: [{headers: [{name: X-Version, value: v2}]}]\n${to('echo-v2', 80)}`)],
      req: { headers: { 'x-version': 'v2' } },
      want: 'echo-v2:80',
    },
    {
      name: 'more query matches win',
      routes: [route('a', `  - matches: [{queryParams: [{name: a, value: "1"}, {name: b, value: "2"}]}]\n${to('echo-v2', 80)}\n  - matches: [{queryParams: [{name: a, value: "1"}]}]\n${to('echo-v1', 80)}`)],
      req: { path: '/?a=1&b=2' },
      want: 'echo-v2:80',
    },
    {
      name: 'headers outrank query parameters',
      routes: [route('a', `  - matches: [{queryParams: [{name: a, value: "1"}, {name: b, value: "2"}]}]\n${to('echo-v1', 80)}\n  - matches: [{headers: [{name: h, value: "1"}]}]\n${to('echo-v2', 80)}`)],
      req: { path: '/?a=1&b=2', headers: { h: '1' } },
      want: 'echo-v2:80',
    },
    {
      name: 'on a tie, the oldest route wins',
      routes: [
        route('a-newer', `  - matches: [{path: {type: PathPrefix, value: /x}}]\n${to('echo-v1', 80)}`, { created: '2024-02-01T00:00:00Z' }),
        route('z-older', `  - matches: [{path: {type: PathPrefix, value: /x}}]\n${to('echo-v2', 80)}`, { created: '2024-01-01T00:00:00Z' }),
      ],
      req: { path: '/x' },
      want: 'echo-v2:80',
    },
    {
      name: 'then the first namespace/name alphabetically',
      routes: [route('b', `  - matches: [{path: {type: PathPrefix, value: /x}}]\n${to('echo-v2', 80)}`), route('a', `  - matches: [{path: {type: PathPrefix, value: /x}}]\n${to('echo-v1', 80)}`)],
      req: { path: '/x' },
      want: 'echo-v1:80',
    },
    {
      name: 'then the first rule of the route',
      routes: [route('a', `  - matches: [{path: {type: PathPrefix, value: /x}}]\n${to('echo-v2', 80)}\n  - matches: [{path: {type: PathPrefix, value: /x}}]\n${to('echo-v1', 80)}`)],
      req: { path: '/x' },
      want: 'echo-v2:80',
    },
    {
      name: 'matches of a rule are ranked one by one (OR)',
      routes: [route('a', `  - matches: [{path: {type: PathPrefix, value: /}}, {path: {type: Exact, value: /e}}]\n${to('echo-v1', 80)}\n  - matches: [{path: {type: PathPrefix, value: /e}}]\n${to('echo-v2', 80)}`)],
      req: { path: '/e' },
      want: 'echo-v1:80',
    },
    {
      name: 'routes with and without a parentRef port are ranked together',
      routes: [
        route('a', `  - matches: [{path: {type: PathPrefix, value: /}}]\n${to('echo-v1', 80)}`),
        route('b', `  - matches: [{path: {type: PathPrefix, value: /long}}]\n${to('echo-v2', 80)}`, { parent: `{group: "", kind: Service, name: echo}` }),
      ],
      req: { path: '/long' },
      want: 'echo-v2:80',
    },
  ];
  it.each(cases)('$name', ({ routes, req, want }) => {
    const { tables, problems } = compileMesh(routes);
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(outcome(tables.get(host('echo'), 80), request(req))).toBe(want);
  });
});

describe('GRPCRoute matching', () => {
  const grpcRoute = route(
    'grpc',
    `  - matches: [{method: {service: grpc.testing.TestService, method: UnaryCall}}]
${to('echo-v1', 7070)}  - matches: [{method: {service: grpc.testing.TestService}}]
${to('echo-v2', 7070)}  - matches: [{method: {type: RegularExpression, method: "Stream.*"}}]
    backendRefs: [{name: echo, port: 7070}]
  - matches: [{headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: echo-v1, port: 8080}]
`,
    { kind: 'GRPCRoute', parent: `{group: "", kind: Service, name: echo, port: 7070}` },
  );
  const table = compileMesh([grpcRoute]).tables.get(host('echo'), 7070);
  const cases: Array<[path: string, headers: Record<string, string>, want: string]> = [
    ['/grpc.testing.TestService/UnaryCall', {}, 'echo-v1:7070'],
    ['/grpc.testing.TestService/UnaryCall', { 'x-canary': 'yes' }, 'echo-v1:7070'],
    ['/grpc.testing.TestService/EmptyCall', { 'x-canary': 'yes' }, 'echo-v2:7070'],
    ['/other.Service/StreamingCall', {}, 'echo:7070'],
    ['/other.Service/UnaryCall', { 'x-canary': 'yes' }, 'echo-v1:8080'],
    ['/other.Service/UnaryCall', {}, 'NR'],
  ];
  it.each(cases)('%s %j → %s', (path, headers, want) => {
    expect(outcome(table, request({ method: 'POST', path, headers }))).toBe(want);
  });
});

describe('route tables', () => {
  it('an invalid route is skipped and the valid ones still route', () => {
    const bad = route('bad', `  - matches: [{path: {type: RegularExpression, value: "(unclosed"}}]\n${to('echo-v2', 80)}`);
    const good = route('good', `  - matches: [{path: {type: PathPrefix, value: /}}]\n${to('echo-v1', 80)}`);
    const { tables, problems } = compileMesh([bad, good]);
    expect(problems).toEqual([expect.objectContaining({ severity: 'error', name: 'bad', field: 'spec.rules[0].matches[0].path.value' })]);
    expect(outcome(tables.get(host('echo'), 80), request({ path: '/x' }))).toBe('echo-v1:80');
    expect(tables.get(host('echo'), 80)?.sources).toEqual([`HTTPRoute/${MESH_NS}/good`]);
  });

  it('HTTPRoute and GRPCRoute on one Service port: only the older kind is accepted there', () => {
    const http = route('http', `  - backendRefs: [{name: echo-v1, port: 7070}]\n`, { created: '2024-01-02T00:00:00Z', parent: `{group: "", kind: Service, name: echo}` });
    const grpc = route('grpc', `  - backendRefs: [{name: echo-v2, port: 7070}]\n`, { kind: 'GRPCRoute', created: '2024-01-01T00:00:00Z', parent: `{group: "", kind: Service, name: echo, port: 7070}` });
    const { tables, problems } = compileMesh([http, grpc]);
    expect(outcome(tables.get(host('echo'), 7070), request({ method: 'POST', path: '/a.B/C' }))).toBe('echo-v2:7070');
    expect(outcome(tables.get(host('echo'), 80), request())).toBe('echo-v1:7070');
    expect(problems).toEqual([expect.objectContaining({ severity: 'warning', kind: 'HTTPRoute', name: 'http', message: expect.stringContaining('GRPCRoute') })]);
  });

  it('a kind conflict on several ports is one warning listing them', () => {
    const http = route('http', `  - backendRefs: [{name: echo-v1, port: 80}]\n`, { created: '2024-01-01T00:00:00Z', parent: `{group: "", kind: Service, name: echo}` });
    const grpc = route('grpc', `  - backendRefs: [{name: echo-v2, port: 7070}]\n`, { kind: 'GRPCRoute', created: '2024-01-02T00:00:00Z', parent: `{group: "", kind: Service, name: echo}` });
    const { problems, tables } = compileMesh([http, grpc]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'GRPCRoute', name: 'grpc' });
    expect(problems[0]?.message).toContain(`${host('echo')}:80, ${host('echo')}:443`);
    expect(outcome(tables.get(host('echo'), 7070), request())).toBe('echo-v1:80');
  });

  it('returns the same precompiled result object for every matching request', () => {
    const table = echo80(CONFORMANCE['httproute-matching.yaml']!);
    const a = table?.match(request({ path: '/v2/a' }));
    const b = table?.match(request({ path: '/v2/b?x=1' }));
    expect(a).toBeDefined();
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('describe() is JSON-able and lists rules in match order', () => {
    const { tables } = compileMesh([CONFORMANCE['httproute-matching.yaml']!]);
    const json = JSON.parse(JSON.stringify(tables.describe())) as Array<{ host: string; port: number; segments: Array<{ rules: Array<{ match: unknown }> }> }>;
    expect(json.map((t) => `${t.host}:${t.port}`)).toEqual([`${host('echo')}:80`]);
    expect(json[0]?.segments[0]?.rules.map((r) => r.match)).toEqual([
      { path: { prefix: '/v2' } },
      { path: { prefix: '/' }, headers: [{ name: 'version', exact: 'one' }] },
      { path: { prefix: '/' }, headers: [{ name: 'version', exact: 'two' }] },
      { path: { prefix: '/' } },
    ]);
  });
});

describe('HTTPRoute and VirtualService on one Service: Istio\'s order', () => {
  const vsRule = (name: string): RouteMatchResult =>
    Object.freeze({
      rule: Object.freeze({
        routeName: `VirtualService/${MESH_NS}/${name}`,
        ruleName: '0',
        requestHeaders: { set: [], add: [], remove: [] },
        responseHeaders: { set: [], add: [], remove: [] },
        action: { kind: 'direct' as const, status: 418, body: name },
      }),
    });
  const virtualService = (name: string, createdAtMs: number, pathPrefix: string, visibility?: VirtualServiceRoutes['visibility']): VirtualServiceRoutes => ({
    source: `VirtualService/${MESH_NS}/${name}`,
    namespace: MESH_NS,
    name,
    createdAtMs,
    ...(visibility !== undefined ? { visibility } : {}),
    match: (req) => (req.path.startsWith(pathPrefix) ? vsRule(name) : undefined),
  });
  const hook =
    (...list: VirtualServiceRoutes[]): VirtualServiceCompiler =>
    () => ({ routes: new Map([[`${host('echo')}:80`, list]]), problems: [] });
  const httpRoute = (created: string) => route('catch-all', `  - backendRefs: [{name: echo-v1, port: 80}]\n`, { created });
  const JAN = Date.parse('2024-01-01T00:00:00Z');
  const JUN = Date.parse('2024-06-01T00:00:00Z');

  it('waypoint in the routes\' namespace: HTTPRoutes come before public VirtualServices, whatever their age', () => {
    const { tables } = compileMesh([httpRoute('2024-06-01T00:00:00Z')], { istio: hook(virtualService('reviews', JAN, '/vs')) });
    const t = tables.get(host('echo'), 80);
    expect(outcome(t, request({ path: '/vs/a' }))).toBe('echo-v1:80');
    expect(t?.sources).toEqual([`HTTPRoute/${MESH_NS}/catch-all`, `VirtualService/${MESH_NS}/reviews`]);
  });

  it('a VirtualService exported only to its own (the waypoint\'s) namespace comes first', () => {
    const { tables } = compileMesh([httpRoute('2024-01-01T00:00:00Z')], { istio: hook(virtualService('private', JUN, '/vs', 'private')) });
    expect(tables.get(host('echo'), 80)?.match(request({ path: '/vs/a' }))?.rule.routeName).toBe(`VirtualService/${MESH_NS}/private`);
  });

  it('waypoint elsewhere: the older VirtualService comes first, the HTTPRoute gets what it does not match', () => {
    const { tables } = compileMesh([httpRoute('2024-06-01T00:00:00Z')], { waypointNamespace: 'istio-system', istio: hook(virtualService('reviews', JAN, '/vs')) });
    const t = tables.get(host('echo'), 80);
    expect(t?.match(request({ path: '/vs/a' }))?.rule.routeName).toBe(`VirtualService/${MESH_NS}/reviews`);
    expect(outcome(t, request({ path: '/other' }))).toBe('echo-v1:80');
    expect(t?.sources).toEqual([`VirtualService/${MESH_NS}/reviews`, `HTTPRoute/${MESH_NS}/catch-all`]);
  });

  it('waypoint elsewhere: an older HTTPRoute catch-all shadows a newer VirtualService completely', () => {
    const { tables } = compileMesh([httpRoute('2024-01-01T00:00:00Z')], { waypointNamespace: 'istio-system', istio: hook(virtualService('reviews', JUN, '/vs')) });
    expect(outcome(tables.get(host('echo'), 80), request({ path: '/vs/a' }))).toBe('echo-v1:80');
  });

  it('a VirtualService alone makes a table, and a miss is a 404', () => {
    const { tables } = compileMesh([], { istio: hook(virtualService('only', 0, '/vs')) });
    const t = tables.get(host('echo'), 80);
    expect(t?.match(request({ path: '/vs' }))?.rule.routeName).toBe(`VirtualService/${MESH_NS}/only`);
    expect(outcome(t, request({ path: '/x' }))).toBe('NR');
  });

  it('hook problems are reported with the route problems', () => {
    const istio: VirtualServiceCompiler = () => ({ routes: new Map(), problems: [{ severity: 'warning', file: 'vs.yaml', message: 'from the hook' }] });
    expect(compileMesh([], { istio }).problems).toEqual([{ severity: 'warning', file: 'vs.yaml', message: 'from the hook' }]);
  });

  describe('with the real VirtualService compiler (istioVirtualServices)', () => {
    const vs = (name: string, created: string, prefix: string, dest: string, exportTo = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: ${MESH_NS}
  creationTimestamp: "${created}"
spec:
  hosts: [echo]
${exportTo}  http:
  - match: [{uri: {prefix: ${prefix}}}]
    route: [{destination: {host: ${dest}, port: {number: 80}}}]
`;
    const prefixRoute = (created: string) => route('prefix', `  - matches: [{path: {type: PathPrefix, value: /api}}]\n${to('echo-v1', 80)}`, { created });

    it('waypoint elsewhere: segments by age, each VirtualService\'s rules in their order', () => {
      const { tables, problems } = compileMesh(
        [vs('old-vs', '2024-01-01T00:00:00Z', '/api/v2', 'echo-v2'), prefixRoute('2024-03-01T00:00:00Z'), vs('new-vs', '2024-06-01T00:00:00Z', '/api', 'echo')],
        { waypointNamespace: 'istio-system', istio: istioVirtualServices() },
      );
      expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
      const t = tables.get(host('echo'), 80);
      expect(t?.sources).toEqual([`VirtualService/${MESH_NS}/old-vs`, `HTTPRoute/${MESH_NS}/prefix`, `VirtualService/${MESH_NS}/new-vs`]);
      expect(outcome(t, request({ path: '/api/v2/x' }))).toBe('echo-v2:80');
      expect(outcome(t, request({ path: '/api/v1' }))).toBe('echo-v1:80');
      expect(outcome(t, request({ path: '/other' }))).toBe('NR');
    });

    it('waypoint in the namespace: the HTTPRoute first, then public VirtualServices; a private one before all', () => {
      const { tables } = compileMesh(
        [vs('old-vs', '2024-01-01T00:00:00Z', '/api/v2', 'echo-v2'), prefixRoute('2024-03-01T00:00:00Z'), vs('private-vs', '2024-06-01T00:00:00Z', '/api/v3', 'echo', '  exportTo: ["."]\n')],
        { istio: istioVirtualServices() },
      );
      const t = tables.get(host('echo'), 80);
      expect(t?.sources).toEqual([`VirtualService/${MESH_NS}/private-vs`, `HTTPRoute/${MESH_NS}/prefix`, `VirtualService/${MESH_NS}/old-vs`]);
      expect(outcome(t, request({ path: '/api/v2/x' }))).toBe('echo-v1:80');
      expect(outcome(t, request({ path: '/api/v3' }))).toBe('echo:80');
      const again = t?.match(request({ path: '/api/v3/y' }));
      expect(again).toBe(t?.match(request({ path: '/api/v3/z' })));
    });
  });
});
