import ipaddr from 'ipaddr.js';

/**
 * Canonical text for an IP address: IPv4 dotted quad, IPv6 compressed lower case, IPv4-mapped
 * IPv6 unwrapped to IPv4. Returns undefined for anything that is not an IP literal.
 */
export function canonicalIp(text: string): string | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  // ipaddr.isValid accepts shorthand IPv4 forms such as "127.1"; accept only four-part decimal.
  if (!text.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
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
