import type { WorkloadInfo } from '../config/types.js';
import type { Authority } from '../hbone/authority.js';
import type { PeerInfo } from '../hbone/server.js';
import type { Destination } from './classify.js';

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
