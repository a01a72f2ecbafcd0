/**
 * The source workload as ztunnel describes it on each CONNECT: `forwarded: for="<ip:port>";host=…`
 * (RFC 7239) and W3C `baggage` (`k8s.namespace.name=…,k8s.deployment.name=…,service.name=…`).
 * Pure parsers; anything malformed gives undefined (or is skipped), never an exception.
 */
import { isIP } from 'node:net';

export interface ForwardedFor {
  /** The source IP (IPv6 without brackets, lower case). */
  address: string;
  port: number | undefined;
  /** The `host` parameter, when present (ztunnel: the destination service's hostname). */
  host?: string | undefined;
}

/** Longest header value looked at; ztunnel's are well under 200 bytes. */
export const MAX_SOURCE_HEADER_BYTES = 8192;
/** Most baggage members kept (W3C's limit is 180). */
export const MAX_BAGGAGE_MEMBERS = 64;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** One `forwarded-element`: `;`-separated `name=value` pairs, value a token or a quoted string. */
function parseElement(element: string): Map<string, string> | undefined {
  const pairs = new Map<string, string>();
  let i = 0;
  const s = element;
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = s.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    i = eq + 1;
    let value = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        const c = s[i] as string;
        if (c === '"') break;
        if (c === '\\') {
          i++;
          if (i >= s.length) return undefined;
        }
        value += s[i];
        i++;
      }
      i++;
    } else {
      const end = s.indexOf(';', i);
      value = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
      if (!TOKEN.test(value) && !/^[0-9.:]+$/.test(value)) return undefined;
      i = end < 0 ? s.length : end;
    }
    if (pairs.has(name)) return undefined;
    pairs.set(name, value);
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i < s.length) {
      if (s[i] !== ';') return undefined;
      i++;
    }
  }
  return pairs;
}

/** Splits on commas outside quoted strings. */
function splitElements(value: string): string[] | undefined {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  out.push(value.slice(start));
  return out;
}

/** `for` node: `ip`, `ip:port`, `[ipv6]`, `[ipv6]:port`. `unknown` and obfuscated ids give undefined. */
function parseNode(node: string): { address: string; port: number | undefined } | undefined {
  let host = node;
  let portText: string | undefined;
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    if (close < 0) return undefined;
    host = node.slice(1, close);
    const rest = node.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = node.lastIndexOf(':');
    if (colon >= 0 && node.indexOf(':') === colon) {
      host = node.slice(0, colon);
      portText = node.slice(colon + 1);
    }
    if (isIP(host) !== 4) return undefined;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { address: host.toLowerCase(), port };
}

/**
 * The `for` of the last element (the one the nearest proxy, ztunnel, wrote; earlier ones are
 * not vouched for by the mTLS peer), with that element's `host`.
 */
export function parseForwardedFor(header: string | string[] | undefined): ForwardedFor | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value === undefined || value.length === 0 || value.length > MAX_SOURCE_HEADER_BYTES) return undefined;
  const elements = splitElements(value);
  const last = elements?.at(-1);
  if (last === undefined || last.trim() === '') return undefined;
  const pairs = parseElement(last.trim());
  const node = pairs?.get('for');
  if (node === undefined) return undefined;
  const parsed = parseNode(node);
  if (parsed === undefined) return undefined;
  const host = pairs?.get('host');
  return host !== undefined && host !== '' ? { ...parsed, host } : parsed;
}

/**
 * W3C baggage: `key=value` members separated by commas, `;properties` ignored, values
 * percent-decoded. Malformed members are skipped; at most `MAX_BAGGAGE_MEMBERS` are kept.
 */
export function parseBaggage(header: string | string[] | undefined): Map<string, string> | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value === undefined || value.length === 0 || value.length > MAX_SOURCE_HEADER_BYTES) return undefined;
  const out = new Map<string, string>();
  for (const member of value.split(',')) {
    if (out.size >= MAX_BAGGAGE_MEMBERS) break;
    const kv = member.split(';', 1)[0] as string;
    const eq = kv.indexOf('=');
    if (eq < 0) continue;
    const key = kv.slice(0, eq).trim();
    if (!TOKEN.test(key)) continue;
    let v: string;
    try {
      v = decodeURIComponent(kv.slice(eq + 1).trim());
    } catch {
      continue;
    }
    out.set(key, v);
  }
  return out.size > 0 ? out : undefined;
}
