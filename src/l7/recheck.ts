/**
 * The re-check of one open connection against a new snapshot, with the same authorization as at
 * admission. Pure.
 * - A TCP tunnel (`recheckTunnel`): network RBAC (`authorizeConnection`) on its recorded source
 *   (peer identity and address) and destination (the address dialled, the Service it was bound to).
 * - An upgraded HTTP connection (`recheckUpgrade`: WebSocket over HTTP/1.1, or RFC 8441 extended
 *   CONNECT): `authorize` on the tunnel and the upgrade request as it was authorised (method,
 *   host, normalised path, headers, the verified JWT). The CUSTOM layer stays as it was decided at
 *   upgrade time: the ext_authz server is not asked again, so only the DENY and ALLOW layers are
 *   evaluated (a CUSTOM policy added later does not close an open upgrade).
 */
import type { VerifiedJwt } from '../policy/authn/types.js';
import type { AuthzDecision, RequestAttributes } from '../policy/index.js';
import type { ConfigSnapshot } from '../snapshot/types.js';
import { authorize, authorizeConnection, denialDetails } from './authorize.js';
import type { Destination, TunnelContext } from './tunnel.js';

/** Why a new snapshot closes an open connection. */
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
  return denial(snap, tunnel.destination, authorizeConnection(snap, tunnel, ignoredOnTcp));
}

/** What an upgraded connection was authorised on: its tunnel and its upgrade request. */
export interface RecordedUpgrade {
  tunnel: TunnelContext;
  /** The destination the request was decided for. */
  destination: Destination;
  /** Method, host, normalised path and headers, as `decide` authorised them. */
  http: NonNullable<RequestAttributes['http']>;
  /** The JWT RequestAuthentication verified, if any. */
  jwt: VerifiedJwt | undefined;
  /** The snapshot the upgrade was authorised on (a swap may come before the upgrade is relayed). */
  decidedOn: ConfigSnapshot;
}

/** `undefined` when `snap` still allows the upgraded connection; otherwise which policy now denies it. */
export function recheckUpgrade(snap: ConfigSnapshot, up: RecordedUpgrade): RecheckDenial | undefined {
  return denial(snap, up.destination, authorize(snap, up.tunnel, up.destination, up.http, up.jwt, true));
}

function denial(snap: ConfigSnapshot, dest: Destination, d: AuthzDecision): RecheckDenial | undefined {
  if (d.allowed) return undefined;
  return { policy: d.policy ?? allowPolicies(snap, dest), reason: d.reason, details: denialDetails(d) };
}

/** The enforced ALLOW policies that apply to the destination. */
function allowPolicies(snap: ConfigSnapshot, dest: Destination): string {
  const policies = snap.policies;
  if (policies === undefined) return 'none';
  const set = dest.kind === 'service' ? policies.forService(dest.binding.service.hostname) : policies.forWorkload();
  return set.allow.length === 0 ? 'none' : set.allow.map((p) => p.id).join(',');
}
