/**
 * The resource kinds the waypoint reads, keyed by kind, with the API groups they may come from.
 *
 * A kind is matched together with its API group: an Istio `networking.istio.io` Gateway is not the
 * Gateway API `gateway.networking.k8s.io` Gateway this waypoint is, so it is skipped.
 */

export interface KindInfo {
  /** API groups the kind is accepted from (`''` is the core group, apiVersion `v1`). */
  groups: readonly string[];
  namespaced: boolean;
  /** True when `schemas.ts` has a full schema for the kind; otherwise only metadata is checked. */
  core: boolean;
}

const CORE = [''];
const ISTIO_NETWORKING = ['networking.istio.io'];
const ISTIO_SECURITY = ['security.istio.io'];
const GATEWAY_API = ['gateway.networking.k8s.io'];

export const KINDS: ReadonlyMap<string, KindInfo> = new Map<string, KindInfo>([
  ['Namespace', { groups: CORE, namespaced: false, core: true }],
  ['Service', { groups: CORE, namespaced: true, core: true }],
  ['Pod', { groups: CORE, namespaced: true, core: true }],
  ['EndpointSlice', { groups: ['discovery.k8s.io'], namespaced: true, core: true }],
  ['WorkloadEntry', { groups: ISTIO_NETWORKING, namespaced: true, core: true }],
  ['Gateway', { groups: GATEWAY_API, namespaced: true, core: true }],
  ['GatewayClass', { groups: GATEWAY_API, namespaced: false, core: true }],
  ['ReferenceGrant', { groups: GATEWAY_API, namespaced: true, core: false }],
  ['HTTPRoute', { groups: GATEWAY_API, namespaced: true, core: false }],
  ['GRPCRoute', { groups: GATEWAY_API, namespaced: true, core: false }],
  ['ServiceEntry', { groups: ISTIO_NETWORKING, namespaced: true, core: true }],
  ['VirtualService', { groups: ISTIO_NETWORKING, namespaced: true, core: false }],
  ['DestinationRule', { groups: ISTIO_NETWORKING, namespaced: true, core: false }],
  ['AuthorizationPolicy', { groups: ISTIO_SECURITY, namespaced: true, core: false }],
  ['RequestAuthentication', { groups: ISTIO_SECURITY, namespaced: true, core: false }],
  ['Telemetry', { groups: ['telemetry.istio.io'], namespaced: true, core: false }],
]);

/** The API group of an apiVersion: `v1` → `''`, `discovery.k8s.io/v1` → `discovery.k8s.io`. */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** True for `List` and the `*List` kinds `kubectl get -o yaml` prints around `items`. */
export function isListKind(kind: string): boolean {
  return kind === 'List' || kind.endsWith('List');
}
