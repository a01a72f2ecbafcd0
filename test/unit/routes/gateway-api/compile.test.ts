import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../../../src/config/types.js';
import type { CompiledRule, ForwardAction } from '../../../../src/routes/types.js';
import { MESH_NS, compileMesh, host, request } from '../../../helpers/gateway-api-conformance.js';

/** An HTTPRoute on echo:80 in the mesh namespace with the given rules (YAML, indented 2). */
function httpRoute(rules: string, extra: { kind?: string; parentRefs?: string; metadata?: string; spec?: string } = {}): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: ${extra.kind ?? 'HTTPRoute'}
metadata:
  name: r
  namespace: ${MESH_NS}
${extra.metadata ?? ''}spec:
  parentRefs: ${extra.parentRefs ?? `[{group: "", kind: Service, name: echo, port: ${extra.kind === 'GRPCRoute' ? 7070 : 80}}]`}
${extra.spec ?? ''}  rules:
${rules}`;
}

const BACKEND = '    backendRefs: [{name: echo-v1, port: 8080}]\n';

/** Problems as `severity field: message` lines. */
function problemsOf(yaml: string): string[] {
  return compileMesh([yaml]).problems.map((p) => `${p.severity} ${p.field ?? '-'}: ${p.message}`);
}

function ruleFor(yaml: string, path = '/', port = 80): CompiledRule {
  const m = compileMesh([yaml]).tables.get(host('echo'), port)?.match(request({ path }));
  if (m === undefined) throw new Error('no route matched');
  return m.rule;
}

function forward(rule: CompiledRule): ForwardAction {
  if (rule.action.kind !== 'forward') throw new Error(`expected a forward, got ${rule.action.kind}`);
  return rule.action;
}

describe('validation errors: the route is skipped, the problem names the field', () => {
  const cases: Array<{ name: string; yaml: string; field: string; message: RegExp }> = [
    {
      name: 'unknown filter type',
      yaml: httpRoute(`  - filters: [{type: RequestTeleport}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].type',
      message: /unknown HTTPRoute filter type "RequestTeleport"/,
    },
    {
      name: 'a filter without its configuration',
      yaml: httpRoute(`  - filters: [{type: RequestHeaderModifier}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].requestHeaderModifier',
      message: /is required when type is RequestHeaderModifier/,
    },
    {
      name: 'a filter with another type’s configuration',
      yaml: httpRoute(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {}, urlRewrite: {hostname: a}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].urlRewrite',
      message: /must not be set when type is RequestHeaderModifier/,
    },
    {
      name: 'bad path regex',
      yaml: httpRoute(`  - matches: [{path: {type: RegularExpression, value: "/(a"}}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].path.value',
      message: /invalid RE2 regular expression: .*missing closing \)/,
    },
    {
      name: 'backreference in a header regex (not RE2)',
      yaml: httpRoute(`  - matches: [{headers: [{name: x, type: RegularExpression, value: "(a)\\\\1"}]}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].headers[0].value',
      message: /invalid RE2 regular expression/,
    },
    {
      name: 'bad query regex',
      yaml: httpRoute(`  - matches: [{queryParams: [{name: q, type: RegularExpression, value: "[z-a]"}]}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].queryParams[0].value',
      message: /invalid RE2 regular expression/,
    },
    {
      name: 'unknown path match type',
      yaml: httpRoute(`  - matches: [{path: {type: Glob, value: "/*"}}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].path.type',
      message: /path match type must be one of Exact, PathPrefix, RegularExpression \(got "Glob"\)/,
    },
    {
      name: 'a prefix that is not an absolute path',
      yaml: httpRoute(`  - matches: [{path: {type: PathPrefix, value: foo}}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].path.value',
      message: /must be an absolute path starting with '\/'/,
    },
    {
      name: 'an exact path with //',
      yaml: httpRoute(`  - matches: [{path: {type: Exact, value: "/a//b"}}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].path.value',
      message: /must not contain '\/\/'/,
    },
    {
      name: 'a pseudo-header name',
      yaml: httpRoute(`  - matches: [{headers: [{name: ":authority", value: x}]}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].headers[0].name',
      message: /must be an HTTP header name/,
    },
    {
      name: 'an unknown method',
      yaml: httpRoute(`  - matches: [{method: FETCH}]\n${BACKEND}`),
      field: 'spec.rules[0].matches[0].method',
      message: /method must be one of GET/,
    },
    {
      name: 'invalid redirect status code',
      yaml: httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]\n`),
      field: 'spec.rules[0].filters[0].requestRedirect.statusCode',
      message: /status code must be one of 301, 302, 303, 307, 308 \(got 304\)/,
    },
    {
      name: 'invalid redirect scheme',
      yaml: httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {scheme: ftp}}]\n`),
      field: 'spec.rules[0].filters[0].requestRedirect.scheme',
      message: /scheme must be one of http, https/,
    },
    {
      name: 'redirect port out of range',
      yaml: httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {port: 70000}}]\n`),
      field: 'spec.rules[0].filters[0].requestRedirect.port',
      message: /between 1 and 65535/,
    },
    {
      name: 'weight above 1000000',
      yaml: httpRoute(`    backendRefs: [{name: echo-v1, port: 8080, weight: 1000001}]\n`.replace(/^ {4}/, '  - ')),
      field: 'spec.rules[0].backendRefs[0].weight',
      message: /between 0 and 1000000 \(got 1000001\)/,
    },
    {
      name: 'negative weight',
      yaml: httpRoute(`  - backendRefs: [{name: echo-v1, port: 8080, weight: -1}]\n`),
      field: 'spec.rules[0].backendRefs[0].weight',
      message: /between 0 and 1000000 \(got -1\)/,
    },
    {
      name: 'a Service backendRef without port',
      yaml: httpRoute(`  - backendRefs: [{name: echo-v1}]\n`),
      field: 'spec.rules[0].backendRefs[0].port',
      message: /is required when referring to a Service/,
    },
    {
      name: 'a backendRef naming a hostname',
      yaml: httpRoute(`  - backendRefs: [{name: echo-v1.gateway-conformance-mesh, port: 80}]\n`),
      field: 'spec.rules[0].backendRefs[0].name',
      message: /must be the name of a Service, not a hostname/,
    },
    {
      name: 'RequestRedirect with backendRefs',
      yaml: httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters',
      message: /RequestRedirect must not be used together with backendRefs/,
    },
    {
      name: 'RequestRedirect and URLRewrite together',
      yaml: httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {hostname: a.org}}, {type: URLRewrite, urlRewrite: {hostname: b.org}}]\n`),
      field: 'spec.rules[0].filters',
      message: /either RequestRedirect or URLRewrite, but not both/,
    },
    {
      name: 'a repeated RequestHeaderModifier',
      yaml: httpRoute(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {}}, {type: RequestHeaderModifier, requestHeaderModifier: {}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[1].type',
      message: /RequestHeaderModifier filter cannot be repeated/,
    },
    {
      name: 'ReplacePrefixMatch on an Exact match',
      yaml: httpRoute(`  - matches: [{path: {type: Exact, value: /a}}]\n    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0]',
      message: /needs exactly one match, of type PathPrefix/,
    },
    {
      name: 'a path modifier missing its value',
      yaml: httpRoute(`  - filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath}}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath',
      message: /is required when type is ReplaceFullPath/,
    },
    {
      name: 'duplicate header names in a modifier',
      yaml: httpRoute(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-A, value: "1"}, {name: x-a, value: "2"}]}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].requestHeaderModifier.set[1].name',
      message: /duplicates set\[0\]/,
    },
    {
      name: 'a header value with a newline',
      yaml: httpRoute(`  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: "a\\nb"}]}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].requestHeaderModifier.set[0].value',
      message: /without control characters/,
    },
    {
      name: 'a URLRewrite filter on a backend',
      yaml: httpRoute(`  - backendRefs: [{name: echo-v1, port: 8080, filters: [{type: URLRewrite, urlRewrite: {hostname: a.org}}]}]\n`),
      field: 'spec.rules[0].backendRefs[0].filters[0].type',
      message: /URLRewrite is not supported in backendRefs\[\]\.filters/,
    },
    {
      name: 'an ExtensionRef filter',
      yaml: httpRoute(`  - filters: [{type: ExtensionRef, extensionRef: {group: x.io, kind: Y, name: z}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].type',
      message: /ExtensionRef filters are not supported/,
    },
    {
      name: 'a duration that is not a Gateway API duration',
      yaml: httpRoute(`  - timeouts: {request: 10 seconds}\n${BACKEND}`),
      field: 'spec.rules[0].timeouts.request',
      message: /must be a Gateway API duration/,
    },
    {
      name: 'backendRequest longer than request',
      yaml: httpRoute(`  - timeouts: {request: 1s, backendRequest: 2s}\n${BACKEND}`),
      field: 'spec.rules[0].timeouts.backendRequest',
      message: /must not be longer than the request timeout/,
    },
    {
      name: 'a retry code outside 400-599',
      yaml: httpRoute(`  - retry: {codes: [200]}\n${BACKEND}`),
      field: 'spec.rules[0].retry.codes[0]',
      message: /an HTTP status code between 400 and 599/,
    },
    {
      name: 'mirror with both percent and fraction',
      yaml: httpRoute(`  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: echo-v2, port: 80}, percent: 10, fraction: {numerator: 1}}}]\n${BACKEND}`),
      field: 'spec.rules[0].filters[0].requestMirror.fraction',
      message: /only one of percent and fraction/,
    },
    {
      name: 'duplicate rule names',
      yaml: httpRoute(`  - name: same\n${BACKEND}  - name: same\n${BACKEND}`),
      field: 'spec.rules[1].name',
      message: /duplicates the name of rules\[0\]/,
    },
    {
      name: 'rules that are not a list',
      yaml: httpRoute('    {}\n'),
      field: 'spec.rules',
      message: /must be a list/,
    },
    {
      name: 'GRPCRoute: a method match with neither service nor method',
      yaml: httpRoute(`  - matches: [{method: {type: Exact}}]\n    backendRefs: [{name: echo-v1, port: 7070}]\n`, { kind: 'GRPCRoute' }),
      field: 'spec.rules[0].matches[0].method',
      message: /must set service or method/,
    },
    {
      name: 'GRPCRoute: an exact service that is not a service name',
      yaml: httpRoute(`  - matches: [{method: {service: "a/b"}}]\n    backendRefs: [{name: echo-v1, port: 7070}]\n`, { kind: 'GRPCRoute' }),
      field: 'spec.rules[0].matches[0].method.service',
      message: /must be a gRPC service name/,
    },
    {
      name: 'GRPCRoute: a bad method regex',
      yaml: httpRoute(`  - matches: [{method: {type: RegularExpression, method: "(*"}}]\n    backendRefs: [{name: echo-v1, port: 7070}]\n`, { kind: 'GRPCRoute' }),
      field: 'spec.rules[0].matches[0].method.method',
      message: /invalid RE2 regular expression/,
    },
    {
      name: 'GRPCRoute: a filter type only HTTPRoute has',
      yaml: httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {hostname: a.org}}]\n    backendRefs: [{name: echo-v1, port: 7070}]\n`, { kind: 'GRPCRoute' }),
      field: 'spec.rules[0].filters[0].type',
      message: /unknown GRPCRoute filter type "RequestRedirect"/,
    },
  ];

  it.each(cases)('$name → $field', ({ yaml, field, message }) => {
    const { problems, tables } = compileMesh([yaml]);
    const errors = problems.filter((p) => p.severity === 'error');
    expect(errors.map((p) => p.field)).toContain(field);
    expect(errors.find((p) => p.field === field)?.message).toMatch(message);
    for (const p of errors) expect(p).toMatchObject({ file: 'routes-0.yaml', namespace: MESH_NS, name: 'r' });
    // Skipped: nothing attached.
    expect(tables.get(host('echo'), 80)).toBeUndefined();
    expect(tables.get(host('echo'), 7070)).toBeUndefined();
  });
});

describe('references to things that are absent: warnings, the route still applies', () => {
  const cases: Array<{ name: string; yaml: string; want: Omit<Partial<ConfigProblem>, 'message'> & { message: RegExp } }> = [
    {
      name: 'a backend Service that does not exist',
      yaml: httpRoute(`  - backendRefs: [{name: nope, port: 80}, {name: echo-v1, port: 8080}]\n`),
      want: { field: 'spec.rules[0].backendRefs[0]', message: /Service gateway-conformance-mesh\/nope is not in the configuration; its share of requests \(weight 1\) fails with 500/ },
    },
    {
      name: 'a backend port the Service does not have',
      yaml: httpRoute(`  - backendRefs: [{name: echo-v1, port: 81}, {name: echo-v1, port: 8080}]\n`),
      want: { field: 'spec.rules[0].backendRefs[0]', message: /has no port 81 \(ports: 80, 8080, 443, 9090, 7070\)/ },
    },
    {
      name: 'a backend kind other than Service',
      yaml: httpRoute(`  - backendRefs: [{group: example.io, kind: Bucket, name: b, port: 1}, {name: echo-v1, port: 8080}]\n`),
      want: { field: 'spec.rules[0].backendRefs[0]', message: /backend kind example.io\/Bucket is not supported/ },
    },
    {
      name: 'a mirror to a missing Service is dropped',
      yaml: httpRoute(`  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: nope, port: 80}}}]\n${BACKEND}`),
      want: { field: 'spec.rules[0].filters[0].requestMirror.backendRef', message: /not in the configuration; the mirror is dropped/ },
    },
    {
      name: 'spec.hostnames',
      yaml: httpRoute(BACKEND.replace(/^ {4}/, '  - '), { spec: '  hostnames: [echo.example.com]\n' }),
      want: { field: 'spec.hostnames', message: /is ignored for Service parents/ },
    },
  ];
  it.each(cases)('$name', ({ yaml, want }) => {
    const { problems, tables } = compileMesh([yaml]);
    expect(problems).toEqual([expect.objectContaining({ ...want, severity: 'warning', kind: 'HTTPRoute', name: 'r', message: expect.stringMatching(want.message) })]);
    expect(tables.get(host('echo'), 80)?.match(request())).toBeDefined();
  });
});

describe('parentRefs', () => {
  const cases: Array<{ name: string; parentRefs: string; field: string; message: RegExp }> = [
    { name: 'a Gateway parent is ignored with a note', parentRefs: '[{name: some-gateway}]', field: 'spec.parentRefs[0]', message: /Gateway gateway-conformance-mesh\/some-gateway is ignored: this waypoint serves only routes attached to Services/ },
    { name: 'kind Service without group "" (defaults to the Gateway API group)', parentRefs: '[{kind: Service, name: echo}]', field: 'spec.parentRefs[0]', message: /set group: "" for the core Service kind/ },
    { name: 'a Service that does not exist', parentRefs: '[{group: "", kind: Service, name: nope}]', field: 'spec.parentRefs[0].name', message: /Service gateway-conformance-mesh\/nope is not in the configuration/ },
    { name: 'a port the Service does not have', parentRefs: '[{group: "", kind: Service, name: echo, port: 81}]', field: 'spec.parentRefs[0].port', message: /has no port 81/ },
    { name: 'a TCP port', parentRefs: '[{group: "", kind: Service, name: echo, port: 9090}]', field: 'spec.parentRefs[0].port', message: /is TCP/ },
    { name: 'a ServiceEntry parent that is not configured', parentRefs: '[{group: networking.istio.io, kind: ServiceEntry, name: ext}]', field: 'spec.parentRefs[0].name', message: /ServiceEntry gateway-conformance-mesh\/ext is not in the configuration/ },
    { name: 'no parentRefs', parentRefs: '[]', field: 'spec.parentRefs', message: /attaches to nothing/ },
  ];
  it.each(cases)('$name', ({ parentRefs, field, message }) => {
    const problems = compileMesh([httpRoute(BACKEND.replace(/^ {4}/, '  - '), { parentRefs })]).problems;
    expect(problems).toEqual([expect.objectContaining({ severity: 'warning', field, message: expect.stringMatching(message) })]);
  });

  it('core is accepted as the Service group, and the namespace defaults to the route’s', () => {
    const { tables, problems } = compileMesh([httpRoute(BACKEND.replace(/^ {4}/, '  - '), { parentRefs: '[{group: core, kind: Service, name: echo-v2, port: 8080}]' })]);
    expect(problems).toEqual([]);
    expect(tables.get(host('echo-v2'), 8080)).toBeDefined();
  });

  it('a Service not bound to this waypoint is a warning', () => {
    const topology = `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: ${MESH_NS}}
spec:
  clusterIP: 127.0.10.1
  ports: [{name: http, port: 80}]
`;
    const problems = compileMesh([httpRoute(BACKEND.replace(/^ {4}/, '  - ').replace('echo-v1, port: 8080', 'echo, port: 80'))], { topology }).problems;
    expect(problems).toEqual([expect.objectContaining({ severity: 'warning', field: 'spec.parentRefs[0]', message: expect.stringMatching(/is not bound to this waypoint/) })]);
  });
});

describe('compiled actions', () => {
  it('an HTTPRoute retry stanza', () => {
    const retry = forward(ruleFor(httpRoute(`  - retry: {attempts: 3, backoff: 100ms, codes: [502, 503]}\n${BACKEND}`))).retry;
    expect(retry.retries).toBe(3);
    expect([...retry.retryOn]).toEqual(['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']);
    expect([...retry.statusCodes]).toEqual([502, 503]);
    expect(retry.backoffBaseMs).toBe(100);
    expect(retry.avoidPreviousHosts).toBe(true);
  });

  it('a retry stanza without attempts gets 2; without codes, no status retries', () => {
    const retry = forward(ruleFor(httpRoute(`  - retry: {}\n${BACKEND}`))).retry;
    expect(retry.retries).toBe(2);
    expect(retry.retryOn.has('retriable-status-codes')).toBe(false);
    expect(retry.backoffBaseMs).toBe(25);
  });

  it('attempts: 0 turns retries off', () => {
    const retry = forward(ruleFor(httpRoute(`  - retry: {attempts: 0, codes: [503]}\n${BACKEND}`))).retry;
    expect(retry.retries).toBe(0);
    expect(retry.retryOn.size).toBe(0);
  });

  it('no retry stanza: Istio’s default waypoint retry policy', () => {
    const retry = forward(ruleFor(httpRoute(BACKEND.replace(/^ {4}/, '  - ')))).retry;
    expect(retry).toMatchObject({ retries: 2, backoffBaseMs: 25, avoidPreviousHosts: true });
    expect([...retry.retryOn].sort()).toEqual(['cancelled', 'connect-failure', 'refused-stream', 'retriable-status-codes', 'unavailable']);
    expect([...retry.statusCodes]).toEqual([503]);
  });

  it.each([
    ['10s', '500ms', 10_000, 500],
    ['1h30m', '1m', 5_400_000, 60_000],
    ['0s', '2s', undefined, 2000],
    ['1s', '0s', 1000, undefined],
  ])('timeouts request %s, backendRequest %s', (req, backend, timeoutMs, backendTimeoutMs) => {
    const action = forward(ruleFor(httpRoute(`  - timeouts: {request: ${req}, backendRequest: ${backend}}\n${BACKEND}`)));
    expect(action.timeoutMs).toBe(timeoutMs);
    expect(action.backendTimeoutMs).toBe(backendTimeoutMs);
  });

  it('URLRewrite hostname and prefix path', () => {
    const action = forward(ruleFor(httpRoute(`  - matches: [{path: {value: /api}}]\n    filters: [{type: URLRewrite, urlRewrite: {hostname: backend.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}]\n${BACKEND}`), '/api/x'));
    expect(action.urlRewrite).toEqual({ hostname: 'backend.internal', path: { type: 'prefix', value: '/v2' } });
  });

  it('ResponseHeaderModifier names are lower-cased', () => {
    const rule = ruleFor(httpRoute(`  - filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-A, value: "1"}], add: [{name: X-B, value: "2"}], remove: [X-C]}}]\n${BACKEND}`));
    expect(rule.responseHeaders).toEqual({ set: [['x-a', '1']], add: [['x-b', '2']], remove: ['x-c'] });
  });

  it.each([
    ['percent: 25', 25],
    ['fraction: {numerator: 1, denominator: 8}', 12.5],
    ['fraction: {numerator: 3}', 3],
    ['', 100],
  ])('RequestMirror %s → %d%%', (extra, percent) => {
    const action = forward(ruleFor(httpRoute(`  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: echo-v2, port: 80}${extra ? `, ${extra}` : ''}}}]\n${BACKEND}`)));
    expect(action.mirrors).toHaveLength(1);
    expect(action.mirrors[0]).toMatchObject({ cluster: `inbound-vip|80|http|${host('echo-v2')}`, percent });
    expect(action.mirrors[0]?.target?.service.name).toBe('echo-v2');
  });

  it('several mirrors are allowed', () => {
    const action = forward(
      ruleFor(httpRoute(`  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: echo-v2, port: 80}}}, {type: RequestMirror, requestMirror: {backendRef: {name: echo-v1, port: 80}}}]\n${BACKEND}`)),
    );
    expect(action.mirrors.map((m) => m.target?.service.name)).toEqual(['echo-v2', 'echo-v1']);
  });

  it('CORS', () => {
    const action = forward(
      ruleFor(
        httpRoute(
          `  - filters: [{type: CORS, cors: {allowOrigins: ["https://a.example", "https://*.example.com", "http://b.example:*"], allowMethods: [GET, POST], allowHeaders: [x-a], exposeHeaders: [x-b], allowCredentials: true}}]\n${BACKEND}`,
        ),
      ),
    );
    const cors = action.cors!;
    expect(cors.allowOrigins[0]).toEqual({ exact: 'https://a.example' });
    expect(cors.allowOrigins[1]?.regex?.test('https://x.y.example.com')).toBe(true);
    expect(cors.allowOrigins[1]?.regex?.test('https://example.org')).toBe(false);
    expect(cors.allowOrigins[2]).toEqual({ prefix: 'http://b.example:' });
    expect(cors).toMatchObject({ allowMethods: ['GET', 'POST'], allowHeaders: ['x-a'], exposeHeaders: ['x-b'], allowCredentials: true, maxAgeSeconds: 5 });
  });

  it('a redirect defaults to 302', () => {
    const rule = ruleFor(httpRoute(`  - filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org}}]\n`));
    expect(rule.action).toEqual({ kind: 'redirect', status: 302, hostname: 'example.org', port: 80 });
  });

  it('GRPCRoute backends and mirrors are h2c and get the default retry policy', () => {
    const yaml = httpRoute(`  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: echo-v2, port: 7070}}}]\n    backendRefs: [{name: echo-v1, port: 7070}]\n`, { kind: 'GRPCRoute' });
    const action = forward(ruleFor(yaml, '/a.B/C', 7070));
    expect(action.backends[0]).toMatchObject({ upstreamProtocol: 'h2c', cluster: `inbound-vip|7070|http|${host('echo-v1')}` });
    expect(action.mirrors[0]).toMatchObject({ upstreamProtocol: 'h2c' });
    expect(action.retry.retries).toBe(2);
  });

  it('a creationTimestamp that is not a date sorts as absent', () => {
    expect(problemsOf(httpRoute(BACKEND.replace(/^ {4}/, '  - '), { metadata: '  creationTimestamp: "yesterday"\n' }))).toEqual([]);
  });

  it('an unknown apiVersion of the group is read with a warning', () => {
    const yaml = httpRoute(BACKEND.replace(/^ {4}/, '  - ')).replace('gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v2');
    expect(problemsOf(yaml)).toEqual(['warning apiVersion: gateway.networking.k8s.io/v2 is not a known version of HTTPRoute (gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1, gateway.networking.k8s.io/v1alpha2); read as v1']);
  });
});
