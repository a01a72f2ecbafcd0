/**
 * The kinds the waypoint follows in the Kubernetes API, cluster-wide, with where each is listed and
 * watched. `deploy/rbac.yaml` grants exactly get/list/watch on these.
 */

export interface WatchedKind {
  kind: string;
  /** API group; `''` is the core group. */
  group: string;
  version: string;
  /** The resource name in URLs and RBAC rules. */
  plural: string;
  namespaced: boolean;
}

export const WATCHED_KINDS: readonly WatchedKind[] = Object.freeze([
  { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  { kind: 'Service', group: '', version: 'v1', plural: 'services', namespaced: true },
  { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true },
  { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  { kind: 'GatewayClass', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', namespaced: false },
  { kind: 'Gateway', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gateways', namespaced: true },
  { kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespaced: true },
  { kind: 'GRPCRoute', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', namespaced: true },
  { kind: 'ReferenceGrant', group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'referencegrants', namespaced: true },
  { kind: 'VirtualService', group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true },
  { kind: 'DestinationRule', group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', namespaced: true },
  { kind: 'ServiceEntry', group: 'networking.istio.io', version: 'v1', plural: 'serviceentries', namespaced: true },
  { kind: 'WorkloadEntry', group: 'networking.istio.io', version: 'v1', plural: 'workloadentries', namespaced: true },
  { kind: 'AuthorizationPolicy', group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies', namespaced: true },
  { kind: 'RequestAuthentication', group: 'security.istio.io', version: 'v1', plural: 'requestauthentications', namespaced: true },
  { kind: 'Telemetry', group: 'telemetry.istio.io', version: 'v1', plural: 'telemetries', namespaced: true },
]);

/** `v1`, `discovery.k8s.io/v1`. */
export function apiVersionOf(k: WatchedKind): string {
  return k.group === '' ? k.version : `${k.group}/${k.version}`;
}

/** The cluster-wide collection path: `/api/v1/pods`, `/apis/discovery.k8s.io/v1/endpointslices`. */
export function collectionPath(k: WatchedKind): string {
  return k.group === '' ? `/api/${k.version}/${k.plural}` : `/apis/${k.group}/${k.version}/${k.plural}`;
}

/**
 * Istio's mesh config, the `istio` ConfigMap of the root namespace: followed in that namespace
 * only, by name (`deploy/rbac.yaml` grants a Role there, limited to that name). Not cluster-wide,
 * so not in `WATCHED_KINDS`.
 */
export const CONFIG_MAP_KIND: WatchedKind = Object.freeze({ kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps', namespaced: true });

/** A namespace's collection path: `/api/v1/namespaces/istio-system/configmaps`. */
export function namespacedCollectionPath(k: WatchedKind, namespace: string): string {
  const base = k.group === '' ? `/api/${k.version}` : `/apis/${k.group}/${k.version}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${k.plural}`;
}
