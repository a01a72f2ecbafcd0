import type { WorkloadInfo } from '../../config/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { PeerInfo } from '../../hbone/server.js';
import { parseSpiffeId } from '../../hbone/spiffe.js';

/**
 * The source of a tunnel and its namespace, taken from the peer identity's /ns/ segment first as
 * Istio's telemetry does. The workload is the pod at the address ztunnel names in the CONNECT's
 * `forwarded: for=` (src/hbone/forwarded.ts), else the pod at the HBONE peer address (ztunnel in
 * the client pod's network namespace). The forwarded pod is taken only when its namespace and
 * service account agree with the peer's verified identity (the principal names who calls, the
 * address only which of its pods); otherwise the pod at the peer address, as without the header.
 * Pure.
 */
export function sourceOf(snap: Pick<ConfigSnapshot, 'workloadsByIp'>, peer: PeerInfo): { workload: WorkloadInfo | undefined; namespace: string | undefined } {
  const id = parseSpiffeId(peer.identity);
  const matches = (w: WorkloadInfo | undefined): w is WorkloadInfo =>
    w !== undefined && (id === undefined || (w.namespace === id.namespace && w.serviceAccount === id.serviceAccount));
  const forwarded = peer.forwardedFor === undefined ? undefined : snap.workloadsByIp.get(peer.forwardedFor.address);
  const atPeer = snap.workloadsByIp.get(peer.address);
  const workload = matches(forwarded) ? forwarded : atPeer;
  const namespace = id?.namespace ?? workload?.namespace;
  return { workload, namespace };
}
