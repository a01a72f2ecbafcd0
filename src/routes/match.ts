/**
 * Request matching primitives shared by the route compilers: path (exact, segment-aware prefix,
 * regex), header, query parameter, method and gRPC service/method matchers, all precompiled once
 * per snapshot, plus the per-request `RequestView` that computes what they need lazily.
 *
 * Regular expressions run on RE2JS (a port of RE2): matching is linear in the input, so a
 * configured pattern can never backtrack catastrophically. As in Envoy's `safe_regex`, a pattern
 * must match the whole value (path without the query, header value, query parameter value).
 */
import { RE2JS } from 're2js';
import { headerValue, parseQuery } from './request-fields.js';
import type { RouteRequest } from './types.js';

// ---- regular expressions ------------------------------------------------------------------------

export interface LinearRegex {
  readonly source: string;
  /** True when the pattern matches the entire input. */
  fullMatch(input: string): boolean;
}

export type RegexOutcome = { ok: true; regex: LinearRegex } | { ok: false; message: string };

/** Compiles an RE2-syntax pattern; the error names what is wrong with it. */
export function compileRegex(pattern: string): RegexOutcome {
  try {
    const re = RE2JS.compile(pattern);
    return { ok: true, regex: Object.freeze({ source: pattern, fullMatch: (input: string) => re.testExact(input) }) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `invalid RE2 regular expression: ${message}` };
  }
}

// ---- the request as the matchers see it ---------------------------------------------------------

/**
 * A request plus lazily computed views of it. `tables.ts` resets one instance per lookup, so
 * matching a request allocates nothing unless a rule needs the path without its query (regex),
 * the parsed query string (query matches) or a repeated header joined.
 */
export class RequestView {
  req: RouteRequest = EMPTY_REQUEST;
  /** Index of `?` in `req.path`, or its length. */
  pathEnd = 0;
  #pathOnly: string | undefined;
  #query: Map<string, string> | undefined;

  reset(req: RouteRequest): this {
    this.req = req;
    const q = req.path.indexOf('?');
    this.pathEnd = q < 0 ? req.path.length : q;
    this.#pathOnly = undefined;
    this.#query = undefined;
    return this;
  }

  /** The path without the query string. */
  path(): string {
    if (this.#pathOnly === undefined) {
      this.#pathOnly = this.pathEnd === this.req.path.length ? this.req.path : this.req.path.slice(0, this.pathEnd);
    }
    return this.#pathOnly;
  }

  /** First value of a query parameter, percent-decoded (`+` stays `+`, as in Envoy). */
  queryParam(name: string): string | undefined {
    if (this.#query === undefined) this.#query = parseQuery(this.req.path, this.pathEnd);
    return this.#query.get(name);
  }

  /**
   * A header's value; repeated headers joined with `,` (Envoy's matching view). `host` reads the
   * request authority, which HTTP/2 carries as `:authority`.
   */
  header(name: string): string | undefined {
    return headerValue(this.req, name);
  }
}

const EMPTY_REQUEST: RouteRequest = Object.freeze({
  method: 'GET',
  path: '/',
  headers: Object.freeze({}),
  authority: '',
  sourceNamespace: undefined,
  sourceLabels: undefined,
});

// ---- matchers -----------------------------------------------------------------------------------

export type PathMatcher =
  | { readonly kind: 'exact'; readonly value: string }
  /** `value` as configured; `trimmed` without its trailing `/` (`""` for `/`). */
  | { readonly kind: 'prefix'; readonly value: string; readonly trimmed: string }
  | { readonly kind: 'regex'; readonly value: string; readonly regex: LinearRegex };

export type StringMatcher =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'regex'; readonly value: string; readonly regex: LinearRegex };

export interface NamedMatcher {
  /** Header names lower-case; query parameter names as configured (case-sensitive). */
  readonly name: string;
  readonly match: StringMatcher;
}

/** gRPC `/<service>/<method>`; an absent part matches any. */
export interface GrpcMethodMatcher {
  readonly service: StringMatcher | undefined;
  readonly method: StringMatcher | undefined;
}

/** One match condition set: every present field must match (AND). */
export interface RequestMatcher {
  readonly method: string | undefined;
  readonly path: PathMatcher | undefined;
  readonly grpc: GrpcMethodMatcher | undefined;
  readonly headers: readonly NamedMatcher[];
  readonly query: readonly NamedMatcher[];
}

export function prefixMatcher(value: string): PathMatcher {
  const trimmed = value === '/' ? '' : value.endsWith('/') ? value.slice(0, -1) : value;
  return Object.freeze({ kind: 'prefix', value, trimmed });
}

/** Segment-aware prefix: `/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`. */
export function matchPath(m: PathMatcher, view: RequestView): boolean {
  const path = view.req.path;
  const end = view.pathEnd;
  switch (m.kind) {
    case 'exact':
      return end === m.value.length && path.startsWith(m.value);
    case 'prefix': {
      const p = m.trimmed;
      if (p.length === 0) return true;
      if (end < p.length || !path.startsWith(p)) return false;
      return end === p.length || path.charCodeAt(p.length) === 47; /* '/' */
    }
    case 'regex':
      return m.regex.fullMatch(view.path());
  }
}

export function matchString(m: StringMatcher, value: string): boolean {
  return m.kind === 'exact' ? m.value === value : m.regex.fullMatch(value);
}

export function matchGrpcMethod(m: GrpcMethodMatcher, view: RequestView): boolean {
  const path = view.req.path;
  const end = view.pathEnd;
  if (end < 4 || path.charCodeAt(0) !== 47) return false;
  const slash = path.indexOf('/', 1);
  if (slash < 0 || slash >= end - 1 || slash === 1) return false;
  const extra = path.indexOf('/', slash + 1);
  if (extra >= 0 && extra < end) return false;
  if (m.service !== undefined && !matchGrpcPart(m.service, path, 1, slash)) return false;
  if (m.method !== undefined && !matchGrpcPart(m.method, path, slash + 1, end)) return false;
  return true;
}

function matchGrpcPart(m: StringMatcher, path: string, start: number, end: number): boolean {
  if (m.kind === 'exact') return end - start === m.value.length && path.startsWith(m.value, start);
  return m.regex.fullMatch(path.slice(start, end));
}

/** True when every condition of `m` holds for the request. Cheapest checks first. */
export function matchRequest(m: RequestMatcher, view: RequestView): boolean {
  if (m.method !== undefined && m.method !== view.req.method) return false;
  if (m.path !== undefined && !matchPath(m.path, view)) return false;
  if (m.grpc !== undefined && !matchGrpcMethod(m.grpc, view)) return false;
  for (const h of m.headers) {
    const v = view.header(h.name);
    if (v === undefined || !matchString(h.match, v)) return false;
  }
  for (const q of m.query) {
    const v = view.queryParam(q.name);
    if (v === undefined || !matchString(q.match, v)) return false;
  }
  return true;
}

// ---- precedence ---------------------------------------------------------------------------------

/** Where a route entry sits among its peers: the fields the Gateway API orders by. */
export interface Precedence {
  /** HTTPRoute: Exact 3 > PathPrefix 2 > RegularExpression 1. GRPCRoute: unused (0). */
  pathRank: number;
  /** HTTPRoute: characters of the path value (a prefix without its trailing `/`). */
  pathLength: number;
  /** GRPCRoute: characters of an exact service / method match (a regex counts 0). */
  serviceLength: number;
  methodLength: number;
  hasMethod: boolean;
  headers: number;
  queryParams: number;
  /** Route metadata.creationTimestamp in ms; 0 when absent (sorts as oldest, like Istio's zero time). */
  createdAtMs: number;
  /** `<namespace>/<name>` of the route. */
  routeKey: string;
  ruleIndex: number;
  matchIndex: number;
}

/**
 * Gateway API order (HTTPRouteRule.matches, GRPCRouteRule.matches): Exact path > longest prefix
 * > regex (implementation-specific: like Istio, ranked after prefixes and by pattern length);
 * then method; then most header matches; then most query matches. GRPCRoute: longest service,
 * then longest method, then most header matches. Then the oldest route, then `namespace/name`
 * alphabetically, then rule order (and match order within a rule).
 */
export function comparePrecedence(a: Precedence, b: Precedence): number {
  return (
    b.pathRank - a.pathRank ||
    b.pathLength - a.pathLength ||
    b.serviceLength - a.serviceLength ||
    b.methodLength - a.methodLength ||
    Number(b.hasMethod) - Number(a.hasMethod) ||
    b.headers - a.headers ||
    b.queryParams - a.queryParams ||
    a.createdAtMs - b.createdAtMs ||
    (a.routeKey < b.routeKey ? -1 : a.routeKey > b.routeKey ? 1 : 0) ||
    a.ruleIndex - b.ruleIndex ||
    a.matchIndex - b.matchIndex
  );
}

/** JSON-able description of a matcher, for config_dump. */
export function describeMatcher(m: RequestMatcher): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (m.path !== undefined) out['path'] = { [m.path.kind]: m.path.value };
  if (m.grpc !== undefined) {
    out['grpc'] = {
      ...(m.grpc.service !== undefined ? { service: { [m.grpc.service.kind]: m.grpc.service.value } } : {}),
      ...(m.grpc.method !== undefined ? { method: { [m.grpc.method.kind]: m.grpc.method.value } } : {}),
    };
  }
  if (m.method !== undefined) out['method'] = m.method;
  if (m.headers.length > 0) out['headers'] = m.headers.map((h) => ({ name: h.name, [h.match.kind]: h.match.value }));
  if (m.query.length > 0) out['queryParams'] = m.query.map((q) => ({ name: q.name, [q.match.kind]: q.match.value }));
  return out;
}
