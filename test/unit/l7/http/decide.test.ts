import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { vipKey } from '../../../../src/config/address.js';
import { formatResponseFlags } from '../../../../src/metrics/response-flags.js';
import type { ConfigSnapshot } from '../../../../src/snapshot/types.js';
import { EMPTY_HEADER_MUTATION } from '../../../../src/routes/actions.js';
import { ISTIO_DEFAULT_RETRY } from '../../../../src/routes/istio/retry-policy.js';
import type { CompiledRule, ForwardAction, RouteTables } from '../../../../src/routes/types.js';
import { decide } from '../../../../src/l7/http/decide.js';
import type { ForwardPlan, HttpRequestHead, Plan, RedirectPlan, ReplyPlan } from '../../../../src/l7/http/plan.js';
import type { TunnelContext } from '../../../../src/l7/tunnel.js';
import { loadResourcesFromText } from '../../../../src/config/load.js';
import { compileSnapshot } from '../../../../src/snapshot/compile.js';
import { BOOKINFO, MULTI, RATINGS, REVIEWS, seededRandom } from '../../../helpers/istio-mesh.js';
import { tunnelContext } from '../../../helpers/policy-mesh.js';

const ROUTES = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - name: moved
    match: [{uri: {prefix: /moved}}]
    redirect: {uri: /elsewhere, redirectCode: 302}
    headers: {response: {set: {x-redirected: "yes"}}}
  - name: teapot
    match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: short and stout}}
    headers: {response: {set: {x-direct: "yes"}}}
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 429, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
  - name: delay
    match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 3s, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
  - name: nowhere
    match: [{uri: {prefix: /nowhere}}]
    route: [{destination: {host: nope.bookinfo.svc.cluster.local}}]
  - name: no-subset
    match: [{uri: {prefix: /no-subset}}]
    route: [{destination: {host: reviews, subset: v9}}]
  - name: split
    match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 25}
    - {destination: {host: reviews, subset: v2}, weight: 75}
  - name: edits
    match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: backend.example}
    headers:
      request: {set: {x-set: route}, remove: [x-drop]}
      response: {set: {x-route: "yes"}}
    route:
    - destination: {host: reviews, subset: v1}
      headers: {request: {add: {x-backend: v1}}, response: {set: {x-backend: v1}}}
  - name: mirrored
    match: [{uri: {prefix: /mirrored}}]
    mirror: {host: ratings}
    route: [{destination: {host: reviews}}]
  - name: streamed
    match: [{uri: {prefix: /streamed}}]
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: bookinfo}
spec:
  host: ratings
  trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: bookinfo}
spec:
  targetRefs: [{kind: Service, group: "", name: ratings}]
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: multi, namespace: bookinfo}
spec:
  parentRefs: [{group: "", kind: Service, name: multi, port: 80}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /zero}}]
    backendRefs: [{name: multi, port: 80, weight: 0}]
  - matches: [{path: {type: PathPrefix, value: /gone}}]
    backendRefs: [{name: absent, port: 80}]
`;

/** The bookinfo mesh with the routes above, its waypoint taking Service and workload traffic. */
function compileMesh(): ConfigSnapshot {
  const text = [BOOKINFO.replace('istio.io/waypoint-for: service', 'istio.io/waypoint-for: all'), ROUTES].join('---\n');
  const loaded = loadResourcesFromText([{ file: 'mesh.yaml', text }]);
  const errors = loaded.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(`fixture does not load: ${errors.map((e) => e.message).join('; ')}`);
  const { snapshot, problems } = compileSnapshot(loaded.resources, { trustDomain: 'cluster.local', clusterId: 'Kubernetes', version: 1, namespace: 'bookinfo', name: 'waypoint' });
  const compileErrors = problems.filter((p) => p.severity === 'error');
  if (compileErrors.length > 0) throw new Error(`fixture does not compile: ${compileErrors.map((e) => e.message).join('; ')}`);
  return snapshot;
}

const snapshot = compileMesh();
const SLEEP = 'spiffe://cluster.local/ns/bookinfo/sa/sleep';

function tunnelTo(snap: ConfigSnapshot, ip: string, port: number): TunnelContext {
  return tunnelContext(snap, ip, port, { identity: SLEEP, address: '127.0.9.9', port: 40000, localAddress: '127.0.0.10', localPort: 15008 }, '');
}

const TO_REVIEWS = tunnelTo(snapshot, '127.31.0.1', 9080);
const TO_RATINGS = tunnelTo(snapshot, '127.31.0.2', 9080);
const TO_MULTI = tunnelTo(snapshot, '127.31.0.3', 80);
const TO_POD = tunnelTo(snapshot, '127.0.1.2', 9080);

interface Case {
  target: string;
  tunnel?: TunnelContext;
  headers?: IncomingHttpHeaders;
  method?: string;
  hasBody?: boolean;
}

function head(c: Case): HttpRequestHead {
  return {
    method: c.method ?? 'GET',
    authority: 'reviews:9080',
    target: c.target,
    headers: { host: 'reviews:9080', ...c.headers },
    requestId: 'req-1',
    hasBody: c.hasBody ?? false,
    tunnel: c.tunnel ?? TO_REVIEWS,
    downstream: 'http1',
  };
}

function plan(c: Case, seed = 1, snap = snapshot): Plan {
  return decide(head(c), snap, { random: seededRandom(seed), bodyBufferLimit: 1024 });
}

function asReply(p: Plan): ReplyPlan {
  if (p.kind !== 'reply') throw new Error(`expected a reply, got ${p.kind}`);
  return p;
}

function asForward(p: Plan): ForwardPlan {
  if (p.kind !== 'forward') throw new Error(`expected a forward, got ${p.kind}`);
  return p;
}

describe('decide: local replies', () => {
  it.each<[string, Case, { status: number; body: string; flags: string; details: string; route?: string; cluster?: string }]>([
    ['no route matched → 404 NR', { target: '/unmatched' }, { status: 404, body: '', flags: 'NR', details: 'no route matched' }],
    ['unnormalisable path → 400, no flag', { target: '/a%00b' }, { status: 400, body: 'Bad Request', flags: '-', details: 'path could not be normalised' }],
    ['direct response', { target: '/teapot' }, { status: 418, body: 'short and stout', flags: '-', details: undefined as unknown as string, route: 'VirtualService/bookinfo/reviews#teapot' }],
    ['fault abort → FI', { target: '/abort' }, { status: 429, body: 'fault filter abort', flags: 'FI', details: 'fault abort', route: 'VirtualService/bookinfo/reviews#abort' }],
    [
      'a backend that does not exist (VirtualService) → 503 NC',
      { target: '/nowhere' },
      { status: 503, body: '', flags: 'NC', details: expect.stringContaining('nope'), cluster: 'inbound-vip|9080|http|nope.bookinfo.svc.cluster.local' },
    ],
    ['a subset no DestinationRule defines → 503 NC', { target: '/no-subset' }, { status: 503, body: '', flags: 'NC', details: `no subset v9 in a DestinationRule for ${REVIEWS}`, cluster: `inbound-vip|9080|http/v9|${REVIEWS}` }],
    ['every backend of weight 0 (Gateway API: compiled to a plain 500)', { target: '/zero', tunnel: TO_MULTI }, { status: 500, body: '', flags: '-', details: undefined as unknown as string }],
    [
      'a backend that does not exist (Gateway API) → 500 NC',
      { target: '/gone', tunnel: TO_MULTI },
      { status: 500, body: '', flags: 'NC', details: expect.any(String), cluster: expect.stringContaining('absent') },
    ],
  ])('%s', (_name, c, want) => {
    const p = asReply(plan(c));
    expect({ status: p.status, body: p.body, flags: formatResponseFlags(p.replyFlags), details: p.details }).toEqual({
      status: want.status,
      body: want.body,
      flags: want.flags,
      details: want.details,
    });
    if (want.route !== undefined) expect(p.base.route).toBe(want.route);
    if (want.cluster !== undefined) expect(p.base.upstreamCluster).toEqual(want.cluster);
  });

  it('a forward whose backends all have weight 0 → 500 NC', () => {
    const zero: ForwardAction = { kind: 'forward', backends: [], totalWeight: 0, retry: ISTIO_DEFAULT_RETRY, mirrors: [] };
    const rule: CompiledRule = { routeName: 'HTTPRoute/bookinfo/zero', ruleName: '0', requestHeaders: EMPTY_HEADER_MUTATION, responseHeaders: EMPTY_HEADER_MUTATION, action: zero };
    const routes: RouteTables = { get: () => ({ sources: [], match: () => ({ rule }) }), describe: () => ({}) };
    const p = asReply(plan({ target: '/' }, 1, { ...snapshot, routes }));
    expect([p.status, formatResponseFlags(p.replyFlags), p.details, p.base.route]).toEqual([500, 'NC', 'every backend has weight 0', 'HTTPRoute/bookinfo/zero#0']);
  });

  it('RBAC deny → 403 without a flag, with the policy and Envoy’s response code details', () => {
    const p = asReply(plan({ target: '/admin', tunnel: TO_RATINGS }));
    expect(p).toMatchObject({
      status: 403,
      body: 'RBAC: access denied',
      policy: 'bookinfo/deny-admin',
      responseCodeDetails: 'rbac_access_denied_matched_policy[bookinfo/deny-admin#rule-0]',
      base: expect.objectContaining({ route: undefined }),
    });
    expect(formatResponseFlags(p.replyFlags)).toBe('-');
    expect(p.details).toContain('deny');
  });

  it('the path is normalised before policy sees it: /x/../admin is denied too', () => {
    const p = asReply(plan({ target: '/x/../admin', tunnel: TO_RATINGS }));
    expect([p.status, p.base.path]).toEqual([403, '/admin']);
  });

  it('a Service no longer bound → 404 NR', () => {
    const gone: TunnelContext = { ...TO_REVIEWS, key: vipKey('127.31.0.99', 9080) };
    const p = asReply(plan({ target: '/', tunnel: gone }));
    expect([p.status, formatResponseFlags(p.replyFlags), p.details]).toEqual([404, 'NR', 'service no longer bound to this waypoint']);
  });

  it('a rule’s reply carries the rule’s response header edits; Envoy’s own replies do not', () => {
    expect(asReply(plan({ target: '/teapot' })).responseHeaders?.set).toEqual([['x-direct', 'yes']]);
    expect(asReply(plan({ target: '/unmatched' })).responseHeaders).toBeUndefined();
  });
});

describe('decide: redirect', () => {
  it('builds the exact Location and applies the response edits', () => {
    const p = plan({ target: '/moved/a?q=1' }) as RedirectPlan;
    expect(p.kind).toBe('redirect');
    expect(p.status).toBe(302);
    expect(p.headers).toEqual({ location: 'http://reviews:9080/elsewhere?q=1', 'content-length': '0', 'x-redirected': 'yes' });
  });
});

describe('decide: forward', () => {
  it('the default route (no route attached) to the Service itself, with the upstream head', () => {
    const p = asForward(plan({ target: '/a/./b/../c?x=1', tunnel: TO_RATINGS, headers: { connection: 'x-hop', 'x-hop': '1', 'x-keep': 'k' } }));
    expect(p.base.route).toBe('default');
    expect(p.base.upstreamCluster).toBe(`inbound-vip|9080|http|${RATINGS}`);
    expect(p.base.service?.hostname).toBe(RATINGS);
    expect(p.target.cluster).toBe(`inbound-vip|9080|http|${RATINGS}`);
    expect(p.target.protocol).toBe('http1');
    expect(p.base.path).toBe('/a/c?x=1');
    expect(p.head).toEqual({
      method: 'GET',
      path: '/a/c?x=1',
      authority: 'reviews:9080',
      headers: { 'x-keep': 'k', 'x-request-id': 'req-1', 'x-forwarded-proto': 'http' },
    });
    expect(p.retry.retries).toBe(2); // Istio's default retry policy
    expect(p.base.delayMs).toBeUndefined();
    expect(formatResponseFlags(p.base.flags)).toBe('-');
  });

  it('a client’s x-forwarded-proto is kept', () => {
    const p = asForward(plan({ target: '/', tunnel: TO_RATINGS, headers: { 'x-forwarded-proto': 'https' } }));
    expect(p.head.headers['x-forwarded-proto']).toBe('https');
  });

  it('route and backend header edits, path and authority rewrites', () => {
    const p = asForward(plan({ target: '/old/x?y=2', headers: { 'x-drop': 'gone', 'x-user': 'ann' } }));
    expect(p.head.path).toBe('/new/x?y=2');
    expect(p.head.authority).toBe('backend.example');
    expect(p.head.headers).toMatchObject({ 'x-set': 'route', 'x-backend': 'v1' });
    expect(p.head.headers['x-drop']).toBeUndefined();
    expect([...p.responseHeaders.set, ...(p.backendResponseHeaders?.set ?? [])]).toEqual(expect.arrayContaining([['x-route', 'yes'], ['x-backend', 'v1']]));
    expect(p.target.subsetLabels).toEqual({ version: 'v1' });
    expect(p.target.cluster).toBe(`inbound-vip|9080|http/v1|${REVIEWS}`);
  });

  it('a fault delay is planned (DI) and the forward goes on after it', () => {
    const p = asForward(plan({ target: '/delay' }));
    expect(p.base.delayMs).toBe(3000);
    expect(formatResponseFlags(p.base.flags)).toBe('DI');
  });

  it('weighted pick with a seeded random source: exactly the draws below 25 of 100 go to v1', () => {
    const random = seededRandom(42);
    const picked = Array.from({ length: 1000 }, () => asForward(decide(head({ target: '/split' }), snapshot, { random, bodyBufferLimit: 1024 })).target.cluster);
    const draws = seededRandom(42);
    const v1 = Array.from({ length: 1000 }, () => draws() * 100 < 25).filter(Boolean).length;
    expect(picked.filter((c) => c === `inbound-vip|9080|http/v1|${REVIEWS}`)).toHaveLength(v1);
    expect(picked.filter((c) => c === `inbound-vip|9080|http/v2|${REVIEWS}`)).toHaveLength(1000 - v1);
    expect(v1).toBeGreaterThan(0);
    expect(v1).toBeLessThan(1000);
  });

  it.each<[string, Case, string | undefined]>([
    ['header (x-user)', { target: '/split', headers: { 'x-user': 'ann' } }, 'ann'],
    ['header absent', { target: '/split' }, undefined],
    ['query parameter (user)', { target: '/p?user=bob&x=1', tunnel: TO_RATINGS }, 'bob'],
    ['query parameter absent', { target: '/p?x=1', tunnel: TO_RATINGS }, undefined],
    ['no hashing load balancer (encap)', { target: '/', tunnel: TO_POD, headers: { 'x-user': 'ann' } }, undefined],
  ])('hash key: %s', (_name, c, want) => {
    expect(asForward(plan(c)).hashKey).toBe(want);
  });

  it('a workload (pod IP) destination goes to that pod through the encap cluster', () => {
    const p = asForward(plan({ target: '/', tunnel: TO_POD }));
    expect(p.base.route).toBe('default');
    expect(p.base.upstreamCluster).toBe('encap');
    expect(p.base.service).toBeUndefined();
    expect(p.target.cluster).toBe('encap');
    expect(p.target.endpoints.map((e) => [e.ip, e.port, e.workload?.workloadName])).toEqual([['127.0.1.2', 9080, 'reviews-v2']]);
    expect(p.target.protocol).toBe('http1');
  });

  it.each<[string, Case, string]>([
    ['no body', { target: '/', tunnel: TO_RATINGS }, 'none'],
    ['a small declared body with retries: buffered', { target: '/', tunnel: TO_RATINGS, method: 'POST', hasBody: true, headers: { 'content-length': '10' } }, 'buffer'],
    ['a body above the limit: streamed', { target: '/', tunnel: TO_RATINGS, method: 'POST', hasBody: true, headers: { 'content-length': '4096' } }, 'stream'],
    ['a chunked body (no length): streamed', { target: '/', tunnel: TO_RATINGS, method: 'POST', hasBody: true, headers: { 'transfer-encoding': 'chunked' } }, 'stream'],
    ['no retries and no mirrors: streamed', { target: '/streamed', method: 'POST', hasBody: true, headers: { 'content-length': '10' } }, 'stream'],
  ])('body: %s', (_name, c, want) => {
    expect(asForward(plan(c)).body).toBe(want);
  });

  it('mirrors: a ready endpoint of the mirror Service, the shadow authority', () => {
    const p = asForward(plan({ target: '/mirrored' }));
    expect(p.mirrors.map((m) => [m.endpoint.ip, m.protocol])).toEqual([['127.0.2.1', 'http1']]);
    expect(p.mirrorAuthority).toBe('reviews-shadow:9080');
  });

  it('mirrors are not sent with a streamed body', () => {
    const p = asForward(plan({ target: '/mirrored', method: 'POST', hasBody: true, headers: { 'content-length': '4096' } }));
    expect(p.body).toBe('stream');
    expect(p.mirrors).toEqual([]);
  });

  it('the same request, snapshot and seed give the same plan', () => {
    expect(plan({ target: '/split', headers: { 'x-user': 'ann' } }, 7)).toEqual(plan({ target: '/split', headers: { 'x-user': 'ann' } }, 7));
  });

  it('a backend in another protocol family: MULTI grpc port goes h2c', () => {
    const p = asForward(plan({ target: '/', tunnel: tunnelTo(snapshot, '127.31.0.3', 9090) }));
    expect(p.target.protocol).toBe('h2c');
    expect(p.base.service?.hostname).toBe(MULTI);
  });
});
