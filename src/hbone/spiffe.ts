/**
 * SPIFFE identities as used by Istio ambient mesh (pure functions, no I/O).
 *
 * Istio workload identities have exactly the shape `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 * ztunnel parses them by stripping `spiffe://`, splitting on `/` and requiring exactly five segments with the literal
 * `ns` and `sa` markers; we do the same and additionally require every segment to be non-empty and made of the
 * SPIFFE-permitted characters (letters, digits, `.`, `-`, `_`), so no query, fragment, percent-escape, whitespace or
 * `.`/`..` segment can sneak into an identity that is later used in policy decisions.
 */

export interface SpiffeIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export const SPIFFE_PREFIX = 'spiffe://';

/** Characters SPIFFE allows in a trust domain (upper case tolerated) and in path segments. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

function validSegment(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== '.' && segment !== '..';
}

/** Parses `spiffe://<td>/ns/<ns>/sa/<sa>`; anything else (including other SPIFFE path shapes) gives undefined. */
export function parseSpiffeId(uri: string): SpiffeIdentity | undefined {
  if (!uri.startsWith(SPIFFE_PREFIX)) return undefined;
  const parts = uri.slice(SPIFFE_PREFIX.length).split('/');
  if (parts.length !== 5) return undefined;
  const [trustDomain, nsMarker, namespace, saMarker, serviceAccount] = parts;
  if (trustDomain === undefined || namespace === undefined || serviceAccount === undefined) return undefined;
  if (nsMarker !== 'ns' || saMarker !== 'sa') return undefined;
  if (!validSegment(trustDomain) || !validSegment(namespace) || !validSegment(serviceAccount)) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

/** Builds `spiffe://<td>/ns/<ns>/sa/<sa>`; throws if the result would not parse back with {@link parseSpiffeId}. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const uri = `${SPIFFE_PREFIX}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  if (parseSpiffeId(uri) === undefined) {
    throw new Error(
      `invalid SPIFFE identity parts: trustDomain=${JSON.stringify(trustDomain)} ` +
        `namespace=${JSON.stringify(namespace)} serviceAccount=${JSON.stringify(serviceAccount)}`,
    );
  }
  return uri;
}

/** Istio's trust-domain check: the URI starts with `spiffe://<td>/` (a prefix match, case-sensitive). */
export function inTrustDomain(uri: string, trustDomain: string): boolean {
  if (trustDomain === '') return false;
  return uri.startsWith(`${SPIFFE_PREFIX}${trustDomain}/`);
}

/** A JSON string literal at the start of the text, as Node emits for "unsafe" alt names (same pattern as node's tls.js). */
// eslint-disable-next-line no-control-regex -- the pattern must name the control characters JSON strings forbid
const JSON_STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/;

/**
 * Splits Node's `subjectaltname` text into entries such as `URI:spiffe://...` or `DNS:x`, undoing Node's escaping.
 *
 * Entries are separated by `", "`. A name containing `,`, `"`, `\`, `'` or control characters is emitted by Node as a
 * JSON string literal, normally around the whole entry (`"URI:a\u002cb"`); a quoted value after the prefix
 * (`URI:"a,b"`) is handled too. Mirrors Node's own `splitEscapedAltNames`. Returns undefined on malformed quoting.
 */
export function splitSubjectAltName(san: string): string[] | undefined {
  const result: string[] = [];
  let current = '';
  let offset = 0;
  while (offset < san.length) {
    const nextSep = san.indexOf(', ', offset);
    const nextQuote = san.indexOf('"', offset);
    if (nextQuote !== -1 && (nextSep === -1 || nextQuote < nextSep)) {
      current += san.slice(offset, nextQuote);
      const match = JSON_STRING.exec(san.slice(nextQuote));
      if (!match) return undefined;
      const literal = match[0];
      const decoded: unknown = JSON.parse(literal);
      if (typeof decoded !== 'string') return undefined;
      current += decoded;
      offset = nextQuote + literal.length;
    } else if (nextSep !== -1) {
      current += san.slice(offset, nextSep);
      result.push(current);
      current = '';
      offset = nextSep + 2;
    } else {
      current += san.slice(offset);
      offset = san.length;
    }
  }
  result.push(current);
  return result;
}

/**
 * The URI values from a Node TLS peer certificate's `subjectaltname` string, in certificate order.
 * Missing/empty input gives `[]`; malformed quoting fails closed and gives `[]` as well (no identity rather than a
 * guessed one).
 */
export function uriSansFromSubjectAltName(san: string | undefined): string[] {
  if (san === undefined || san.trim() === '') return [];
  const entries = splitSubjectAltName(san);
  if (entries === undefined) return [];
  const uris: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('URI:')) uris.push(entry.slice('URI:'.length));
  }
  return uris;
}
