import { describe, expect, it } from 'vitest';
import {
  compileRegex,
  comparePrecedence,
  matchGrpcMethod,
  matchPath,
  matchRequest,
  prefixMatcher,
  RequestView,
  type LinearRegex,
  type PathMatcher,
  type Precedence,
  type RequestMatcher,
  type StringMatcher,
} from '../../../src/routes/match.js';
import type { RouteRequest } from '../../../src/routes/types.js';

const req = (over: Partial<RouteRequest> = {}): RouteRequest => ({
  method: 'GET',
  path: '/',
  headers: {},
  authority: 'echo',
  sourceNamespace: undefined,
  sourceLabels: undefined,
  ...over,
});

const view = (over: Partial<RouteRequest> = {}): RequestView => new RequestView().reset(req(over));

function regex(pattern: string): LinearRegex {
  const out = compileRegex(pattern);
  if (!out.ok) throw new Error(out.message);
  return out.regex;
}

const exact = (value: string): StringMatcher => ({ kind: 'exact', value });
const re = (value: string): StringMatcher => ({ kind: 'regex', value, regex: regex(value) });

describe('matchPath', () => {
  const cases: Array<[matcher: string, m: PathMatcher, path: string, want: boolean]> = [
    ['Exact /abc', { kind: 'exact', value: '/abc' }, '/abc', true],
    ['Exact /abc', { kind: 'exact', value: '/abc' }, '/abc?x=1', true],
    ['Exact /abc', { kind: 'exact', value: '/abc' }, '/abc/', false],
    ['Exact /abc', { kind: 'exact', value: '/abc' }, '/Abc', false],
    ['Exact /abc', { kind: 'exact', value: '/abc' }, '/abcd', false],
    ['PathPrefix /', prefixMatcher('/'), '/anything/at/all', true],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/abc', true],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/abc/', true],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/abc/def', true],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/abc?x=/y', true],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/abcd', false],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/ab', false],
    ['PathPrefix /abc', prefixMatcher('/abc'), '/ABC', false],
    ['PathPrefix /abc/ (trailing / ignored)', prefixMatcher('/abc/'), '/abc', true],
    ['PathPrefix /abc/ (trailing / ignored)', prefixMatcher('/abc/'), '/abc/def', true],
    ['PathPrefix /abc/ (trailing / ignored)', prefixMatcher('/abc/'), '/abcd', false],
    ['PathPrefix /v2', prefixMatcher('/v2'), '/v2example', false],
    ['PathPrefix /v2', prefixMatcher('/v2'), '/foo/v2/example', false],
    ['RegularExpression /v[0-9]+', { kind: 'regex', value: '/v[0-9]+', regex: regex('/v[0-9]+') }, '/v12', true],
    ['RegularExpression /v[0-9]+ (whole path)', { kind: 'regex', value: '/v[0-9]+', regex: regex('/v[0-9]+') }, '/v12/x', false],
    ['RegularExpression /v[0-9]+ (query ignored)', { kind: 'regex', value: '/v[0-9]+', regex: regex('/v[0-9]+') }, '/v12?a=b', true],
  ];
  it.each(cases)('%s against %s', (_name, m, path, want) => {
    expect(matchPath(m, view({ path }))).toBe(want);
  });
});

describe('matchRequest: headers, query parameters, method', () => {
  const base: RequestMatcher = { method: undefined, path: undefined, grpc: undefined, headers: [], query: [] };
  const cases: Array<{ name: string; m: RequestMatcher; r: Partial<RouteRequest>; want: boolean }> = [
    { name: 'no conditions match everything', m: base, r: { path: '/x' }, want: true },
    { name: 'method matches', m: { ...base, method: 'POST' }, r: { method: 'POST' }, want: true },
    { name: 'method differs', m: { ...base, method: 'POST' }, r: { method: 'GET' }, want: false },
    { name: 'exact header', m: { ...base, headers: [{ name: 'version', match: exact('one') }] }, r: { headers: { version: 'one' } }, want: true },
    { name: 'exact header value is case-sensitive', m: { ...base, headers: [{ name: 'version', match: exact('one') }] }, r: { headers: { version: 'ONE' } }, want: false },
    { name: 'missing header', m: { ...base, headers: [{ name: 'version', match: exact('one') }] }, r: { headers: {} }, want: false },
    { name: 'repeated header values are joined with ","', m: { ...base, headers: [{ name: 'x', match: exact('a,b') }] }, r: { headers: { x: ['a', 'b'] } }, want: true },
    { name: 'regex header (whole value)', m: { ...base, headers: [{ name: 'x', match: re('v[0-9]') }] }, r: { headers: { x: 'v1' } }, want: true },
    { name: 'regex header does not match a substring', m: { ...base, headers: [{ name: 'x', match: re('v[0-9]') }] }, r: { headers: { x: 'xv1' } }, want: false },
    { name: 'host header reads the authority', m: { ...base, headers: [{ name: 'host', match: exact('echo-v1') }] }, r: { authority: 'echo-v1' }, want: true },
    { name: 'all headers must match', m: { ...base, headers: [{ name: 'a', match: exact('1') }, { name: 'b', match: exact('2') }] }, r: { headers: { a: '1', b: '3' } }, want: false },
    { name: 'exact query', m: { ...base, query: [{ name: 'animal', match: exact('whale') }] }, r: { path: '/?animal=whale' }, want: true },
    { name: 'exact query among others', m: { ...base, query: [{ name: 'animal', match: exact('whale') }] }, r: { path: '/?otherparam=irrelevant&animal=whale' }, want: true },
    { name: 'query value must be whole', m: { ...base, query: [{ name: 'animal', match: exact('whale') }] }, r: { path: '/?animal=whaledolphin' }, want: false },
    { name: 'query name is case-sensitive', m: { ...base, query: [{ name: 'animal', match: exact('whale') }] }, r: { path: '/?Animal=whale' }, want: false },
    { name: 'the first of repeated query params counts', m: { ...base, query: [{ name: 'a', match: exact('1') }] }, r: { path: '/?a=1&a=2' }, want: true },
    { name: 'the second of repeated query params does not', m: { ...base, query: [{ name: 'a', match: exact('2') }] }, r: { path: '/?a=1&a=2' }, want: false },
    { name: 'query values are percent-decoded', m: { ...base, query: [{ name: 'q', match: exact('a b/c') }] }, r: { path: '/?q=a%20b%2Fc' }, want: true },
    { name: 'a + stays a +', m: { ...base, query: [{ name: 'q', match: exact('a+b') }] }, r: { path: '/?q=a+b' }, want: true },
    { name: 'a parameter without = has the empty value', m: { ...base, query: [{ name: 'flag', match: exact('') }] }, r: { path: '/?flag' }, want: true },
    { name: 'no query string', m: { ...base, query: [{ name: 'animal', match: exact('whale') }] }, r: { path: '/' }, want: false },
    { name: 'regex query', m: { ...base, query: [{ name: 'n', match: re('[0-9]+') }] }, r: { path: '/?n=123' }, want: true },
  ];
  it.each(cases)('$name', ({ m, r, want }) => {
    expect(matchRequest(m, view(r))).toBe(want);
  });
});

describe('matchGrpcMethod', () => {
  const cases: Array<{ name: string; service?: StringMatcher; method?: StringMatcher; path: string; want: boolean }> = [
    { name: 'exact service and method', service: exact('grpc.testing.TestService'), method: exact('UnaryCall'), path: '/grpc.testing.TestService/UnaryCall', want: true },
    { name: 'exact method differs', service: exact('grpc.testing.TestService'), method: exact('UnaryCall'), path: '/grpc.testing.TestService/EmptyCall', want: false },
    { name: 'exact service only', service: exact('grpc.testing.TestService'), path: '/grpc.testing.TestService/Anything', want: true },
    { name: 'exact service is not a prefix', service: exact('grpc.testing.Test'), path: '/grpc.testing.TestService/X', want: false },
    { name: 'exact method only', method: exact('Echo'), path: '/any.Service/Echo', want: true },
    { name: 'regex service', service: re('grpc\\.testing\\..*'), path: '/grpc.testing.TestService/X', want: true },
    { name: 'regex method', method: re('Unary.*'), path: '/a.B/UnaryCall', want: true },
    { name: 'regex method is anchored', method: re('Call'), path: '/a.B/UnaryCall', want: false },
    { name: 'not a gRPC path', service: exact('a'), path: '/a', want: false },
    { name: 'too many segments', service: exact('a'), path: '/a/b/c', want: false },
  ];
  it.each(cases)('$name', ({ service, method, path, want }) => {
    expect(matchGrpcMethod({ service, method }, view({ path, method: 'POST' }))).toBe(want);
  });
});

describe('compileRegex', () => {
  it('reports a syntax error', () => {
    const out = compileRegex('(unclosed');
    expect(out.ok).toBe(false);
    if (!out.ok) expect(out.message).toMatch(/missing closing \)/);
  });

  it('rejects backreferences and lookarounds (RE2 syntax)', () => {
    expect(compileRegex('(a)\\1').ok).toBe(false);
    expect(compileRegex('(?=a)').ok).toBe(false);
  });

  it('matches pathological patterns in linear time', () => {
    const r = regex('(a+)+$');
    const start = Date.now();
    expect(r.fullMatch(`${'a'.repeat(50_000)}b`)).toBe(false);
    expect(Date.now() - start).toBeLessThan(2000);
  });
});

describe('RequestView', () => {
  it('does not parse the query until asked', () => {
    const v = view({ path: '/a?b=1' });
    expect(v.pathEnd).toBe(2);
    expect(v.path()).toBe('/a');
    expect(v.queryParam('b')).toBe('1');
    expect(v.queryParam('c')).toBeUndefined();
  });

  it('is reset between requests', () => {
    const v = new RequestView();
    v.reset(req({ path: '/x?q=1' }));
    expect(v.queryParam('q')).toBe('1');
    v.reset(req({ path: '/y?q=2' }));
    expect(v.queryParam('q')).toBe('2');
    expect(v.path()).toBe('/y');
  });
});

describe('comparePrecedence', () => {
  const p = (over: Partial<Precedence>): Precedence => ({
    pathRank: 2,
    pathLength: 1,
    serviceLength: 0,
    methodLength: 0,
    hasMethod: false,
    headers: 0,
    queryParams: 0,
    createdAtMs: 0,
    routeKey: 'ns/a',
    ruleIndex: 0,
    matchIndex: 0,
    ...over,
  });
  const cases: Array<[name: string, first: Precedence, second: Precedence]> = [
    ['Exact before a longer PathPrefix', p({ pathRank: 3, pathLength: 2 }), p({ pathRank: 2, pathLength: 20 })],
    ['PathPrefix before RegularExpression', p({ pathRank: 2, pathLength: 1 }), p({ pathRank: 1, pathLength: 30 })],
    ['longer prefix first', p({ pathLength: 5 }), p({ pathLength: 4 })],
    ['method before headers', p({ hasMethod: true }), p({ headers: 5 })],
    ['more headers first', p({ headers: 2 }), p({ headers: 1, queryParams: 9 })],
    ['more query params first', p({ queryParams: 2 }), p({ queryParams: 1 })],
    ['older route first', p({ createdAtMs: 1, routeKey: 'z/z' }), p({ createdAtMs: 2, routeKey: 'a/a' })],
    ['then namespace/name', p({ routeKey: 'a/b' }), p({ routeKey: 'b/a' })],
    ['then rule order', p({ ruleIndex: 0, matchIndex: 3 }), p({ ruleIndex: 1 })],
    ['gRPC: longer service first', p({ pathRank: 0, serviceLength: 10 }), p({ pathRank: 0, serviceLength: 5, methodLength: 20 })],
    ['gRPC: then longer method', p({ pathRank: 0, methodLength: 4 }), p({ pathRank: 0, methodLength: 3, headers: 4 })],
  ];
  it.each(cases)('%s', (_name, first, second) => {
    expect(comparePrecedence(first, second)).toBeLessThan(0);
    expect(comparePrecedence(second, first)).toBeGreaterThan(0);
  });
});
