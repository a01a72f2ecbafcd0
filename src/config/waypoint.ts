/**
 * Which Gateway is this waypoint, and what its Gateway says about binding (`istio.io/waypoint-for`,
 * the HBONE listener's `allowedRoutes`).
 */
import { WAYPOINT_FOR_LABEL, type WaypointPolicy } from './binding.js';
import type { GatewayClassResource, GatewayResource } from './schemas.js';
import type { ConfigProblem, LoadedResource, WaypointFor } from './types.js';

export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';
export const DEFAULT_WAYPOINT_NAMESPACE = 'default';
export const DEFAULT_WAYPOINT_NAME = 'waypoint';
/** The HBONE listener Istio reads `allowedRoutes` from (`makeAllowedRoutes`). */
export const HBONE_LISTENER = { protocol: 'HBONE', port: 15008 } as const;

export interface ParsedGateway {
  resource: LoadedResource;
  value: GatewayResource;
}

export interface ParsedGatewayClass {
  resource: LoadedResource;
  value: GatewayClassResource;
}

export interface WaypointSelection {
  namespace: string;
  name: string;
  gateway: ParsedGateway | undefined;
  problems: ConfigProblem[];
}

/**
 * The waypoint's namespace and name: as given; else the single `istio-waypoint` Gateway (among
 * those matching whichever of namespace/name was given); else `default/waypoint`.
 */
export function selectWaypoint(
  gateways: readonly ParsedGateway[],
  opts: { namespace?: string | undefined; name?: string | undefined },
): WaypointSelection {
  const problems: ConfigProblem[] = [];
  let namespace = opts.namespace;
  let name = opts.name;
  if (namespace === undefined || name === undefined) {
    const candidates = gateways.filter(
      (g) =>
        g.value.spec.gatewayClassName === WAYPOINT_GATEWAY_CLASS &&
        (namespace === undefined || g.resource.namespace === namespace) &&
        (name === undefined || g.resource.name === name),
    );
    const only = candidates.length === 1 ? candidates[0] : undefined;
    if (only !== undefined) {
      namespace = only.resource.namespace;
      name = only.resource.name;
    } else if (candidates.length > 1) {
      const first = candidates[0];
      const list = candidates.map((g) => `${g.resource.namespace}/${g.resource.name}`).join(', ');
      namespace ??= DEFAULT_WAYPOINT_NAMESPACE;
      name ??= DEFAULT_WAYPOINT_NAME;
      problems.push({
        severity: 'warning',
        file: first?.resource.file ?? '',
        message: `several ${WAYPOINT_GATEWAY_CLASS} Gateways (${list}); acting as ${namespace}/${name} (pass --namespace and --name to choose)`,
      });
    }
  }
  namespace ??= DEFAULT_WAYPOINT_NAMESPACE;
  name ??= DEFAULT_WAYPOINT_NAME;
  const gateway = gateways.find((g) => g.resource.namespace === namespace && g.resource.name === name);
  if (gateway !== undefined && gateway.value.spec.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
    problems.push({
      ...ident(gateway),
      severity: 'warning',
      field: 'spec.gatewayClassName',
      message: `is ${JSON.stringify(gateway.value.spec.gatewayClassName)}, not ${WAYPOINT_GATEWAY_CLASS}; using this Gateway as the waypoint anyway`,
    });
  }
  return { namespace, name, gateway, problems };
}

const WAYPOINT_FOR_VALUES: readonly WaypointFor[] = ['service', 'workload', 'all', 'none'];

function isWaypointFor(v: string): v is WaypointFor {
  return (WAYPOINT_FOR_VALUES as readonly string[]).includes(v);
}

/**
 * The binding policy of waypoint `namespace/name`. Without a Gateway: `waypoint-for=service` and
 * `allowedRoutes` Same, `gatewayFound: false`. The Gateway's `istio.io/waypoint-for` label wins;
 * without it, its GatewayClass's label is the default (as istiod reads it); else `service`.
 */
export function waypointPolicyFor(
  namespace: string,
  name: string,
  gateway: ParsedGateway | undefined,
  gatewayClasses: readonly ParsedGatewayClass[] = [],
): { policy: WaypointPolicy; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  if (gateway === undefined) {
    return {
      policy: { namespace, name, waypointFor: 'service', allowedRoutes: { from: 'Same', selector: undefined }, gatewayFound: false },
      problems,
    };
  }
  let waypointFor: WaypointFor = 'service';
  const ownLabel = gateway.value.metadata.labels?.[WAYPOINT_FOR_LABEL];
  const gatewayClass = gatewayClasses.find((c) => c.resource.name === gateway.value.spec.gatewayClassName);
  const classLabel = gatewayClass?.value.metadata.labels?.[WAYPOINT_FOR_LABEL];
  const label = ownLabel ?? classLabel;
  const labelOwner =
    ownLabel === undefined && gatewayClass !== undefined
      ? { file: gatewayClass.resource.file, kind: 'GatewayClass', name: gatewayClass.resource.name }
      : ident(gateway);
  if (label !== undefined) {
    if (isWaypointFor(label)) waypointFor = label;
    else {
      // Istio compares the value against service/workload/all, so anything else takes no traffic.
      waypointFor = 'none';
      problems.push({
        ...labelOwner,
        severity: 'warning',
        field: `metadata.labels["${WAYPOINT_FOR_LABEL}"]`,
        message: `unknown value ${JSON.stringify(label)} (expected service, workload, all or none); the waypoint takes no traffic`,
      });
    }
  }

  const listener = gateway.value.spec.listeners.find(
    (l) => l.protocol === HBONE_LISTENER.protocol && l.port === HBONE_LISTENER.port,
  );
  if (listener === undefined) {
    problems.push({
      ...ident(gateway),
      severity: 'warning',
      field: 'spec.listeners',
      message: `has no ${HBONE_LISTENER.protocol} listener on port ${HBONE_LISTENER.port}; allowedRoutes defaults to Same`,
    });
  }
  const ns = listener?.allowedRoutes?.namespaces;
  return {
    policy: {
      namespace,
      name,
      waypointFor,
      allowedRoutes: { from: ns?.from ?? 'Same', selector: ns?.selector ?? undefined },
      gatewayFound: true,
    },
    problems,
  };
}

function ident(g: ParsedGateway): Pick<ConfigProblem, 'file' | 'kind' | 'namespace' | 'name'> {
  return { file: g.resource.file, kind: 'Gateway', namespace: g.resource.namespace, name: g.resource.name };
}
