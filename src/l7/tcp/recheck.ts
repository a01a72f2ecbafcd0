/**
 * The re-check of one open TCP tunnel against a new snapshot: the same network RBAC as at
 * admission (`authorizeConnection`), on the tunnel's recorded source (peer identity and address)
 * and destination (the address dialled, the Service it was bound to). Pure.
 */
import type { ConfigSnapshot } from '../../snapshot/types.js';
import { authorizeConnection, denialDetails } from '../authorize.js';
import type { TunnelContext } from '../tunnel.js';

/** Why a new snapshot closes an open tunnel. */
export interface RecheckDenial {
  /**
   * The policy that denies it, `namespace/name`; when ALLOW policies apply and none matches, the
   * names of those ALLOW policies joined with `,` (the ones that no longer let it through).
   */
  policy: string;
  /** The evaluator's reason (`denied: ...`). */
  reason: string;
  /** Envoy's response code details: `rbac_access_denied_matched_policy[...]`. */
  details: string;
}

/** `undefined` when `snap` still allows the tunnel; otherwise which policy now denies it. */
export function recheckTunnel(snap: ConfigSnapshot, tunnel: TunnelContext, ignoredOnTcp: (provider: string) => boolean): RecheckDenial | undefined {
  const d = authorizeConnection(snap, tunnel, ignoredOnTcp);
  if (d.allowed) return undefined;
  return { policy: d.policy ?? allowPolicies(snap, tunnel), reason: d.reason, details: denialDetails(d) };
}

/** The enforced ALLOW policies that apply to the tunnel's destination. */
function allowPolicies(snap: ConfigSnapshot, tunnel: TunnelContext): string {
  const policies = snap.policies;
  if (policies === undefined) return 'none';
  const dest = tunnel.destination;
  const set = dest.kind === 'service' ? policies.forService(dest.binding.service.hostname) : policies.forWorkload();
  return set.allow.length === 0 ? 'none' : set.allow.map((p) => p.id).join(',');
}
