import type { ConfigSnapshot } from '../snapshot/types.js';
import type { VerifiedJwt } from '../policy/authn/types.js';
import { evaluate, evaluateAfterCustom, type AuthzDecision, type RequestAttributes } from '../policy/index.js';
import type { Destination, TunnelContext } from './tunnel.js';

const NO_POLICY: AuthzDecision = Object.freeze({ allowed: true, action: 'NONE', reason: 'allowed: no policy applies', dryRun: Object.freeze([]) as unknown as AuthzDecision['dryRun'] });

/**
 * AuthorizationPolicy for one request or connection. Service traffic sees the Gateway,
 * GatewayClass and Service policies; workload-addressed traffic only the first two. The source is
 * the HBONE peer (its certificate's identity and its address), the destination port the one the
 * client dialled (the service port). `afterCustom`: the DENY and ALLOW layers only, once an
 * ext_authz provider has allowed the request (src/l7/ext-authz/custom.ts).
 */
export function authorize(snap: ConfigSnapshot, tunnel: TunnelContext, dest: Destination, http: RequestAttributes['http'], jwt?: VerifiedJwt, afterCustom = false): AuthzDecision {
  const policies = snap.policies;
  if (policies === undefined || policies.count === 0) return NO_POLICY;
  const set = dest.kind === 'service' ? policies.forService(dest.binding.service.hostname) : policies.forWorkload();
  if (set.size === 0) return NO_POLICY;
  return (afterCustom ? evaluateAfterCustom : evaluate)(set, {
    sourcePrincipal: tunnel.peer.identity,
    sourceIp: tunnel.peer.address,
    destinationIp: tunnel.authority.ip,
    destinationPort: tunnel.authority.port,
    http,
    jwt,
  });
}

/**
 * Network RBAC for a TCP connection: L4 attributes only. A CUSTOM rule naming a provider that a
 * TCP connection cannot ask (`ignoredOnTcp`: an HTTP ext_authz service) is skipped, as Istio does;
 * any other CUSTOM rule denies (fail closed). Used at admission and by the re-check of open tunnels.
 */
export function authorizeConnection(snap: ConfigSnapshot, tunnel: TunnelContext, ignoredOnTcp: (provider: string) => boolean): AuthzDecision {
  const verdict = authorize(snap, tunnel, tunnel.destination, undefined);
  if (verdict.provider !== undefined && ignoredOnTcp(verdict.provider)) return authorize(snap, tunnel, tunnel.destination, undefined, undefined, true);
  return verdict;
}

/** Envoy's response code details for a denial: `rbac_access_denied_matched_policy[...]`. */
export function denialDetails(d: AuthzDecision): string {
  return d.policy === undefined ? 'rbac_access_denied_matched_policy[none]' : `rbac_access_denied_matched_policy[${d.policy}${d.rule === undefined ? '' : `#rule-${d.rule}`}]`;
}
