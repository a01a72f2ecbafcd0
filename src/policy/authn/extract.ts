/**
 * Where JWTs are read from, as Envoy's jwt_authn extractor does it: each rule's `fromHeaders`
 * (name and prefix), `fromParams` and `fromCookies`, or, when a rule names none of them, the
 * defaults `Authorization: Bearer <token>` and the `access_token` query parameter.
 */
import type { JwtRule, TokenLocation } from './types.js';

export const DEFAULT_LOCATIONS: readonly TokenLocation[] = Object.freeze([
  Object.freeze({ kind: 'header', name: 'authorization', prefix: 'Bearer ' } as const),
  Object.freeze({ kind: 'param', name: 'access_token' } as const),
]);

export interface JwtRuleLocations {
  fromHeaders?: ReadonlyArray<{ name: string; prefix?: string | null | undefined }> | null | undefined;
  fromParams?: readonly string[] | null | undefined;
  fromCookies?: readonly string[] | null | undefined;
}

/** The locations a rule reads (its own, or the defaults when it names none). */
export function tokenLocations(spec: JwtRuleLocations): readonly TokenLocation[] {
  const out: TokenLocation[] = [];
  for (const h of spec.fromHeaders ?? []) out.push({ kind: 'header', name: h.name.toLowerCase(), prefix: h.prefix ?? '' });
  for (const p of spec.fromParams ?? []) out.push({ kind: 'param', name: p });
  for (const c of spec.fromCookies ?? []) out.push({ kind: 'cookie', name: c });
  return out.length === 0 ? DEFAULT_LOCATIONS : out;
}

/** What the extractor needs of a request. */
export interface TokenSource {
  /** Request headers, names lower case. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request target (path and query). */
  readonly target: string;
}

/** A token found in a request, with the rules that read that location. */
export interface ExtractedToken {
  readonly token: string;
  readonly location: TokenLocation;
  readonly rules: readonly JwtRule[];
}

/** The token found at one location, if any. */
export function readLocation(req: TokenSource, loc: TokenLocation): string | undefined {
  switch (loc.kind) {
    case 'header': {
      const raw = req.headers[loc.name];
      const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      for (const v of values) {
        if (!v.startsWith(loc.prefix)) continue;
        const token = v.slice(loc.prefix.length).trim();
        if (token !== '') return token;
      }
      return undefined;
    }
    case 'param': {
      const q = req.target.indexOf('?');
      if (q < 0) return undefined;
      const hash = req.target.indexOf('#', q);
      const value = new URLSearchParams(req.target.slice(q + 1, hash < 0 ? undefined : hash)).get(loc.name);
      return value === null || value === '' ? undefined : value;
    }
    case 'cookie': {
      const raw = req.headers.cookie;
      for (const line of raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]) {
        for (const part of line.split(';')) {
          const eq = part.indexOf('=');
          if (eq < 0 || part.slice(0, eq).trim() !== loc.name) continue;
          const value = part.slice(eq + 1).trim();
          if (value !== '') return value;
        }
      }
      return undefined;
    }
  }
}

function sameLocation(a: TokenLocation, b: TokenLocation): boolean {
  return a.kind === b.kind && a.name === b.name && (a.kind !== 'header' || b.kind !== 'header' || a.prefix === b.prefix);
}

/**
 * Every distinct token in the request, in rule order, each with the rules that read its
 * location. Empty when the request carries no token (it then passes authentication).
 */
export function extractTokens(req: TokenSource, rules: readonly JwtRule[]): ExtractedToken[] {
  const out: Array<{ token: string; location: TokenLocation; rules: JwtRule[] }> = [];
  for (const rule of rules) {
    for (const loc of rule.locations) {
      const token = readLocation(req, loc);
      if (token === undefined) continue;
      const found = out.find((t) => t.token === token && sameLocation(t.location, loc));
      if (found === undefined) out.push({ token, location: loc, rules: [rule] });
      else if (!found.rules.includes(rule)) found.rules.push(rule);
    }
  }
  return out;
}
