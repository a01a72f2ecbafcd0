/**
 * The contract between the route-table builder (`tables.ts`) and the compilers that feed it: what
 * a compiler is given, and the routes a VirtualService contributes to one host and port.
 */
import type { ConfigProblem, LoadedResource } from '../config/types.js';
import type { RouteCompileContext } from './gateway-api/compile.js';
import type { RouteMatchResult, RouteRequest } from './types.js';

/** What `compileRoutes` needs from the snapshot. */
export interface RoutesContext extends RouteCompileContext {
  /**
   * The waypoint's namespace: Gateway API routes there come before public VirtualServices, as in
   * Istio. Unknown: routes and VirtualServices are ordered by age only.
   */
  waypointNamespace?: string | undefined;
}

/**
 * The routes one VirtualService contributes to one (host, port), as the VirtualService compiler
 * hands them over. Its rules are tried in their own order; the first match wins.
 */
export interface VirtualServiceRoutes {
  /** `VirtualService/<namespace>/<name>`, for logs and admin views. */
  source: string;
  namespace: string;
  name: string;
  /** metadata.creationTimestamp in ms since the epoch; 0 when absent. */
  createdAtMs: number;
  /** Its `exportTo` as seen from the waypoint's namespace (see the module comment); default public. */
  visibility?: 'private' | 'exported' | 'public';
  match(req: RouteRequest): RouteMatchResult | undefined;
  describe?(): unknown;
}

/** A VirtualService compiler as `compileRoutes` calls it; `istioVirtualServices()` is the real one. */
export type VirtualServiceCompiler = (
  resources: readonly LoadedResource[],
  ctx: RoutesContext,
) => {
  /** Keyed by `hostPortKey(hostname, port)`, in Istio's order. */
  routes: ReadonlyMap<string, readonly VirtualServiceRoutes[]>;
  problems: ConfigProblem[];
};

