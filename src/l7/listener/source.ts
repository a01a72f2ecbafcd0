import type { WorkloadInfo } from '../../config/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { PeerInfo } from '../../hbone/server.js';
import { parseSpiffeId } from '../../hbone/spiffe.js';

/**
 * The source of a tunnel: the workload at the HBONE peer address (ztunnel runs in the client pod's
 * network namespace, so the peer is the source pod), and its namespace, taken from the peer
 * identity's /ns/ segment first as Istio's telemetry does.
 */
export function sourceOf(snap: ConfigSnapshot, peer: PeerInfo): { workload: WorkloadInfo | undefined; namespace: string | undefined } {
  const workload = snap.workloadsByIp.get(peer.address);
  const namespace = parseSpiffeId(peer.identity)?.namespace ?? workload?.namespace;
  return { workload, namespace };
}
