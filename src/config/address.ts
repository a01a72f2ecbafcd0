import ipaddr from 'ipaddr.js';

/**
 * Canonical text for an IP address: IPv4 dotted quad, IPv6 compressed lower case, IPv4-mapped
 * IPv6 unwrapped to IPv4. Returns undefined for anything that is not an IP literal.
 */
export function canonicalIp(text: string): string | undefined {
  if (!ipaddr.isValid(text) || text.includes('%')) return undefined;
  const dot = text.indexOf('.');
  if (!text.includes(':')) {
    // ipaddr.isValid accepts shorthand IPv4 forms such as "127.1"; accept only four-part decimal.
    if (!ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
  } else if (dot >= 0) {
    // Dotted IPv4 inside IPv6 must be strict decimal. The deprecated IPv4-compatible form
    // ::a.b.c.d is refused: ipaddr.js would read it as the mapped address ::ffff:a.b.c.d.
    const v4 = text.slice(text.lastIndexOf(':') + 1);
    if (/^::\d/.test(text) || !ipaddr.IPv4.isValidFourPartDecimal(v4)) return undefined;
  }
  const parsed = ipaddr.parse(text);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
    return v6.toString();
  }
  return parsed.toString();
}

/** Key of an `ip:port` pair in snapshot indexes; IPv6 bracketed as on the wire. */
export function vipKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Key of a Service port by hostname in snapshot indexes: `<name>.<ns>.svc.cluster.local:<port>`. */
export function hostPortKey(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}
