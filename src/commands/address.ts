import { canonicalIp } from '../config/address.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `HOST:PORT` (IPv6 as `[addr]:port`); the host may be a name like `localhost`. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || host === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${what}: expected HOST:PORT (IPv6 as [addr]:port), got "${text}"`);
  }
  if (m[1] !== undefined && (!host.includes(':') || canonicalIp(host) === undefined)) throw new Error(`${what}: "${host}" is not an IPv6 address`);
  return { host, port };
}

/** Parses a port number flag. */
export function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < 1 || n > 65535) throw new Error(`${what}: expected a port 1-65535, got "${text}"`);
  return n;
}
