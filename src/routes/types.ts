/**
 * Compiled routing: what HTTPRoute, GRPCRoute and VirtualService (with DestinationRule) become
 * once per configuration snapshot. The data path matches a request against a `RouteTable`, gets
 * a `CompiledRule`, and executes its action. Everything here is immutable after compilation.
 */
import type { Endpoint, VipBinding } from '../config/types.js';

export type Labels = Readonly<Record<string, string>>;
export type HeaderValues = Readonly<Record<string, string | string[] | undefined>>;

/** What matching needs from a request. */
export interface RouteRequest {
  method: string;
  /** Path with query string, as received. */
  path: string;
  /** Lower-case header names (`:authority` for h2, `host` for HTTP/1.1). */
  headers: HeaderValues;
  /** The request's authority (Host / :authority) as sent. */
  authority: string;
  /** The source workload's namespace (from the HBONE peer identity), for consumer routes. */
  sourceNamespace: string | undefined;
  /** The source workload's labels (from the configuration), for VirtualService `sourceLabels`. */
  sourceLabels: Labels | undefined;
}

/** Header edits, applied in order: set (replace), add (append), remove. Names lower-case. */
export interface HeaderMutation {
  set: ReadonlyArray<readonly [string, string]>;
  add: ReadonlyArray<readonly [string, string]>;
  remove: readonly string[];
}

export type PathModifier =
  | { type: 'full'; value: string }
  /** Replace the matched prefix (the rule's PathPrefix match) with `value`. */
  | { type: 'prefix'; value: string };

export interface RedirectAction {
  kind: 'redirect';
  scheme?: string;
  hostname?: string;
  port?: number;
  path?: PathModifier;
  status: 301 | 302 | 303 | 307 | 308;
}

export interface DirectResponseAction {
  kind: 'direct';
  status: number;
  body: string;
  /** Envoy response flag to report, if any (e.g. `FI` for a fault abort). */
  flag?: string;
}

export interface BackendRef {
  weight: number;
  /** The backend Service port; undefined when it does not exist (that share fails with 500). */
  target: VipBinding | undefined;
  /** Why `target` is undefined, for logs. */
  missingReason?: string;
  /** Status for requests routed to a missing backend: 500 (Gateway API, default) or 503 (VirtualService). */
  missingStatus?: number;
  /** Authority to send upstream for this backend (VirtualService per-destination host rewrite). */
  hostRewrite?: string;
  /** DestinationRule subset name. */
  subset?: string;
  /** `inbound-vip|<port>|http[/<subset>]|<host>`. */
  cluster: string;
  /** Per-backend filters (Gateway API backendRefs[].filters). */
  requestHeaders?: HeaderMutation;
  responseHeaders?: HeaderMutation;
  /** Forces the upstream protocol (GRPCRoute backends: h2c); otherwise the Service port's protocol decides. */
  upstreamProtocol?: 'h2c';
}

export type RetryOn =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'connect-failure'
  | 'refused-stream'
  | 'retriable-status-codes'
  | 'unavailable'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'resource-exhausted'
  | 'internal'
  | 'retriable-4xx';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = no retry). */
  retries: number;
  /** Timeout of each attempt, when set. */
  perTryTimeoutMs?: number;
  retryOn: ReadonlySet<RetryOn>;
  /** Statuses retried when `retriable-status-codes` is on (and Gateway API `codes`). */
  statusCodes: ReadonlySet<number>;
  /** Base of the exponential backoff between attempts (Envoy default 25 ms). */
  backoffBaseMs: number;
  /** Try another host than the ones already tried when one is available. */
  avoidPreviousHosts: boolean;
}

export interface FaultPolicy {
  delay?: { ms: number; percent: number };
  abort?: { status: number; grpcStatus?: number; percent: number };
}

export interface MirrorPolicy {
  target: VipBinding | undefined;
  cluster: string;
  subset?: string;
  /** 0-100. */
  percent: number;
  /** Forces the upstream protocol (GRPCRoute mirrors: h2c); otherwise the Service port's protocol decides. */
  upstreamProtocol?: 'h2c';
}

export interface CorsPolicy {
  allowOrigins: ReadonlyArray<{ exact?: string; prefix?: string; regex?: RegExp }>;
  allowMethods: readonly string[];
  allowHeaders: readonly string[];
  exposeHeaders: readonly string[];
  maxAgeSeconds?: number;
  allowCredentials?: boolean;
}

export interface ForwardAction {
  kind: 'forward';
  backends: readonly BackendRef[];
  /** Sum of backend weights; 0 means every backend has weight 0 (→ 500, as the spec says). */
  totalWeight: number;
  urlRewrite?: { hostname?: string; path?: PathModifier };
  /** VirtualService `uriRegexRewrite`: applied to the path (with query) when present. */
  regexRewrite?: { apply(path: string): string };
  /** Whole-request timeout including retries (Gateway API timeouts.request, VirtualService timeout). */
  timeoutMs?: number;
  /** Per attempt (Gateway API timeouts.backendRequest). */
  backendTimeoutMs?: number;
  retry: RetryPolicy;
  mirrors: readonly MirrorPolicy[];
  fault?: FaultPolicy;
  cors?: CorsPolicy;
}

export interface CompiledRule {
  /** `HTTPRoute/<ns>/<name>`, `GRPCRoute/...` or `VirtualService/...`, for logs and metrics. */
  routeName: string;
  /** Rule name (Gateway API `name`, VirtualService http[].name) or index as text. */
  ruleName: string;
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
  action: ForwardAction | RedirectAction | DirectResponseAction;
}

export interface RouteMatchResult {
  rule: CompiledRule;
  /** The path prefix that matched (PathPrefix / uri.prefix), for prefix rewrites and redirects. */
  matchedPrefix?: string;
}

/** The routes of one Service port. */
export interface RouteTable {
  /** Routes that made this table, for admin views. */
  readonly sources: readonly string[];
  /** undefined → no route matched: 404 NR. */
  match(req: RouteRequest): RouteMatchResult | undefined;
}

export interface RouteTables {
  /** undefined → no route attached: the default route to the Service itself. */
  get(hostname: string, port: number): RouteTable | undefined;
  /** JSON-able description for config_dump. */
  describe(): unknown;
}

export type LoadBalancer =
  | { kind: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' }
  | { kind: 'CONSISTENT_HASH'; header?: string; cookie?: { name: string; ttlSeconds?: number; path?: string }; sourceIp?: boolean; queryParameter?: string };

export interface ConnectionPoolLimits {
  /** Envoy defaults are effectively unlimited (2^32-1). */
  maxConnections?: number;
  http1MaxPendingRequests?: number;
  http2MaxRequests?: number;
  maxRequestsPerConnection?: number;
  maxRetries?: number;
}

export interface OutlierDetectionPolicy {
  consecutive5xxErrors?: number;
  consecutiveGatewayErrors?: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface TrafficPolicy {
  loadBalancer: LoadBalancer;
  connectionPool?: ConnectionPoolLimits;
  outlierDetection?: OutlierDetectionPolicy;
  /**
   * TLS the waypoint originates (DestinationRule `tls.mode: SIMPLE`); applies only to endpoints
   * outside the mesh (HBONE destinations already get mTLS).
   */
  tls?: UpstreamTlsPolicy;
}

export interface UpstreamTlsPolicy {
  sni: string | undefined;
  /** Path of a PEM CA bundle (`caCertificates`); Node's root store when absent. */
  caFile: string | undefined;
  insecureSkipVerify: boolean;
}

/** DestinationRules compiled per host. */
export interface DestinationPolicies {
  /** Policy for a cluster (host, optional subset); defaults when no DestinationRule applies. */
  forCluster(hostname: string, port: number, subset?: string): { policy: TrafficPolicy; subsetLabels?: Labels; missingSubset?: boolean };
  describe(): unknown;
}

/** Endpoints of a cluster after subset filtering. */
export type ClusterEndpoints = readonly Endpoint[];
