/**
 * Does a Service's or a workload's traffic belong to this waypoint? Pure functions following
 * Istio's ambient index (`pilot/pkg/serviceregistry/kube/controller/ambient/waypoints.go`,
 * `fetchWaypointForTarget`, `fetchWaypointForService`, `fetchWaypointForWorkload`):
 *
 * 1. `istio.io/use-waypoint` on the resource itself, else on its Namespace, names the waypoint
 *    (`istio.io/use-waypoint-namespace` on the same object overrides the default namespace, the
 *    resource's own). The resource's label wins, so `none` there opts out even when the namespace
 *    has a waypoint; a resource label naming another waypoint also hides the namespace label.
 * 2. A resource outside the waypoint's namespace may attach only if the waypoint's HBONE
 *    listener admits its namespace (`allowedRoutes.namespaces.from`: Same, All, Selector).
 * 3. `istio.io/waypoint-for` on the Gateway says which traffic it takes: Service VIP traffic for
 *    `service`/`all`, workload-IP traffic for `workload`/`all`.
 */
import type { LabelSelector } from './fields.js';
import { matchesLabelSelector, type Labels } from './selector.js';
import type { WaypointFor } from './types.js';

export const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';
export const USE_WAYPOINT_NAMESPACE_LABEL = 'istio.io/use-waypoint-namespace';
export const WAYPOINT_FOR_LABEL = 'istio.io/waypoint-for';
/** Set on a waypoint's own Service; such a Service never uses a waypoint. */
export const GATEWAY_MANAGED_LABEL = 'gateway.istio.io/managed';
export const MESH_CONTROLLER = 'istio.io-mesh-controller';
/** Every Namespace carries this label with its own name (Kubernetes sets it). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type AllowedFrom = 'Same' | 'All' | 'Selector';
export type TrafficType = 'service' | 'workload';

/** What decides binding on the waypoint's side, taken from its Gateway (or defaults). */
export interface WaypointPolicy {
  namespace: string;
  name: string;
  waypointFor: WaypointFor;
  allowedRoutes: { from: AllowedFrom; selector: LabelSelector | undefined };
  gatewayFound: boolean;
}

export interface NamespaceMeta {
  name: string;
  labels: Labels;
}

export interface BindingSubject {
  kind: 'Service' | 'Pod' | 'WorkloadEntry' | 'EndpointSlice';
  namespace: string;
  /** The labels binding reads (`metadata.labels`). */
  labels: Labels;
}

export interface BindingDecision {
  bound: boolean;
  /** Human-readable, starting with `bound:` or `not bound:`. */
  reason: string;
  /** A use-waypoint label names this waypoint (so `bound: false` may be worth a warning). */
  requestsThisWaypoint: boolean;
  /** Where the deciding `istio.io/use-waypoint` label sits, if any. */
  labelSource?: 'resource' | 'namespace';
  /** What refused a resource that asked for this waypoint. */
  denial?: 'allowedRoutes' | 'waypointFor';
}

export type UseWaypoint =
  | { none: true }
  | { none: false; name: string; namespace: string; namespaceFromLabel: boolean };

/** The Namespace as binding sees it; Kubernetes' own `kubernetes.io/metadata.name` label included. */
export function namespaceMeta(name: string, labels: Labels | undefined): NamespaceMeta {
  return { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } };
}

/** Istio's `getUseWaypoint`: undefined when the object has no `istio.io/use-waypoint` label. */
export function parseUseWaypoint(labels: Labels, defaultNamespace: string): UseWaypoint | undefined {
  if (!Object.hasOwn(labels, USE_WAYPOINT_LABEL)) return undefined;
  const name = labels[USE_WAYPOINT_LABEL] ?? '';
  if (name === 'none') return { none: true };
  const override = Object.hasOwn(labels, USE_WAYPOINT_NAMESPACE_LABEL) ? labels[USE_WAYPOINT_NAMESPACE_LABEL] : undefined;
  return { none: false, name, namespace: override ?? defaultNamespace, namespaceFromLabel: override !== undefined };
}

/** Istio's `AllowsAttachmentFromNamespace`; `reason` completes "allowedRoutes ...". */
export function allowsAttachment(policy: WaypointPolicy, ns: NamespaceMeta): { allowed: boolean; reason: string } {
  const { from, selector } = policy.allowedRoutes;
  switch (from) {
    case 'All':
      return { allowed: true, reason: 'allowedRoutes All admits every namespace' };
    case 'Selector':
      return matchesLabelSelector(selector, ns.labels)
        ? { allowed: true, reason: `allowedRoutes Selector matches namespace ${ns.name}` }
        : { allowed: false, reason: `allowedRoutes Selector does not match namespace ${ns.name}` };
    case 'Same':
      return ns.name === policy.namespace
        ? { allowed: true, reason: `allowedRoutes Same admits namespace ${ns.name}` }
        : { allowed: false, reason: `allowedRoutes Same excludes namespace ${ns.name}` };
  }
}

function takesTraffic(waypointFor: WaypointFor, traffic: TrafficType): boolean {
  return waypointFor === 'all' || waypointFor === traffic;
}

/**
 * Decides whether `subject`'s `traffic` is bound to the waypoint described by `policy`. Worth a
 * warning (see `isBindingMisconfigured`): a refusal of a resource that asked for this waypoint.
 */
export function decideBinding(
  subject: BindingSubject,
  traffic: TrafficType,
  ns: NamespaceMeta,
  policy: WaypointPolicy,
): BindingDecision {
  if (subject.kind === 'Service' && subject.labels[GATEWAY_MANAGED_LABEL] === MESH_CONTROLLER) {
    return {
      bound: false,
      reason: `not bound: the Service is a waypoint's own (${GATEWAY_MANAGED_LABEL}=${MESH_CONTROLLER})`,
      requestsThisWaypoint: false,
    };
  }

  // 1. Which waypoint does the most specific label ask for?
  let use = parseUseWaypoint(subject.labels, subject.namespace);
  let who: string = subject.kind;
  let labelSource: 'resource' | 'namespace' = 'resource';
  if (use === undefined) {
    use = parseUseWaypoint(ns.labels, subject.namespace);
    who = 'namespace';
    labelSource = 'namespace';
  }
  if (use === undefined) {
    return {
      bound: false,
      reason: `not bound: no ${USE_WAYPOINT_LABEL} label on the ${subject.kind} or its namespace ${subject.namespace}`,
      requestsThisWaypoint: false,
    };
  }
  if (use.none) {
    return { bound: false, reason: `not bound: ${who} label opts out (none)`, requestsThisWaypoint: false, labelSource };
  }
  const asked =
    `${who} label ${USE_WAYPOINT_LABEL}=${use.name}` +
    (use.namespaceFromLabel ? ` ${USE_WAYPOINT_NAMESPACE_LABEL}=${use.namespace}` : '');
  if (use.name !== policy.name || use.namespace !== policy.namespace) {
    return {
      bound: false,
      reason: `not bound: ${asked} selects waypoint ${use.namespace}/${use.name}, not this one (${policy.namespace}/${policy.name})`,
      requestsThisWaypoint: false,
      labelSource,
    };
  }

  // 2. Does the waypoint admit the resource's namespace?
  let admitted = '';
  if (subject.namespace !== policy.namespace) {
    const attach = allowsAttachment(policy, ns);
    if (!attach.allowed) {
      return { bound: false, reason: `not bound: ${attach.reason}`, requestsThisWaypoint: true, labelSource, denial: 'allowedRoutes' };
    }
    admitted = `; ${attach.reason}`;
  }

  // 3. Does the waypoint take this kind of traffic?
  if (!takesTraffic(policy.waypointFor, traffic)) {
    return {
      bound: false,
      reason: `not bound: waypoint-for=${policy.waypointFor} excludes ${traffic} traffic`,
      requestsThisWaypoint: true,
      labelSource,
      denial: 'waypointFor',
    };
  }
  return { bound: true, reason: `bound: ${asked}${admitted}`, requestsThisWaypoint: true, labelSource };
}

/**
 * A refusal an operator should hear about: attachment denied by allowedRoutes, or a label on the
 * resource itself naming a waypoint that does not take its traffic. (A namespace label reaching a
 * `service` waypoint's Pods is ordinary and stays quiet.)
 */
export function isBindingMisconfigured(d: BindingDecision): boolean {
  return !d.bound && d.requestsThisWaypoint && (d.denial === 'allowedRoutes' || d.labelSource === 'resource');
}
