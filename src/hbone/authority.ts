import { canonicalIp } from '../config/address.js';

export interface Authority {
  /** Canonical IP text (IPv6 without brackets). */
  ip: string;
  port: number;
}

export type AuthorityResult = { ok: true; authority: Authority } | { ok: false; reason: string };

const PORT_RE = /^[0-9]{1,5}$/;

/**
 * Parses an HBONE CONNECT `:authority`: `ip:port`, IPv6 as `[v6]:port`. Hostnames are refused:
 * ztunnel always sends the original destination address, never a name.
 */
export function parseAuthority(text: string | undefined): AuthorityResult {
  if (text === undefined || text === '') return { ok: false, reason: 'missing :authority' };
  if (text.length > 64) return { ok: false, reason: 'authority too long' };
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return { ok: false, reason: 'malformed IPv6 authority' };
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!host.includes(':')) return { ok: false, reason: 'brackets around a non-IPv6 host' };
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return { ok: false, reason: 'authority has no port' };
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return { ok: false, reason: 'IPv6 authority must be bracketed' };
  }
  if (!PORT_RE.test(portText)) return { ok: false, reason: 'authority port is not a number' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { ok: false, reason: 'authority port out of range' };
  const ip = canonicalIp(host);
  if (ip === undefined) return { ok: false, reason: 'authority host is not an IP address' };
  return { ok: true, authority: { ip, port } };
}

export function formatAuthority(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
