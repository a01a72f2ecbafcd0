/**
 * Compiles one HTTPRoute or GRPCRoute (GAMMA: `parentRefs` to Services) into rule drafts that
 * `tables.ts` places in per-(Service hostname, port) route tables.
 *
 * Semantics follow the Gateway API spec (kubernetes-sigs/gateway-api `apis/v1/httproute_types.go`,
 * `grpcroute_types.go`) and Istio's conversion of these routes for waypoints
 * (istio/istio `pilot/pkg/config/kube/gateway/conversion.go` `convertHTTPRoute`,
 * `convertGRPCRoute`, `buildHTTPDestination`, `createRedirectFilter`, `createRewriteFilter`,
 * `createMirrorFilter`, `createCorsFilter`):
 *
 * - a rule with no backend of weight > 0 (and no redirect) answers 500;
 * - a backendRef to a Service or port that does not exist keeps its weight but has no target: its
 *   share of requests fails with 500 (a warning, not an error);
 * - `retry` → retry on connect-failure, refused-stream, unavailable, cancelled and the listed
 *   codes, `attempts` default 2; no `retry` → Istio's default waypoint retry policy;
 * - a redirect without port and scheme keeps the Service port (Istio's FROM_REQUEST_PORT); with a
 *   scheme and no port, the scheme's well-known port; default ports are left out of `Location`.
 *
 * Anything invalid (schema, unknown filter, bad regex, missing backendRef port, CEL rules) is an
 * error that drops only this route.
 */
import { ISTIO_DEFAULT_RETRY } from '../istio/retry-policy.js';
import { formatFieldPath, friendlyIssueMessage } from '../../config/fields.js';
import { hostPortKey } from '../../config/address.js';
import { serviceHostname } from '../../config/services.js';
import type { ConfigProblem, MeshModel, LoadedResource, ServiceInfo, VipBinding } from '../../config/types.js';
import { EMPTY_HEADER_MUTATION } from '../actions.js';
import {
  compileRegex,
  prefixMatcher,
  type GrpcMethodMatcher,
  type LinearRegex,
  type NamedMatcher,
  type PathMatcher,
  type Precedence,
  type RequestMatcher,
  type StringMatcher,
} from '../match.js';
import type {
  BackendRef,
  CompiledRule,
  CorsPolicy,
  DirectResponseAction,
  ForwardAction,
  HeaderMutation,
  MirrorPolicy,
  PathModifier,
  RedirectAction,
  RetryOn,
  RetryPolicy,
} from '../types.js';
import {
  grpcRouteSchema,
  httpRouteSchema,
  parseDurationMs,
  ROUTE_API_VERSIONS,
  type BackendObjectRef,
  type CORSFilter,
  type GRPCRouteMatch,
  type GRPCRouteResource,
  type GRPCRouteRule,
  type HeaderFilter,
  type HeaderMatch,
  type HTTPRouteMatch,
  type HTTPRouteResource,
  type HTTPRouteRule,
  type ParentRef,
  type RequestMirrorFilter,
  type RequestRedirectFilter,
  type RouteFilter,
} from './schemas.js';

export type GatewayRouteKind = 'HTTPRoute' | 'GRPCRoute';

/** What compiling routes needs from the snapshot. */
export interface RouteCompileContext {
  byHostPort: MeshModel['byHostPort'];
  services: readonly ServiceInfo[];
  /** Services made from ServiceEntries (parentRef kind `ServiceEntry`). */
  serviceEntries?: readonly ServiceInfo[] | undefined;
}

const ISTIO_NETWORKING_GROUP = 'networking.istio.io';

/** One `matches[]` entry of a rule, ready to be ordered in a table. */
export interface MatchDraft {
  matcher: RequestMatcher;
  precedence: Precedence;
  /** The PathPrefix value as configured, for prefix rewrites and redirects. */
  matchedPrefix: string | undefined;
}

export interface RuleDraft {
  index: number;
  name: string;
  /** At least one: a rule without matches matches every request (PathPrefix `/`). */
  matches: MatchDraft[];
  /** The rule as compiled for a Service port (only redirects depend on the port). */
  forPort(port: number): CompiledRule;
}

export interface RouteAttachment {
  service: ServiceInfo;
  /** Service ports the route attaches to. */
  ports: number[];
  /** True when the route's namespace differs from the Service's: it applies to its own namespace's clients only. */
  consumer: boolean;
  parentIndex: number;
}

export interface CompiledGatewayRoute {
  kind: GatewayRouteKind;
  /** `HTTPRoute/<ns>/<name>`. */
  id: string;
  namespace: string;
  name: string;
  file: string;
  /** metadata.creationTimestamp in ms since the epoch; 0 when absent. */
  createdAtMs: number;
  attachments: RouteAttachment[];
  rules: RuleDraft[];
}

export interface RouteCompileResult {
  /** Undefined when the route has errors (it is then skipped entirely). */
  route: CompiledGatewayRoute | undefined;
  problems: ConfigProblem[];
}

/**
 * Istio's retry policy for routes that configure none (pilot/pkg/networking/core/route/retry
 * `DefaultPolicy`): 2 retries on connect-failure, refused-stream, unavailable, cancelled and
 * retriable status codes (503), never the same host twice when another is available
 * (`previous_hosts` predicate), Envoy's 25 ms backoff base.
 */
export const WAYPOINT_DEFAULT_RETRY: RetryPolicy = ISTIO_DEFAULT_RETRY;

/** Retry-on conditions of an HTTPRoute `retry` stanza (Istio `convertHTTPRoute`). */
const GATEWAY_RETRY_ON: readonly RetryOn[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled'];

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

// ---- entry point --------------------------------------------------------------------------------

export function compileGatewayRoute(resource: LoadedResource, ctx: RouteCompileContext): RouteCompileResult {
  const c = new RouteCompiler(resource, ctx);
  const route = c.run();
  return { route, problems: c.problems };
}

class RouteCompiler {
  readonly problems: ConfigProblem[] = [];
  readonly kind: GatewayRouteKind;
  #errors = 0;

  constructor(
    readonly resource: LoadedResource,
    readonly ctx: RouteCompileContext,
  ) {
    this.kind = resource.kind === 'GRPCRoute' ? 'GRPCRoute' : 'HTTPRoute';
  }

  error(path: readonly PropertyKey[], message: string): void {
    this.#errors++;
    this.problem('error', path, message);
  }

  warn(path: readonly PropertyKey[], message: string): void {
    this.problem('warning', path, message);
  }

  problem(severity: ConfigProblem['severity'], path: readonly PropertyKey[], message: string): void {
    const field = formatFieldPath(path);
    this.problems.push({
      severity,
      file: this.resource.file,
      kind: this.resource.kind,
      namespace: this.resource.namespace,
      name: this.resource.name,
      ...(field !== '' ? { field } : {}),
      message,
    });
  }

  run(): CompiledGatewayRoute | undefined {
    const r = this.resource;
    if (r.apiVersion !== '' && !(ROUTE_API_VERSIONS as readonly string[]).includes(r.apiVersion)) {
      this.warn(['apiVersion'], `${r.apiVersion} is not a known version of ${r.kind} (${ROUTE_API_VERSIONS.join(', ')}); read as v1`);
    }
    const parsed =
      this.kind === 'HTTPRoute'
        ? httpRouteSchema.safeParse(r.raw, { error: friendlyIssueMessage })
        : grpcRouteSchema.safeParse(r.raw, { error: friendlyIssueMessage });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) this.error(issue.path, issue.message);
      return undefined;
    }
    const doc = parsed.data;
    const createdAtMs = creationMs(doc.metadata.creationTimestamp);
    const id = `${this.kind}/${r.namespace}/${r.name}`;
    const routeKey = `${r.namespace}/${r.name}`;

    const rules = this.kind === 'HTTPRoute'
      ? this.httpRules(doc as HTTPRouteResource, id, routeKey, createdAtMs)
      : this.grpcRules(doc as GRPCRouteResource, id, routeKey, createdAtMs);
    if (this.#errors > 0) return undefined;

    if ((doc.spec.hostnames ?? []).length > 0) {
      this.warn(['spec', 'hostnames'], 'is ignored for Service parents (GAMMA): the route applies to the Service whatever the Host header');
    }
    const attachments = this.attachments(doc.spec.parentRefs ?? []);
    return {
      kind: this.kind,
      id,
      namespace: r.namespace,
      name: r.name,
      file: r.file,
      createdAtMs,
      attachments,
      rules,
    };
  }

  // ---- parents ----------------------------------------------------------------------------------

  attachments(refs: readonly ParentRef[]): RouteAttachment[] {
    const out: RouteAttachment[] = [];
    if (refs.length === 0) {
      this.warn(['spec', 'parentRefs'], 'is empty: the route attaches to nothing');
      return out;
    }
    refs.forEach((ref, i) => {
      const at = ['spec', 'parentRefs', i];
      const group = ref.group ?? GATEWAY_GROUP;
      const kind = ref.kind ?? 'Gateway';
      if (kind === 'Gateway' && group === GATEWAY_GROUP) {
        this.warn(at, `Gateway ${ref.namespace ?? this.resource.namespace}/${ref.name} is ignored: this waypoint serves only routes attached to Services (GAMMA)`);
        return;
      }
      const namespace = ref.namespace ?? this.resource.namespace;
      if (kind === 'ServiceEntry' && group === ISTIO_NETWORKING_GROUP) {
        // An entry is one service per host; the route attaches to each.
        const hosts = (this.ctx.serviceEntries ?? []).filter((s) => s.namespace === namespace && s.serviceEntry === ref.name);
        if (hosts.length === 0) {
          this.warn([...at, 'name'], `ServiceEntry ${namespace}/${ref.name} is not in the configuration; the route does not apply to it`);
          return;
        }
        for (const service of hosts) this.attachTo(out, service, ref, at, i, namespace, `ServiceEntry ${namespace}/${ref.name}`);
        return;
      }
      if (kind !== 'Service' || (group !== '' && group !== 'core')) {
        const hint = kind === 'Service' && (ref.group === undefined || ref.group === null) ? ' (set group: "" for the core Service kind; an omitted group means gateway.networking.k8s.io)' : '';
        this.warn(at, `unsupported parent ${group === '' ? 'core' : group}/${kind}${hint}; ignored`);
        return;
      }
      const service = this.ctx.services.find((s) => s.namespace === namespace && s.name === ref.name);
      if (service === undefined) {
        this.warn([...at, 'name'], `Service ${namespace}/${ref.name} is not in the configuration; the route does not apply to it`);
        return;
      }
      this.attachTo(out, service, ref, at, i, namespace, `Service ${namespace}/${ref.name}`);
    });
    return out;
  }

  /** Attaches the route to one service (a Service, or one host of a ServiceEntry). */
  private attachTo(out: RouteAttachment[], service: ServiceInfo, ref: ParentRef, at: (string | number)[], i: number, namespace: string, what: string): void {
    if (ref.sectionName !== undefined && ref.sectionName !== null) {
      this.warn([...at, 'sectionName'], 'is not supported for Service parents; use port. Ignored');
    }
    let ports = service.ports.map((p) => p.port);
    if (ref.port !== undefined && ref.port !== null) {
      const port = service.ports.find((p) => p.port === ref.port);
      if (port === undefined) {
        this.warn([...at, 'port'], `${what} has no port ${ref.port} (ports: ${ports.join(', ') || 'none'}); the route does not apply to it`);
        return;
      }
      if (port.protocol === 'tcp') {
        this.warn([...at, 'port'], `port ${ref.port} of ${what} is TCP (${port.name || 'unnamed'}); HTTP routes do not apply to its traffic`);
      }
      ports = [ref.port];
    }
    if (!service.bound) {
      this.warn(at, `${what} is not bound to this waypoint (${service.bindingReason}); the route has no effect here`);
    }
    const duplicate = out.find((a) => a.service === service);
    if (duplicate !== undefined) {
      for (const p of ports) if (!duplicate.ports.includes(p)) duplicate.ports.push(p);
      return;
    }
    out.push({ service, ports, consumer: namespace !== this.resource.namespace, parentIndex: i });
  }

  // ---- HTTPRoute rules --------------------------------------------------------------------------

  httpRules(doc: HTTPRouteResource, id: string, routeKey: string, createdAtMs: number): RuleDraft[] {
    const rules = doc.spec.rules ?? [];
    this.checkRuleNames(rules);
    const out: RuleDraft[] = [];
    rules.forEach((rule, ri) => {
      const at = ['spec', 'rules', ri];
      const matches = this.httpMatches(rule, ri, routeKey, createdAtMs);
      const filters = rule.filters ?? [];
      this.checkHttpFilters(filters, rule, [...at, 'filters'], 'rule');
      const backendRefs = rule.backendRefs ?? [];
      if (backendRefs.length > 0 && filters.some((f) => f.type === 'RequestRedirect')) {
        this.error([...at, 'filters'], 'RequestRedirect must not be used together with backendRefs');
      }
      backendRefs.forEach((b, bi) => this.checkHttpFilters(b.filters ?? [], rule, [...at, 'backendRefs', bi, 'filters'], 'backend'));

      // Timeouts.
      const timeouts = rule.timeouts;
      const requestMs = nonZero(timeouts?.request);
      const backendMs = nonZero(timeouts?.backendRequest);
      if (requestMs !== undefined && backendMs !== undefined && backendMs > requestMs) {
        this.error([...at, 'timeouts', 'backendRequest'], `must not be longer than the request timeout (${timeouts?.backendRequest} > ${timeouts?.request})`);
      }
      const retry = rule.retry ? gatewayRetry(rule.retry) : WAYPOINT_DEFAULT_RETRY;

      const requestHeaders = headerMutation(single(filters, 'RequestHeaderModifier')?.requestHeaderModifier);
      const responseHeaders = headerMutation(single(filters, 'ResponseHeaderModifier')?.responseHeaderModifier);
      const redirect = single(filters, 'RequestRedirect')?.requestRedirect ?? undefined;
      const rewrite = single(filters, 'URLRewrite')?.urlRewrite ?? undefined;
      const cors = single(filters, 'CORS')?.cors ?? undefined;
      const mirrors = this.mirrors(filters, at, false);
      const backends = backendRefs.map((b, bi) => this.backend(b, b.weight ?? 1, b.filters ?? [], [...at, 'backendRefs', bi], false));
      const totalWeight = backends.reduce((sum, b) => sum + b.weight, 0);

      const routeName = id;
      const ruleName = rule.name ?? String(ri);
      const base = { routeName, ruleName, requestHeaders, responseHeaders };
      let forward: CompiledRule | undefined;
      if (redirect === undefined) {
        if (totalWeight === 0) {
          const action: DirectResponseAction = Object.freeze({ kind: 'direct', status: 500, body: '' });
          forward = Object.freeze({ ...base, action });
        } else {
          const action: ForwardAction = Object.freeze({
            kind: 'forward',
            backends: Object.freeze(backends),
            totalWeight,
            ...(rewrite !== undefined ? { urlRewrite: Object.freeze(urlRewrite(rewrite)) } : {}),
            ...(requestMs !== undefined ? { timeoutMs: requestMs } : {}),
            ...(backendMs !== undefined ? { backendTimeoutMs: backendMs } : {}),
            retry,
            mirrors: Object.freeze(mirrors),
            ...(cors !== undefined ? { cors: corsPolicy(cors) } : {}),
          });
          forward = Object.freeze({ ...base, action });
        }
      }
      const byPort = new Map<number, CompiledRule>();
      out.push({
        index: ri,
        name: ruleName,
        matches,
        forPort(port: number): CompiledRule {
          if (forward !== undefined) return forward;
          let compiled = byPort.get(port);
          if (compiled === undefined) {
            compiled = Object.freeze({ ...base, action: redirectAction(redirect as RequestRedirectFilter, port) });
            byPort.set(port, compiled);
          }
          return compiled;
        },
      });
    });
    return out;
  }

  httpMatches(rule: HTTPRouteRule, ri: number, routeKey: string, createdAtMs: number): MatchDraft[] {
    const matches: HTTPRouteMatch[] = rule.matches && rule.matches.length > 0 ? rule.matches : [{}];
    return matches.map((m, mi) => {
      const at = ['spec', 'rules', ri, 'matches', mi];
      const type = m.path?.type ?? 'PathPrefix';
      const value = m.path?.value ?? '/';
      let path: PathMatcher;
      if (type === 'Exact') path = Object.freeze({ kind: 'exact', value });
      else if (type === 'PathPrefix') path = prefixMatcher(value);
      else path = Object.freeze({ kind: 'regex', value, regex: this.regex(value, [...at, 'path', 'value']) });
      const headers = this.namedMatchers(m.headers ?? [], [...at, 'headers'], true);
      const query = this.namedMatchers(m.queryParams ?? [], [...at, 'queryParams'], false);
      const method = m.method ?? undefined;
      const matcher: RequestMatcher = Object.freeze({ method, path, grpc: undefined, headers, query });
      const pathLength = path.kind === 'prefix' ? path.trimmed.length : value.length;
      return {
        matcher,
        precedence: {
          pathRank: type === 'Exact' ? 3 : type === 'PathPrefix' ? 2 : 1,
          pathLength,
          serviceLength: 0,
          methodLength: 0,
          hasMethod: method !== undefined,
          headers: headers.length,
          queryParams: query.length,
          createdAtMs,
          routeKey,
          ruleIndex: ri,
          matchIndex: mi,
        },
        matchedPrefix: path.kind === 'prefix' ? value : undefined,
      };
    });
  }

  /** Header (case-insensitive names) or query matchers; a repeated name: only the first counts (spec). */
  namedMatchers(list: readonly HeaderMatch[], at: readonly PropertyKey[], header: boolean): NamedMatcher[] {
    const out: NamedMatcher[] = [];
    const seen = new Set<string>();
    list.forEach((h, i) => {
      const name = header ? h.name.toLowerCase() : h.name;
      if (seen.has(name)) return;
      seen.add(name);
      const match: StringMatcher =
        (h.type ?? 'Exact') === 'Exact'
          ? Object.freeze({ kind: 'exact', value: h.value })
          : Object.freeze({ kind: 'regex', value: h.value, regex: this.regex(h.value, [...at, i, 'value']) });
      out.push(Object.freeze({ name, match }));
    });
    return out;
  }

  regex(pattern: string, at: readonly PropertyKey[]): LinearRegex {
    const outcome = compileRegex(pattern);
    if (outcome.ok) return outcome.regex;
    this.error(at, outcome.message);
    return NEVER_REGEX;
  }

  checkRuleNames(rules: ReadonlyArray<{ name?: string | null | undefined }>): void {
    const seen = new Map<string, number>();
    rules.forEach((rule, i) => {
      if (rule.name === undefined || rule.name === null) return;
      const first = seen.get(rule.name);
      if (first !== undefined) this.error(['spec', 'rules', i, 'name'], `duplicates the name of rules[${first}] (${JSON.stringify(rule.name)}); rule names must be unique`);
      else seen.set(rule.name, i);
    });
  }

  /** The CEL rules of HTTPRouteRule.filters (and backendRefs[].filters). */
  checkHttpFilters(filters: readonly RouteFilter[], rule: HTTPRouteRule, at: readonly PropertyKey[], where: 'rule' | 'backend'): void {
    const counts = new Map<string, number>();
    filters.forEach((f, i) => {
      const n = (counts.get(f.type) ?? 0) + 1;
      counts.set(f.type, n);
      if (n === 2 && f.type !== 'RequestMirror' && f.type !== 'ExtensionRef') {
        this.error([...at, i, 'type'], `${f.type} filter cannot be repeated`);
      }
      if (f.type === 'ExtensionRef' || f.type === 'ExternalAuth') {
        this.error([...at, i, 'type'], `${f.type} filters are not supported by this waypoint`);
      }
      if (where === 'backend' && f.type !== 'RequestHeaderModifier' && f.type !== 'ResponseHeaderModifier') {
        this.error([...at, i, 'type'], `${f.type} is not supported in backendRefs[].filters (only RequestHeaderModifier and ResponseHeaderModifier)`);
      }
      const modifier = f.requestRedirect?.path ?? f.urlRewrite?.path;
      if (modifier?.type === 'ReplacePrefixMatch') {
        const matches = rule.matches ?? [];
        const ok = matches.length === 0 || (matches.length === 1 && (matches[0]?.path?.type ?? 'PathPrefix') === 'PathPrefix');
        if (!ok) this.error([...at, i], `${f.type} with path.replacePrefixMatch needs exactly one match, of type PathPrefix`);
      }
    });
    if (counts.has('RequestRedirect') && counts.has('URLRewrite')) {
      this.error(at, 'may specify either RequestRedirect or URLRewrite, but not both');
    }
  }

  mirrors(filters: readonly RouteFilter[], at: readonly PropertyKey[], grpc: boolean): MirrorPolicy[] {
    const out: MirrorPolicy[] = [];
    filters.forEach((f, i) => {
      const m: RequestMirrorFilter | null | undefined = f.requestMirror;
      if (f.type !== 'RequestMirror' || m === undefined || m === null) return;
      const resolved = this.resolveBackend(m.backendRef, [...at, 'filters', i, 'requestMirror', 'backendRef']);
      if (resolved === undefined) return;
      if (resolved.target === undefined) {
        this.warn([...at, 'filters', i, 'requestMirror', 'backendRef'], `${resolved.missingReason}; the mirror is dropped`);
        return;
      }
      const percent = m.fraction ? (100 * m.fraction.numerator) / (m.fraction.denominator ?? 100) : (m.percent ?? 100);
      out.push(
        Object.freeze({
          target: resolved.target,
          cluster: resolved.cluster,
          percent,
          ...(grpc ? { upstreamProtocol: 'h2c' as const } : {}),
        }),
      );
    });
    return out;
  }

  backend(ref: BackendObjectRef, weight: number, filters: readonly RouteFilter[], at: readonly PropertyKey[], grpc: boolean): BackendRef {
    const resolved = this.resolveBackend(ref, at) ?? { target: undefined, cluster: '', missingReason: 'invalid backendRef' };
    if (resolved.target === undefined) {
      this.warn(at, `${resolved.missingReason}; ${weight > 0 ? `its share of requests (weight ${weight}) fails with 500` : 'it has weight 0 and gets no requests'}`);
    }
    const requestHeaders = headerMutation(single(filters, 'RequestHeaderModifier')?.requestHeaderModifier);
    const responseHeaders = headerMutation(single(filters, 'ResponseHeaderModifier')?.responseHeaderModifier);
    return Object.freeze({
      weight,
      target: resolved.target,
      ...(resolved.target === undefined ? { missingReason: resolved.missingReason } : {}),
      cluster: resolved.cluster,
      ...(requestHeaders !== EMPTY_HEADER_MUTATION ? { requestHeaders } : {}),
      ...(responseHeaders !== EMPTY_HEADER_MUTATION ? { responseHeaders } : {}),
      ...(grpc ? { upstreamProtocol: 'h2c' as const } : {}),
    });
  }

  /** Resolves a Service backend; undefined (with an error) when the reference itself is invalid. */
  resolveBackend(
    ref: BackendObjectRef,
    at: readonly PropertyKey[],
  ): { target: VipBinding | undefined; cluster: string; missingReason: string } | undefined {
    const group = ref.group ?? '';
    const kind = ref.kind ?? 'Service';
    const namespace = ref.namespace ?? this.resource.namespace;
    if (kind === 'Hostname' && group === ISTIO_NETWORKING_GROUP) {
      // Istio's Hostname backend: a ServiceEntry host (or any service) by its host name.
      if (ref.port === undefined || ref.port === null) {
        this.error([...at, 'port'], 'is required when referring to a Hostname');
        return undefined;
      }
      const host = ref.name.toLowerCase();
      const target = this.ctx.byHostPort.get(hostPortKey(host, ref.port));
      return { target, cluster: `outbound|${ref.port}||${host}`, missingReason: target === undefined ? `no ServiceEntry or Service declares ${host}:${ref.port}` : '' };
    }
    if (kind !== 'Service' || (group !== '' && group !== 'core')) {
      return { target: undefined, cluster: `unsupported|${group}/${kind}|${namespace}/${ref.name}`, missingReason: `backend kind ${group === '' ? 'core' : group}/${kind} is not supported (only Service and networking.istio.io Hostname)` };
    }
    if (ref.name.includes('.')) {
      this.error([...at, 'name'], `must be the name of a Service, not a hostname (got ${JSON.stringify(ref.name)})`);
      return undefined;
    }
    if (ref.port === undefined || ref.port === null) {
      this.error([...at, 'port'], 'is required when referring to a Service');
      return undefined;
    }
    const hostname = serviceHostname(ref.name, namespace);
    const cluster = `inbound-vip|${ref.port}|http|${hostname}`;
    const target = this.ctx.byHostPort.get(hostPortKey(hostname, ref.port));
    if (target !== undefined) return { target, cluster, missingReason: '' };
    const service = this.ctx.services.find((s) => s.namespace === namespace && s.name === ref.name);
    const missingReason =
      service === undefined
        ? `Service ${namespace}/${ref.name} is not in the configuration`
        : `Service ${namespace}/${ref.name} has no port ${ref.port} (ports: ${service.ports.map((p) => p.port).join(', ') || 'none'})`;
    return { target: undefined, cluster, missingReason };
  }

  // ---- GRPCRoute rules --------------------------------------------------------------------------

  grpcRules(doc: GRPCRouteResource, id: string, routeKey: string, createdAtMs: number): RuleDraft[] {
    const rules = doc.spec.rules ?? [];
    this.checkRuleNames(rules);
    return rules.map((rule, ri) => {
      const at = ['spec', 'rules', ri];
      const matches = this.grpcMatches(rule, ri, routeKey, createdAtMs);
      const filters = rule.filters ?? [];
      this.checkGrpcFilters(filters, [...at, 'filters'], 'rule');
      const backendRefs = rule.backendRefs ?? [];
      backendRefs.forEach((b, bi) => this.checkGrpcFilters(b.filters ?? [], [...at, 'backendRefs', bi, 'filters'], 'backend'));
      const requestHeaders = headerMutation(single(filters, 'RequestHeaderModifier')?.requestHeaderModifier);
      const responseHeaders = headerMutation(single(filters, 'ResponseHeaderModifier')?.responseHeaderModifier);
      const mirrors = this.mirrors(filters, at, true);
      const backends = backendRefs.map((b, bi) => this.backend(b, b.weight ?? 1, b.filters ?? [], [...at, 'backendRefs', bi], true));
      const totalWeight = backends.reduce((sum, b) => sum + b.weight, 0);
      const action: ForwardAction | DirectResponseAction =
        totalWeight === 0
          ? Object.freeze({ kind: 'direct', status: 500, body: '' })
          : Object.freeze({
              kind: 'forward',
              backends: Object.freeze(backends),
              totalWeight,
              retry: WAYPOINT_DEFAULT_RETRY,
              mirrors: Object.freeze(mirrors),
            });
      const ruleName = rule.name ?? String(ri);
      const compiled: CompiledRule = Object.freeze({ routeName: id, ruleName, requestHeaders, responseHeaders, action });
      return { index: ri, name: ruleName, matches, forPort: () => compiled };
    });
  }

  grpcMatches(rule: GRPCRouteRule, ri: number, routeKey: string, createdAtMs: number): MatchDraft[] {
    const matches: GRPCRouteMatch[] = rule.matches && rule.matches.length > 0 ? rule.matches : [{}];
    return matches.map((m, mi) => {
      const at = ['spec', 'rules', ri, 'matches', mi];
      let grpc: GrpcMethodMatcher | undefined;
      let serviceLength = 0;
      let methodLength = 0;
      if (m.method !== undefined && m.method !== null) {
        const regex = m.method.type === 'RegularExpression';
        const part = (value: string | null | undefined, field: string): StringMatcher | undefined => {
          if (value === undefined || value === null || value === '') return undefined;
          return regex
            ? Object.freeze({ kind: 'regex', value, regex: this.regex(value, [...at, 'method', field]) })
            : Object.freeze({ kind: 'exact', value });
        };
        grpc = Object.freeze({ service: part(m.method.service, 'service'), method: part(m.method.method, 'method') });
        if (!regex) {
          serviceLength = grpc.service?.value.length ?? 0;
          methodLength = grpc.method?.value.length ?? 0;
        }
      }
      const headers = this.namedMatchers(m.headers ?? [], [...at, 'headers'], true);
      const matcher: RequestMatcher = Object.freeze({ method: undefined, path: undefined, grpc, headers, query: [] });
      return {
        matcher,
        precedence: {
          pathRank: 0,
          pathLength: 0,
          serviceLength,
          methodLength,
          hasMethod: false,
          headers: headers.length,
          queryParams: 0,
          createdAtMs,
          routeKey,
          ruleIndex: ri,
          matchIndex: mi,
        },
        matchedPrefix: undefined,
      };
    });
  }

  checkGrpcFilters(filters: readonly RouteFilter[], at: readonly PropertyKey[], where: 'rule' | 'backend'): void {
    const counts = new Map<string, number>();
    filters.forEach((f, i) => {
      const n = (counts.get(f.type) ?? 0) + 1;
      counts.set(f.type, n);
      if (n === 2 && f.type !== 'RequestMirror' && f.type !== 'ExtensionRef') this.error([...at, i, 'type'], `${f.type} filter cannot be repeated`);
      if (f.type === 'ExtensionRef') this.error([...at, i, 'type'], 'ExtensionRef filters are not supported by this waypoint');
      if (where === 'backend' && f.type !== 'RequestHeaderModifier' && f.type !== 'ResponseHeaderModifier') {
        this.error([...at, i, 'type'], `${f.type} is not supported in backendRefs[].filters (only RequestHeaderModifier and ResponseHeaderModifier)`);
      }
    });
  }
}

// ---- helpers --------------------------------------------------------------------------------------

const NEVER_REGEX: LinearRegex = Object.freeze({ source: '', fullMatch: () => false });

function single(filters: readonly RouteFilter[], type: string): RouteFilter | undefined {
  return filters.find((f) => f.type === type);
}

function headerMutation(f: HeaderFilter | null | undefined): HeaderMutation {
  if (f === undefined || f === null) return EMPTY_HEADER_MUTATION;
  const set = (f.set ?? []).map((h) => Object.freeze([h.name.toLowerCase(), h.value] as const));
  const add = (f.add ?? []).map((h) => Object.freeze([h.name.toLowerCase(), h.value] as const));
  const remove = (f.remove ?? []).map((n) => n.toLowerCase());
  if (set.length === 0 && add.length === 0 && remove.length === 0) return EMPTY_HEADER_MUTATION;
  return Object.freeze({ set: Object.freeze(set), add: Object.freeze(add), remove: Object.freeze(remove) });
}

function pathModifier(p: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; replaceFullPath?: string | null | undefined; replacePrefixMatch?: string | null | undefined }): PathModifier {
  return p.type === 'ReplaceFullPath'
    ? Object.freeze({ type: 'full', value: p.replaceFullPath ?? '/' })
    : Object.freeze({ type: 'prefix', value: p.replacePrefixMatch ?? '' });
}

function urlRewrite(f: NonNullable<RouteFilter['urlRewrite']>): NonNullable<ForwardAction['urlRewrite']> {
  return {
    ...(f.hostname ? { hostname: f.hostname } : {}),
    ...(f.path ? { path: pathModifier(f.path) } : {}),
  };
}

/**
 * The redirect for a Service port. Port per the spec: the filter's port; else, with no scheme,
 * the port the request came to (the "listener" port; Istio FROM_REQUEST_PORT); else the new
 * scheme's well-known port. `redirectLocation` leaves 80/443 out for http/https.
 */
function redirectAction(f: RequestRedirectFilter, listenerPort: number): RedirectAction {
  const scheme = f.scheme ?? undefined;
  const port = f.port ?? (scheme === undefined ? listenerPort : scheme === 'https' ? 443 : 80);
  return Object.freeze({
    kind: 'redirect',
    status: f.statusCode ?? 302,
    ...(scheme !== undefined ? { scheme } : {}),
    ...(f.hostname ? { hostname: f.hostname } : {}),
    port,
    ...(f.path ? { path: pathModifier(f.path) } : {}),
  });
}

function gatewayRetry(r: NonNullable<HTTPRouteRule['retry']>): RetryPolicy {
  const attempts = r.attempts ?? 2;
  const codes = r.codes ?? [];
  const retryOn = new Set<RetryOn>(attempts > 0 ? GATEWAY_RETRY_ON : []);
  if (attempts > 0 && codes.length > 0) retryOn.add('retriable-status-codes');
  const backoff = r.backoff ? parseDurationMs(r.backoff) : 0;
  return Object.freeze({
    retries: attempts,
    retryOn,
    statusCodes: new Set(codes),
    backoffBaseMs: backoff > 0 ? backoff : 25,
    avoidPreviousHosts: true,
  });
}

function corsPolicy(f: CORSFilter): CorsPolicy {
  const origins: Array<{ exact?: string; prefix?: string; regex?: RegExp }> = [];
  for (const o of f.allowOrigins ?? []) {
    if (o === '*') origins.push({ regex: /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/\s?#]+$/ });
    else if (!o.includes('*')) origins.push({ exact: o });
    else if (o.indexOf('*') === o.length - 1) origins.push({ prefix: o.slice(0, -1) });
    else origins.push({ regex: new RegExp(`^${o.split('*').map(escapeRegExp).join('[^\\s]*')}$`) });
  }
  return Object.freeze({
    allowOrigins: Object.freeze(origins.map((o) => Object.freeze(o))),
    allowMethods: Object.freeze([...(f.allowMethods ?? [])]),
    allowHeaders: Object.freeze([...(f.allowHeaders ?? [])]),
    exposeHeaders: Object.freeze([...(f.exposeHeaders ?? [])]),
    maxAgeSeconds: f.maxAge ?? 5,
    ...(f.allowCredentials ? { allowCredentials: true } : {}),
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function nonZero(d: string | null | undefined): number | undefined {
  if (d === undefined || d === null) return undefined;
  const ms = parseDurationMs(d);
  return ms > 0 ? ms : undefined;
}

function creationMs(ts: string | Date | null | undefined): number {
  if (ts === undefined || ts === null) return 0;
  const ms = ts instanceof Date ? ts.getTime() : Date.parse(ts);
  return Number.isFinite(ms) ? ms : 0;
}
