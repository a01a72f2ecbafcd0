import { describe, expect, it } from 'vitest';
import { hostPortKey } from '../../../../src/config/address.js';
import { formatProblem } from '../../../../src/config/problems.js';
import type { ForwardAction, RouteRequest } from '../../../../src/routes/types.js';
import { compileRoutes } from '../../../../src/routes/tables.js';
import { compileDestinationRules } from '../../../../src/routes/istio/destination-rule.js';
import { meshSnapshot, MULTI, RATINGS, request, REVIEWS } from '../../../helpers/istio-mesh.js';
import {
  compileRegexRewrite,
  compileVirtualServices,
  virtualServiceCompiler,
  type CompiledVsRoute,
  type VsBackendRef,
  type VsCompileContext,
  type VsForwardAction,
} from '../../../../src/routes/istio/virtual-service.js';

function compile(yaml: string, opts: Partial<VsCompileContext> = {}) {
  const { snapshot, resources } = meshSnapshot(yaml);
  const out = compileVirtualServices(resources, {
    byHostPort: snapshot.byHostPort,
    services: snapshot.services,
    waypointNamespace: 'bookinfo',
    ...opts,
  });
  return { ...out, problems: out.problems.map(formatProblem), snapshot, resources };
}

function routesFor(yaml: string, host = REVIEWS, port = 9080, opts: Partial<VsCompileContext> = {}): CompiledVsRoute[] {
  const out = compile(yaml, opts);
  expect(out.problems.filter((p) => p.startsWith('error'))).toEqual([]);
  return out.byHostPort.get(hostPortKey(host, port)) ?? [];
}

/** The first matching route's rule name, or undefined (404 NR). */
function firstMatch(routes: readonly CompiledVsRoute[], req: RouteRequest): string | undefined {
  for (const r of routes) if (r.matches(req) !== undefined) return r.rule.ruleName;
  return undefined;
}

function forward(route: CompiledVsRoute | undefined): VsForwardAction {
  if (route === undefined || route.rule.action.kind !== 'forward') throw new Error('not a forward route');
  return route.rule.action as VsForwardAction;
}

const vs = (spec: string, meta = 'name: reviews-vs, namespace: bookinfo'): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {${meta}}
spec:
${spec}`;

describe('VirtualService matching', () => {
  const routes = routesFor(
    vs(`  hosts: [reviews]
  http:
  - name: exact
    match: [{uri: {exact: /exact}}]
    route: [{destination: {host: reviews}}]
  - name: prefix
    match: [{uri: {prefix: /api/}}]
    route: [{destination: {host: reviews}}]
  - name: regex
    match: [{uri: {regex: "/items/[0-9]+"}}]
    route: [{destination: {host: reviews}}]
  - name: nocase
    match: [{uri: {prefix: /Case}, ignoreUriCase: true}]
    route: [{destination: {host: reviews}}]
  - name: header-exact
    match: [{headers: {x-user: {exact: jason}}}]
    route: [{destination: {host: reviews}}]
  - name: header-prefix
    match: [{headers: {x-group: {prefix: beta-}}}]
    route: [{destination: {host: reviews}}]
  - name: header-regex
    match: [{headers: {x-id: {regex: "[a-f]{4}"}}}]
    route: [{destination: {host: reviews}}]
  - name: header-present
    match: [{headers: {x-present: {}}}]
    route: [{destination: {host: reviews}}]
  - name: header-star
    match: [{headers: {x-star: {regex: "*"}}}]
    route: [{destination: {host: reviews}}]
  - name: without
    match: [{uri: {prefix: /without}, withoutHeaders: {x-block: {exact: "yes"}}}]
    route: [{destination: {host: reviews}}]
  - name: query
    match: [{queryParams: {debug: {exact: "1"}}}]
    route: [{destination: {host: reviews}}]
  - name: query-regex
    match: [{queryParams: {v: {regex: "v[12]"}}}]
    route: [{destination: {host: reviews}}]
  - name: method
    match: [{method: {exact: POST}}]
    route: [{destination: {host: reviews}}]
  - name: authority
    match: [{authority: {prefix: "reviews.bookinfo"}}]
    route: [{destination: {host: reviews}}]
  - name: other-port
    match: [{port: 1234}]
    route: [{destination: {host: reviews}}]
  - name: this-port
    match: [{uri: {prefix: /port}, port: 9080}]
    route: [{destination: {host: reviews}}]
  - name: ingress-only
    match: [{gateways: [istio-system/ingress]}]
    route: [{destination: {host: reviews}}]
  - name: multi
    match:
    - {name: a, uri: {exact: /m/a}}
    - {name: b, uri: {exact: /m/b}}
    route: [{destination: {host: reviews}}]
  - name: fallback
    match: [{uri: {prefix: /}}]
    route: [{destination: {host: reviews}}]
  - name: unreachable
    route: [{destination: {host: reviews}}]
`),
  );

  it.each<[string, RouteRequest, string | undefined]>([
    ['exact path', request('/exact'), 'exact'],
    ['exact path ignores the query string', request('/exact?x=1'), 'exact'],
    ['exact path does not match a longer path', request('/exact/more'), 'fallback'],
    ['prefix is a plain string prefix', request('/api/v1'), 'prefix'],
    ['prefix without its trailing slash does not match', request('/api'), 'fallback'],
    ['regex is a full match', request('/items/42'), 'regex'],
    ['regex does not match a partial path', request('/items/42/x'), 'fallback'],
    ['ignoreUriCase', request('/case/x'), 'nocase'],
    ['header exact', request('/h', { headers: { 'x-user': 'jason' } }), 'header-exact'],
    ['header exact is case-sensitive in the value', request('/h', { headers: { 'x-user': 'Jason' } }), 'fallback'],
    ['header prefix', request('/h', { headers: { 'x-group': 'beta-1' } }), 'header-prefix'],
    ['header regex is a full match', request('/h', { headers: { 'x-id': 'abcd' } }), 'header-regex'],
    ['header regex, longer value', request('/h', { headers: { 'x-id': 'abcde' } }), 'fallback'],
    ['header present ({}), any value', request('/h', { headers: { 'x-present': '' } }), 'header-present'],
    ['header regex "*" means present', request('/h', { headers: { 'x-star': 'anything' } }), 'header-star'],
    ['multiple header values are joined with ","', request('/h', { headers: { 'x-user': ['ja', 'son'] } }), 'fallback'],
    ['withoutHeaders: header absent', request('/without'), 'without'],
    ['withoutHeaders: other value', request('/without', { headers: { 'x-block': 'no' } }), 'without'],
    ['withoutHeaders: the excluded value', request('/without', { headers: { 'x-block': 'yes' } }), 'fallback'],
    ['query param exact', request('/q?a=2&debug=1'), 'query'],
    ['query param percent-decoded', request('/q?debug=%31'), 'query'],
    ['query param first value counts', request('/q?debug=2&debug=1'), 'fallback'],
    ['query param regex', request('/q?v=v2'), 'query-regex'],
    ['method', request('/m', { method: 'POST' }), 'method'],
    ['authority prefix', request('/a', { authority: 'reviews.bookinfo.svc.cluster.local:9080' }), 'authority'],
    ['match for another port is dropped', request('/x'), 'fallback'],
    ['match for this port', request('/port'), 'this-port'],
    ['named matches get rule.match names', request('/m/b'), 'multi.b'],
  ])('%s', (_name, req, want) => {
    expect(firstMatch(routes, req)).toBe(want);
  });

  it('drops matches bound to other gateways and stops after the catch-all', () => {
    const names = routes.map((r) => r.rule.ruleName);
    expect(names).not.toContain('ingress-only');
    expect(names).not.toContain('other-port');
    expect(names.at(-1)).toBe('fallback');
    expect(names).not.toContain('unreachable');
  });

  it.each<[string, string, string | undefined]>([
    ['/api/v1/x', 'prefix', '/api/'],
    ['/exact', 'exact', '/exact'],
    ['/items/7?q', 'regex', '/items/7'],
    ['/CASE/x', 'nocase', '/CASE'],
    ['/other', 'fallback', '/'],
  ])('matchedPrefix for %s', (path, rule, prefix) => {
    const r = routes.find((x) => x.rule.ruleName === rule);
    expect(r?.matches(request(path))?.matchedPrefix).toBe(prefix);
  });

  it('a table with no catch-all answers no route (404 NR)', () => {
    const only = routesFor(
      vs(`  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /v1}}]
    route: [{destination: {host: reviews}}]
`),
    );
    expect(firstMatch(only, request('/v1/x'))).toBe('0');
    expect(firstMatch(only, request('/v2'))).toBeUndefined();
  });
});

describe('VirtualService source matching', () => {
  const yaml = vs(`  hosts: [reviews]
  http:
  - name: jason-clients
    match: [{sourceLabels: {app: productpage, version: v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: from-other
    match: [{sourceNamespace: other}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: rest
    route: [{destination: {host: reviews, subset: v1}}]
`);
  const routes = routesFor(yaml);

  it.each<[string, Partial<RouteRequest>, string]>([
    ['client labels include the sourceLabels', { sourceLabels: { app: 'productpage', version: 'v2', extra: 'x' }, sourceNamespace: 'bookinfo' }, 'jason-clients'],
    ['one label differs', { sourceLabels: { app: 'productpage', version: 'v1' }, sourceNamespace: 'bookinfo' }, 'rest'],
    ['unknown client', {}, 'rest'],
    ['client namespace', { sourceNamespace: 'other' }, 'from-other'],
  ])('%s', (_n, opts, want) => {
    expect(firstMatch(routes, request('/', opts))).toBe(want);
  });

  it("warns that Istio's waypoint drops sourceLabels matches", () => {
    expect(compile(yaml).problems.join('\n')).toMatch(/sourceLabels: matched against the client workload's labels; Istio's Envoy waypoint drops/);
  });
});

describe('VirtualService hosts', () => {
  it.each<[string, string, string, boolean]>([
    ['short name in the same namespace', 'reviews', 'namespace: bookinfo', true],
    ['FQDN', REVIEWS, 'namespace: bookinfo', true],
    ['namespace wildcard', '"*.bookinfo.svc.cluster.local"', 'namespace: bookinfo', true],
    ['FQDN from the waypoint namespace for a Service elsewhere', 'details.other.svc.cluster.local', 'namespace: bookinfo', true],
    ['short name in another namespace names another host', 'reviews', 'namespace: other', false],
    ['FQDN from a third namespace does not apply', REVIEWS, 'namespace: third', false],
    ['name.namespace is not expanded (as Istio)', 'reviews.bookinfo', 'namespace: bookinfo', false],
  ])('%s', (_n, host, ns, applies) => {
    const out = compile(
      vs(
        `  hosts: [${host}]
  http:
  - route: [{destination: {host: ${REVIEWS}}}]
`,
        `name: v, ${ns}`,
      ),
    );
    const key = host.startsWith('details') ? hostPortKey('details.other.svc.cluster.local', 9080) : hostPortKey(REVIEWS, 9080);
    expect(out.byHostPort.has(key)).toBe(applies);
  });

  it('explains why a VirtualService in a third namespace does not apply', () => {
    const out = compile(
      vs(
        `  hosts: [${REVIEWS}]
  http:
  - route: [{destination: {host: ${REVIEWS}}}]
`,
        'name: v, namespace: third',
      ),
    );
    expect(out.problems).toContainEqual(expect.stringContaining("is Service bookinfo/reviews, but a waypoint only reads VirtualServices from the Service's namespace and its own"));
  });

  it('hints at the FQDN for name.namespace hosts', () => {
    const out = compile(
      vs(`  hosts: [reviews.bookinfo]
  http:
  - route: [{destination: {host: reviews}}]
`),
    );
    expect(out.problems).toContainEqual(expect.stringContaining('write reviews.bookinfo.svc.cluster.local or the short name'));
  });

  it.each<[string, string, boolean]>([
    ['gateways: [mesh]', 'gateways: [mesh]', true],
    ['gateways: [mesh, ingress]', 'gateways: [mesh, istio-system/ingress]', true],
    ['gateways: [ingress] only', 'gateways: [istio-system/ingress]', false],
    ['exportTo: [.] in the waypoint namespace', 'exportTo: ["."]', true],
    ['exportTo: [~]', 'exportTo: ["~"]', false],
    ['exportTo another namespace', 'exportTo: [other]', false],
  ])('%s', (_n, extra, applies) => {
    const out = compile(
      vs(`  hosts: [reviews]
  ${extra}
  http:
  - route: [{destination: {host: reviews}}]
`),
    );
    expect(out.byHostPort.has(hostPortKey(REVIEWS, 9080))).toBe(applies);
  });

  it('compiles a table per HTTP port of the Service, none for TCP ports', () => {
    const out = compile(
      vs(`  hosts: [multi]
  http:
  - route: [{destination: {host: multi}}]
`),
    );
    expect([...out.byHostPort.keys()].sort()).toEqual([hostPortKey(MULTI, 80), hostPortKey(MULTI, 9090)]);
  });
});

describe('VirtualService destinations and weights', () => {
  it('a single destination gets all the traffic, whatever its weight', () => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}, weight: 30}]
`),
    );
    const f = forward(r);
    expect(f.totalWeight).toBe(100);
    expect(f.backends.map((b) => [b.cluster, b.weight, b.subset])).toEqual([[`inbound-vip|9080|http/v1|${REVIEWS}`, 100, 'v1']]);
    expect(f.backends[0]?.target?.service.hostname).toBe(REVIEWS);
  });

  it('weights are relative; zero-weight destinations are dropped', () => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 70}
    - {destination: {host: reviews, subset: v2}, weight: 30}
    - {destination: {host: reviews, subset: v3}, weight: 0}
`),
    );
    const f = forward(r);
    expect(f.backends.map((b) => [b.subset, b.weight])).toEqual([
      ['v1', 70],
      ['v2', 30],
    ]);
    expect(f.totalWeight).toBe(100);
  });

  it('all-zero weights with several destinations is an error, and only that VirtualService is skipped', () => {
    const out = compile(
      vs(`  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}}
    - {destination: {host: reviews, subset: v2}}
`) +
        '---\n' +
        vs(
          `  hosts: [ratings]
  http:
  - route: [{destination: {host: ratings}}]
`,
          'name: ratings-vs, namespace: bookinfo',
        ),
    );
    expect(out.problems).toContainEqual(expect.stringMatching(/^error: mesh.yaml: VirtualService bookinfo\/reviews-vs: spec.http\[0\].route: total destination weight = 0/));
    expect(out.byHostPort.has(hostPortKey(REVIEWS, 9080))).toBe(false);
    expect(out.byHostPort.has(hostPortKey(RATINGS, 9080))).toBe(true);
  });

  it.each<[string, string, number, string]>([
    ['explicit port', '{host: multi, port: {number: 9090}}', 80, `inbound-vip|9090|http|${MULTI}`],
    ['no port, multi-port Service: the request port', '{host: multi}', 9090, `inbound-vip|9090|http|${MULTI}`],
    ['no port, single-port Service: its port', '{host: ratings}', 80, `inbound-vip|9080|http|${RATINGS}`],
    ['TCP port', '{host: multi, port: {number: 5432}}', 80, `inbound-vip|5432|tcp|${MULTI}`],
  ])('destination port: %s', (_n, dest, tablePort, cluster) => {
    const routes = routesFor(
      vs(`  hosts: [multi]
  http:
  - route: [{destination: ${dest}}]
`),
      MULTI,
      tablePort,
    );
    const b = forward(routes[0]).backends[0];
    expect(b?.cluster).toBe(cluster);
    expect(b?.target).toBeDefined();
  });

  it('a destination that is not a known Service: no target, 503, and a warning', () => {
    const out = compile(
      vs(`  hosts: [reviews]
  http:
  - route:
    - {destination: {host: nope}, weight: 50}
    - {destination: {host: reviews}, weight: 50}
`),
    );
    const b = forward(out.byHostPort.get(hostPortKey(REVIEWS, 9080))?.[0]).backends[0] as VsBackendRef;
    expect(b.target).toBeUndefined();
    expect(b.missingReason).toBe('no Service nope.bookinfo.svc.cluster.local');
    expect(b.missingStatus).toBe(503);
    expect(b.cluster).toBe('inbound-vip|9080|http|nope.bookinfo.svc.cluster.local');
    expect(out.problems).toContainEqual(expect.stringMatching(/^warning: .*spec.http\[0\].route\[0\].destination.host: "nope" is not a known Service/));
  });

  it('a port the Service does not have: no target', () => {
    const out = compile(
      vs(`  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, port: {number: 1111}}}]
`),
    );
    const b = forward(out.byHostPort.get(hostPortKey(REVIEWS, 9080))?.[0]).backends[0];
    expect(b?.target).toBeUndefined();
    expect(b?.missingReason).toBe(`Service ${REVIEWS} has no port 1111`);
  });
});

describe('VirtualService timeout and retries', () => {
  const routes = routesFor(
    vs(`  hosts: [reviews]
  http:
  - name: defaults
    match: [{uri: {prefix: /defaults}}]
    route: [{destination: {host: reviews}}]
  - name: custom
    match: [{uri: {prefix: /custom}}]
    timeout: 1.5s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,gateway-error,429", backoff: 100ms, retryIgnorePreviousHosts: false}
    route: [{destination: {host: reviews}}]
  - name: attempts-only
    match: [{uri: {prefix: /attempts}}]
    retries: {attempts: 5}
    route: [{destination: {host: reviews}}]
  - name: off
    match: [{uri: {prefix: /off}}]
    timeout: 0s
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
`),
  );
  const byName = (n: string) => forward(routes.find((r) => r.rule.ruleName === n));

  it("no retries field: Istio's default policy", () => {
    const f = byName('defaults');
    expect(f.timeoutMs).toBeUndefined();
    expect(f.retry.retries).toBe(2);
    expect([...f.retry.retryOn].sort()).toEqual(['cancelled', 'connect-failure', 'refused-stream', 'retriable-status-codes', 'unavailable']);
    expect([...f.retry.statusCodes]).toEqual([503]);
    expect(f.retry.backoffBaseMs).toBe(25);
    expect(f.retry.avoidPreviousHosts).toBe(true);
    expect(f.retry.perTryTimeoutMs).toBeUndefined();
  });

  it('exclude503FromDefaultRetries gives current Istio (≥1.24) defaults', () => {
    const r = routesFor(
      vs(`  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
`),
      REVIEWS,
      9080,
      { exclude503FromDefaultRetries: true },
    );
    expect([...forward(r[0]).retry.statusCodes]).toEqual([]);
  });

  it('timeout and a custom policy', () => {
    const f = byName('custom');
    expect(f.timeoutMs).toBe(1500);
    expect(f.retry).toMatchObject({ retries: 3, perTryTimeoutMs: 500, backoffBaseMs: 100, avoidPreviousHosts: false });
    expect([...f.retry.retryOn].sort()).toEqual(['5xx', 'gateway-error', 'retriable-status-codes']);
    expect([...f.retry.statusCodes]).toEqual([429]);
  });

  it('attempts alone keeps the default retryOn', () => {
    const f = byName('attempts-only');
    expect(f.retry.retries).toBe(5);
    expect(f.retry.retryOn.has('connect-failure')).toBe(true);
  });

  it('attempts: 0 disables retries; timeout 0s is no timeout', () => {
    const f = byName('off');
    expect(f.retry.retries).toBe(0);
    expect(f.timeoutMs).toBeUndefined();
  });

  it('consistent-hash destinations retry without the previous-hosts predicate', () => {
    const drYaml = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
`;
    const { snapshot, resources } = meshSnapshot(
      `${drYaml}---\n${vs(`  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
`)}`,
    );
    const dr = compileDestinationRules(resources, { services: snapshot.services, waypointNamespace: 'bookinfo' });
    const out = compileVirtualServices(resources, { byHostPort: snapshot.byHostPort, services: snapshot.services, waypointNamespace: 'bookinfo', destinationPolicies: dr.policies });
    expect(forward(out.byHostPort.get(hostPortKey(REVIEWS, 9080))?.[0]).retry.avoidPreviousHosts).toBe(false);
  });

  it.each<[string, string, RegExp]>([
    ['an unknown retryOn', 'retries: {attempts: 2, retryOn: "5xx,sometimes"}', /retryOn: "sometimes" is not a valid retryOn policy/],
    ['settings with attempts 0', 'retries: {attempts: 0, retryOn: "5xx"}', /retry policy configured when attempts are set to 0/],
    ['a bad duration', 'timeout: soon', /timeout: must be a duration/],
  ])('rejects %s', (_n, field, message) => {
    const out = compile(
      vs(`  hosts: [reviews]
  http:
  - ${field}
    route: [{destination: {host: reviews}}]
`),
    );
    expect(out.problems.join('\n')).toMatch(message);
    expect(out.byHostPort.size).toBe(0);
  });
});

describe('VirtualService fault, mirror, headers, rewrite, redirect, direct response, CORS', () => {
  it('fault delay and abort', () => {
    const routes = routesFor(
      vs(`  hosts: [reviews]
  http:
  - name: http
    match: [{uri: {prefix: /http}}]
    fault:
      delay: {fixedDelay: 7s, percentage: {value: 10}}
      abort: {httpStatus: 418, percentage: {value: 50.5}}
    route: [{destination: {host: reviews}}]
  - name: grpc
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
`),
    );
    expect(forward(routes[0]).fault).toEqual({ delay: { ms: 7000, percent: 10 }, abort: { status: 418, percent: 50.5 } });
    expect(forward(routes[1]).fault).toEqual({ abort: { status: 200, grpcStatus: 14, percent: 100 } });
  });

  it('a fault without percentage injects nothing, as in Istio, and says so', () => {
    const out = compile(
      vs(`  hosts: [reviews]
  http:
  - fault: {abort: {httpStatus: 500}}
    route: [{destination: {host: reviews}}]
`),
    );
    expect(forward(out.byHostPort.get(hostPortKey(REVIEWS, 9080))?.[0]).fault).toBeUndefined();
    expect(out.problems).toContainEqual(expect.stringContaining('fault.abort.percentage: not set (or 0): no request is aborted'));
  });

  it('mirror with mirrorPercentage, mirrors[], and 0 percent', () => {
    const routes = routesFor(
      vs(`  hosts: [reviews]
  http:
  - name: one
    match: [{uri: {prefix: /one}}]
    mirror: {host: ratings}
    mirrorPercentage: {value: 25}
    route: [{destination: {host: reviews}}]
  - name: many
    match: [{uri: {prefix: /many}}]
    mirrors:
    - {destination: {host: ratings}}
    - {destination: {host: reviews, subset: v3}, percentage: {value: 5}}
    - {destination: {host: reviews, subset: v2}, percentage: {value: 0}}
    route: [{destination: {host: reviews}}]
`),
    );
    expect(forward(routes[0]).mirrors.map((m) => [m.cluster, m.percent, m.target !== undefined])).toEqual([[`inbound-vip|9080|http|${RATINGS}`, 25, true]]);
    expect(forward(routes[1]).mirrors.map((m) => [m.cluster, m.percent])).toEqual([
      [`inbound-vip|9080|http|${RATINGS}`, 100],
      [`inbound-vip|9080|http/v3|${REVIEWS}`, 5],
    ]);
  });

  it('header operations: sorted, lower-cased, authority as a host rewrite, remove-then-add as Envoy', () => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - headers:
      request:
        set: {X-B: "2", x-a: "1", ":authority": new-host}
        add: {x-add: a, x-replaced: new}
        remove: [x-gone, x-replaced, x-a]
      response:
        set: {x-resp: r}
        remove: [server]
    route: [{destination: {host: reviews}}]
`),
    );
    expect(r?.rule.requestHeaders).toEqual({
      set: [
        ['x-a', '1'],
        ['x-b', '2'],
        ['x-replaced', 'new'],
      ],
      add: [['x-add', 'a']],
      remove: ['x-gone'],
    });
    expect(r?.rule.responseHeaders).toEqual({ set: [['x-resp', 'r']], add: [], remove: ['server'] });
    expect(forward(r).urlRewrite).toEqual({ hostname: 'new-host' });
  });

  it('destination headers: merged into the rule for one destination, per backend when weighted', () => {
    const routes = routesFor(
      vs(`  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /single}}]
    headers: {request: {set: {x-rule: r}}}
    route: [{destination: {host: reviews}, headers: {request: {set: {x-dest: d}}, response: {add: {x-served: single}}}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50, headers: {request: {set: {x-v: "1", host: v1.example}}}}
    - {destination: {host: reviews, subset: v2}, weight: 50}
`),
    );
    expect(routes[0]?.rule.requestHeaders.set).toEqual([
      ['x-rule', 'r'],
      ['x-dest', 'd'],
    ]);
    expect(routes[0]?.rule.responseHeaders.add).toEqual([['x-served', 'single']]);
    const [b1, b2] = forward(routes[1]).backends as VsBackendRef[];
    expect(b1?.requestHeaders?.set).toEqual([['x-v', '1']]);
    expect(b1?.hostRewrite).toBe('v1.example');
    expect(b2?.requestHeaders).toBeUndefined();
  });

  it('rewrite: uri replaces the matched prefix, authority, uriRegexRewrite', () => {
    const routes = routesFor(
      vs(`  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: backend.example}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /re/}}]
    rewrite: {uriRegexRewrite: {match: "^/re/(\\\\w+)/(\\\\w+)", rewrite: "/\\\\2/\\\\1"}}
    route: [{destination: {host: reviews}}]
`),
    );
    expect(forward(routes[0]).urlRewrite).toEqual({ hostname: 'backend.example', path: { type: 'prefix', value: '/new/' } });
    expect(routes[0]?.matches(request('/old/x?q'))?.matchedPrefix).toBe('/old/');
    const rr = forward(routes[1]).regexRewrite;
    expect(rr?.apply('/re/a/b?x=/re/c/d')).toBe('/b/a?x=/re/c/d');
    expect(rr?.apply('/other')).toBe('/other');
  });

  it.each<[string, string, object]>([
    ['uri and code', '{uri: /moved, redirectCode: 302}', { kind: 'redirect', path: { type: 'full', value: '/moved' }, status: 302 }],
    ['authority, scheme, port', '{authority: other.example, scheme: https, port: 8443}', { kind: 'redirect', hostname: 'other.example', scheme: 'https', port: 8443, status: 301 }],
    ['prefixRewrite', '{prefixRewrite: /v2}', { kind: 'redirect', path: { type: 'prefix', value: '/v2' }, status: 301 }],
    ['derivePort FROM_REQUEST_PORT', '{derivePort: FROM_REQUEST_PORT}', { kind: 'redirect', port: 9080, status: 301 }],
    ['derivePort FROM_PROTOCOL_DEFAULT with https', '{derivePort: FROM_PROTOCOL_DEFAULT, scheme: https}', { kind: 'redirect', scheme: 'https', port: 443, status: 301 }],
  ])('redirect: %s', (_n, redirect, want) => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - redirect: ${redirect}
`),
    );
    expect(r?.rule.action).toEqual(want);
  });

  it.each<[string, string, object]>([
    ['string body', '{status: 503, body: {string: unknown error}}', { kind: 'direct', status: 503, body: 'unknown error' }],
    ['bytes body', '{status: 200, body: {bytes: "aGVsbG8="}}', { kind: 'direct', status: 200, body: 'hello' }],
    ['no body', '{status: 204}', { kind: 'direct', status: 204, body: '' }],
  ])('directResponse: %s', (_n, direct, want) => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - directResponse: ${direct}
`),
    );
    expect(r?.rule.action).toEqual(want);
  });

  it('corsPolicy', () => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {prefix: "https://b."}, {regex: "https://.*\\\\.c\\\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-exposed]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: reviews}}]
`),
    );
    const cors = forward(r).cors;
    expect(cors?.allowOrigins.slice(0, 2)).toEqual([{ exact: 'https://a.example' }, { prefix: 'https://b.' }]);
    expect(cors?.allowOrigins[2]?.regex?.test('https://x.c.example')).toBe(true);
    expect(cors).toMatchObject({ allowMethods: ['GET', 'POST'], allowHeaders: ['x-custom'], exposeHeaders: ['x-exposed'], maxAgeSeconds: 86400, allowCredentials: true });
  });
});

describe('VirtualService validation and merging', () => {
  it.each<[string, string, RegExp]>([
    ['route and redirect together', '- redirect: {uri: /x}\n    route: [{destination: {host: reviews}}]', /HTTP route cannot contain both route and redirect/],
    ['no action', '- match: [{uri: {prefix: /}}]', /one of route, redirect or directResponse is required/],
    ['a bad regex', '- match: [{uri: {regex: "(a"}}]\n    route: [{destination: {host: reviews}}]', /spec.http\[0\].match\[0\].uri.regex: invalid RE2 regular expression/],
    ['look-ahead (not RE2)', '- match: [{headers: {x: {regex: "(?=a)a"}}}]\n    route: [{destination: {host: reviews}}]', /headers.x.regex: invalid RE2 regular expression: .*unsupported Perl syntax/],
    ['two match types', '- match: [{uri: {exact: /a, prefix: /a}}]\n    route: [{destination: {host: reviews}}]', /only one of exact, prefix and regex/],
    ['a redirect code', '- redirect: {uri: /x, redirectCode: 305}', /redirectCode: must be one of 301, 302, 303, 307, 308/],
    ['a weight below 0', '- route: [{destination: {host: reviews}, weight: -1}]', /weight: must be at least 0/],
    ['a destination without host', '- route: [{destination: {subset: v1}}]', /destination.host: is required/],
  ])('rejects %s with the field path', (_n, rule, message) => {
    const out = compile(
      vs(`  hosts: [reviews]
  http:
  ${rule}
`),
    );
    expect(out.problems.join('\n')).toMatch(message);
    expect(out.problems.join('\n')).toMatch(/error: mesh.yaml: VirtualService bookinfo\/reviews-vs: spec/);
    expect(out.byHostPort.size).toBe(0);
  });

  it('merges VirtualServices for one host, oldest first', () => {
    const out = compile(
      [
        vs(
          `  hosts: [reviews]
  http:
  - {name: newer, match: [{uri: {prefix: /a}}], route: [{destination: {host: reviews}}]}
`,
          'name: a-newer, namespace: bookinfo, creationTimestamp: "2024-05-02T00:00:00Z"',
        ),
        vs(
          `  hosts: [reviews]
  http:
  - {name: older, match: [{uri: {prefix: /a}}], route: [{destination: {host: reviews}}]}
`,
          'name: b-older, namespace: bookinfo, creationTimestamp: "2024-05-01T00:00:00Z"',
        ),
      ].join('---\n'),
    );
    const routes = out.byHostPort.get(hostPortKey(REVIEWS, 9080)) ?? [];
    expect(routes.map((r) => `${r.rule.routeName}:${r.rule.ruleName}`)).toEqual([
      'VirtualService/bookinfo/b-older:older',
      'VirtualService/bookinfo/a-newer:newer',
    ]);
    expect(firstMatch(routes, request('/a'))).toBe('older');
  });

  it('describes each route for config_dump', () => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /a}, headers: {x-user: {exact: jason}}, withoutHeaders: {x-b: {}}}]
    route: [{destination: {host: reviews}}]
`),
    );
    expect(r?.description).toEqual({
      source: 'VirtualService/bookinfo/reviews-vs',
      field: 'spec.http[0].match[0]',
      match: {
        path: { prefix: '/a' },
        headers: [
          { name: 'x-b', match: 'present', invert: true },
          { name: 'x-user', match: 'exact "jason"' },
        ],
      },
    });
  });

  it('forward action type stays assignable to ForwardAction', () => {
    const [r] = routesFor(
      vs(`  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
`),
    );
    const f: ForwardAction = forward(r);
    expect(f.kind).toBe('forward');
  });
});

describe('uriRegexRewrite substitution (Envoy RE2 syntax)', () => {
  it.each<[string, string, string, string, string]>([
    ['groups', '^/(\\w+)/(\\w+)$', '/\\2/\\1', '/a/b', '/b/a'],
    ['every match is replaced', 'b', 'x', '/b/b', '/x/x'],
    ['a literal $ in the substitution', '^/a', '/$price', '/a/b', '/$price/b'],
    ['the query string is kept', '^/a', '/z', '/a?q=/a', '/z?q=/a'],
  ])('%s', (_n, pattern, substitution, input, want) => {
    expect(compileRegexRewrite(pattern, substitution)?.apply(input)).toBe(want);
  });
});

describe('virtualServiceCompiler: the hook for the shared route tables', () => {
  it('puts VirtualService routes in the Service port tables, one segment per VirtualService', () => {
    const { snapshot, resources } = meshSnapshot(
      [
        vs(
          `  hosts: [reviews]
  http:
  - {name: v2-users, match: [{headers: {x-user: {exact: jason}}}], route: [{destination: {host: reviews, subset: v2}}]}
`,
          'name: first, namespace: bookinfo, creationTimestamp: "2024-01-01T00:00:00Z"',
        ),
        vs(
          `  hosts: [reviews]
  http:
  - {name: rest, route: [{destination: {host: reviews, subset: v1}}]}
`,
          'name: second, namespace: bookinfo, creationTimestamp: "2024-02-01T00:00:00Z"',
        ),
      ].join('---\n'),
    );
    const out = compileRoutes(resources, { byHostPort: snapshot.byHostPort, services: snapshot.services }, virtualServiceCompiler({ waypointNamespace: 'bookinfo' }));
    const table = out.tables.get(REVIEWS, 9080);
    expect(table?.sources).toEqual(['VirtualService/bookinfo/first', 'VirtualService/bookinfo/second']);
    expect(table?.match(request('/', { headers: { 'x-user': 'jason' } }))?.rule.ruleName).toBe('v2-users');
    const other = table?.match(request('/x'));
    expect(other?.rule.ruleName).toBe('rest');
    expect(other?.matchedPrefix).toBe('/');
  });
});
