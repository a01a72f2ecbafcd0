import { vipKey } from '../../config/address.js';
import type { PortProtocol } from '../../config/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { Authority } from '../../hbone/authority.js';
import type { ChainMode, Destination } from '../tunnel.js';

export type Classification = { ok: true; destination: Destination } | { ok: false; reason: string };

/** Service port protocol → chain mode: HTTP-family ports are parsed, `tcp` relayed, others sniffed. */
export function chainModeFor(protocol: PortProtocol): ChainMode {
  switch (protocol) {
    case 'http':
    case 'http2':
    case 'grpc':
      return 'http';
    case 'tcp':
      return 'tcp';
    case 'unknown':
      return 'sniff';
  }
}

/**
 * main_internal's filter-chain match: destination IP first. A bound Service VIP and port → that
 * service's chain; a bound workload IP, any port → the direct chain; anything else is refused.
 */
export function classifyDestination(snapshot: ConfigSnapshot, authority: Authority): Classification {
  const binding = snapshot.byVip.get(vipKey(authority.ip, authority.port));
  if (binding !== undefined) {
    return { ok: true, destination: { kind: 'service', binding, mode: chainModeFor(binding.port.protocol) } };
  }
  if (snapshot.boundVipIps.has(authority.ip)) {
    return { ok: false, reason: `service VIP ${authority.ip} has no port ${authority.port}` };
  }
  const workload = snapshot.boundWorkloads.get(authority.ip);
  if (workload !== undefined) {
    return { ok: true, destination: { kind: 'workload', workload, port: authority.port, mode: 'sniff' } };
  }
  return { ok: false, reason: `${vipKey(authority.ip, authority.port)} is neither a bound service VIP nor a bound workload` };
}

/** Istio/Envoy chain name for logs and admin views. */
export function chainName(dest: Destination, resolved: 'http' | 'tcp'): string {
  if (dest.kind === 'workload') return resolved === 'http' ? 'direct-http' : 'direct-tcp';
  return `inbound-vip|${dest.binding.port.port}|${resolved}|${dest.binding.service.hostname}`;
}
