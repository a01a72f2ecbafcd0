/**
 * VirtualService (networking.istio.io v1, v1beta1, v1alpha3) → compiled routes per Service port,
 * the way Istio programs an ambient waypoint (`istio/istio:pilot/pkg/networking/core/listener_waypoint.go`
 * `buildWaypointInboundHTTPRouteConfig`, `waypointInboundRoute`; `route/route.go` `TranslateRoute`).
 *
 * - A VirtualService applies to a Service when one of its `hosts` (short names resolved in the
 *   VirtualService's namespace) matches the Service hostname, it is bound to the `mesh` gateway
 *   (no `gateways`, or `mesh` among them), it lives in the Service's namespace or the waypoint's,
 *   and its `exportTo` makes it visible to the waypoint's namespace.
 * - All VirtualServices that apply are merged in Istio's order (namespace-private ones, then ones
 *   exported to the waypoint's namespace, then public ones; each oldest first), their routes
 *   concatenated; within one VirtualService, rules and their matches in order, stopping after a
 *   catch-all. First match wins. A Service port with no route at all gets no entry (the default
 *   route to the Service applies).
 * - An invalid VirtualService is reported (error) and skipped; it never affects the others.
 */
import { RE2JS } from 're2js';
import * as z from 'zod';
import { hostPortKey } from '../../config/address.js';
import { labelMap, portNumber } from '../../config/fields.js';
import { resourceSchema } from '../../config/schemas.js';
import type { ConfigProblem, MeshModel, LoadedResource, ServiceInfo } from '../../config/types.js';
import type {
  BackendRef,
  CompiledRule,
  CorsPolicy,
  DestinationPolicies,
  DirectResponseAction,
  FaultPolicy,
  ForwardAction,
  HeaderMutation,
  Labels,
  MirrorPolicy,
  PathModifier,
  RedirectAction,
  RouteMatchResult,
  RouteRequest,
} from '../types.js';
import type { VirtualServiceCompiler, VirtualServiceRoutes } from '../route-sources.js';
import {
  compareByCreation,
  compileStringMatch,
  creationTime,
  describeStringMatcher,
  durationSchema,
  exportedTo,
  fullMatchRegex,
  HEADER_NAME,
  hostMatches,
  parseDurationMs,
  parseResource,
  percentSchema,
  probableFqdn,
  problemFor,
  re2Problem,
  re2ToJsRegExp,
  resolveShortname,
  stringMatches,
  stringMatchSchema,
  type StringMatcher,
} from './common.js';
import { convertRetryPolicy, parseRetryOn } from './retry-policy.js';
import { headerValue, parseQuery } from '../request-fields.js';

// ---- schema -----------------------------------------------------------------------------------------

const destinationSchema = z.looseObject({
  host: z.string().min(1),
  subset: z.string().nullish(),
  port: z.looseObject({ number: portNumber.nullish() }).nullish(),
});

const headerOperationsSchema = z.looseObject({
  set: z.record(z.string(), z.string()).nullish(),
  add: z.record(z.string(), z.string()).nullish(),
  remove: z.array(z.string()).nullish(),
});

const headersSchema = z.looseObject({
  request: headerOperationsSchema.nullish(),
  response: headerOperationsSchema.nullish(),
});

const headerMatchMap = z.record(z.string(), stringMatchSchema.nullable()).superRefine((m, ctx) => {
  for (const name of Object.keys(m)) {
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `is not a valid header name` });
    else if (name.startsWith('@request.auth.claims')) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'JWT claim based routing is only supported for gateways (as Istio)' });
    }
  }
});

const matchSchema = z.looseObject({
  name: z.string().nullish(),
  uri: stringMatchSchema.nullish(),
  scheme: stringMatchSchema.nullish(),
  method: stringMatchSchema.nullish(),
  authority: stringMatchSchema.nullish(),
  headers: headerMatchMap.nullish(),
  withoutHeaders: headerMatchMap.nullish(),
  queryParams: z.record(z.string(), stringMatchSchema.nullable()).nullish(),
  ignoreUriCase: z.boolean().nullish(),
  sourceLabels: labelMap.nullish(),
  sourceNamespace: z.string().nullish(),
  gateways: z.array(z.string()).nullish(),
  port: portNumber.nullish(),
  statPrefix: z.string().nullish(),
});

const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;

const redirectSchema = z
  .looseObject({
    uri: z.string().nullish(),
    authority: z.string().nullish(),
    port: portNumber.nullish(),
    derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).nullish(),
    scheme: z.string().nullish(),
    redirectCode: z
      .number()
      .refine((c) => (REDIRECT_CODES as readonly number[]).includes(c), { error: (iss) => `must be one of 301, 302, 303, 307, 308 (got ${String(iss.input)})` })
      .nullish(),
    prefixRewrite: z.string().nullish(),
  })
  .superRefine((r, ctx) => {
    if (r.uri && r.prefixRewrite) ctx.addIssue({ code: 'custom', message: 'uri and prefixRewrite are mutually exclusive' });
    if (r.port !== undefined && r.port !== null && r.derivePort) ctx.addIssue({ code: 'custom', message: 'port and derivePort are mutually exclusive' });
  });

const retriesSchema = z
  .looseObject({
    attempts: z.number().int().min(0).nullish(),
    perTryTimeout: durationSchema.nullish(),
    retryOn: z.string().nullish(),
    retryRemoteLocalities: z.boolean().nullish(),
    retryIgnorePreviousHosts: z.boolean().nullish(),
    backoff: durationSchema.nullish(),
  })
  .superRefine((r, ctx) => {
    if ((r.attempts ?? 0) === 0 && (r.perTryTimeout || r.retryOn || (r.retryRemoteLocalities ?? undefined) !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'http retry policy configured when attempts are set to 0 (disabled)' });
    }
    if (r.retryOn) {
      const parsed = parseRetryOn(r.retryOn);
      for (const bad of parsed.invalid) ctx.addIssue({ code: 'custom', path: ['retryOn'], message: `${JSON.stringify(bad)} is not a valid retryOn policy` });
    }
  });

export const GRPC_STATUS: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

const faultSchema = z.looseObject({
  delay: z
    .looseObject({
      fixedDelay: durationSchema.nullish(),
      exponentialDelay: durationSchema.nullish(),
      percentage: percentSchema.nullish(),
      percent: z.number().int().min(0).max(100).nullish(),
    })
    .superRefine((d, ctx) => {
      if (!d.fixedDelay && !d.exponentialDelay) ctx.addIssue({ code: 'custom', path: ['fixedDelay'], message: 'is required' });
    })
    .nullish(),
  abort: z
    .looseObject({
      httpStatus: z.number().int().min(200).max(599).nullish(),
      grpcStatus: z
        .string()
        .refine((s) => Object.hasOwn(GRPC_STATUS, s), { error: (iss) => `must be a gRPC status name such as UNAVAILABLE (got ${JSON.stringify(iss.input)})` })
        .nullish(),
      http2Error: z.string().nullish(),
      percentage: percentSchema.nullish(),
    })
    .superRefine((a, ctx) => {
      const set = [a.httpStatus, a.grpcStatus, a.http2Error].filter((v) => v !== undefined && v !== null).length;
      if (set === 0) ctx.addIssue({ code: 'custom', message: 'one of httpStatus, grpcStatus or http2Error is required' });
      if (set > 1) ctx.addIssue({ code: 'custom', message: 'only one of httpStatus, grpcStatus and http2Error may be set' });
    })
    .nullish(),
});

const corsSchema = z.looseObject({
  allowOrigin: z.array(z.string()).nullish(),
  allowOrigins: z.array(stringMatchSchema).nullish(),
  allowMethods: z.array(z.string()).nullish(),
  allowHeaders: z.array(z.string()).nullish(),
  exposeHeaders: z.array(z.string()).nullish(),
  maxAge: durationSchema.nullish(),
  allowCredentials: z.boolean().nullish(),
  unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).nullish(),
});

const rewriteSchema = z
  .looseObject({
    uri: z.string().nullish(),
    authority: z.string().nullish(),
    uriRegexRewrite: z
      .looseObject({ match: z.string().min(1), rewrite: z.string() })
      .superRefine((r, ctx) => {
        const problem = re2Problem(r.match);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['match'], message: problem });
      })
      .nullish(),
  })
  .superRefine((r, ctx) => {
    if (!r.uri && !r.authority && !r.uriRegexRewrite) ctx.addIssue({ code: 'custom', message: 'rewrite must specify uri, authority or uriRegexRewrite' });
    if (r.uri && r.uriRegexRewrite) ctx.addIssue({ code: 'custom', message: 'uri and uriRegexRewrite are mutually exclusive' });
  });

const httpRouteSchema = z
  .looseObject({
    name: z.string().nullish(),
    match: z.array(matchSchema).nullish(),
    route: z
      .array(
        z.looseObject({
          destination: destinationSchema,
          weight: z.number().int().min(0).nullish(),
          headers: headersSchema.nullish(),
        }),
      )
      .nullish(),
    redirect: redirectSchema.nullish(),
    directResponse: z
      .looseObject({
        status: z.number().int().min(200).max(599),
        body: z.looseObject({ string: z.string().nullish(), bytes: z.string().nullish() }).nullish(),
      })
      .nullish(),
    delegate: z.looseObject({ name: z.string().nullish(), namespace: z.string().nullish() }).nullish(),
    rewrite: rewriteSchema.nullish(),
    timeout: durationSchema.nullish(),
    retries: retriesSchema.nullish(),
    fault: faultSchema.nullish(),
    mirror: destinationSchema.nullish(),
    mirrors: z.array(z.looseObject({ destination: destinationSchema, percentage: percentSchema.nullish() })).nullish(),
    mirrorPercentage: percentSchema.nullish(),
    mirrorPercent: z.number().int().min(0).max(100).nullish(),
    corsPolicy: corsSchema.nullish(),
    headers: headersSchema.nullish(),
  })
  .superRefine((h, ctx) => {
    const routes = h.route?.length ?? 0;
    if (h.delegate) return;
    if (h.redirect) {
      if (routes > 0) ctx.addIssue({ code: 'custom', message: 'HTTP route cannot contain both route and redirect' });
      if (h.fault) ctx.addIssue({ code: 'custom', message: 'HTTP route cannot contain both fault and redirect' });
      if (h.rewrite) ctx.addIssue({ code: 'custom', message: 'HTTP route rule cannot contain both rewrite and redirect' });
      if (h.directResponse) ctx.addIssue({ code: 'custom', message: 'HTTP route rule cannot contain both directResponse and redirect' });
    } else if (h.directResponse) {
      if (routes > 0) ctx.addIssue({ code: 'custom', message: 'HTTP route cannot contain both route and directResponse' });
      if (h.fault) ctx.addIssue({ code: 'custom', message: 'HTTP route cannot contain both fault and directResponse' });
      if (h.rewrite) ctx.addIssue({ code: 'custom', message: 'HTTP route rule cannot contain both rewrite and directResponse' });
    } else if (routes === 0) {
      ctx.addIssue({ code: 'custom', message: 'one of route, redirect or directResponse is required' });
    }
    if (h.mirror && (h.mirrors?.length ?? 0) > 0) ctx.addIssue({ code: 'custom', message: 'HTTP route cannot contain both mirror and mirrors' });
    if (routes > 1 && (h.route ?? []).every((r) => (r.weight ?? 0) === 0)) {
      ctx.addIssue({ code: 'custom', path: ['route'], message: 'total destination weight = 0 (with several destinations, give at least one a weight)' });
    }
    const authorities = [h.rewrite?.authority, ...authorityOps(h.headers?.request)].filter((a) => a !== undefined && a !== null && a !== '');
    if (authorities.length > 1) ctx.addIssue({ code: 'custom', path: ['headers'], message: 'authority header cannot be set multiple times (rewrite.authority and headers)' });
  });

function authorityOps(ops: z.infer<typeof headerOperationsSchema> | null | undefined): string[] {
  const out: string[] = [];
  for (const map of [ops?.set, ops?.add]) {
    for (const [k, v] of Object.entries(map ?? {})) if (isAuthorityHeader(k)) out.push(v);
  }
  return out;
}

export const virtualServiceSchema = resourceSchema.extend({
  spec: z
    .looseObject({
      hosts: z.array(z.string().min(1)).nullish(),
      gateways: z.array(z.string()).nullish(),
      http: z.array(httpRouteSchema).nullish(),
      tcp: z.array(z.unknown()).nullish(),
      tls: z.array(z.unknown()).nullish(),
      exportTo: z.array(z.string()).nullish(),
    })
    .superRefine((s, ctx) => {
      if ((s.http?.length ?? 0) === 0 && (s.tcp?.length ?? 0) === 0 && (s.tls?.length ?? 0) === 0) {
        ctx.addIssue({ code: 'custom', message: 'http, tcp or tls must be provided in virtual service' });
      }
      const mesh = (s.gateways ?? []).length === 0 || (s.gateways ?? []).includes('mesh');
      (s.hosts ?? []).forEach((h, i) => {
        if (mesh && h === '*') ctx.addIssue({ code: 'custom', path: ['hosts', i], message: 'wildcard host * is not allowed for virtual services bound to the mesh gateway' });
      });
    }),
});

type VirtualServiceSpec = z.infer<typeof virtualServiceSchema>['spec'];
type HttpRouteSpec = z.infer<typeof httpRouteSchema>;
type MatchSpec = z.infer<typeof matchSchema>;
type DestinationSpec = z.infer<typeof destinationSchema>;
type HeadersSpec = z.infer<typeof headersSchema>;

// ---- public types -----------------------------------------------------------------------------------

export interface VsCompileContext {
  byHostPort: MeshModel['byHostPort'];
  services: readonly ServiceInfo[];
  /** The waypoint's namespace: VirtualServices there apply too, and `exportTo` is read against it. */
  waypointNamespace?: string | undefined;
  /** DestinationRules, to tell consistent-hash destinations (no previous-hosts retry predicate). */
  destinationPolicies?: DestinationPolicies | undefined;
  /** Current Istio's default retry policy (no 503). Default false: 503 is retried (see retry.ts). */
  exclude503FromDefaultRetries?: boolean | undefined;
}

export interface CompiledVsRoute {
  rule: CompiledRule;
  /**
   * undefined → this route does not match; otherwise this route's rule and the matched prefix
   * (prefix match: the prefix; exact or regex match: the whole path; no uri match: `/`), which is
   * what Envoy's `prefix_rewrite` replaces.
   */
  matches(req: RouteRequest): RouteMatchResult | undefined;
  /** JSON-able description (source, match) for config_dump. */
  readonly description: VsRouteDescription;
}

export interface VsRouteDescription {
  source: string;
  field: string;
  match: Record<string, unknown>;
}

/**
 * What a VirtualService backend carries beyond `BackendRef`. Candidates for `types.ts`:
 * - `missingStatus`: Envoy answers a route to a cluster that does not exist with 503 (`NC`) for a
 *   VirtualService (`ClusterNotFoundResponseCode` default), 500 only for Gateway API routes.
 * - `hostRewrite`: a destination's own `headers.request.set[":authority"]` (weighted routes).
 */
export interface VsBackendRef extends BackendRef {
  missingStatus?: number;
  hostRewrite?: string;
}

/** `rewrite.uriRegexRewrite`, compiled on the linear-time RE2 engine. */
export interface RegexRewrite {
  /** RE2 pattern and Envoy-style substitution (`\1` groups), as configured. */
  pattern: string;
  substitution: string;
  /** The new path (the query string is kept as it was). */
  apply(path: string): string;
}

export interface VsForwardAction extends ForwardAction {
  regexRewrite?: RegexRewrite;
}

export interface VsCompileResult {
  /** Key: `hostPortKey(service hostname, port)`. Routes in match order. */
  byHostPort: Map<string, CompiledVsRoute[]>;
  problems: ConfigProblem[];
}

// ---- compile ----------------------------------------------------------------------------------------

interface ParsedVs {
  resource: LoadedResource;
  spec: VirtualServiceSpec;
  /** `hosts` after short-name resolution. */
  hosts: string[];
  bucket: number;
}

const VS_KIND = 'VirtualService';

export function compileVirtualServices(resources: readonly LoadedResource[], ctx: VsCompileContext): VsCompileResult {
  const problems: ConfigProblem[] = [];
  const parsed: ParsedVs[] = [];
  for (const r of resources) {
    if (r.kind !== VS_KIND) continue;
    const value = parseResource(virtualServiceSchema, r, problems);
    if (value === undefined) continue;
    const vs = admit(r, value.spec, ctx, problems);
    if (vs !== undefined) parsed.push(vs);
  }
  parsed.sort((a, b) => a.bucket - b.bucket || compareByCreation(a.resource, b.resource));

  const servicesByHost = new Map<string, ServiceInfo>();
  for (const s of ctx.services) servicesByHost.set(s.hostname, s);

  const used = new Set<ParsedVs>();
  const warnings = new WarningSink(problems);
  const byHostPort = new Map<string, CompiledVsRoute[]>();
  for (const svc of ctx.services) {
    const applicable = parsed.filter(
      (vs) =>
        (vs.resource.namespace === svc.namespace || vs.resource.namespace === ctx.waypointNamespace) &&
        vs.hosts.some((h) => hostMatches(h, svc.hostname)),
    );
    if (applicable.length === 0) continue;
    for (const vs of applicable) used.add(vs);
    for (const port of svc.ports) {
      if (port.protocol === 'tcp') continue;
      const routes: CompiledVsRoute[] = [];
      for (const vs of applicable) {
        routes.push(...compileForPort(vs, port.port, { ...ctx, servicesByHost, warnings }));
      }
      if (routes.length > 0) byHostPort.set(hostPortKey(svc.hostname, port.port), routes);
    }
  }
  for (const vs of parsed) {
    if (used.has(vs)) continue;
    vs.hosts.forEach((h, i) => {
      const hint = probableFqdn(h);
      const matching = ctx.services.find((s) => hostMatches(h, s.hostname));
      let message: string;
      if (matching !== undefined) {
        message = `${JSON.stringify(h)} is Service ${matching.namespace}/${matching.name}, but a waypoint only reads VirtualServices from the Service's namespace and its own (as Istio); this one does not apply`;
      } else if (hint !== undefined) {
        message = `${JSON.stringify(h)} matches no Service: Istio does not expand "name.namespace" hosts; write ${hint} or the short name`;
      } else {
        message = `${JSON.stringify(h)} matches no Service this waypoint knows; the VirtualService applies nowhere`;
      }
      warnings.add(vs.resource, `spec.hosts[${i}]`, message);
    });
  }
  return { byHostPort, problems };
}

/**
 * `compileVirtualServices` as the hook of the shared route-table compiler (`../tables.ts`
 * `compileRoutes`): one segment per VirtualService and Service port, which that compiler orders
 * with the Gateway API routes by creation time (then name, namespace), as Istio orders the
 * VirtualServices it merges.
 */
export function virtualServiceCompiler(opts: Omit<VsCompileContext, 'byHostPort' | 'services'> = {}): VirtualServiceCompiler {
  return (resources, ctx) => {
    const out = compileVirtualServices(resources, { ...opts, byHostPort: ctx.byHostPort, services: ctx.services });
    const byId = new Map<string, LoadedResource>();
    for (const r of resources) if (r.kind === VS_KIND) byId.set(`${VS_KIND}/${r.namespace}/${r.name}`, r);
    const routes = new Map<string, VirtualServiceRoutes[]>();
    for (const [key, list] of out.byHostPort) {
      const segments: VirtualServiceRoutes[] = [];
      let start = 0;
      while (start < list.length) {
        const source = (list[start] as CompiledVsRoute).description.source;
        let end = start;
        while (end < list.length && (list[end] as CompiledVsRoute).description.source === source) end++;
        const resource = byId.get(source);
        if (resource !== undefined) segments.push(vsSegment(resource, source, list.slice(start, end)));
        start = end;
      }
      routes.set(key, segments);
    }
    return { routes, problems: out.problems };
  };
}

function vsSegment(resource: LoadedResource, source: string, routes: readonly CompiledVsRoute[]): VirtualServiceRoutes {
  return Object.freeze({
    source,
    namespace: resource.namespace,
    name: resource.name,
    createdAtMs: creationTime(resource),
    match(req: RouteRequest): RouteMatchResult | undefined {
      for (const r of routes) {
        const m = r.matches(req);
        if (m !== undefined) return m;
      }
      return undefined;
    },
    describe: () => routes.map((r) => ({ field: r.description.field, rule: r.rule.ruleName, match: r.description.match, action: r.rule.action.kind })),
  });
}

/** Gateway binding, visibility and the warnings about parts this waypoint does not use. */
function admit(r: LoadedResource, spec: VirtualServiceSpec, ctx: VsCompileContext, problems: ConfigProblem[]): ParsedVs | undefined {
  const gateways = spec.gateways ?? [];
  if (gateways.length > 0 && !gateways.includes('mesh')) return undefined; // bound to ingress gateways only
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0) {
    problems.push(problemFor(r, 'warning', 'spec.hosts', 'delegate VirtualServices (no hosts) are not supported by this waypoint; skipped'));
    return undefined;
  }
  const wpNs = ctx.waypointNamespace;
  if (wpNs !== undefined && !exportedTo(spec.exportTo, r.namespace, wpNs)) return undefined;
  if ((spec.tcp?.length ?? 0) > 0) problems.push(problemFor(r, 'warning', 'spec.tcp', 'tcp routes are not used by this waypoint; ignored'));
  if ((spec.tls?.length ?? 0) > 0) problems.push(problemFor(r, 'warning', 'spec.tls', 'tls routes are not used by this waypoint; ignored'));
  // Istio's SelectVirtualServices order: private to the waypoint's namespace, exported to it, public.
  const exportTo = spec.exportTo ?? [];
  let bucket = 2;
  if (exportTo.length > 0 && !exportTo.includes('*')) {
    bucket = r.namespace === wpNs && (exportTo.includes('.') || exportTo.includes(r.namespace)) ? 0 : 1;
  }
  return { resource: r, spec, hosts: hosts.map((h) => resolveShortname(h, r.namespace)), bucket };
}

/** Collects warnings once each (the same rule compiles for several ports). */
class WarningSink {
  private readonly seen = new Set<string>();
  constructor(private readonly problems: ConfigProblem[]) {}
  add(r: LoadedResource, field: string, message: string): void {
    const key = `${r.namespace}/${r.name}|${field}|${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.problems.push(problemFor(r, 'warning', field, message));
  }
}

interface PortContext extends VsCompileContext {
  servicesByHost: ReadonlyMap<string, ServiceInfo>;
  warnings: WarningSink;
}

/** Istio `waypointInboundRoute` for one VirtualService and one Service port. */
function compileForPort(vs: ParsedVs, tablePort: number, ctx: PortContext): CompiledVsRoute[] {
  const out: CompiledVsRoute[] = [];
  const http = vs.spec.http ?? [];
  for (let i = 0; i < http.length; i++) {
    const rule = http[i];
    if (rule === undefined) continue;
    const field = `spec.http[${i}]`;
    if (rule.delegate) {
      ctx.warnings.add(vs.resource, `${field}.delegate`, 'delegation is not supported by this waypoint; rule skipped');
      continue;
    }
    const matches = rule.match ?? [];
    if (matches.length === 0) {
      out.push(compileRoute(vs, rule, i, undefined, -1, tablePort, ctx));
      break; // a rule without match is a catch-all: nothing after it is reachable
    }
    let catchAll = false;
    for (let j = 0; j < matches.length; j++) {
      const m = matches[j];
      if (m === undefined) continue;
      if (m.port !== undefined && m.port !== null && m.port !== tablePort) continue;
      const gws = m.gateways ?? [];
      if (gws.length > 0 && !gws.includes('mesh')) continue;
      const mf = `${field}.match[${j}]`;
      if (gws.length === 0) {
        if (Object.keys(m.sourceLabels ?? {}).length > 0) {
          ctx.warnings.add(
            vs.resource,
            `${mf}.sourceLabels`,
            "matched against the client workload's labels; Istio's Envoy waypoint drops matches with sourceLabels (istio/istio#51565)",
          );
        }
        if (m.sourceNamespace) {
          ctx.warnings.add(vs.resource, `${mf}.sourceNamespace`, "matched against the client workload's namespace (Istio's Envoy waypoint compares it with the waypoint's own)");
        }
      }
      out.push(compileRoute(vs, rule, i, m, j, tablePort, ctx));
      if (isCatchAll(m)) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return out;
}

/** Istio `IsCatchAllRoute`, plus the request-time source conditions this waypoint evaluates. */
function isCatchAll(m: MatchSpec): boolean {
  const uri = m.uri;
  const pathAll = uri === undefined || uri === null || uri.prefix === '/' || uri.regex === '.*' || (uri.exact == null && uri.prefix == null && uri.regex == null);
  const gws = m.gateways ?? [];
  const source = gws.length === 0 && (Object.keys(m.sourceLabels ?? {}).length > 0 || !!m.sourceNamespace);
  return (
    pathAll &&
    !source &&
    Object.keys(m.headers ?? {}).length === 0 &&
    Object.keys(m.withoutHeaders ?? {}).length === 0 &&
    Object.keys(m.queryParams ?? {}).length === 0 &&
    !m.method &&
    !m.authority &&
    !m.scheme
  );
}

function compileRoute(
  vs: ParsedVs,
  rule: HttpRouteSpec,
  ruleIndex: number,
  match: MatchSpec | undefined,
  matchIndex: number,
  tablePort: number,
  ctx: PortContext,
): CompiledVsRoute {
  const field = `spec.http[${ruleIndex}]`;
  const source = `${VS_KIND}/${vs.resource.namespace}/${vs.resource.name}`;
  let ruleName = rule.name ? rule.name : String(ruleIndex);
  if (match?.name) ruleName = `${ruleName}.${match.name}`;

  const ops = headerOps(rule.headers);
  let requestHeaders = ops.request;
  let responseHeaders = ops.response;
  let action: CompiledRule['action'];
  if (rule.redirect) {
    action = compileRedirect(rule.redirect, tablePort);
  } else if (rule.directResponse) {
    action = compileDirect(rule.directResponse);
  } else {
    const fwd = compileForward(vs, rule, field, tablePort, ops.authority, ctx);
    action = fwd.action;
    if (fwd.destinationHeaders !== undefined) {
      requestHeaders = mergeMutations(requestHeaders, fwd.destinationHeaders.request);
      responseHeaders = mergeMutations(responseHeaders, fwd.destinationHeaders.response);
    }
  }
  const compiled: CompiledRule = Object.freeze({ routeName: source, ruleName, requestHeaders, responseHeaders, action });
  const matcher = compileMatcher(match, compiled);
  return Object.freeze({
    rule: compiled,
    matches: matcher.fn,
    description: {
      source,
      field: matchIndex >= 0 ? `${field}.match[${matchIndex}]` : field,
      match: matcher.describe,
    },
  });
}

// ---- matching ---------------------------------------------------------------------------------------

interface HeaderCond {
  name: string;
  matcher: StringMatcher;
  invert: boolean;
}

type MatchFn = (req: RouteRequest) => RouteMatchResult | undefined;

/** Envoy route matching for one Istio HTTPMatchRequest (request headers lower-case). */
function compileMatcher(m: MatchSpec | undefined, rule: CompiledRule): { fn: MatchFn; describe: Record<string, unknown> } {
  // Results are preallocated where the matched prefix is known at compile time.
  const rootMatch: RouteMatchResult = Object.freeze({ rule, matchedPrefix: '/' });
  if (m === undefined) return { fn: () => rootMatch, describe: { prefix: '/' } };
  const describe: Record<string, unknown> = {};
  const ignoreCase = m.ignoreUriCase === true;

  // Path.
  let pathFn: (path: string) => RouteMatchResult | undefined = () => rootMatch;
  const uri = m.uri;
  if (uri?.exact !== undefined && uri.exact !== null) {
    const want = ignoreCase ? uri.exact.toLowerCase() : uri.exact;
    const result: RouteMatchResult = Object.freeze({ rule, matchedPrefix: uri.exact });
    pathFn = ignoreCase
      ? (p) => (p.toLowerCase() === want ? { rule, matchedPrefix: p } : undefined)
      : (p) => (p === want ? result : undefined);
    describe['path'] = { exact: uri.exact, ...(ignoreCase ? { ignoreCase } : {}) };
  } else if (uri?.prefix !== undefined && uri.prefix !== null) {
    const want = ignoreCase ? uri.prefix.toLowerCase() : uri.prefix;
    const result: RouteMatchResult = Object.freeze({ rule, matchedPrefix: uri.prefix });
    pathFn = ignoreCase
      ? (p) => (p.toLowerCase().startsWith(want) ? { rule, matchedPrefix: p.slice(0, want.length) } : undefined)
      : (p) => (p.startsWith(want) ? result : undefined);
    describe['path'] = { prefix: uri.prefix, ...(ignoreCase ? { ignoreCase } : {}) };
  } else if (uri?.regex !== undefined && uri.regex !== null) {
    const re = fullMatchRegex(uri.regex);
    pathFn = (p) => (re.fullMatch(p) ? { rule, matchedPrefix: p } : undefined);
    describe['path'] = { regex: uri.regex };
  }

  // Headers (Envoy treats method, authority and scheme as headers too).
  const headers: HeaderCond[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) headers.push({ name: name.toLowerCase(), matcher: compileStringMatch(sm), invert: false });
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) headers.push({ name: name.toLowerCase(), matcher: compileStringMatch(sm), invert: true });
  headers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (m.method) headers.push({ name: ':method', matcher: compileStringMatch(m.method), invert: false });
  if (m.authority) headers.push({ name: ':authority', matcher: compileStringMatch(m.authority), invert: false });
  if (m.scheme) headers.push({ name: ':scheme', matcher: compileStringMatch(m.scheme), invert: false });
  if (headers.length > 0) {
    describe['headers'] = headers.map((h) => ({ name: h.name, match: describeStringMatcher(h.matcher), ...(h.invert ? { invert: true } : {}) }));
  }

  const query: Array<{ name: string; matcher: StringMatcher }> = [];
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) query.push({ name, matcher: compileStringMatch(sm) });
  if (query.length > 0) describe['queryParams'] = query.map((q) => ({ name: q.name, match: describeStringMatcher(q.matcher) }));

  const gws = m.gateways ?? [];
  const sourceLabels: Labels | undefined = gws.length === 0 && Object.keys(m.sourceLabels ?? {}).length > 0 ? { ...(m.sourceLabels ?? {}) } : undefined;
  const sourceNamespace = gws.length === 0 && m.sourceNamespace ? m.sourceNamespace : undefined;
  if (sourceLabels !== undefined) describe['sourceLabels'] = sourceLabels;
  if (sourceNamespace !== undefined) describe['sourceNamespace'] = sourceNamespace;
  const labelEntries = sourceLabels === undefined ? [] : Object.entries(sourceLabels);

  const fn: MatchFn = (req) => {
    const path = req.path;
    const q = path.indexOf('?');
    const h = q < 0 ? path.indexOf('#') : q;
    const result = pathFn(h < 0 ? path : path.slice(0, h));
    if (result === undefined) return undefined;
    for (const cond of headers) {
      if (!headerMatches(cond, istioHeaderValue(req, cond.name))) return undefined;
    }
    if (query.length > 0) {
      const params = parseQuery(path, q);
      for (const cond of query) {
        const v = params.get(cond.name);
        if (v === undefined || !stringMatches(cond.matcher, v)) return undefined;
      }
    }
    if (sourceNamespace !== undefined && req.sourceNamespace !== sourceNamespace) return undefined;
    if (labelEntries.length > 0) {
      const have = req.sourceLabels;
      if (have === undefined) return undefined;
      for (const [k, v] of labelEntries) if (have[k] !== v) return undefined;
    }
    return result;
  };
  return { fn, describe };
}

/**
 * Envoy HeaderMatcher as Istio programs it: a match needs the header present; `withoutHeaders`
 * inverts it and treats a missing header as empty, except a presence match, which then means
 * "absent".
 */
function headerMatches(cond: HeaderCond, value: string | undefined): boolean {
  if (cond.matcher.kind === 'present') return cond.invert ? value === undefined : value !== undefined;
  if (value === undefined) return cond.invert ? !stringMatches(cond.matcher, '') : false;
  const ok = stringMatches(cond.matcher, value);
  return cond.invert ? !ok : ok;
}

/** A header's matching value; Istio also matches the pseudo-headers `:method`, `:path`, `:scheme`. */
function istioHeaderValue(req: RouteRequest, name: string): string | undefined {
  switch (name) {
    case ':method':
      return req.method;
    case ':path':
      return req.path;
    case ':scheme': {
      const v = req.headers[':scheme'];
      return typeof v === 'string' ? v : 'http';
    }
  }
  return headerValue(req, name);
}

// ---- actions ----------------------------------------------------------------------------------------

const EMPTY_MUTATION: HeaderMutation = Object.freeze({ set: [], add: [], remove: [] });

function isInternalHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === ':authority' || n === 'host';
}

interface TranslatedHeaders {
  request: HeaderMutation;
  response: HeaderMutation;
  /** `:authority`/`host` from request set (wins) or add: a host rewrite. */
  authority: string | undefined;
}

/** Istio `TranslateHeadersOperations`: set/add sorted by name, pseudo-headers and host dropped. */
function headerOps(h: HeadersSpec | null | undefined): TranslatedHeaders {
  if (h === null || h === undefined) return { request: EMPTY_MUTATION, response: EMPTY_MUTATION, authority: undefined };
  let authority: string | undefined;
  for (const [k, v] of Object.entries(h.request?.add ?? {})) if (isAuthorityHeader(k)) authority = v;
  for (const [k, v] of Object.entries(h.request?.set ?? {})) if (isAuthorityHeader(k)) authority = v;
  return {
    request: mutation(h.request),
    response: mutation(h.response),
    authority: authority === '' ? undefined : authority,
  };
}

function mutation(ops: z.infer<typeof headerOperationsSchema> | null | undefined): HeaderMutation {
  if (ops === null || ops === undefined) return EMPTY_MUTATION;
  const pairs = (m: Record<string, string> | null | undefined): Array<readonly [string, string]> =>
    Object.entries(m ?? {})
      .filter(([k]) => !isInternalHeader(k))
      .map(([k, v]) => [k.toLowerCase(), v] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return normalizeMutation({
    set: pairs(ops.set),
    add: pairs(ops.add),
    remove: (ops.remove ?? []).filter((k) => !isInternalHeader(k)).map((k) => k.toLowerCase()),
  });
}

/**
 * Envoy removes `*_headers_to_remove` before it adds, so a header both removed and set/added ends
 * up with only the new value. `HeaderMutation` applies set, add, then remove: rewrite to match.
 */
function normalizeMutation(m: HeaderMutation): HeaderMutation {
  if (m.remove.length === 0) return Object.freeze(m);
  const removed = new Set(m.remove);
  const set = [...m.set];
  const add: Array<readonly [string, string]> = [];
  for (const pair of m.add) {
    if (removed.has(pair[0]) && !set.some((s) => s[0] === pair[0])) set.push(pair);
    else add.push(pair);
  }
  const written = new Set([...set.map((p) => p[0]), ...add.map((p) => p[0])]);
  return Object.freeze({ set, add, remove: m.remove.filter((r) => !written.has(r)) });
}

function mergeMutations(a: HeaderMutation, b: HeaderMutation): HeaderMutation {
  if (b.set.length === 0 && b.add.length === 0 && b.remove.length === 0) return a;
  if (a.set.length === 0 && a.add.length === 0 && a.remove.length === 0) return b;
  return normalizeMutation({ set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] });
}

function compileRedirect(r: z.infer<typeof redirectSchema>, tablePort: number): RedirectAction {
  let port: number | undefined;
  if (r.port !== undefined && r.port !== null) port = r.port;
  else if (r.derivePort === 'FROM_REQUEST_PORT') port = tablePort;
  else if (r.derivePort === 'FROM_PROTOCOL_DEFAULT') port = r.scheme === 'https' ? 443 : 80;
  let path: PathModifier | undefined;
  if (r.uri) path = { type: 'full', value: r.uri };
  else if (r.prefixRewrite) path = { type: 'prefix', value: r.prefixRewrite };
  const status = (r.redirectCode ?? 301) as RedirectAction['status'];
  return Object.freeze({
    kind: 'redirect' as const,
    ...(r.scheme ? { scheme: r.scheme } : {}),
    ...(r.authority ? { hostname: r.authority } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(path !== undefined ? { path } : {}),
    status,
  });
}

function compileDirect(d: { status: number; body?: { string?: string | null; bytes?: string | null } | null }): DirectResponseAction {
  let body = '';
  if (d.body?.string !== undefined && d.body.string !== null) body = d.body.string;
  else if (d.body?.bytes !== undefined && d.body.bytes !== null) body = Buffer.from(d.body.bytes, 'base64').toString('utf8');
  return Object.freeze({ kind: 'direct' as const, status: d.status, body });
}

interface ResolvedDestination {
  host: string;
  port: number;
  subset: string | undefined;
  ref: Omit<VsBackendRef, 'weight'>;
}

/** Istio `getWaypointDestinationCluster`: explicit port, else the Service's only port, else the request's. */
function resolveDestination(
  vs: ParsedVs,
  dest: DestinationSpec,
  field: string,
  tablePort: number,
  ctx: PortContext,
): ResolvedDestination {
  const host = resolveShortname(dest.host, vs.resource.namespace);
  const svc = ctx.servicesByHost.get(host);
  const explicit = dest.port?.number ?? undefined;
  const onlyPort = svc !== undefined && svc.ports.length === 1 ? svc.ports[0]?.port : undefined;
  const port = explicit ?? onlyPort ?? tablePort;
  const subset = dest.subset ? dest.subset : undefined;
  const target = ctx.byHostPort.get(hostPortKey(host, port));
  const proto = target?.port.protocol === 'tcp' ? 'tcp' : 'http';
  const cluster = `inbound-vip|${port}|${proto}${subset !== undefined ? `/${subset}` : ''}|${host}`;
  let missingReason: string | undefined;
  if (target === undefined) {
    if (svc === undefined) {
      const hint = probableFqdn(host);
      missingReason = `no Service ${host}`;
      ctx.warnings.add(
        vs.resource,
        `${field}.host`,
        `${JSON.stringify(dest.host)} is not a known Service; requests routed there fail with 503 (cluster not found)${hint !== undefined ? `; did you mean ${hint}?` : ''}`,
      );
    } else {
      missingReason = `Service ${host} has no port ${port}`;
      ctx.warnings.add(vs.resource, `${field}.port`, `Service ${host} has no port ${port}; requests routed there fail with 503 (cluster not found)`);
    }
  }
  return {
    host,
    port,
    subset,
    ref: {
      target,
      ...(missingReason !== undefined ? { missingReason, missingStatus: 503 } : {}),
      ...(subset !== undefined ? { subset } : {}),
      cluster,
    },
  };
}

interface ForwardResult {
  action: VsForwardAction;
  /** A single destination's own header operations, appended to the rule's (as Istio does). */
  destinationHeaders?: { request: HeaderMutation; response: HeaderMutation };
}

function compileForward(
  vs: ParsedVs,
  rule: HttpRouteSpec,
  field: string,
  tablePort: number,
  ruleAuthority: string | undefined,
  ctx: PortContext,
): ForwardResult {
  const dests = rule.route ?? [];
  const backends: VsBackendRef[] = [];
  let extra: ForwardResult['destinationHeaders'];
  let hostRewrite = rule.rewrite?.authority ? rule.rewrite.authority : ruleAuthority;
  let consistentHash = false;
  if (dests.length === 1 && dests[0] !== undefined) {
    const d = dests[0];
    const r = resolveDestination(vs, d.destination, `${field}.route[0].destination`, tablePort, ctx);
    backends.push({ ...r.ref, weight: 100 });
    const ops = headerOps(d.headers);
    if (d.headers) extra = { request: ops.request, response: ops.response };
    if (hostRewrite === undefined && ops.authority !== undefined) hostRewrite = ops.authority;
    consistentHash = ctx.destinationPolicies?.forCluster(r.host, r.port, r.subset).policy.loadBalancer.kind === 'CONSISTENT_HASH';
  } else {
    dests.forEach((d, k) => {
      const weight = d.weight ?? 0;
      if (weight === 0) return; // Istio drops zero-weight destinations of a weighted route
      const r = resolveDestination(vs, d.destination, `${field}.route[${k}].destination`, tablePort, ctx);
      const ops = headerOps(d.headers);
      backends.push({
        ...r.ref,
        weight,
        ...(d.headers ? { requestHeaders: ops.request, responseHeaders: ops.response } : {}),
        ...(ops.authority !== undefined ? { hostRewrite: ops.authority } : {}),
      });
    });
  }
  const totalWeight = backends.reduce((s, b) => s + b.weight, 0);

  const urlRewrite: { hostname?: string; path?: PathModifier } = {};
  if (hostRewrite !== undefined) urlRewrite.hostname = hostRewrite;
  if (rule.rewrite?.uri) urlRewrite.path = { type: 'prefix', value: rule.rewrite.uri };
  const regexRewrite = rule.rewrite?.uriRegexRewrite ? compileRegexRewrite(rule.rewrite.uriRegexRewrite.match, rule.rewrite.uriRegexRewrite.rewrite) : undefined;

  const timeoutMs = rule.timeout ? parseDurationMs(rule.timeout) : undefined;
  const retries = rule.retries;
  if (retries?.retryOn) {
    const parsed = parseRetryOn(retries.retryOn);
    if (parsed.unsupported.length > 0) {
      ctx.warnings.add(vs.resource, `${field}.retries.retryOn`, `${parsed.unsupported.join(', ')} not supported by this waypoint; ignored`);
    }
  }
  if (retries?.retryRemoteLocalities) {
    ctx.warnings.add(vs.resource, `${field}.retries.retryRemoteLocalities`, 'ignored: this waypoint has no locality-aware load balancing');
  }
  const retry = convertRetryPolicy(
    retries
      ? {
          attempts: retries.attempts,
          perTryTimeoutMs: retries.perTryTimeout ? parseDurationMs(retries.perTryTimeout) : undefined,
          retryOn: retries.retryOn,
          retryIgnorePreviousHosts: retries.retryIgnorePreviousHosts,
          backoffMs: retries.backoff ? parseDurationMs(retries.backoff) : undefined,
        }
      : undefined,
    { exclude503: ctx.exclude503FromDefaultRetries === true, consistentHash },
  );

  const mirrors = compileMirrors(vs, rule, field, tablePort, ctx);
  const fault = compileFault(vs, rule, field, ctx);
  const cors = rule.corsPolicy ? compileCors(rule.corsPolicy) : undefined;

  const action: VsForwardAction = Object.freeze({
    kind: 'forward' as const,
    backends: Object.freeze(backends),
    totalWeight,
    ...(urlRewrite.hostname !== undefined || urlRewrite.path !== undefined ? { urlRewrite } : {}),
    ...(timeoutMs !== undefined && timeoutMs > 0 ? { timeoutMs } : {}),
    retry,
    mirrors,
    ...(fault !== undefined ? { fault } : {}),
    ...(cors !== undefined ? { cors } : {}),
    ...(regexRewrite !== undefined ? { regexRewrite } : {}),
  });
  return extra !== undefined ? { action, destinationHeaders: extra } : { action };
}

/**
 * Envoy `RegexMatchAndSubstitute`: every non-overlapping match in the path (without its query) is
 * replaced; the substitution refers to groups as `\1` (RE2 `GlobalReplace`).
 */
export function compileRegexRewrite(pattern: string, substitution: string): RegexRewrite | undefined {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch {
    return undefined;
  }
  const replacement = envoySubstitution(substitution);
  return Object.freeze({
    pattern,
    substitution,
    apply: (path: string) => {
      const q = path.indexOf('?');
      const pathOnly = q < 0 ? path : path.slice(0, q);
      return re.matcher(pathOnly).replaceAll(replacement) + (q < 0 ? '' : path.slice(q));
    },
  });
}

/** RE2 substitution (`\1`, `\\`) → re2js replacement (`$1`, literal `$` as `$$`). */
function envoySubstitution(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '$') out += '$$';
    else if (c === '\\' && i + 1 < s.length) {
      const n = s[i + 1] as string;
      out += n >= '0' && n <= '9' ? `$${n}` : n;
      i++;
    } else out += c;
  }
  return out;
}

function compileMirrors(vs: ParsedVs, rule: HttpRouteSpec, field: string, tablePort: number, ctx: PortContext): readonly MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  const add = (dest: DestinationSpec, percent: number, f: string): void => {
    if (percent <= 0) return; // an explicit 0 disables the mirror
    const r = resolveDestination(vs, dest, f, tablePort, ctx);
    out.push(Object.freeze({ target: r.ref.target, cluster: r.ref.cluster, ...(r.subset !== undefined ? { subset: r.subset } : {}), percent }));
  };
  if (rule.mirror) {
    let percent = 100;
    if (rule.mirrorPercentage) percent = rule.mirrorPercentage.value ?? 0;
    else if (rule.mirrorPercent !== undefined && rule.mirrorPercent !== null) percent = rule.mirrorPercent;
    add(rule.mirror, percent, `${field}.mirror`);
  }
  (rule.mirrors ?? []).forEach((m, k) => add(m.destination, m.percentage ? (m.percentage.value ?? 0) : 100, `${field}.mirrors[${k}].destination`));
  return Object.freeze(out);
}

function compileFault(vs: ParsedVs, rule: HttpRouteSpec, field: string, ctx: PortContext): FaultPolicy | undefined {
  const f = rule.fault;
  if (!f) return undefined;
  const out: FaultPolicy = {};
  if (f.delay) {
    const percent = f.delay.percentage ? (f.delay.percentage.value ?? 0) : (f.delay.percent ?? 0);
    if (!f.delay.fixedDelay) {
      ctx.warnings.add(vs.resource, `${field}.fault.delay`, 'exponentialDelay is not supported (as in Istio); no delay injected');
    } else if (percent <= 0) {
      ctx.warnings.add(vs.resource, `${field}.fault.delay.percentage`, 'not set (or 0): no request is delayed, as in Istio');
    } else {
      out.delay = { ms: parseDurationMs(f.delay.fixedDelay) ?? 0, percent };
    }
  }
  if (f.abort) {
    const percent = f.abort.percentage ? (f.abort.percentage.value ?? 0) : 0;
    if (f.abort.http2Error) {
      ctx.warnings.add(vs.resource, `${field}.fault.abort.http2Error`, 'not supported (as in Istio); no abort injected');
    } else if (percent <= 0) {
      ctx.warnings.add(vs.resource, `${field}.fault.abort.percentage`, 'not set (or 0): no request is aborted, as in Istio');
    } else if (f.abort.grpcStatus) {
      // A gRPC abort is a trailers-only response: HTTP 200 with grpc-status.
      out.abort = { status: 200, grpcStatus: GRPC_STATUS[f.abort.grpcStatus] ?? 2, percent };
    } else if (f.abort.httpStatus !== undefined && f.abort.httpStatus !== null) {
      out.abort = { status: f.abort.httpStatus, percent };
    }
  }
  return out.delay !== undefined || out.abort !== undefined ? Object.freeze(out) : undefined;
}

function compileCors(c: z.infer<typeof corsSchema>): CorsPolicy {
  const origins: Array<{ exact?: string; prefix?: string; regex?: RegExp }> = [];
  if (c.allowOrigins && c.allowOrigins.length > 0) {
    for (const o of c.allowOrigins) {
      if (o.exact !== undefined && o.exact !== null) origins.push({ exact: o.exact });
      else if (o.prefix !== undefined && o.prefix !== null) origins.push({ prefix: o.prefix });
      else if (o.regex !== undefined && o.regex !== null) {
        const re = re2ToJsRegExp(o.regex === '*' ? '.*' : o.regex, true);
        if (re !== undefined) origins.push({ regex: re });
      }
    }
  } else {
    for (const o of c.allowOrigin ?? []) origins.push({ exact: o });
  }
  const maxAgeMs = c.maxAge ? parseDurationMs(c.maxAge) : undefined;
  return Object.freeze({
    allowOrigins: origins,
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    ...(maxAgeMs !== undefined ? { maxAgeSeconds: Math.floor(maxAgeMs / 1000) } : {}),
    ...(c.allowCredentials !== undefined && c.allowCredentials !== null ? { allowCredentials: c.allowCredentials } : {}),
  });
}
