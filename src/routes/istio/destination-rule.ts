/**
 * DestinationRule (networking.istio.io v1, v1beta1, v1alpha3) → `DestinationPolicies`: the traffic
 * policy (load balancer, connection-pool limits, outlier detection) and subset labels of each
 * cluster, resolved the way istiod does for a waypoint.
 *
 * - Which DestinationRule applies to a host (`pilot/pkg/model/push_context.go` `destinationRule`):
 *   the first of (1) rules in the waypoint's namespace, (2) rules in the Service's namespace
 *   exported to the waypoint's, (3) rules in the root namespace (`istio-system`) exported to it;
 *   within a namespace an exact host beats a wildcard and a longer wildcard a shorter one. Rules
 *   for the same host are merged (`mergeDestinationRule`): the oldest rule's traffic policy, the
 *   union of subsets (first definition of a name wins).
 * - The policy of a cluster (`pilot/pkg/networking/util/util.go` `MergeSubsetTrafficPolicy`): the
 *   rule's policy, replaced wholesale by a matching `portLevelSettings` entry; then the subset's
 *   policy (also port-resolved) overrides field by field, or wholesale when it has port-level
 *   settings for the port.
 * - Defaults (`cluster_traffic_policy.go`): LEAST_REQUEST when no simple/consistent-hash load
 *   balancer is set (Istio's `defaultLBAlgorithm`), no outlier detection, no connection limits.
 */
import * as z from 'zod';
import { labelMap, portNumber } from '../../config/fields.js';
import { resourceSchema } from '../../config/schemas.js';
import { DEFAULT_TRAFFIC_POLICY } from '../default-route.js';
import type { ConfigProblem, MeshModel, LoadedResource, ServiceInfo } from '../../config/types.js';
import type { ConnectionPoolLimits, DestinationPolicies, Labels, LoadBalancer, OutlierDetectionPolicy, TrafficPolicy } from '../types.js';
import {
  compareByCreation,
  durationSchema,
  exportedTo,
  hostMatches,
  hostSpecificity,
  parseDurationMs,
  parseResource,
  probableFqdn,
  problemFor,
  resolveShortname,
} from './common.js';

// ---- schema -----------------------------------------------------------------------------------------

const count = z.number().int().min(0);

const loadBalancerSchema = z
  .looseObject({
    simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).nullish(),
    consistentHash: z
      .looseObject({
        httpHeaderName: z.string().min(1).nullish(),
        httpCookie: z
          .looseObject({
            name: z.string().min(1),
            path: z.string().nullish(),
            ttl: durationSchema.nullish(),
          })
          .nullish(),
        useSourceIp: z.boolean().nullish(),
        httpQueryParameterName: z.string().min(1).nullish(),
        ringHash: z.looseObject({ minimumRingSize: count.nullish() }).nullish(),
        maglev: z.looseObject({ tableSize: count.nullish() }).nullish(),
        minimumRingSize: count.nullish(),
      })
      .superRefine((c, ctx) => {
        const keys = [c.httpHeaderName, c.httpCookie, c.useSourceIp ? true : undefined, c.httpQueryParameterName].filter((v) => v !== undefined && v !== null);
        if (keys.length > 1) {
          ctx.addIssue({ code: 'custom', message: 'only one of httpHeaderName, httpCookie, useSourceIp and httpQueryParameterName may be set' });
        }
        if (c.ringHash && c.maglev) ctx.addIssue({ code: 'custom', message: 'only one of ringHash and maglev may be set' });
      })
      .nullish(),
    localityLbSetting: z.unknown().nullish(),
    zoneAwareLbSetting: z.unknown().nullish(),
    warmupDurationSecs: durationSchema.nullish(),
    warmup: z.unknown().nullish(),
  })
  .superRefine((lb, ctx) => {
    if (lb.simple && lb.consistentHash) ctx.addIssue({ code: 'custom', message: 'only one of simple and consistentHash may be set' });
  });

const connectionPoolSchema = z.looseObject({
  tcp: z
    .looseObject({
      maxConnections: count.nullish(),
      connectTimeout: durationSchema.nullish(),
      maxConnectionDuration: durationSchema.nullish(),
      idleTimeout: durationSchema.nullish(),
    })
    .nullish(),
  http: z
    .looseObject({
      http1MaxPendingRequests: count.nullish(),
      http2MaxRequests: count.nullish(),
      maxRequestsPerConnection: count.nullish(),
      maxRetries: count.nullish(),
      idleTimeout: durationSchema.nullish(),
      h2UpgradePolicy: z.enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).nullish(),
      useClientProtocol: z.boolean().nullish(),
      maxConcurrentStreams: count.nullish(),
    })
    .nullish(),
});

const outlierSchema = z.looseObject({
  consecutiveErrors: count.nullish(),
  splitExternalLocalOriginErrors: z.boolean().nullish(),
  consecutiveLocalOriginFailures: count.nullish(),
  consecutiveGatewayErrors: count.nullish(),
  consecutive5xxErrors: count.nullish(),
  interval: durationSchema.nullish(),
  baseEjectionTime: durationSchema.nullish(),
  maxEjectionPercent: z.number().int().min(0).max(100).nullish(),
  minHealthPercent: z.number().int().min(0).max(100).nullish(),
  outlierDetectionHttpErrorCodes: z.array(z.number().int().min(100).max(599)).nullish(),
});

const tlsSchema = z.looseObject({
  mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).nullish(),
  sni: z.string().min(1).nullish(),
  caCertificates: z.string().min(1).nullish(),
  credentialName: z.string().nullish(),
  insecureSkipVerify: z.boolean().nullish(),
});

const policyFields = {
  loadBalancer: loadBalancerSchema.nullish(),
  connectionPool: connectionPoolSchema.nullish(),
  outlierDetection: outlierSchema.nullish(),
  tls: tlsSchema.nullish(),
};

const trafficPolicySchema = z.looseObject({
  ...policyFields,
  portLevelSettings: z
    .array(z.looseObject({ port: z.looseObject({ number: portNumber }), ...policyFields }))
    .superRefine((list, ctx) => {
      const seen = new Map<number, number>();
      list.forEach((p, i) => {
        const first = seen.get(p.port.number);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'port', 'number'], message: `duplicates portLevelSettings[${first}]` });
        else seen.set(p.port.number, i);
      });
    })
    .nullish(),
  tunnel: z.unknown().nullish(),
  proxyProtocol: z.unknown().nullish(),
  retryBudget: z.unknown().nullish(),
});

export const destinationRuleSchema = resourceSchema.extend({
  spec: z.looseObject({
    host: z.string().min(1),
    trafficPolicy: trafficPolicySchema.nullish(),
    subsets: z
      .array(z.looseObject({ name: z.string().min(1), labels: labelMap.nullish(), trafficPolicy: trafficPolicySchema.nullish() }))
      .superRefine((list, ctx) => {
        const seen = new Map<string, number>();
        list.forEach((s, i) => {
          const first = seen.get(s.name);
          if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicates the name of subsets[${first}] (${JSON.stringify(s.name)})` });
          else seen.set(s.name, i);
        });
      })
      .nullish(),
    exportTo: z.array(z.string()).nullish(),
    workloadSelector: z.unknown().nullish(),
  }),
});

type DrSpec = z.infer<typeof destinationRuleSchema>['spec'];
type TrafficPolicySpec = z.infer<typeof trafficPolicySchema>;
type PolicyFields = Pick<TrafficPolicySpec, 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'>;
type SubsetSpec = NonNullable<DrSpec['subsets']>[number];

// ---- public API -------------------------------------------------------------------------------------

export interface DrCompileContext {
  byHostPort?: MeshModel['byHostPort'] | undefined;
  services: readonly ServiceInfo[];
  /** The waypoint's namespace: its rules come first, and `exportTo` is read against it. */
  waypointNamespace?: string | undefined;
  /** Istio's root (mesh config) namespace. Default `istio-system`. */
  rootNamespace?: string | undefined;
}

/** Envoy outlier-detection defaults (`envoy/config/cluster/v3/outlier_detection.proto`). */
export const OUTLIER_DEFAULTS = Object.freeze({
  consecutive5xxErrors: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
});

/** No DestinationRule: Istio's default load balancer (LEAST_REQUEST), no limits, no ejection. */
// Istio's own default is LEAST_REQUEST (cluster_traffic_policy.go defaultLBAlgorithm); this
// project's contract (README, issue on the core data path) is round robin until a DestinationRule
// says otherwise, so spreads are exact and predictable.
export { DEFAULT_TRAFFIC_POLICY } from '../default-route.js';

export interface DrCompileResult {
  policies: DestinationPolicies;
  problems: ConfigProblem[];
}

interface ParsedDr {
  resource: LoadedResource;
  spec: DrSpec;
  host: string;
}

/** Rules for one host in one namespace, merged. */
interface MergedDr {
  host: string;
  from: string[];
  trafficPolicy: TrafficPolicySpec | undefined;
  subsets: SubsetSpec[];
}

const DR_KIND = 'DestinationRule';
const DEFAULT_ROOT_NAMESPACE = 'istio-system';

export function compileDestinationRules(resources: readonly LoadedResource[], ctx: DrCompileContext): DrCompileResult {
  const problems: ConfigProblem[] = [];
  const parsed: ParsedDr[] = [];
  for (const r of resources) {
    if (r.kind !== DR_KIND) continue;
    const value = parseResource(destinationRuleSchema, r, problems);
    if (value === undefined) continue;
    if (value.spec.workloadSelector !== undefined && value.spec.workloadSelector !== null) {
      problems.push(problemFor(r, 'warning', 'spec.workloadSelector', 'DestinationRules with a workloadSelector apply to the selected sidecars, not to this waypoint; skipped'));
      continue;
    }
    warnUnsupported(r, value.spec, problems);
    const host = resolveShortname(value.spec.host, r.namespace);
    if (!ctx.services.some((s) => hostMatches(host, s.hostname))) {
      const hint = probableFqdn(host);
      problems.push(
        problemFor(
          r,
          'warning',
          'spec.host',
          hint !== undefined
            ? `${JSON.stringify(value.spec.host)} matches no Service: Istio does not expand "name.namespace" hosts; write ${hint} or the short name`
            : `${JSON.stringify(value.spec.host)} matches no Service this waypoint knows; the DestinationRule applies nowhere`,
        ),
      );
    }
    parsed.push({ resource: r, spec: value.spec, host });
  }
  parsed.sort((a, b) => compareByCreation(a.resource, b.resource));
  return { policies: new CompiledDestinationPolicies(parsed, ctx), problems };
}

class CompiledDestinationPolicies implements DestinationPolicies {
  private readonly byNamespace = new Map<string, ParsedDr[]>();
  private readonly servicesByHost = new Map<string, ServiceInfo>();
  private readonly ruleCache = new Map<string, MergedDr | undefined>();
  private readonly clusterCache = new Map<string, ReturnType<DestinationPolicies['forCluster']>>();
  private readonly wpNs: string | undefined;
  private readonly rootNs: string;

  constructor(rules: readonly ParsedDr[], ctx: DrCompileContext) {
    for (const r of rules) {
      const list = this.byNamespace.get(r.resource.namespace);
      if (list === undefined) this.byNamespace.set(r.resource.namespace, [r]);
      else list.push(r);
    }
    for (const s of ctx.services) this.servicesByHost.set(s.hostname, s);
    this.wpNs = ctx.waypointNamespace;
    this.rootNs = ctx.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  }

  /** The (merged) DestinationRule for a host, by Istio's namespace precedence. */
  ruleFor(hostname: string): MergedDr | undefined {
    if (this.ruleCache.has(hostname)) return this.ruleCache.get(hostname);
    const found = this.lookup(hostname);
    this.ruleCache.set(hostname, found);
    return found;
  }

  private lookup(hostname: string): MergedDr | undefined {
    const wp = this.wpNs;
    if (wp !== undefined) {
      const hit = mostSpecific(hostname, (this.byNamespace.get(wp) ?? []).filter((r) => exportedTo(r.spec.exportTo, wp, wp)));
      if (hit !== undefined) return hit;
    }
    const svcNs = this.servicesByHost.get(hostname)?.namespace;
    if (svcNs !== undefined) {
      const hit = mostSpecific(hostname, (this.byNamespace.get(svcNs) ?? []).filter((r) => wp === undefined || exportedTo(r.spec.exportTo, svcNs, wp)));
      if (hit !== undefined) return hit;
    }
    return mostSpecific(hostname, (this.byNamespace.get(this.rootNs) ?? []).filter((r) => wp === undefined || exportedTo(r.spec.exportTo, this.rootNs, wp)));
  }

  forCluster(hostname: string, port: number, subset?: string): ReturnType<DestinationPolicies['forCluster']> {
    const key = `${hostname}|${port}|${subset ?? ''}`;
    const cached = this.clusterCache.get(key);
    if (cached !== undefined) return cached;
    const out = this.compute(hostname, port, subset);
    this.clusterCache.set(key, out);
    return out;
  }

  private compute(hostname: string, port: number, subset: string | undefined): ReturnType<DestinationPolicies['forCluster']> {
    const dr = this.ruleFor(hostname);
    if (dr === undefined) return Object.freeze(subset !== undefined ? { policy: DEFAULT_TRAFFIC_POLICY, missingSubset: true } : { policy: DEFAULT_TRAFFIC_POLICY });
    const sub = subset === undefined ? undefined : dr.subsets.find((s) => s.name === subset);
    const fields = mergeSubsetPolicy(dr.trafficPolicy, sub?.trafficPolicy ?? undefined, port);
    const policy = convertPolicy(fields);
    if (subset !== undefined && sub === undefined) return Object.freeze({ policy, missingSubset: true });
    const subsetLabels: Labels | undefined = sub !== undefined ? Object.freeze({ ...(sub.labels ?? {}) }) : undefined;
    return Object.freeze(subsetLabels !== undefined ? { policy, subsetLabels } : { policy });
  }

  describe(): unknown {
    const hosts = [...this.servicesByHost.keys()].sort();
    const out: unknown[] = [];
    for (const h of hosts) {
      const dr = this.ruleFor(h);
      if (dr === undefined) continue;
      out.push({
        host: h,
        rule: dr.host,
        from: dr.from,
        subsets: dr.subsets.map((s) => ({ name: s.name, labels: s.labels ?? {} })),
        trafficPolicy: convertPolicy(mergeSubsetPolicy(dr.trafficPolicy, undefined, undefined)),
      });
    }
    return { destinationRules: out };
  }
}

/** Istio `MostSpecificHostMatch` over one namespace's rules, then `mergeDestinationRule`. */
function mostSpecific(hostname: string, rules: readonly ParsedDr[]): MergedDr | undefined {
  let best: string | undefined;
  for (const r of rules) {
    if (!hostMatches(r.host, hostname)) continue;
    if (best === undefined || hostSpecificity(r.host) > hostSpecificity(best)) best = r.host;
  }
  if (best === undefined) return undefined;
  let merged: MergedDr | undefined;
  for (const r of rules) {
    if (r.host !== best) continue;
    if (merged === undefined) {
      merged = { host: r.host, from: [`${r.resource.namespace}/${r.resource.name}`], trafficPolicy: r.spec.trafficPolicy ?? undefined, subsets: [...(r.spec.subsets ?? [])] };
      continue;
    }
    merged.from.push(`${r.resource.namespace}/${r.resource.name}`);
    for (const s of r.spec.subsets ?? []) if (!merged.subsets.some((m) => m.name === s.name)) merged.subsets.push(s);
    if (merged.trafficPolicy === undefined && r.spec.trafficPolicy) merged.trafficPolicy = r.spec.trafficPolicy;
  }
  return merged;
}

/** Istio `GetPortLevelTrafficPolicy`: a port-level entry replaces the whole policy (no inheritance). */
function portLevel(policy: TrafficPolicySpec | undefined, port: number | undefined): { fields: PolicyFields | undefined; portLevel: boolean } {
  if (policy === undefined) return { fields: undefined, portLevel: false };
  if (port !== undefined) {
    const p = (policy.portLevelSettings ?? []).find((s) => s.port.number === port);
    if (p !== undefined) return { fields: p, portLevel: true };
  }
  return { fields: policy, portLevel: false };
}

/** Istio `MergeSubsetTrafficPolicy`. */
function mergeSubsetPolicy(top: TrafficPolicySpec | undefined, subset: TrafficPolicySpec | undefined, port: number | undefined): PolicyFields | undefined {
  const original = portLevel(top, port).fields;
  if (subset === undefined) return original;
  const { fields: sub, portLevel: hasPortLevel } = portLevel(subset, port);
  if (original === undefined) return sub;
  if (sub === undefined) return original;
  return {
    loadBalancer: sub.loadBalancer != null || hasPortLevel ? sub.loadBalancer : original.loadBalancer,
    connectionPool: sub.connectionPool != null || hasPortLevel ? sub.connectionPool : original.connectionPool,
    outlierDetection: sub.outlierDetection != null || hasPortLevel ? sub.outlierDetection : original.outlierDetection,
    tls: sub.tls != null || hasPortLevel ? sub.tls : original.tls,
  };
}

function convertPolicy(fields: PolicyFields | undefined): TrafficPolicy {
  if (fields === undefined) return DEFAULT_TRAFFIC_POLICY;
  const connectionPool = convertConnectionPool(fields.connectionPool ?? undefined);
  const outlierDetection = convertOutlier(fields.outlierDetection ?? undefined);
  return Object.freeze({
    loadBalancer: convertLoadBalancer(fields.loadBalancer ?? undefined),
    ...(connectionPool !== undefined ? { connectionPool } : {}),
    ...(outlierDetection !== undefined ? { outlierDetection } : {}),
    ...(fields.tls?.mode === 'SIMPLE'
      ? {
          tls: Object.freeze({
            sni: fields.tls.sni ?? undefined,
            caFile: fields.tls.caCertificates ?? undefined,
            insecureSkipVerify: fields.tls.insecureSkipVerify === true,
          }),
        }
      : {}),
  });
}

function convertLoadBalancer(lb: z.infer<typeof loadBalancerSchema> | undefined): LoadBalancer {
  const ch = lb?.consistentHash;
  if (ch) {
    const ttlMs = ch.httpCookie?.ttl ? parseDurationMs(ch.httpCookie.ttl) : undefined;
    return Object.freeze({
      kind: 'CONSISTENT_HASH' as const,
      ...(ch.httpHeaderName ? { header: ch.httpHeaderName.toLowerCase() } : {}),
      ...(ch.httpCookie
        ? {
            cookie: Object.freeze({
              name: ch.httpCookie.name,
              ...(ttlMs !== undefined ? { ttlSeconds: ttlMs / 1000 } : {}),
              ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}),
            }),
          }
        : {}),
      ...(ch.useSourceIp ? { sourceIp: true } : {}),
      ...(ch.httpQueryParameterName ? { queryParameter: ch.httpQueryParameterName } : {}),
    });
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
    case 'PASSTHROUGH': // no original-destination clusters here: treated as ROUND_ROBIN (warned)
      return { kind: 'ROUND_ROBIN' };
    case 'RANDOM':
      return { kind: 'RANDOM' };
    case 'LEAST_REQUEST':
    case 'LEAST_CONN': // deprecated alias
    case 'UNSPECIFIED':
      return { kind: 'LEAST_REQUEST' };
    default: // unset: this project's default (round robin), the same as with no DestinationRule
      return { kind: 'ROUND_ROBIN' };
  }
}

/** Istio `applyConnectionPool`: only values > 0 replace Envoy's (unlimited) defaults. */
function convertConnectionPool(cp: z.infer<typeof connectionPoolSchema> | undefined): ConnectionPoolLimits | undefined {
  if (cp === undefined) return undefined;
  const out: ConnectionPoolLimits = {};
  const positive = (v: number | null | undefined): v is number => typeof v === 'number' && v > 0;
  if (positive(cp.tcp?.maxConnections)) out.maxConnections = cp.tcp.maxConnections;
  if (positive(cp.http?.http1MaxPendingRequests)) out.http1MaxPendingRequests = cp.http.http1MaxPendingRequests;
  if (positive(cp.http?.http2MaxRequests)) out.http2MaxRequests = cp.http.http2MaxRequests;
  if (positive(cp.http?.maxRequestsPerConnection)) out.maxRequestsPerConnection = cp.http.maxRequestsPerConnection;
  if (positive(cp.http?.maxRetries)) out.maxRetries = cp.http.maxRetries;
  return Object.freeze(out);
}

/**
 * Istio `applyOutlierDetection` over Envoy's defaults: consecutive 5xx defaults to 5 (0 turns it
 * off); consecutive gateway errors only count when set (Envoy enforces them at 0% otherwise).
 */
function convertOutlier(od: z.infer<typeof outlierSchema> | undefined): OutlierDetectionPolicy | undefined {
  if (od === undefined) return undefined;
  const interval = od.interval ? parseDurationMs(od.interval) : undefined;
  const base = od.baseEjectionTime ? parseDurationMs(od.baseEjectionTime) : undefined;
  return Object.freeze({
    consecutive5xxErrors: od.consecutive5xxErrors ?? OUTLIER_DEFAULTS.consecutive5xxErrors,
    ...(od.consecutiveGatewayErrors !== undefined && od.consecutiveGatewayErrors !== null ? { consecutiveGatewayErrors: od.consecutiveGatewayErrors } : {}),
    intervalMs: interval !== undefined && interval > 0 ? interval : OUTLIER_DEFAULTS.intervalMs,
    baseEjectionTimeMs: base !== undefined && base > 0 ? base : OUTLIER_DEFAULTS.baseEjectionTimeMs,
    maxEjectionPercent: od.maxEjectionPercent !== undefined && od.maxEjectionPercent !== null && od.maxEjectionPercent > 0 ? od.maxEjectionPercent : OUTLIER_DEFAULTS.maxEjectionPercent,
  });
}

/** Warnings for fields that validate but that this waypoint does not act on. */
function warnUnsupported(r: LoadedResource, spec: DrSpec, problems: ConfigProblem[]): void {
  const warn = (field: string, message: string): void => {
    problems.push(problemFor(r, 'warning', field, message));
  };
  const visit = (p: PolicyFields | undefined | null, at: string): void => {
    if (p === undefined || p === null) return;
    const lb = p.loadBalancer;
    if (lb?.simple === 'PASSTHROUGH') warn(`${at}.loadBalancer.simple`, 'PASSTHROUGH is treated as ROUND_ROBIN by this waypoint');
    if (lb?.localityLbSetting != null) warn(`${at}.loadBalancer.localityLbSetting`, 'locality load balancing is not supported; ignored');
    if (lb?.zoneAwareLbSetting != null) warn(`${at}.loadBalancer.zoneAwareLbSetting`, 'zone-aware load balancing is not supported; ignored');
    if (lb?.warmup != null || lb?.warmupDurationSecs != null) warn(`${at}.loadBalancer.warmup`, 'slow start (warmup) is not supported; ignored');
    if (lb?.consistentHash?.maglev != null) warn(`${at}.loadBalancer.consistentHash.maglev`, 'a ring hash is used instead of Maglev (same stickiness, different placement)');
    const od = p.outlierDetection;
    if (od?.consecutiveErrors != null) warn(`${at}.outlierDetection.consecutiveErrors`, 'deprecated and ignored by Istio; use consecutive5xxErrors or consecutiveGatewayErrors');
    if (od?.splitExternalLocalOriginErrors) warn(`${at}.outlierDetection.splitExternalLocalOriginErrors`, 'not supported; local-origin failures count as 503s');
    if ((od?.outlierDetectionHttpErrorCodes?.length ?? 0) > 0) warn(`${at}.outlierDetection.outlierDetectionHttpErrorCodes`, 'not supported; 5xx responses count as errors');
    if ((od?.minHealthPercent ?? 0) > 0) warn(`${at}.outlierDetection.minHealthPercent`, 'panic mode is not supported; ejected hosts are never used');
    if (p.tls?.mode === 'MUTUAL') warn(`${at}.tls.mode`, 'MUTUAL TLS origination is not supported by this waypoint; ignored');
    if (p.tls?.mode === 'SIMPLE' && (p.tls.credentialName ?? '') !== '') warn(`${at}.tls.credentialName`, 'not supported (no Secret access); use caCertificates');
  };
  const visitPolicy = (tp: TrafficPolicySpec | undefined | null, at: string): void => {
    if (tp === undefined || tp === null) return;
    visit(tp, at);
    (tp.portLevelSettings ?? []).forEach((p, i) => visit(p, `${at}.portLevelSettings[${i}]`));
    if (tp.tunnel != null) warn(`${at}.tunnel`, 'not supported; ignored');
    if (tp.proxyProtocol != null) warn(`${at}.proxyProtocol`, 'not supported; ignored');
    if (tp.retryBudget != null) warn(`${at}.retryBudget`, 'not supported; ignored');
  };
  visitPolicy(spec.trafficPolicy, 'spec.trafficPolicy');
  (spec.subsets ?? []).forEach((s, i) => visitPolicy(s.trafficPolicy, `spec.subsets[${i}].trafficPolicy`));
}
