/**
 * Pure helpers that carry out a matched rule's action: header edits, path rewrites, the exact
 * redirect `Location`, and the weighted backend choice. No I/O, no clocks: the data path calls
 * these per request, tests call them directly.
 */
import type { BackendRef, HeaderMutation, PathModifier, RedirectAction, RouteRequest } from './types.js';

/** Headers as the data path holds them: lower-case names, repeated headers as arrays. */
export type MutableHeaders = Record<string, string | string[] | undefined>;

export const EMPTY_HEADER_MUTATION: HeaderMutation = Object.freeze({
  set: Object.freeze([]),
  add: Object.freeze([]),
  remove: Object.freeze([]),
});

export function isEmptyHeaderMutation(m: HeaderMutation): boolean {
  return m.set.length === 0 && m.add.length === 0 && m.remove.length === 0;
}

/**
 * Applies set (replace), add (append: a repeated header, which HTTP/1.1 sends as separate lines
 * and readers join with `,`), then remove, in place. Names in `m` are lower-case.
 */
export function applyHeaderMutation(headers: MutableHeaders, m: HeaderMutation): void {
  for (const [name, value] of m.set) headers[name] = value;
  for (const [name, value] of m.add) {
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (typeof prev === 'string') headers[name] = [prev, value];
    else headers[name] = [...prev, value];
  }
  for (const name of m.remove) delete headers[name];
}

/**
 * Rewrites a request path (query string kept) per the Gateway API `HTTPPathModifier`:
 *
 * - `full`: the path is replaced (the query is kept unless the replacement carries its own);
 * - `prefix`: the rule's matched PathPrefix is replaced, element-wise, with the spec's `/` rules:
 *   a trailing `/` on either the prefix or the replacement is ignored, and an empty result is `/`
 *   (`/foo` + prefix `/foo` + `""` → `/`; `/foo/bar` + `/foo` + `/` → `/bar`; prefix `/` prepends).
 *
 * `matchedPrefix` is the PathPrefix value as configured; undefined behaves as `/`.
 */
export function rewritePath(path: string, modifier: PathModifier, matchedPrefix: string | undefined): string {
  const q = path.indexOf('?');
  const pathOnly = q < 0 ? path : path.slice(0, q);
  const query = q < 0 ? '' : path.slice(q);
  if (modifier.type === 'full') {
    return modifier.value.includes('?') ? ensureLeadingSlash(modifier.value) : ensureLeadingSlash(modifier.value) + query;
  }
  const prefix = trimTrailingSlash(matchedPrefix ?? '/');
  if (!pathOnly.startsWith(prefix)) return path;
  const rest = pathOnly.slice(prefix.length);
  const replaced = trimTrailingSlash(modifier.value) + rest;
  return ensureLeadingSlash(replaced) + query;
}

/**
 * The exact `Location` of a redirect.
 *
 * - scheme: `action.scheme`, else the request's scheme;
 * - host: `action.hostname`, else the request's Host without its port;
 * - port: `action.port`, omitted when it is the scheme's default (http 80, https 443). The Gateway
 *   API compiler always sets it the way the spec derives it (the filter's port; else the
 *   Service port when no scheme is given; else the new scheme's well-known port).
 *   When `action.port` is undefined (VirtualService-style redirects), the request's Host is kept
 *   as sent, except that its port is dropped when the scheme changes and the port was the old
 *   scheme's default (Envoy's `processRequestHost`);
 * - path: per `action.path` (see `rewritePath`), else the request path; the query is kept.
 */
export function redirectLocation(
  action: RedirectAction,
  req: Pick<RouteRequest, 'path' | 'authority'>,
  matchedPrefix: string | undefined,
  requestScheme = 'http',
): string {
  const scheme = action.scheme ?? requestScheme;
  let hostPort: string;
  if (action.port !== undefined) {
    const host = action.hostname ?? splitAuthority(req.authority).host;
    hostPort = isDefaultPort(scheme, action.port) ? host : `${host}:${action.port}`;
  } else if (action.hostname !== undefined) {
    hostPort = action.hostname;
  } else {
    const { host, port } = splitAuthority(req.authority);
    const dropPort = port !== undefined && scheme !== requestScheme && isDefaultPort(requestScheme, Number(port));
    hostPort = dropPort ? host : req.authority;
  }
  const path = action.path === undefined ? ensureLeadingSlash(req.path) : rewritePath(req.path, action.path, matchedPrefix);
  return `${scheme}://${hostPort}${path}`;
}

/**
 * Picks a backend in proportion to its weight; weight 0 is never picked. Undefined when the total
 * weight is 0 (the spec's 500). `random` yields floats in [0, 1).
 */
export function pickWeighted(backends: readonly BackendRef[], totalWeight: number, random: () => number): BackendRef | undefined {
  if (!(totalWeight > 0)) return undefined;
  let r = random() * totalWeight;
  let last: BackendRef | undefined;
  for (const b of backends) {
    if (!(b.weight > 0)) continue;
    if (r < b.weight) return b;
    r -= b.weight;
    last = b;
  }
  return last;
}

/** `echo:80` → {echo, 80}; `[::1]:8080` → {[::1], 8080}; `echo` → {echo}. */
export function splitAuthority(authority: string): { host: string; port: string | undefined } {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) return { host: authority, port: undefined };
    const rest = authority.slice(end + 1);
    return { host: authority.slice(0, end + 1), port: rest.startsWith(':') && rest.length > 1 ? rest.slice(1) : undefined };
  }
  const colon = authority.lastIndexOf(':');
  // A bare IPv6 literal (several colons, no brackets) has no port.
  if (colon < 0 || authority.indexOf(':') !== colon) return { host: authority, port: undefined };
  return { host: authority.slice(0, colon), port: colon + 1 < authority.length ? authority.slice(colon + 1) : undefined };
}

function isDefaultPort(scheme: string, port: number): boolean {
  return (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
}

function trimTrailingSlash(p: string): string {
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

function ensureLeadingSlash(p: string): string {
  return p.startsWith('/') ? p : `/${p}`;
}
