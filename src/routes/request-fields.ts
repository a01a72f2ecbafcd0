/**
 * The request fields route matches read, computed the same way for every route kind (Gateway API
 * matches in `match.ts`, Istio VirtualService matches in `istio/virtual-service.ts`): the query
 * string as Envoy parses it for matching, and a header's matching value.
 */
import type { RouteRequest } from './types.js';

/**
 * The query parameters of `path`, whose `?` is at `queryStart`: the first value of each name,
 * percent-decoded (`+` stays `+`, as in Envoy); a parameter without `=` has the value `""`; a
 * fragment is ignored.
 */
export function parseQuery(path: string, queryStart: number): Map<string, string> {
  const out = new Map<string, string>();
  if (queryStart < 0 || queryStart >= path.length) return out;
  let start = queryStart + 1;
  // A fragment never reaches a server, but be safe.
  const hash = path.indexOf('#', start);
  const end = hash < 0 ? path.length : hash;
  while (start <= end) {
    let amp = path.indexOf('&', start);
    if (amp < 0 || amp > end) amp = end;
    if (amp > start) {
      const eq = path.indexOf('=', start);
      const hasValue = eq >= 0 && eq < amp;
      const key = decodeComponent(path.slice(start, hasValue ? eq : amp));
      if (!out.has(key)) out.set(key, hasValue ? decodeComponent(path.slice(eq + 1, amp)) : '');
    }
    start = amp + 1;
  }
  return out;
}

/** Percent-decodes a query component; malformed escapes leave it as it is. */
export function decodeComponent(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * A header's matching value: repeated headers joined with `,` (Envoy's matching view); `host`
 * and `:authority` read the request authority, which HTTP/2 carries as `:authority`.
 */
export function headerValue(req: RouteRequest, name: string): string | undefined {
  if (name === 'host' || name === ':authority') return req.authority;
  const v = req.headers[name];
  if (v === undefined || typeof v === 'string') return v;
  return v.join(',');
}
