import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../upstream/attempt.js';

/** Connection-specific headers never forwarded across a hop (RFC 9110 §7.6.1; h2 forbids them). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  // Node's HTTP/1.1 server answers 100-continue itself; the upstream leg never waits for it.
  'expect',
  'host',
]);

/**
 * Copies end-to-end request headers: drops pseudo-headers, hop-by-hop headers and any header the
 * `Connection` header names; keeps `te: trailers` (gRPC needs it on h2). `host` is dropped here
 * and set by the caller from the request's authority.
 */
export function endToEndRequestHeaders(headers: IncomingHttpHeaders): HeaderMap {
  const out: HeaderMap = {};
  const named = connectionNamed(headers.connection);
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (HOP_BY_HOP.has(name) || (named !== undefined && named.has(name))) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  const te = headers.te;
  if (typeof te === 'string' && /(^|,)\s*trailers\s*(,|$)/i.test(te)) out.te = 'trailers';
  return out;
}

/** Copies end-to-end response headers (same rules, without the `te` exception). */
export function endToEndResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const conn = headers.connection;
  const named = connectionNamed(typeof conn === 'string' || Array.isArray(conn) ? conn : undefined);
  for (const name in headers) {
    if (name.charCodeAt(0) === 58) continue;
    if ((HOP_BY_HOP.has(name) && name !== 'host') || (named !== undefined && named.has(name))) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function connectionNamed(conn: string | string[] | undefined): Set<string> | undefined {
  if (conn === undefined) return undefined;
  const text = Array.isArray(conn) ? conn.join(',') : conn;
  if (text === '' || text.toLowerCase() === 'keep-alive' || text.toLowerCase() === 'close') return undefined;
  const set = new Set<string>();
  for (const part of text.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '') set.add(t);
  }
  return set;
}
