/**
 * Compiles loaded resources into the immutable `ConfigSnapshot` the data path reads: the mesh model
 * (`src/config/model.ts`), then the route tables and DestinationRules (`src/routes`) and the
 * AuthorizationPolicies (`src/policy`) over it. An invalid route is skipped on its own; a malformed
 * policy rejects the whole configuration, or with `failClosedPolicies` denies at its targets.
 */
import { buildMeshModel } from '../config/model.js';
import type { AmbientDetection } from '../config/dataplane.js';
import type { MeshConfig } from '../config/mesh-config.js';
import type { ConfigProblem, LoadedResource } from '../config/types.js';
import { DEFAULT_WAYPOINT_NAME, DEFAULT_WAYPOINT_NAMESPACE } from '../config/waypoint.js';
import { compilePolicies, DEFAULT_ROOT_NAMESPACE } from '../policy/index.js';
import { compileDestinationRules } from '../routes/istio/destination-rule.js';
import { compileRoutes, istioVirtualServices } from '../routes/tables.js';
import { compileAccessLogging } from './access-logging.js';
import type { ConfigSnapshot } from './types.js';

export interface CompileOptions {
  /** The waypoint's namespace and name; found from the configuration when not given. */
  namespace?: string | undefined;
  name?: string | undefined;
  trustDomain: string;
  clusterId: string;
  version: number;
  /** Istio's root namespace (mesh-wide policies, GatewayClass attachment). Default `istio-system`. */
  rootNamespace?: string | undefined;
  /** Warnings from loading (skipped kinds, ...) to carry into `snapshot.warnings`. */
  loadWarnings?: readonly ConfigProblem[] | undefined;
  /**
   * An AuthorizationPolicy that cannot be compiled denies every request at its targets instead of
   * rejecting the configuration (the Kubernetes source: one bad object must not stop updates).
   */
  failClosedPolicies?: boolean | undefined;
  /** How Pods outside the ambient data plane are told apart (`src/config/dataplane.ts`). */
  ambientDetection?: AmbientDetection | undefined;
  /** Istio's mesh config as the source follows it, carried by the snapshot (`ConfigSnapshot.meshConfig`). */
  meshConfig?: MeshConfig | undefined;
}

export interface CompileResult {
  snapshot: ConfigSnapshot;
  /** Problems found while compiling (warnings; errors only for resources that fail their schema). */
  problems: ConfigProblem[];
}

export function compileSnapshot(resources: readonly LoadedResource[], opts: CompileOptions): CompileResult {
  const { model, problems } = buildMeshModel(resources, opts);
  const { waypoint } = model;
  // Routing: DestinationRules first (VirtualService subsets and policies read them), then the route
  // tables. An invalid route is skipped on its own; the rest of the configuration applies.
  const routeCtx = { byHostPort: model.byHostPort, services: model.services, serviceEntries: model.serviceEntries, waypointNamespace: waypoint.namespace };
  const dr = compileDestinationRules(resources, routeCtx);
  const routes = compileRoutes(resources, routeCtx, istioVirtualServices({ destinationPolicies: dr.policies }));
  for (const p of [...dr.problems, ...routes.problems]) problems.push(p.severity === 'error' ? { ...p, resourceSkipped: true } : p);
  // AuthorizationPolicy: a malformed policy rejects the whole configuration, or denies every
  // request at its targets (never fail open).
  const authz = compilePolicies(
    resources,
    {
      waypoint: { namespace: waypoint.namespace, name: waypoint.name },
      rootNamespace: opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE,
      trustDomain: opts.trustDomain,
      services: model.services,
    },
    { failClosed: opts.failClosedPolicies },
  );
  problems.push(...authz.problems);
  // Telemetry: whether this waypoint writes access-log lines (the command line decides otherwise).
  const accessLogging = compileAccessLogging(resources, { waypoint: { namespace: waypoint.namespace, name: waypoint.name }, rootNamespace: opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE });
  problems.push(...accessLogging.problems);

  const warnings = [...(opts.loadWarnings ?? []), ...problems].filter((p) => p.severity === 'warning');
  const snapshot: ConfigSnapshot = Object.freeze({
    ...model,
    version: opts.version,
    loadedAt: new Date(),
    routes: routes.tables,
    destinations: dr.policies,
    policies: authz.policies,
    ...(accessLogging.setting !== undefined ? { accessLogging: accessLogging.setting } : {}),
    ...(opts.meshConfig !== undefined ? { meshConfig: opts.meshConfig } : {}),
    resources: Object.freeze([...resources]),
    warnings: Object.freeze(warnings.map((w) => Object.freeze(w))),
  });
  return { snapshot, problems };
}

/** The snapshot before any configuration has loaded: nothing bound, version 0. */
export function emptySnapshot(opts: Omit<CompileOptions, 'version' | 'loadWarnings' | 'failClosedPolicies' | 'ambientDetection' | 'meshConfig'>): ConfigSnapshot {
  return compileSnapshot([], {
    ...opts,
    namespace: opts.namespace ?? DEFAULT_WAYPOINT_NAMESPACE,
    name: opts.name ?? DEFAULT_WAYPOINT_NAME,
    version: 0,
  }).snapshot;
}
