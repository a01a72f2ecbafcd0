/**
 * Compiles AuthorizationPolicies into matchers once per configuration snapshot, and decides which
 * policies apply at this waypoint, as istiod attaches them: `targetRefs` to this waypoint's Gateway (from
 * its namespace), to GatewayClass `istio-waypoint` (from the root namespace), or to a Service /
 * ServiceEntry (from the service's namespace). `selector` and namespace-wide policies never apply
 * at a waypoint.
 */
import { apiGroup } from '../config/kinds.js';
import { SourceIndex } from './candidates.js';
import type { ConfigProblem, LoadedResource, ServiceInfo } from '../config/types.js';
import {
  Attr,
  FieldMatcher,
  isDropped,
  isSourceAttr,
  methodMask,
  pathMask,
  portMask,
  type AttrId,
  type DroppedRule,
  type Entry,
  type RuleSlot,
  type RuleVariant,
} from './rules.js';
import {
  authorizationPolicySchema,
  canonicalGroup,
  conditionKind,
  DRY_RUN_ANNOTATION,
  parseGoBool,
  parseWith,
  requestAuthenticationSchema,
  type AuthorizationPolicySpec,
  type ConditionKind,
  type ConditionSpec,
  type OperationSpec,
  type RuleSpec,
  type SourceSpec,
  type TargetRef,
} from './schema.js';
import type { AuthzDecision, DryRunResult, PolicyAction, PolicyContext } from './types.js';
import { compileJwtRules } from './authn/compile.js';
import type { JwtRule } from './authn/types.js';
import {
  addHeaderMatcher,
  addNamespaceMatcher,
  addServiceAccountMatcher,
  addStringMatcher,
  addTrustDomainMatcher,
  containsPathTemplate,
  parseCidr,
  parsePortValue,
  pathTemplateRegex,
  StringPatterns,
  type CidrRange,
} from './values.js';

export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';
const SECURITY_GROUP = 'security.istio.io';
const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The dry-run report of decisions without dry-run policies: one shared, frozen empty list. */
const NO_DRY_RUN: DryRunResult[] = [];
Object.freeze(NO_DRY_RUN);

// ---- compiled policies ---------------------------------------------------------------------------

/** Where a policy applies at this waypoint. */
export interface PolicyAttachment {
  /** Via a Gateway ref to this waypoint or the root-namespace GatewayClass `istio-waypoint`. */
  waypoint: 'Gateway' | 'GatewayClass' | undefined;
  /** `namespace/name` of Services it targets (that exist). */
  services: string[];
  /** `namespace/name` of ServiceEntries it targets (that exist). */
  serviceEntries: string[];
}

export class CompiledPolicy {
  constructor(
    /** `namespace/name`. */
    readonly id: string,
    readonly namespace: string,
    readonly name: string,
    readonly file: string,
    readonly action: PolicyAction,
    readonly dryRun: boolean,
    readonly provider: string | undefined,
    /** Number of entries in `spec.rules`. */
    readonly ruleCount: number,
    /** One slot per rule, for HTTP traffic. */
    readonly http: readonly RuleSlot[],
    /** One slot per rule, for TCP traffic. */
    readonly tcp: readonly RuleSlot[],
    /** The rules that can match, per protocol, in order. */
    readonly httpLive: readonly RuleVariant[],
    readonly tcpLive: readonly RuleVariant[],
    readonly attachment: PolicyAttachment,
    /** The targets as written (`Gateway waypoint`, `Service reviews`, ...). */
    readonly targets: readonly string[],
    /**
     * Set when the policy as written could not be compiled and this deny-all stands in for it
     * (`compilePolicies` with `failClosed`): why, for logs and dumps.
     */
    readonly failedClosed?: string | undefined,
  ) {}

  get appliesSomewhere(): boolean {
    return this.attachment.waypoint !== undefined || this.attachment.services.length > 0 || this.attachment.serviceEntries.length > 0;
  }
}

/** Precomputed decisions of a policy set that no single rule decides. */
interface SetDecisions {
  /** No CUSTOM/DENY rule matched and no ALLOW policy applies. */
  readonly noAllowPolicies: AuthzDecision;
  /** ALLOW policies apply and none matched. */
  readonly noAllowMatched: AuthzDecision;
  /** The request path cannot be normalised and a path matcher needs it. */
  readonly badPath: AuthzDecision;
}

/** The policies that apply to one kind of traffic, split by action. Built once, read per request. */
export class PolicySet {
  readonly custom: readonly CompiledPolicy[];
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly audit: readonly CompiledPolicy[];
  /** Dry-run ALLOW/DENY policies: evaluated and reported, never enforced. */
  readonly dryRun: readonly CompiledPolicy[];
  /** True when an enforced HTTP rule uses `paths` / `notPaths` (an unnormalisable path is then denied). */
  readonly needsPath: boolean;
  readonly decisions: SetDecisions;
  /** Per-client candidate rules for HTTP and TCP traffic. */
  readonly httpIndex: SourceIndex;
  readonly tcpIndex: SourceIndex;

  constructor(
    /** What the set is for: `service <hostname>` or `waypoint`. */
    readonly target: string,
    /** Every applicable policy, ordered by namespace/name. */
    readonly policies: readonly CompiledPolicy[],
  ) {
    const enforced = (a: PolicyAction): CompiledPolicy[] => policies.filter((p) => p.action === a && !p.dryRun);
    this.custom = enforced('CUSTOM');
    this.deny = enforced('DENY');
    this.allow = enforced('ALLOW');
    this.audit = enforced('AUDIT');
    this.dryRun = policies.filter((p) => p.dryRun);
    this.needsPath = [...this.custom, ...this.deny, ...this.allow].some((p) => p.httpLive.some((r) => r.usesPath));
    this.httpIndex = new SourceIndex(this, 'http');
    this.tcpIndex = new SourceIndex(this, 'tcp');
    const n = this.allow.length;
    const enforcedCount = this.custom.length + this.deny.length + n;
    const noAllowReason =
      policies.length === 0
        ? 'allowed: no policy applies'
        : enforcedCount === 0
          ? `allowed: no enforced policy applies (${policies.length} AUDIT or dry-run ${policies.length === 1 ? 'policy' : 'policies'} only)`
          : `allowed: no ${this.custom.length > 0 ? 'CUSTOM or DENY' : 'DENY'} policy matched and no ALLOW policy applies`;
    this.decisions = {
      noAllowPolicies: frozenDecision({ allowed: true, action: 'NONE', reason: noAllowReason }),
      noAllowMatched: frozenDecision({
        allowed: false,
        action: 'ALLOW',
        reason: `denied: no ALLOW policy matched (${n} ALLOW ${n === 1 ? 'policy applies' : 'policies apply'})`,
      }),
      badPath: frozenDecision({ allowed: false, action: 'NONE', reason: 'denied: the request path cannot be normalised (Envoy rejects it with 400)' }),
    };
  }

  get size(): number {
    return this.policies.length;
  }
}

function frozenDecision(d: Omit<AuthzDecision, 'dryRun'>): AuthzDecision {
  return Object.freeze({ ...d, dryRun: NO_DRY_RUN });
}

/** A JSON-able summary of the compiled policies (admin config dumps). */
export interface PolicyDump {
  waypoint: string;
  rootNamespace: string;
  /** Policies that apply somewhere at this waypoint. */
  count: number;
  policies: Array<{
    policy: string;
    file: string;
    action: PolicyAction;
    dryRun: boolean;
    provider?: string;
    rules: number;
    targets: string[];
    /** Present when the policy could not be compiled and denies every request at its targets. */
    failedClosed?: string;
    /** Where it applies here: `waypoint (Gateway)`, `Service default/reviews`, ... Empty: nowhere. */
    appliesTo: string[];
  }>;
}

export class CompiledPolicies {
  /** Number of policies that apply somewhere at this waypoint. */
  readonly count: number;
  private readonly waypointSet: PolicySet;
  private readonly cache = new Map<string, PolicySet>();
  private readonly byService = new Map<string, CompiledPolicy[]>();
  private readonly byServiceEntry = new Map<string, CompiledPolicy[]>();
  private readonly serviceByHost = new Map<string, ServiceInfo>();
  private readonly serviceEntriesByHost = new Map<string, string[]>();

  constructor(
    /** Every valid AuthorizationPolicy, ordered by namespace/name. */
    readonly all: readonly CompiledPolicy[],
    private readonly ctx: PolicyContext,
    services: readonly ServiceInfo[],
    serviceEntries: readonly ServiceEntryInfo[],
    /** Valid RequestAuthentications with where they apply, ordered by namespace/name. */
    readonly authentications: readonly AttachedAuthentication[] = [],
  ) {
    this.count = all.filter((p) => p.appliesSomewhere).length;
    this.waypointSet = new PolicySet('waypoint', all.filter((p) => p.attachment.waypoint !== undefined));
    for (const p of all) {
      for (const key of p.attachment.services) push(this.byService, key, p);
      for (const key of p.attachment.serviceEntries) push(this.byServiceEntry, key, p);
    }
    for (const s of services) if (!this.serviceByHost.has(s.hostname)) this.serviceByHost.set(s.hostname, s);
    for (const se of serviceEntries) for (const h of se.hosts) push(this.serviceEntriesByHost, h, `${se.namespace}/${se.name}`);
    this.waypointJwtRules = Object.freeze(authentications.filter((a) => a.attachment.waypoint !== undefined).flatMap((a) => a.rules));
  }

  private readonly waypointJwtRules: readonly JwtRule[];
  private readonly jwtCache = new Map<string, readonly JwtRule[]>();

  /**
   * The JWT rules of the RequestAuthentications that apply to traffic to a service (by
   * hostname): mesh-wide and waypoint ones plus the service's own, as `forService` picks policies.
   */
  jwtRulesForService(hostname: string): readonly JwtRule[] {
    if (this.authentications.length === 0) return this.waypointJwtRules;
    const cached = this.jwtCache.get(hostname);
    if (cached !== undefined) return cached;
    const host = hostname.toLowerCase();
    const svc = this.serviceByHost.get(host);
    const keys: { services: readonly string[]; entries: readonly string[] } =
      svc !== undefined ? { services: [`${svc.namespace}/${svc.name}`], entries: [] } : { services: [], entries: this.serviceEntriesByHost.get(host) ?? [] };
    const rules = Object.freeze(
      this.authentications
        .filter((a) => a.attachment.waypoint !== undefined || a.attachment.services.some((k) => keys.services.includes(k)) || a.attachment.serviceEntries.some((k) => keys.entries.includes(k)))
        .flatMap((a) => a.rules),
    );
    this.jwtCache.set(hostname, rules);
    return rules;
  }

  /** JWT rules for workload-addressed traffic: mesh-wide and waypoint RequestAuthentications only. */
  jwtRulesForWorkload(): readonly JwtRule[] {
    return this.waypointJwtRules;
  }

  /**
   * Policies for traffic to a service (by hostname): Gateway and GatewayClass policies plus the
   * service's own. A Kubernetes Service with that hostname wins over ServiceEntries declaring it;
   * an unknown hostname gets the waypoint-wide policies only.
   */
  forService(hostname: string): PolicySet {
    const cached = this.cache.get(hostname);
    if (cached !== undefined) return cached;
    const host = hostname.toLowerCase();
    const svc = this.serviceByHost.get(host);
    const entries = this.serviceEntriesByHost.get(host);
    if (svc === undefined && entries === undefined) return this.waypointSet;
    const own: CompiledPolicy[] = [];
    if (svc !== undefined) own.push(...(this.byService.get(`${svc.namespace}/${svc.name}`) ?? []));
    else for (const key of entries ?? []) own.push(...(this.byServiceEntry.get(key) ?? []));
    const merged = [...new Set([...this.waypointSet.policies, ...own])].sort(comparePolicies);
    const set = new PolicySet(`service ${host}`, merged);
    this.cache.set(hostname, set);
    return set;
  }

  /** Policies for workload-addressed (pod IP) traffic: Gateway and GatewayClass policies only. */
  forWorkload(): PolicySet {
    return this.waypointSet;
  }

  describe(): PolicyDump {
    return {
      waypoint: `${this.ctx.waypoint.namespace}/${this.ctx.waypoint.name}`,
      rootNamespace: this.ctx.rootNamespace,
      count: this.count,
      policies: this.all.map((p) => ({
        policy: p.id,
        file: p.file,
        action: p.action,
        dryRun: p.dryRun,
        ...(p.provider !== undefined ? { provider: p.provider } : {}),
        rules: p.ruleCount,
        targets: [...p.targets],
        ...(p.failedClosed !== undefined ? { failedClosed: p.failedClosed } : {}),
        appliesTo: [
          ...(p.attachment.waypoint !== undefined ? [`waypoint (${p.attachment.waypoint})`] : []),
          ...p.attachment.services.map((s) => `Service ${s}`),
          ...p.attachment.serviceEntries.map((s) => `ServiceEntry ${s}`),
        ],
      })),
    };
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

function comparePolicies(a: CompiledPolicy, b: CompiledPolicy): number {
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// ---- compilePolicies -----------------------------------------------------------------------------

/** A RequestAuthentication and where it applies. */
export interface AttachedAuthentication {
  /** `namespace/name`. */
  readonly id: string;
  /** `waypoint` is also set for a mesh-wide one (root namespace, no selector or targetRefs). */
  readonly attachment: PolicyAttachment;
  readonly rules: readonly JwtRule[];
}

interface ServiceEntryInfo {
  namespace: string;
  name: string;
  hosts: string[];
}

export interface CompilePoliciesOptions {
  /**
   * A policy that cannot be compiled is replaced by one that denies every request at its targets
   * (when even its targets cannot be read: at every Service of its namespace bound to this
   * waypoint), and its errors only skip it. Without this (files), such a policy is an error that
   * rejects the whole configuration. Either way a broken policy never fails open.
   */
  failClosed?: boolean | undefined;
}

export function compilePolicies(
  resources: readonly LoadedResource[],
  ctx: PolicyContext,
  opts: CompilePoliciesOptions = {},
): { policies: CompiledPolicies; problems: ConfigProblem[] } {
  if (ctx.rootNamespace === '') ctx = { ...ctx, rootNamespace: DEFAULT_ROOT_NAMESPACE };
  const problems: ConfigProblem[] = [];
  const gateways = new Set<string>();
  const serviceEntries: ServiceEntryInfo[] = [];
  for (const r of resources) {
    if (r.kind === 'Gateway' && apiGroup(r.apiVersion) === GATEWAY_API_GROUP) gateways.add(`${r.namespace}/${r.name}`);
    if (r.kind === 'ServiceEntry') serviceEntries.push({ namespace: r.namespace, name: r.name, hosts: serviceEntryHosts(r) });
  }
  const env: CompileEnv = {
    ctx,
    gateways,
    services: new Map(ctx.services.map((s) => [`${s.namespace}/${s.name}`, s])),
    serviceEntries: new Set(serviceEntries.map((s) => `${s.namespace}/${s.name}`)),
  };

  const compiled: CompiledPolicy[] = [];
  for (const r of resources) {
    if (!isSecurityKind(r, 'AuthorizationPolicy')) continue;
    if (opts.failClosed !== true) {
      const p = compileOne(r, env, problems);
      if (p !== undefined) compiled.push(p);
      continue;
    }
    const own: Problems = [];
    const p = compileOne(r, env, own);
    const errors = own.filter((q) => q.severity === 'error');
    if (p !== undefined && errors.length === 0) {
      compiled.push(p);
      problems.push(...own);
      continue;
    }
    problems.push(...errors.map((q) => ({ ...q, resourceSkipped: true })));
    compiled.push(failClosedPolicy(r, errors, env, problems));
  }
  const authentications: AttachedAuthentication[] = [];
  for (const r of resources) {
    if (!isSecurityKind(r, 'RequestAuthentication')) continue;
    const a = compileRequestAuthentication(r, env, problems);
    if (a !== undefined) authentications.push(a);
  }
  authentications.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  compiled.sort(comparePolicies);
  return { policies: new CompiledPolicies(compiled, ctx, ctx.services, serviceEntries, authentications), problems };
}

function isSecurityKind(r: LoadedResource, kind: string): boolean {
  return r.kind === kind && (r.apiVersion === '' || apiGroup(r.apiVersion) === SECURITY_GROUP);
}

function serviceEntryHosts(r: LoadedResource): string[] {
  const spec = r.raw['spec'];
  if (typeof spec !== 'object' || spec === null) return [];
  const hosts = (spec as Record<string, unknown>)['hosts'];
  return Array.isArray(hosts) ? hosts.filter((h): h is string => typeof h === 'string').map((h) => h.toLowerCase()) : [];
}

interface CompileEnv {
  ctx: PolicyContext;
  gateways: ReadonlySet<string>;
  services: ReadonlyMap<string, ServiceInfo>;
  serviceEntries: ReadonlySet<string>;
}

type Problems = ConfigProblem[];

function ident(r: LoadedResource): Pick<ConfigProblem, 'file' | 'kind' | 'namespace' | 'name'> {
  return { file: r.file, kind: r.kind, namespace: r.namespace, name: r.name };
}

function warn(problems: Problems, r: LoadedResource, field: string | undefined, message: string): void {
  problems.push({ severity: 'warning', ...ident(r), ...(field !== undefined ? { field } : {}), message });
}

function compileOne(r: LoadedResource, env: CompileEnv, problems: Problems): CompiledPolicy | undefined {
  const parsed = parseWith(authorizationPolicySchema, r.raw);
  if (!parsed.ok) {
    for (const issue of parsed.issues) {
      problems.push({ severity: 'error', ...ident(r), ...(issue.field !== '' ? { field: issue.field } : {}), message: issue.message });
    }
    return undefined;
  }
  const spec: AuthorizationPolicySpec = parsed.value.spec ?? {};
  const action: PolicyAction = spec.action ?? 'ALLOW';
  const dryRunValue = parsed.value.metadata.annotations?.[DRY_RUN_ANNOTATION];
  const dryRun = typeof dryRunValue === 'string' && parseGoBool(dryRunValue) === true;
  const id = `${r.namespace}/${r.name}`;
  const provider = spec.provider?.name ?? undefined;

  const errorsBefore = problems.filter((p) => p.severity === 'error').length;
  const rules = spec.rules ?? [];
  const built = rules.map((rule, i) => buildRule(rule, i, r, env.ctx, problems));
  if (problems.filter((p) => p.severity === 'error').length > errorsBefore) return undefined;

  const decisionFor = (index: number): AuthzDecision => {
    const reason =
      action === 'ALLOW'
        ? `allowed by ALLOW policy ${id} rule ${index}`
        : action === 'CUSTOM'
          ? `denied by CUSTOM policy ${id} rule ${index} unless ext_authz provider ${JSON.stringify(provider ?? '')} allows it (unknown providers, and gRPC providers on TCP: fail closed)`
          : `${action === 'DENY' ? 'denied' : 'audited'} by ${action} policy ${id} rule ${index}`;
    const custom = action === 'CUSTOM' && provider !== undefined ? { provider } : {};
    return frozenDecision({ allowed: action === 'ALLOW' || action === 'AUDIT', action: action === 'AUDIT' ? 'NONE' : action, policy: id, rule: index, reason, ...custom });
  };
  const http: RuleSlot[] = [];
  const tcp: RuleSlot[] = [];
  for (const b of built) {
    const decision = decisionFor(b.index);
    http.push(variantFor(b, action, 'http', decision));
    tcp.push(variantFor(b, action, 'tcp', decision));
  }

  policyWarnings(r, spec, action, built, problems);
  const { attachment, targets } = attach(r, spec, env, problems);
  return new CompiledPolicy(
    id,
    r.namespace,
    r.name,
    r.file,
    action,
    dryRun,
    provider,
    rules.length,
    http,
    tcp,
    http.filter((s): s is RuleVariant => !isDropped(s)),
    tcp.filter((s): s is RuleVariant => !isDropped(s)),
    attachment,
    targets,
  );
}

// ---- fail closed ---------------------------------------------------------------------------------

const TARGET_KINDS: Readonly<Record<string, string>> = {
  Gateway: GATEWAY_API_GROUP,
  GatewayClass: GATEWAY_API_GROUP,
  Service: 'core',
  ServiceEntry: 'networking.istio.io',
};

/**
 * The targets of a policy that failed to compile, when they can still be read: a problem in the
 * targets (or in the document's shape) makes them unreadable, as does a target of a kind a
 * waypoint does not know. `[]`: the policy has no targets (it applies nowhere at a waypoint).
 */
export function readableTargets(raw: Readonly<Record<string, unknown>>, errorFields: readonly string[]): TargetRef[] | undefined {
  if (errorFields.some((f) => f === '' || f === 'spec' || f === 'metadata' || f.startsWith('spec.targetRef'))) return undefined;
  const spec = raw['spec'];
  if (spec === undefined || spec === null) return [];
  if (typeof spec !== 'object' || Array.isArray(spec)) return undefined;
  const s = spec as Record<string, unknown>;
  const list = s['targetRefs'] ?? (s['targetRef'] !== undefined && s['targetRef'] !== null ? [s['targetRef']] : []);
  if (!Array.isArray(list)) return undefined;
  const refs: TargetRef[] = [];
  for (const item of list as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { kind, name, group } = item as Record<string, unknown>;
    if (typeof kind !== 'string' || typeof name !== 'string' || name === '') return undefined;
    const wanted = TARGET_KINDS[kind];
    if (wanted === undefined || canonicalGroup(typeof group === 'string' ? group : undefined) !== wanted) return undefined;
    refs.push({ kind, name, ...(typeof group === 'string' ? { group } : {}) });
  }
  return refs;
}

/**
 * What stands in for a policy that cannot be compiled: one DENY rule matching everything, at the
 * policy's targets, or at every bound Service of its namespace when the targets cannot be read.
 */
function failClosedPolicy(r: LoadedResource, errors: readonly ConfigProblem[], env: CompileEnv, problems: Problems): CompiledPolicy {
  const id = `${r.namespace}/${r.name}`;
  const refs = readableTargets(r.raw, errors.map((e) => e.field ?? ''));
  let attachment: PolicyAttachment;
  let targets: string[];
  let scope: string;
  if (refs === undefined) {
    const services = env.ctx.services.filter((svc) => svc.namespace === r.namespace && svc.bound).map((svc) => `${svc.namespace}/${svc.name}`);
    attachment = { waypoint: undefined, services, serviceEntries: [] };
    targets = [`every bound Service of namespace ${r.namespace}`];
    scope = `its targets cannot be read, so every Service of namespace ${r.namespace} bound to this waypoint (${services.length})`;
  } else {
    ({ attachment, targets } = attach(r, { targetRefs: refs }, env, problems));
    scope = refs.length === 0 ? 'it has no targets, so nothing' : `its targets (${targets.join(', ')})`;
  }
  const reason = `denied: AuthorizationPolicy ${id} cannot be compiled (${errors.map((e) => (e.field !== undefined ? `${e.field}: ${e.message}` : e.message)).join('; ')}); fail closed`;
  warn(problems, r, undefined, `cannot be compiled: ${scope} deny every request until it is fixed (fail closed)`);
  const decision = frozenDecision({ allowed: false, action: 'DENY', policy: id, rule: 0, reason });
  const everything: BuiltRule = { index: 0, from: null, to: null, when: [] };
  const http = [variantFor(everything, 'DENY', 'http', decision)];
  const tcp = [variantFor(everything, 'DENY', 'tcp', decision)];
  return new CompiledPolicy(
    id,
    r.namespace,
    r.name,
    r.file,
    'DENY',
    false,
    undefined,
    1,
    http,
    tcp,
    http.filter((v): v is RuleVariant => !isDropped(v)),
    tcp.filter((v): v is RuleVariant => !isDropped(v)),
    attachment,
    targets,
    reason,
  );
}

// ---- attachment ----------------------------------------------------------------------------------

function attach(r: LoadedResource, spec: Pick<AuthorizationPolicySpec, 'selector' | 'targetRef' | 'targetRefs'>, env: CompileEnv, problems: Problems): { attachment: PolicyAttachment; targets: string[] } {
  const attachment: PolicyAttachment = { waypoint: undefined, services: [], serviceEntries: [] };
  const { ctx } = env;
  const refs: Array<{ ref: TargetRef; field: string }> =
    spec.targetRefs !== undefined && spec.targetRefs !== null && spec.targetRefs.length > 0
      ? spec.targetRefs.map((ref, i) => ({ ref, field: `spec.targetRefs[${i}]` }))
      : spec.targetRef !== undefined && spec.targetRef !== null
        ? [{ ref: spec.targetRef, field: 'spec.targetRef' }]
        : [];
  const targets = refs.map(({ ref }) => `${ref.kind} ${ref.name}`);
  if (refs.length === 0) {
    if (spec.selector !== undefined && spec.selector !== null) {
      warn(problems, r, 'spec.selector', 'selector policies are not enforced by a waypoint (ztunnel or a sidecar enforces them at the workload); the policy does not apply here. Use targetRefs to attach it to the waypoint Gateway or a Service');
    } else {
      warn(
        problems,
        r,
        undefined,
        `has no targetRefs: a namespace-wide policy is not enforced by a waypoint. Target the waypoint Gateway, a Service, or (from ${ctx.rootNamespace}) GatewayClass ${WAYPOINT_GATEWAY_CLASS} to apply it here`,
      );
    }
    return { attachment, targets };
  }
  const wp = ctx.waypoint;
  for (const { ref, field } of refs) {
    const group = canonicalGroup(ref.group);
    switch (ref.kind) {
      case 'Gateway': {
        if (group !== GATEWAY_API_GROUP) break; // rejected by validation
        if (r.namespace === wp.namespace && ref.name === wp.name) {
          attachment.waypoint ??= 'Gateway';
        } else if (ref.name === wp.name && r.namespace !== wp.namespace && !env.gateways.has(`${r.namespace}/${ref.name}`)) {
          warn(problems, r, field, `targets Gateway ${r.namespace}/${ref.name}, but this waypoint is ${wp.namespace}/${wp.name}: a Gateway reference only reaches a waypoint from the waypoint's own namespace; the reference applies nowhere`);
        } else if (!env.gateways.has(`${r.namespace}/${ref.name}`)) {
          warn(problems, r, field, `Gateway ${r.namespace}/${ref.name} is not in the configuration; the reference applies nowhere`);
        }
        break;
      }
      case 'GatewayClass': {
        if (ref.name !== WAYPOINT_GATEWAY_CLASS) {
          warn(problems, r, field, `GatewayClass ${ref.name} is not ${WAYPOINT_GATEWAY_CLASS}; the reference applies nowhere at a waypoint`);
        } else if (r.namespace !== ctx.rootNamespace) {
          warn(problems, r, field, `GatewayClass ${WAYPOINT_GATEWAY_CLASS} references apply only from the root namespace (${ctx.rootNamespace}); the reference applies nowhere`);
        } else {
          attachment.waypoint = 'GatewayClass';
        }
        break;
      }
      case 'Service': {
        const key = `${r.namespace}/${ref.name}`;
        if (env.services.has(key)) {
          if (!attachment.services.includes(key)) attachment.services.push(key);
        } else {
          warn(problems, r, field, `Service ${key} is not in the configuration; the reference applies nowhere`);
        }
        break;
      }
      case 'ServiceEntry': {
        const key = `${r.namespace}/${ref.name}`;
        if (env.serviceEntries.has(key)) {
          if (!attachment.serviceEntries.includes(key)) attachment.serviceEntries.push(key);
        } else {
          warn(problems, r, field, `ServiceEntry ${key} is not in the configuration; the reference applies nowhere`);
        }
        break;
      }
      default:
        break; // rejected by validation
    }
  }
  return { attachment, targets };
}

// ---- rules ---------------------------------------------------------------------------------------

/** The matchers of one rule, before the per-protocol rewrite. */
interface BuiltRule {
  index: number;
  from: Array<{ label: string; fields: FieldMatcher[] }> | null;
  to: Array<{ label: string; fields: FieldMatcher[] }> | null;
  when: FieldMatcher[];
}

type MatcherKind = 'principal' | 'namespace' | 'serviceAccount' | 'trustDomain' | 'ip' | 'port' | 'host' | 'method' | 'path' | 'header' | 'string' | 'jwt';

const SOURCE_PAIRS: ReadonlyArray<readonly [keyof SourceSpec, keyof SourceSpec, AttrId, MatcherKind]> = [
  ['principals', 'notPrincipals', Attr.principal, 'principal'],
  ['requestPrincipals', 'notRequestPrincipals', Attr.jwt, 'jwt'],
  ['namespaces', 'notNamespaces', Attr.namespace, 'namespace'],
  ['serviceAccounts', 'notServiceAccounts', Attr.serviceAccount, 'serviceAccount'],
  ['trustDomains', 'notTrustDomains', Attr.trustDomain, 'trustDomain'],
  ['ipBlocks', 'notIpBlocks', Attr.sourceIp, 'ip'],
  ['remoteIpBlocks', 'notRemoteIpBlocks', Attr.remoteIp, 'ip'],
];

/** The `when` keys that name one attribute of the connection or request (headers and JWT aside). */
const CONDITION_ATTRS: Partial<Record<ConditionKind['kind'], readonly [AttrId, MatcherKind]>> = {
  'source.ip': [Attr.sourceIp, 'ip'],
  'remote.ip': [Attr.remoteIp, 'ip'],
  'destination.ip': [Attr.destinationIp, 'ip'],
  'destination.port': [Attr.port, 'port'],
  'source.namespace': [Attr.namespace, 'namespace'],
  'source.serviceAccount': [Attr.serviceAccount, 'serviceAccount'],
  'source.principal': [Attr.principal, 'principal'],
  'source.trustDomain': [Attr.trustDomain, 'trustDomain'],
  'connection.sni': [Attr.sni, 'string'],
  experimental: [Attr.metadata, 'string'],
};

const OPERATION_PAIRS: ReadonlyArray<readonly [keyof OperationSpec, keyof OperationSpec, AttrId, MatcherKind]> = [
  ['hosts', 'notHosts', Attr.host, 'host'],
  ['methods', 'notMethods', Attr.method, 'method'],
  ['paths', 'notPaths', Attr.path, 'path'],
  ['ports', 'notPorts', Attr.port, 'port'],
];

const HTTP_ONLY_ATTRS: ReadonlySet<AttrId> = new Set([Attr.host, Attr.method, Attr.path, Attr.header, Attr.jwt]);

function buildRule(rule: RuleSpec, index: number, r: LoadedResource, ctx: PolicyContext, problems: Problems): BuiltRule {
  const base = `spec.rules[${index}]`;
  const make = (
    attr: AttrId,
    kind: MatcherKind,
    labels: readonly [string, string],
    field: string,
    header: string,
    values: readonly string[],
    notValues: readonly string[],
  ): FieldMatcher => {
    const errorAt = (message: string): void => {
      problems.push({ severity: 'error', ...ident(r), field, message });
    };
    const adjust = (vs: readonly string[]): readonly string[] => (kind === 'principal' ? migrateTrustDomain(vs, ctx.trustDomain) : vs);
    const strings = (vs: readonly string[]): StringPatterns | null => {
      if (vs.length === 0 || kind === 'ip' || kind === 'port') return null;
      const out = new StringPatterns();
      for (const v of adjust(vs)) {
        switch (kind) {
          case 'principal':
            addStringMatcher(out, v, 'spiffe://');
            break;
          case 'namespace': {
            const err = addNamespaceMatcher(out, v);
            if (err !== undefined) errorAt(err);
            break;
          }
          case 'serviceAccount': {
            const err = addServiceAccountMatcher(out, v, r.namespace);
            if (err !== undefined) errorAt(err);
            break;
          }
          case 'trustDomain':
            addTrustDomainMatcher(out, v);
            break;
          case 'host':
            addHeaderMatcher(out, v, true);
            break;
          case 'method':
          case 'header':
            addHeaderMatcher(out, v, false);
            break;
          case 'path':
            if (containsPathTemplate(v)) out.regexes.push(pathTemplateRegex(v));
            else addStringMatcher(out, v);
            break;
          default:
            addStringMatcher(out, v);
        }
      }
      return out.seal();
    };
    const ips = (vs: readonly string[]): CidrRange[] | null =>
      kind !== 'ip' || vs.length === 0 ? null : vs.map((v) => parseCidr(v)).filter((c): c is CidrRange => typeof c !== 'string');
    const ports = (vs: readonly string[]): Set<number> | null =>
      kind !== 'port' || vs.length === 0 ? null : new Set(vs.map((v) => parsePortValue(v) ?? -1));
    return new FieldMatcher(
      attr,
      header,
      strings(values),
      strings(notValues),
      ips(values),
      ips(notValues),
      ports(values),
      ports(notValues),
      HTTP_ONLY_ATTRS.has(attr),
      attr === Attr.jwt,
      labels[0],
      labels[1],
      field,
      values,
      notValues,
    );
  };

  const from =
    rule.from === undefined || rule.from === null
      ? null
      : rule.from.map((f, j) => {
          const s: SourceSpec = f.source ?? {};
          const fields: FieldMatcher[] = [];
          for (const [pos, neg, attr, kind] of SOURCE_PAIRS) {
            const values = s[pos] ?? [];
            const notValues = s[neg] ?? [];
            if (values.length === 0 && notValues.length === 0) continue;
            const prefix = `${base}.from[${j}].source`;
            const key = attr === Attr.jwt ? 'requestPrincipals' : '';
            fields.push(make(attr, kind, [`source.${pos}`, `source.${neg}`], `${prefix}.${values.length > 0 ? pos : neg}`, key, values, notValues));
          }
          return { label: `from[${j}]`, fields };
        });
  const to =
    rule.to === undefined || rule.to === null
      ? null
      : rule.to.map((t, j) => {
          const o: OperationSpec = t.operation ?? {};
          const fields: FieldMatcher[] = [];
          for (const [pos, neg, attr, kind] of OPERATION_PAIRS) {
            const values = o[pos] ?? [];
            const notValues = o[neg] ?? [];
            if (values.length === 0 && notValues.length === 0) continue;
            const prefix = `${base}.to[${j}].operation`;
            fields.push(make(attr, kind, [`operation.${pos}`, `operation.${neg}`], `${prefix}.${values.length > 0 ? pos : neg}`, '', values, notValues));
          }
          return { label: `to[${j}]`, fields };
        });
  const when = (rule.when ?? []).map((c: ConditionSpec, k) => {
    const kind = conditionKind(c.key);
    const field = `${base}.when[${k}]`;
    const label = [`when ${c.key} values`, `when ${c.key} notValues`] as const;
    const values = c.values ?? [];
    const notValues = c.notValues ?? [];
    if (typeof kind === 'string') throw new Error(`unvalidated condition key ${c.key}`);
    if (kind.kind === 'header') return make(Attr.header, 'header', label, field, kind.name, values, notValues);
    const simple = CONDITION_ATTRS[kind.kind];
    // request.auth.*: the JWT attributes, looked up by their key.
    if (simple === undefined) return make(Attr.jwt, 'jwt', label, field, c.key, values, notValues);
    return make(simple[0], simple[1], label, field, '', values, notValues);
  });
  return { index, from, to, when };
}

/**
 * TDB `ReplaceTrustDomainAliases` with the bundle `[trustDomain]` (no aliases): a 5-segment
 * principal whose trust domain is the mesh trust domain, matches it as a `*` pattern, or is the
 * literal `cluster.local`, is rewritten to the mesh trust domain (a `*`-prefixed trust domain
 * that matches it is kept as written).
 */
export function migrateTrustDomain(values: readonly string[], trustDomain: string): string[] {
  const out: string[] = [];
  for (const p of values) {
    const parts = p.split('/');
    if (parts.length !== 5 || parts[0] === '*') {
      if (!out.includes(p)) out.push(p);
      continue;
    }
    const td = parts[0]!;
    if (tdStringMatch(td, trustDomain) || td === 'cluster.local') {
      const next = suffixMatch(trustDomain, td) ? p : [trustDomain, ...parts.slice(1)].join('/');
      if (!out.includes(next)) out.push(next);
    } else if (!out.includes(p)) out.push(p);
  }
  return out;
}

function prefixMatch(a: string, pattern: string): boolean {
  return pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
}

function suffixMatch(a: string, pattern: string): boolean {
  return pattern.startsWith('*') && a.endsWith(pattern.slice(1));
}

function tdStringMatch(a: string, s: string): boolean {
  return a === s || s === '*' || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a);
}

/**
 * The rule as it applies to `protocol` (as Istio documents for TCP traffic): attributes this waypoint cannot evaluate
 * for that traffic are HTTP-only ones on TCP, and JWT ones everywhere. An ALLOW rule using any of
 * them is dropped (it never matches); a DENY, AUDIT or CUSTOM rule loses only those attributes,
 * so it matches more (fails closed).
 */
function variantFor(b: BuiltRule, action: PolicyAction, protocol: 'http' | 'tcp', decision: AuthzDecision): RuleSlot {
  const unsupported = (f: FieldMatcher): boolean => protocol === 'tcp' && f.httpOnly;
  const all = [...(b.from ?? []).flatMap((e) => e.fields), ...(b.to ?? []).flatMap((e) => e.fields), ...b.when];
  const bad = all.filter(unsupported);
  const describe = (fs: FieldMatcher[]): string => [...new Set(fs.map((f) => f.field))].join(', ');
  if (bad.length > 0 && action === 'ALLOW') {
    const dropped: DroppedRule = {
      index: b.index,
      dropped:
        `never matches TCP traffic: an ALLOW rule using HTTP-only attributes is ignored on TCP (${describe(bad)})`,
    };
    return Object.freeze(dropped);
  }
  const keep = (fs: readonly FieldMatcher[]): FieldMatcher[] => fs.filter((f) => !unsupported(f));
  const entries = (es: BuiltRule['from']): Entry[] | null => (es === null ? null : es.map((e) => Object.freeze({ label: e.label, fields: Object.freeze(keep(e.fields)) })));
  const notes: string[] = [];
  const tcpBad = bad.filter((f) => f.httpOnly && !(protocol === 'http'));
  if (tcpBad.length > 0) notes.push(`HTTP-only attributes ignored on TCP traffic, so this ${action} rule matches more: ${describe(tcpBad)}`);
  const when = keep(b.when);
  // A `from` reading the JWT cannot be cached per client: it is checked with `to` on each request.
  const fromPerRequest = (b.from ?? []).some((e) => keep(e.fields).some((f) => f.jwt));
  const sourceWhen = when.filter((f) => isSourceAttr(f.attr));
  // Hot fields first: `to` and `destinationWhen` are read for every candidate on every request.
  const variant: RuleVariant = {
    to: entries(b.to),
    destinationWhen: Object.freeze(when.filter((f) => !isSourceAttr(f.attr))),
    from: entries(b.from),
    sourceWhen: Object.freeze(sourceWhen),
    sourceDependent: (b.from !== null && !fromPerRequest) || sourceWhen.length > 0,
    fromPerRequest,
    index: b.index,
    when: Object.freeze(when),
    decision,
    notes: Object.freeze(notes),
    usesPath: protocol === 'http' && all.some((f) => f.attr === Attr.path),
    ...signature(b, keep),
  };
  return Object.freeze(variant);
}

/**
 * Necessary conditions of a rule variant on method, service port and first path segment (see
 * `RuleVariant.sigMethod`): per attribute, the OR over `to` entries of each entry's positive
 * list, ANDed with positive `destination.port` conditions. Only sound narrowing: anything that
 * cannot be expressed (wildcards, negative lists, no constraint) is -1.
 */
function signature(b: BuiltRule, keep: (fs: readonly FieldMatcher[]) => FieldMatcher[]): { sigMethod: number; sigPort: number; sigPath: number } {
  let sigMethod = -1;
  let sigPort = -1;
  let sigPath = -1;
  if (b.to !== null) {
    sigMethod = 0;
    sigPort = 0;
    sigPath = 0;
    for (const e of b.to) {
      const fields = keep(e.fields);
      const of = (attr: AttrId): FieldMatcher | undefined => fields.find((f) => f.attr === attr && f.values.length > 0);
      const method = of(Attr.method);
      const port = of(Attr.port);
      const path = of(Attr.path);
      sigMethod |= method === undefined ? -1 : methodMask(method.values);
      sigPort |= port?.posPort === null || port?.posPort === undefined ? -1 : portMask(port.posPort);
      sigPath |= path === undefined ? -1 : pathMask(path.values);
    }
  }
  for (const w of keep(b.when)) {
    if (w.attr === Attr.port && w.posPort !== null) sigPort &= portMask(w.posPort);
  }
  return { sigMethod, sigPort, sigPath };
}

// ---- warnings ------------------------------------------------------------------------------------

function policyWarnings(r: LoadedResource, spec: AuthorizationPolicySpec, action: PolicyAction, built: BuiltRule[], problems: Problems): void {
  if (action === 'CUSTOM') {
    warn(
      problems,
      r,
      'spec.action',
      `CUSTOM authorization (ext_authz provider ${JSON.stringify(spec.provider?.name ?? '')}) is asked about HTTP requests; on TCP connections an HTTP provider is skipped (as Istio does) and any other provider denies what its rules match (fail closed)`,
    );
  }
  const fields = built.flatMap((b) => [...(b.from ?? []).flatMap((e) => e.fields), ...(b.to ?? []).flatMap((e) => e.fields), ...b.when]);
  for (const f of fields) {
    if (f.attr === Attr.metadata) {
      warn(problems, r, f.field, `${f.label.slice(5, -7)} reads Envoy filter metadata, which this waypoint does not have: its values never match and its notValues always match`);
    }
    if (f.attr === Attr.principal) {
      for (const v of [...f.values, ...f.notValues]) {
        if (v.startsWith('spiffe://')) {
          warn(problems, r, f.field, `${JSON.stringify(v)} never matches: Istio adds "spiffe://" itself; write the principal as <trust domain>/ns/<namespace>/sa/<service account>`);
        }
      }
    }
    if (f.attr === Attr.method) {
      for (const v of [...f.values, ...f.notValues]) {
        if (v !== '*' && v !== v.toUpperCase()) {
          warn(problems, r, f.field, `${JSON.stringify(v)}: methods are matched case-sensitively and requests with a lower-case method are rejected, so it never matches`);
        }
      }
    }
  }
  // VALID: a DENY rule whose from/to use only HTTP attributes denies all TCP traffic in its scope.
  if (action === 'DENY') {
    (spec.rules ?? []).forEach((rule, i) => {
      const froms = rule.from ?? [];
      const tos = rule.to ?? [];
      const tcpInFrom = froms.some((f) => {
        const s = f.source ?? {};
        return ['principals', 'notPrincipals', 'ipBlocks', 'notIpBlocks', 'namespaces', 'notNamespaces', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts'].some(
          (k) => s[k as keyof SourceSpec] !== undefined && s[k as keyof SourceSpec] !== null,
        );
      });
      const set = (v: unknown): boolean => v !== undefined && v !== null;
      const tcpInTo = tos.some((t) => set(t.operation?.ports) || set(t.operation?.notPorts));
      if ((froms.length > 0 && tos.length === 0 && !tcpInFrom) || (tos.length > 0 && !tcpInTo)) {
        warn(
          problems,
          r,
          `spec.rules[${i}]`,
          'this DENY rule uses only HTTP attributes, so it denies all traffic to TCP ports under its scope; it is recommended to explicitly specify the port',
        );
      }
    });
  }
}

/**
 * A RequestAuthentication: schema errors skip it (with no rules a token is never verified, so
 * rules on `requestPrincipals` / `request.auth.*` do not match: ALLOW fails closed). It applies
 * where an AuthorizationPolicy with the same targets would, and mesh-wide from the root namespace
 * without selector or targetRefs.
 */
function compileRequestAuthentication(r: LoadedResource, env: CompileEnv, problems: Problems): AttachedAuthentication | undefined {
  const parsed = parseWith(requestAuthenticationSchema, r.raw);
  if (!parsed.ok) {
    for (const issue of parsed.issues) {
      problems.push({ severity: 'error', ...ident(r), ...(issue.field !== '' ? { field: issue.field } : {}), message: issue.message, resourceSkipped: true });
    }
    return undefined;
  }
  const spec = parsed.value.spec ?? {};
  const rules = compileJwtRules(r.namespace, r.name, parsed.value);
  const hasRefs = (spec.targetRefs?.length ?? 0) > 0 || (spec.targetRef !== undefined && spec.targetRef !== null);
  const meshWide = !hasRefs && (spec.selector === undefined || spec.selector === null) && r.namespace === env.ctx.rootNamespace;
  const attachment: PolicyAttachment = meshWide ? { waypoint: 'GatewayClass', services: [], serviceEntries: [] } : attach(r, spec, env, problems).attachment;
  if (rules.length === 0) warn(problems, r, 'spec.jwtRules', 'has no jwtRules: it has no effect');
  return Object.freeze({ id: `${r.namespace}/${r.name}`, attachment, rules: Object.freeze(rules) });
}
