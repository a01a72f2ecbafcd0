/**
 * What every stage of l7 knows about one accepted tunnel: where it goes (`Destination`), who sent
 * it (`TunnelContext`), and the access-record fields its requests and connections share.
 */
import type { VipBinding, WorkloadInfo } from '../config/types.js';
import { formatAuthority, type Authority } from '../hbone/authority.js';
import type { AccessRecord } from '../metrics/access-log.js';
import { isoTime } from '../metrics/iso-time.js';
import { NO_RESPONSE_FLAGS } from '../metrics/response-flags.js';
import type { PeerInfo } from '../hbone/server.js';

/**
 * How main_internal treats a tunnel's bytes: a known HTTP port, a known TCP port, or sniffed.
 */
export type ChainMode = 'http' | 'tcp' | 'sniff';

export type Destination =
  | { kind: 'service'; binding: VipBinding; mode: ChainMode }
  | { kind: 'workload'; workload: WorkloadInfo; port: number; mode: 'sniff' };

/** What main_internal knows about one accepted tunnel; shared by every request inside it. */
export interface TunnelContext {
  peer: PeerInfo;
  authority: Authority;
  authorityText: string;
  /** `vipKey(authority)`: the snapshot index key. */
  key: string;
  destination: Destination;
  /** The source workload, looked up by the HBONE peer address. */
  sourceWorkload: WorkloadInfo | undefined;
  /** The source namespace: from the peer identity's /ns/ segment, else the workload's. */
  sourceNamespace: string | undefined;
  /** Filter-chain name once the protocol is known (`inbound-vip|80|http|host`, `direct-tcp`, ...). */
  chain: string;
}

/** The fields every access record of a tunnel shares. */
export function tunnelRecord(tunnel: TunnelContext, type: 'http' | 'tcp', protocol: string, started: number): AccessRecord {
  return {
    type,
    start_time: isoTime(started),
    duration_ms: 0,
    protocol,
    response_flags: NO_RESPONSE_FLAGS,
    bytes_received: 0,
    bytes_sent: 0,
    connect_authority: tunnel.authorityText,
    chain: tunnel.chain,
    source_principal: tunnel.peer.identity,
    source_address: formatAuthority(tunnel.peer.address, tunnel.peer.port),
  };
}

/** Cluster name: `inbound-vip|<port>|<http|tcp>|<host>` for services, `encap` for direct traffic. */
export function clusterName(dest: Destination, resolved: 'http' | 'tcp'): string {
  if (dest.kind === 'workload') return 'encap';
  return `inbound-vip|${dest.binding.port.port}|${resolved}|${dest.binding.service.hostname}`;
}
