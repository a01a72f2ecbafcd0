/**
 * The JWT attributes AuthorizationPolicy reads from a verified token (authz-spec §6, §8):
 * `requestPrincipals` / `request.auth.principal` (`<iss>/<sub>`), `request.auth.audiences` (`aud`),
 * `request.auth.presenter` (`azp`) and `request.auth.claims[a][b]` (nested claims). A claim holding
 * a string or a list of strings matches when the string or one of the list's strings does; other
 * values count as absent.
 */
import type { VerifiedJwt } from './types.js';

/** The attribute a JWT matcher reads: `principal`, `audiences`, `presenter` or a claim path. */
export type JwtAttribute = { readonly kind: 'principal' | 'audiences' | 'presenter' } | { readonly kind: 'claim'; readonly path: readonly string[] };

/** `request.auth.claims[a][b]` → `['a', 'b']`; undefined when the key is not a claims key. */
export function parseClaimPath(key: string): string[] | undefined {
  const m = /^request\.auth\.claims((?:\[[^[\]]+\])+)$/.exec(key);
  if (m === null) return undefined;
  return [...m[1]!.matchAll(/\[([^[\]]+)\]/g)].map((x) => x[1]!);
}

/** The JWT attribute of a condition key or `requestPrincipals`; undefined for other keys. */
export function jwtAttributeOf(key: string): JwtAttribute | undefined {
  switch (key) {
    case 'requestPrincipals':
    case 'request.auth.principal':
      return { kind: 'principal' };
    case 'request.auth.audiences':
      return { kind: 'audiences' };
    case 'request.auth.presenter':
      return { kind: 'presenter' };
    default: {
      const path = parseClaimPath(key);
      return path === undefined ? undefined : { kind: 'claim', path };
    }
  }
}

function strings(v: unknown): readonly string[] | undefined {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) {
    const out = v.filter((x): x is string => typeof x === 'string');
    return out.length === 0 ? undefined : out;
  }
  return undefined;
}

/** The value at a claim path, or undefined. */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let cur: unknown = payload;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** The strings an attribute holds for a request (undefined: absent, e.g. no verified JWT). */
export function jwtValues(jwt: VerifiedJwt | undefined, attr: JwtAttribute): readonly string[] | undefined {
  if (jwt === undefined) return undefined;
  switch (attr.kind) {
    case 'principal':
      return [jwt.principal];
    case 'audiences':
      return strings(jwt.payload.aud);
    case 'presenter':
      return typeof jwt.payload.azp === 'string' ? [jwt.payload.azp] : undefined;
    case 'claim':
      return strings(claimAt(jwt.payload, attr.path));
  }
}

/** `<iss>/<sub>` of a payload (either part empty when the claim is missing). */
export function requestPrincipal(payload: Readonly<Record<string, unknown>>): string {
  const iss = typeof payload.iss === 'string' ? payload.iss : '';
  const sub = typeof payload.sub === 'string' ? payload.sub : '';
  return `${iss}/${sub}`;
}

/**
 * A claim as an `outputClaimToHeaders` header value (Envoy `claim_to_headers`): strings, numbers
 * and booleans as text, a list of them joined with `,`; a nested claim is named `a.b`.
 */
export function claimHeaderValue(payload: Readonly<Record<string, unknown>>, claim: string): string | undefined {
  const v = claimAt(payload, claim.split('.'));
  const scalar = (x: unknown): string | undefined => (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' ? String(x) : undefined);
  if (Array.isArray(v)) {
    const parts = v.map(scalar).filter((x): x is string => x !== undefined);
    return parts.length === 0 ? undefined : parts.join(',');
  }
  return scalar(v);
}
