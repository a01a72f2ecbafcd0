/**
 * The combined route compiler: HTTPRoute and GRPCRoute (GAMMA) plus, through a hook, the
 * VirtualService compiler, into one immutable `RouteTable` per (Service hostname, port).
 *
 * ## Gateway API routes
 *
 * Every route attached to a Service port is merged into that port's table and ordered once, at
 * compile time, by the Gateway API precedence (`match.ts` `comparePrecedence`). A route in
 * another namespace than its parent Service is a *consumer route* (GEP-1294): it applies only to
 * clients in the route's namespace, and for those clients the consumer routes replace the
 * producer routes (GEP-1294 "Multiple routes for a Service"; GEP-1686: "Consumer routes have
 * priority over producer routes"). When no route applies to a client (only other namespaces'
 * consumer routes exist), the Service's default route is used, as if nothing were attached.
 * If both HTTPRoutes and GRPCRoutes attach to the same Service port, only the kind of the oldest
 * route (then `namespace/name`) is accepted there, as the spec says for a listener.
 *
 * ## HTTPRoute and VirtualService on the same Service (what Istio does)
 *
 * Istio converts each Gateway API route into VirtualServices (istio/istio
 * `pilot/pkg/config/kube/gateway/route_collections.go` `HTTPRouteCollection`: a mesh parent gives
 * one VirtualService per route namespace[/parentRef port] and Service host; `mergeHTTPRoutes`
 * merges the routes with the same key, sorted by `conversion.go` `sortHTTPRoutes`, and stamps the
 * result with the oldest route's creationTimestamp). A waypoint then takes *every* VirtualService
 * whose host matches the Service and whose namespace is the Service's or the waypoint's,
 * Gateway-derived or not, and concatenates their routes (`pilot/pkg/networking/core/listener_waypoint.go`
 * `buildWaypointInboundHTTPRouteConfig`, `getVirtualServiceForWaypoint`: "Iterate all matching
 * VirtualServices and merge their routes", istio/istio#59484; before that only the first
 * VirtualService with HTTP routes was used). Envoy takes the first route that matches.
 *
 * The order of that list is `PushContext.VirtualServicesForGateway(waypoint namespace, "mesh")`
 * (`pilot/pkg/model/push_context.go`, used by `sidecar.go` `DefaultSidecarScopeForGateway` for
 * waypoints):
 *   1. VirtualServices in the waypoint's namespace exported only privately (`exportTo: ["."]`);
 *   2. VirtualServices from other namespaces exported explicitly to the waypoint's namespace;
 *   3. public ones, Gateway API routes in the waypoint's own namespace first ("Favor
 *      same-namespace Gateway routes, to give the 'consumer override' preference"), then all the
 *      others;
 * each group in `MergedVirtualServices()` order: oldest creationTimestamp first, then name, then
 * namespace (`virtualservice_controller.go` `sortMergedVirtualServicesByCreationTime`,
 * `model/config.go` `configCompareByCreationTime`). Gateway-derived VirtualServices carry no
 * `exportTo`, so they are public.
 *
 * So neither kind always wins: with the waypoint in the routes' namespace (the usual setup), the
 * HTTPRoutes come before every public VirtualService whatever their age; otherwise the *older*
 * resource's routes come first, and a catch-all in it shadows the newer one completely; a
 * VirtualService exported only to its own (the waypoint's) namespace comes before everything.
 *
 * This module does the same with segments: the Gateway API routes of one group (producer, or one
 * consumer namespace) form one segment, stamped with their oldest route's creationTimestamp and
 * named `<namespace>~<host>` like Istio's merged VirtualService; each VirtualService from the hook
 * is a segment; segments are tried in (group above, creationTimestamp, name, namespace) order.
 * Differences from Istio, on purpose: routes with and without a parentRef `port` are merged and
 * ordered together by the spec's precedence (Istio keeps them in separate VirtualServices), and
 * consumer routes are honoured for their namespace's clients (Istio's waypoint ignores routes
 * outside the Service's and the waypoint's namespaces and applies the others to every client).
 */
import { defaultServiceRule } from './default-route.js';
import { hostPortKey } from '../config/address.js';
import type { ConfigProblem, LoadedResource, ServiceInfo, VipBinding } from '../config/types.js';
import {
  compileGatewayRoute,
  type CompiledGatewayRoute,
  type GatewayRouteKind,
} from './gateway-api/compile.js';
import { compileVirtualServices, type CompiledVsRoute, type VsCompileContext } from './istio/virtual-service.js';
import { comparePrecedence, describeMatcher, matchRequest, RequestView, type Precedence, type RequestMatcher } from './match.js';
import type { CompiledRule, HeaderMutation, RouteMatchResult, RouteRequest, RouteTable, RouteTables } from './types.js';
import type { RoutesContext, VirtualServiceCompiler, VirtualServiceRoutes } from './route-sources.js';

export type { RoutesContext, VirtualServiceCompiler, VirtualServiceRoutes } from './route-sources.js';

export interface CompileRoutesResult {
  tables: RouteTables;
  problems: ConfigProblem[];
}

/**
 * Compiles every HTTPRoute and GRPCRoute (and, with `istio`, every VirtualService) into route
 * tables. A route with errors is reported and skipped; the others are unaffected.
 */
export function compileRoutes(resources: readonly LoadedResource[], ctx: RoutesContext, istio?: VirtualServiceCompiler): CompileRoutesResult {
  const problems: ConfigProblem[] = [];
  const routes: CompiledGatewayRoute[] = [];
  for (const r of resources) {
    if (r.kind !== 'HTTPRoute' && r.kind !== 'GRPCRoute') continue;
    const out = compileGatewayRoute(r, ctx);
    problems.push(...out.problems);
    if (out.route !== undefined) routes.push(out.route);
  }

  // (host, port) → group ('' producer, else the consumer namespace) → routes.
  const attached = new Map<string, { service: ServiceInfo; port: number; groups: Map<string, CompiledGatewayRoute[]> }>();
  for (const route of routes) {
    for (const a of route.attachments) {
      for (const port of a.ports) {
        const key = hostPortKey(a.service.hostname, port);
        let slot = attached.get(key);
        if (slot === undefined) {
          slot = { service: a.service, port, groups: new Map() };
          attached.set(key, slot);
        }
        const group = a.consumer ? route.namespace : '';
        const list = slot.groups.get(group) ?? [];
        list.push(route);
        slot.groups.set(group, list);
      }
    }
  }

  const vs = istio?.(resources, ctx);
  if (vs !== undefined) problems.push(...vs.problems);

  const keys = new Set<string>([...attached.keys(), ...(vs?.routes.keys() ?? [])]);
  const conflicts = new Map<CompiledGatewayRoute, { oldest: CompiledGatewayRoute; where: string[] }>();
  const byHost = new Map<string, Map<number, CompiledTable>>();
  for (const key of [...keys].sort(compareHostPortKeys)) {
    const slot = attached.get(key);
    const vsRoutes = vs?.routes.get(key) ?? [];
    const binding = ctx.byHostPort.get(key);
    const service = slot?.service ?? binding?.service;
    const port = slot?.port ?? binding?.port.port ?? portOfKey(key);
    const hostname = service?.hostname ?? key.slice(0, key.lastIndexOf(':'));
    const segments: Segment[] = [];
    for (const [group, list] of slot?.groups ?? []) {
      const accepted = acceptOneKind(list, `${hostname}:${port}`, conflicts);
      segments.push(gatewaySegment(accepted, group === '' ? undefined : group, service?.namespace ?? '', hostname, port, ctx.waypointNamespace));
    }
    for (const v of vsRoutes) {
      const rank = v.visibility === 'private' ? RANK_PRIVATE : v.visibility === 'exported' ? RANK_EXPORTED : RANK_PUBLIC;
      segments.push({ kind: 'virtual-service', rank, createdAtMs: v.createdAtMs, name: v.name, namespace: v.namespace, routes: v });
    }
    segments.sort(compareSegments);
    const table = new CompiledTable(hostname, port, segments, binding === undefined ? undefined : defaultRouteResult(binding));
    let ports = byHost.get(hostname);
    if (ports === undefined) {
      ports = new Map();
      byHost.set(hostname, ports);
    }
    ports.set(port, table);
  }
  for (const [r, { oldest, where }] of conflicts) {
    problems.push({
      severity: 'warning',
      file: r.file,
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      field: 'spec.parentRefs',
      message: `${oldest.kind} ${oldest.namespace}/${oldest.name} is older and also attached to ${where.join(', ')}; only one of HTTPRoute and GRPCRoute may route a Service port, so this route is ignored there`,
    });
  }
  return { tables: new Tables(byHost), problems };
}

// ---- segments -----------------------------------------------------------------------------------

interface Entry {
  matcher: RequestMatcher;
  precedence: Precedence;
  result: RouteMatchResult;
}

/** Istio's VirtualServicesForGateway groups (see the module comment). */
const RANK_PRIVATE = 0;
const RANK_EXPORTED = 1;
const RANK_GATEWAY_IN_WAYPOINT_NS = 2;
const RANK_PUBLIC = 3;

type Segment =
  | {
      kind: 'gateway';
      rank: number;
      /** Undefined: producer routes; else the only client namespace they apply to. */
      consumer: string | undefined;
      createdAtMs: number;
      name: string;
      namespace: string;
      sources: string[];
      entries: Entry[];
    }
  | { kind: 'virtual-service'; rank: number; createdAtMs: number; name: string; namespace: string; routes: VirtualServiceRoutes };

function gatewaySegment(
  routes: readonly CompiledGatewayRoute[],
  consumer: string | undefined,
  serviceNamespace: string,
  hostname: string,
  port: number,
  waypointNamespace: string | undefined,
): Segment {
  const entries: Entry[] = [];
  for (const route of routes) {
    for (const rule of route.rules) {
      const compiled = rule.forPort(port);
      for (const m of rule.matches) {
        const result: RouteMatchResult = Object.freeze(m.matchedPrefix === undefined ? { rule: compiled } : { rule: compiled, matchedPrefix: m.matchedPrefix });
        entries.push({ matcher: m.matcher, precedence: m.precedence, result });
      }
    }
  }
  entries.sort((a, b) => comparePrecedence(a.precedence, b.precedence));
  const namespace = consumer ?? serviceNamespace;
  return {
    kind: 'gateway',
    rank: namespace === waypointNamespace ? RANK_GATEWAY_IN_WAYPOINT_NS : RANK_PUBLIC,
    consumer,
    createdAtMs: Math.min(...routes.map((r) => r.createdAtMs)),
    name: `${namespace}~${hostname}`,
    namespace,
    sources: routes.map((r) => r.id),
    entries,
  };
}

/** Istio's group, then `configCompareByCreationTime`: creation time, then name, then namespace. */
function compareSegments(a: Segment, b: Segment): number {
  return a.rank - b.rank || a.createdAtMs - b.createdAtMs || compareText(a.name, b.name) || compareText(a.namespace, b.namespace);
}

/**
 * HTTPRoute and GRPCRoute on the same Service port: the spec accepts exactly one kind, the kind
 * of the oldest route (then the first `namespace/name`); the others are reported and dropped here.
 */
function acceptOneKind(
  routes: readonly CompiledGatewayRoute[],
  where: string,
  conflicts: Map<CompiledGatewayRoute, { oldest: CompiledGatewayRoute; where: string[] }>,
): CompiledGatewayRoute[] {
  const kinds = new Set<GatewayRouteKind>(routes.map((r) => r.kind));
  if (kinds.size < 2) return [...routes];
  const oldest = [...routes].sort((a, b) => a.createdAtMs - b.createdAtMs || compareText(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`))[0]!;
  for (const r of routes) {
    if (r.kind === oldest.kind) continue;
    const c = conflicts.get(r) ?? { oldest, where: [] };
    c.where.push(where);
    conflicts.set(r, c);
  }
  return routes.filter((r) => r.kind === oldest.kind);
}

// ---- tables -------------------------------------------------------------------------------------

/** One view reused by every lookup: `match` is synchronous, so it is never shared between requests. */
const VIEW = new RequestView();

class CompiledTable implements RouteTable {
  readonly sources: readonly string[];
  readonly #segments: readonly Segment[];
  readonly #consumers: ReadonlySet<string>;
  readonly #fallback: RouteMatchResult | undefined;

  constructor(
    readonly hostname: string,
    readonly port: number,
    segments: readonly Segment[],
    fallback: RouteMatchResult | undefined,
  ) {
    this.#segments = Object.freeze([...segments]);
    this.#fallback = fallback;
    const consumers = new Set<string>();
    const sources: string[] = [];
    for (const s of segments) {
      if (s.kind === 'gateway') {
        if (s.consumer !== undefined) consumers.add(s.consumer);
        sources.push(...s.sources);
      } else sources.push(s.routes.source);
    }
    this.#consumers = consumers;
    this.sources = Object.freeze(sources);
  }

  match(req: RouteRequest): RouteMatchResult | undefined {
    const view = VIEW.reset(req);
    const ns = req.sourceNamespace;
    const useConsumer = ns !== undefined && this.#consumers.has(ns);
    let applicable = false;
    for (const seg of this.#segments) {
      if (seg.kind === 'gateway') {
        if (seg.consumer === undefined ? useConsumer : seg.consumer !== ns) continue;
        applicable = true;
        for (const e of seg.entries) if (matchRequest(e.matcher, view)) return e.result;
      } else {
        applicable = true;
        const r = seg.routes.match(req);
        if (r !== undefined) return r;
      }
    }
    // Routes exist, but none is for this client (other namespaces' consumer routes): the default.
    return applicable ? undefined : this.#fallback;
  }

  describe(): unknown {
    return {
      host: this.hostname,
      port: this.port,
      segments: this.#segments.map((s) =>
        s.kind === 'gateway'
          ? {
              kind: 'gateway-api',
              appliesTo: s.consumer === undefined ? 'all clients (producer routes)' : `clients in namespace ${s.consumer} (consumer routes)`,
              routes: s.sources,
              rules: s.entries.map((e) => ({
                route: e.result.rule.routeName,
                rule: e.result.rule.ruleName,
                match: describeMatcher(e.matcher),
                action: describeAction(e.result.rule),
              })),
            }
          : { kind: 'virtual-service', source: s.routes.source, ...(s.routes.describe ? { routes: s.routes.describe() } : {}) },
      ),
    };
  }
}

class Tables implements RouteTables {
  readonly #byHost: ReadonlyMap<string, ReadonlyMap<number, CompiledTable>>;

  constructor(byHost: ReadonlyMap<string, ReadonlyMap<number, CompiledTable>>) {
    this.#byHost = byHost;
  }

  get(hostname: string, port: number): RouteTable | undefined {
    return this.#byHost.get(hostname)?.get(port);
  }

  describe(): unknown {
    const out: unknown[] = [];
    for (const ports of this.#byHost.values()) for (const t of ports.values()) out.push(t.describe());
    return out;
  }
}

/** An empty set of tables: every Service port uses its default route. */
export const NO_ROUTE_TABLES: RouteTables = new Tables(new Map());

function describeAction(rule: CompiledRule): unknown {
  const a = rule.action;
  const filters = describeFilters(rule.requestHeaders, rule.responseHeaders);
  switch (a.kind) {
    case 'redirect':
      return { redirect: { ...a }, ...filters };
    case 'direct':
      return { direct: { status: a.status }, ...filters };
    case 'forward':
      return {
        forward: a.backends.map((b) => ({
          cluster: b.cluster,
          weight: b.weight,
          ...(b.target === undefined ? { missing: b.missingReason } : {}),
          ...(b.subset !== undefined ? { subset: b.subset } : {}),
          ...describeFilters(b.requestHeaders, b.responseHeaders),
        })),
        ...(a.urlRewrite ? { urlRewrite: a.urlRewrite } : {}),
        ...(a.regexRewrite ? { regexRewrite: true } : {}),
        ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}),
        ...(a.backendTimeoutMs !== undefined ? { backendTimeoutMs: a.backendTimeoutMs } : {}),
        retries: a.retry.retries,
        retryPolicy: {
          retries: a.retry.retries,
          retryOn: [...a.retry.retryOn],
          ...(a.retry.statusCodes.size > 0 ? { statusCodes: [...a.retry.statusCodes] } : {}),
          ...(a.retry.perTryTimeoutMs !== undefined ? { perTryTimeoutMs: a.retry.perTryTimeoutMs } : {}),
          backoffBaseMs: a.retry.backoffBaseMs,
        },
        ...(a.mirrors.length > 0 ? { mirrors: a.mirrors.map((m) => ({ cluster: m.cluster, percent: m.percent })) } : {}),
        ...(a.fault !== undefined ? { fault: a.fault } : {}),
        ...(a.cors !== undefined ? { cors: { allowMethods: a.cors.allowMethods, allowHeaders: a.cors.allowHeaders } } : {}),
        ...filters,
      };
  }
}

/** Header filters as `{ requestHeaders: { set, add, remove } }`, leaving out empty ones (for admin views). */
function describeFilters(request: HeaderMutation | undefined, response: HeaderMutation | undefined): Record<string, unknown> {
  const one = (m: HeaderMutation | undefined): Record<string, unknown> | undefined => {
    if (m === undefined || (m.set.length === 0 && m.add.length === 0 && m.remove.length === 0)) return undefined;
    return {
      ...(m.set.length > 0 ? { set: Object.fromEntries(m.set) } : {}),
      ...(m.add.length > 0 ? { add: Object.fromEntries(m.add) } : {}),
      ...(m.remove.length > 0 ? { remove: m.remove } : {}),
    };
  };
  const req = one(request);
  const res = one(response);
  return { ...(req !== undefined ? { requestHeaders: req } : {}), ...(res !== undefined ? { responseHeaders: res } : {}) };
}

/** The Service's own catch-all route (what applies with no route attached), with Istio's default retries. */
function defaultRouteResult(binding: VipBinding): RouteMatchResult {
  return Object.freeze({ rule: defaultServiceRule(binding) });
}

// ---- the VirtualService compiler as a hook -----------------------------------------------------

/**
 * The hook for `compileRoutes` backed by `istio/virtual-service.ts` `compileVirtualServices`: its
 * per-(host, port) route list is cut into one segment per VirtualService (its routes stay in their
 * order), each stamped with the VirtualService's creationTimestamp and `exportTo` group so that
 * `compileRoutes` can interleave them with the Gateway API routes the way Istio does.
 */
export function istioVirtualServices(opts: Omit<VsCompileContext, 'byHostPort' | 'services' | 'waypointNamespace'> = {}): VirtualServiceCompiler {
  return (resources, ctx) => {
    const out = compileVirtualServices(resources, { ...opts, byHostPort: ctx.byHostPort, services: ctx.services, waypointNamespace: ctx.waypointNamespace });
    const byId = new Map<string, LoadedResource>();
    for (const r of resources) if (r.kind === 'VirtualService') byId.set(`VirtualService/${r.namespace}/${r.name}`, r);
    const routes = new Map<string, VirtualServiceRoutes[]>();
    for (const [key, list] of out.byHostPort) {
      const segments: VirtualServiceRoutes[] = [];
      let i = 0;
      while (i < list.length) {
        const source = list[i]!.description.source;
        let j = i;
        while (j < list.length && list[j]!.description.source === source) j++;
        const resource = byId.get(source);
        segments.push(vsSegment(source, list.slice(i, j), resource, ctx.waypointNamespace));
        i = j;
      }
      routes.set(key, segments);
    }
    return { routes, problems: out.problems };
  };
}

function vsSegment(source: string, list: readonly CompiledVsRoute[], resource: LoadedResource | undefined, waypointNamespace: string | undefined): VirtualServiceRoutes {
  // The route matchers return precompiled `{matchedPrefix}` objects: map each to a precompiled
  // result once, so a lookup allocates nothing.
  const results = list.map(() => new WeakMap<object, RouteMatchResult>());
  const [, namespace = '', name = ''] = source.split('/');
  return {
    source,
    namespace,
    name,
    createdAtMs: resource === undefined ? 0 : creationMs(resource),
    visibility: resource === undefined ? 'public' : visibility(resource, waypointNamespace),
    match(req: RouteRequest): RouteMatchResult | undefined {
      for (let k = 0; k < list.length; k++) {
        const route = list[k]!;
        const m = route.matches(req);
        if (m === undefined) continue;
        const cache = results[k]!;
        let result = cache.get(m);
        if (result === undefined) {
          result = Object.freeze(m.matchedPrefix === undefined ? { rule: route.rule } : { rule: route.rule, matchedPrefix: m.matchedPrefix });
          cache.set(m, result);
        }
        return result;
      }
      return undefined;
    },
    describe: () => list.map((r) => ({ ...r.description, action: describeAction(r.rule) })),
  };
}

/** Which of Istio's VirtualServicesForGateway groups a VirtualService falls in, for the waypoint's namespace. */
function visibility(r: LoadedResource, waypointNamespace: string | undefined): 'private' | 'exported' | 'public' {
  const spec = r.raw['spec'];
  const exportTo = typeof spec === 'object' && spec !== null ? (spec as Record<string, unknown>)['exportTo'] : undefined;
  if (!Array.isArray(exportTo) || exportTo.length === 0 || exportTo.includes('*')) return 'public';
  if (r.namespace === waypointNamespace && (exportTo.includes('.') || exportTo.includes(r.namespace))) return 'private';
  return 'exported';
}

function creationMs(r: LoadedResource): number {
  const meta = r.raw['metadata'];
  const ts = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)['creationTimestamp'] : undefined;
  const ms = typeof ts === 'string' ? Date.parse(ts) : ts instanceof Date ? ts.getTime() : Number.NaN;
  return Number.isFinite(ms) ? ms : 0;
}

function compareHostPortKeys(a: string, b: string): number {
  const ha = a.slice(0, a.lastIndexOf(':'));
  const hb = b.slice(0, b.lastIndexOf(':'));
  return compareText(ha, hb) || portOfKey(a) - portOfKey(b);
}

function portOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf(':') + 1));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
