/**
 * zod schemas for `security.istio.io` AuthorizationPolicy and RequestAuthentication, with the
 * checks of Istio's validation webhook (`pkg/config/validation` `ValidateAuthorizationPolicy`,
 * `pkg/config/security`) and of the CRD schema. Spec objects are strict: an unknown field (a typo
 * such as `principal:` or `notPath:`) is an error, as `kubectl apply` with server-side field
 * validation reports it, rather than a silently wider or narrower policy.
 */
import * as z from 'zod';
import { formatFieldPath, friendlyIssueMessage, showValue } from '../config/fields.js';
import { checkPathTemplate, parseCidr, parsePortValue } from './values.js';

// ---- values ----------------------------------------------------------------------------------------

const str = z.custom<string>((v) => typeof v === 'string', {
  error: (iss) => (iss.input === undefined ? 'is required' : `must be a string (got ${showValue(iss.input)}; quote it in YAML)`),
});

const nonEmpty = str.refine((v) => v !== '', { error: 'empty value not allowed' });

const list = <T extends z.ZodType>(item: T) => z.array(item).nullish();

const ipValue = nonEmpty.superRefine((v, ctx) => {
  const r = parseCidr(v);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

const portValue = nonEmpty.superRefine((v, ctx) => {
  if (parsePortValue(v) === undefined) ctx.addIssue({ code: 'custom', message: `bad port (${v}): must be an integer between 0 and 65535` });
});

/** SEC `CheckServiceAccount` for one value. */
export function serviceAccountProblem(v: string): string | undefined {
  if (v.includes('*')) return 'wildcard not allowed in service accounts';
  const slashes = v.split('/').length - 1;
  if (slashes > 1) return `expected format 'serviceAccount' or 'namespace/serviceAccount', found ${JSON.stringify(v)}`;
  if (v.length > 320) return 'value cannot exceed 320 characters';
  if (slashes === 1) {
    const [ns, sa] = v.split('/');
    if (ns === '') return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace ${JSON.stringify(v)}`;
    if (sa === '') return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount ${JSON.stringify(v)}`;
  }
  return undefined;
}

/** SEC `CheckWildcardValues` for one value. */
export function wildcardProblem(v: string): string | undefined {
  const count = v.split('*').length - 1;
  if (count > 1) return `at most one wildcard is allowed (got ${JSON.stringify(v)})`;
  if (count === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*')) return `wildcard is only allowed at the start or end (got ${JSON.stringify(v)})`;
  return undefined;
}

const serviceAccountValue = nonEmpty.superRefine((v, ctx) => {
  const p = serviceAccountProblem(v);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
});

const trustDomainValue = nonEmpty.superRefine((v, ctx) => {
  const p = wildcardProblem(v) ?? (v.includes('/') ? `trust domain must not contain '/' (got ${JSON.stringify(v)})` : undefined);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
});

const pathValue = nonEmpty.superRefine((v, ctx) => {
  const p = checkPathTemplate(v);
  if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
});

const serviceAccountList = z.array(serviceAccountValue).max(16, { error: 'may not have more than 16 values' }).nullish();

// ---- source, operation, condition --------------------------------------------------------------

export const SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
] as const;

const sourceSchema = z
  .strictObject({
    principals: list(nonEmpty),
    notPrincipals: list(nonEmpty),
    requestPrincipals: list(nonEmpty),
    notRequestPrincipals: list(nonEmpty),
    namespaces: list(nonEmpty),
    notNamespaces: list(nonEmpty),
    serviceAccounts: serviceAccountList,
    notServiceAccounts: serviceAccountList,
    trustDomains: list(trustDomainValue),
    notTrustDomains: list(trustDomainValue),
    ipBlocks: list(ipValue),
    notIpBlocks: list(ipValue),
    remoteIpBlocks: list(ipValue),
    notRemoteIpBlocks: list(ipValue),
  })
  .superRefine((s, ctx) => {
    if (SOURCE_FIELDS.every((f) => (s[f]?.length ?? 0) === 0)) {
      ctx.addIssue({ code: 'custom', message: `must not be empty: set at least one of ${SOURCE_FIELDS.join(', ')}` });
    }
    const n = (f: (typeof SOURCE_FIELDS)[number]): number => s[f]?.length ?? 0;
    if (n('principals') + n('notPrincipals') + n('namespaces') + n('notNamespaces') > 0 && n('serviceAccounts') + n('notServiceAccounts') > 0) {
      ctx.addIssue({ code: 'custom', path: [n('serviceAccounts') > 0 ? 'serviceAccounts' : 'notServiceAccounts'], message: 'cannot be set together with principals or namespaces' });
    }
  });

export const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

const operationSchema = z
  .strictObject({
    hosts: list(nonEmpty),
    notHosts: list(nonEmpty),
    ports: list(portValue),
    notPorts: list(portValue),
    methods: list(nonEmpty),
    notMethods: list(nonEmpty),
    paths: list(pathValue),
    notPaths: list(pathValue),
  })
  .superRefine((o, ctx) => {
    if (OPERATION_FIELDS.every((f) => (o[f]?.length ?? 0) === 0)) {
      ctx.addIssue({ code: 'custom', message: `must not be empty: set at least one of ${OPERATION_FIELDS.join(', ')}` });
    }
  });

/** The attribute a `when` key names (MODEL `New`, SEC `ValidateAttribute`). */
export type ConditionKind =
  | { kind: 'header'; name: string }
  | { kind: 'source.ip' | 'remote.ip' | 'destination.ip' }
  | { kind: 'source.namespace' | 'source.serviceAccount' | 'source.principal' | 'source.trustDomain' }
  | { kind: 'request.auth.principal' | 'request.auth.audiences' | 'request.auth.presenter' | 'request.auth.claims' }
  | { kind: 'destination.port' | 'connection.sni' }
  | { kind: 'experimental'; filter: string; key: string };

const SIMPLE_KEYS = new Set([
  'source.ip',
  'remote.ip',
  'destination.ip',
  'source.namespace',
  'source.serviceAccount',
  'source.principal',
  'source.trustDomain',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.port',
  'connection.sni',
]);

/** Classifies a condition key, or explains why it is rejected. */
export function conditionKind(key: string): ConditionKind | string {
  if (SIMPLE_KEYS.has(key)) return { kind: key } as ConditionKind;
  const bracket = /^([^[\]]+)\[([^[\]]+)\]$/.exec(key);
  if (key.startsWith('request.headers')) {
    if (bracket === null || bracket[1] !== 'request.headers') return `bad key (${key}): should have the format request.headers[<name>]`;
    return { kind: 'header', name: bracket[2]!.toLowerCase() };
  }
  if (key.startsWith('request.auth.claims')) {
    if (!/^request\.auth\.claims(\[[^[\]]+\])+$/.test(key)) return `bad key (${key}): should have the format request.auth.claims[<claim>] (or nested [a][b])`;
    return { kind: 'request.auth.claims' };
  }
  if (key.startsWith('experimental.envoy.filters.')) {
    if (bracket === null) return `bad key (${key}): should have the format experimental.envoy.filters.<filter>[<key>]`;
    return { kind: 'experimental', filter: bracket[1]!.slice('experimental.'.length), key: bracket[2]! };
  }
  if (key === 'destination.namespace') return `attribute ${key} is replaced by the metadata.namespace`;
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  if (key === 'destination.name' || key === 'destination.user') return `deprecated attribute ${key}: only supported in v1alpha1`;
  return `unknown attribute: ${key}`;
}

function conditionValueProblem(kind: ConditionKind, v: string): string | undefined {
  switch (kind.kind) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip': {
      const r = parseCidr(v);
      return typeof r === 'string' ? r : undefined;
    }
    case 'destination.port':
      return parsePortValue(v) === undefined ? `bad port (${v}): must be an integer between 0 and 65535` : undefined;
    case 'source.serviceAccount':
      return serviceAccountProblem(v);
    case 'source.trustDomain':
      return wildcardProblem(v);
    default:
      return undefined;
  }
}

const conditionSchema = z
  .strictObject({
    key: nonEmpty,
    values: list(nonEmpty),
    notValues: list(nonEmpty),
  })
  .superRefine((c, ctx) => {
    if ((c.values?.length ?? 0) === 0 && (c.notValues?.length ?? 0) === 0) {
      ctx.addIssue({ code: 'custom', message: `at least one of values or notValues must be set for key ${c.key}` });
      return;
    }
    const kind = conditionKind(c.key);
    if (typeof kind === 'string') {
      ctx.addIssue({ code: 'custom', path: ['key'], message: kind });
      return;
    }
    for (const listName of ['values', 'notValues'] as const) {
      const values = c[listName] ?? [];
      if (kind.kind === 'source.serviceAccount' && values.length > 16) {
        ctx.addIssue({ code: 'custom', path: [listName], message: 'may not have more than 16 values' });
      }
      values.forEach((v, i) => {
        const p = conditionValueProblem(kind, v);
        if (p !== undefined) ctx.addIssue({ code: 'custom', path: [listName, i], message: p });
      });
    }
  });

const ruleSchema = z.strictObject({
  from: z
    .array(
      z.strictObject({ source: sourceSchema.nullish() }).superRefine((f, ctx) => {
        if (f.source === undefined || f.source === null) ctx.addIssue({ code: 'custom', path: ['source'], message: 'is required' });
      }),
    )
    .min(1, { error: 'must not be empty (leave it out to match any source)' })
    .nullish(),
  to: z
    .array(
      z.strictObject({ operation: operationSchema.nullish() }).superRefine((t, ctx) => {
        if (t.operation === undefined || t.operation === null) ctx.addIssue({ code: 'custom', path: ['operation'], message: 'is required' });
      }),
    )
    .min(1, { error: 'must not be empty (leave it out to match any operation)' })
    .nullish(),
  when: z.array(conditionSchema).nullish(),
});

// ---- targets -------------------------------------------------------------------------------------

const ALLOWED_TARGETS = ['Service (core)', 'ServiceEntry (networking.istio.io)', 'Gateway (gateway.networking.k8s.io)', 'GatewayClass (gateway.networking.k8s.io)'];

/** Canonical API group (`''` → `core`), as Istio's `config.CanonicalGroup`. */
export function canonicalGroup(group: string | null | undefined): string {
  return group === undefined || group === null || group === '' ? 'core' : group;
}

const TARGET_GROUPS: Record<string, string> = {
  Service: 'core',
  ServiceEntry: 'networking.istio.io',
  Gateway: 'gateway.networking.k8s.io',
  GatewayClass: 'gateway.networking.k8s.io',
};

const targetRefSchema = z
  .strictObject({
    group: str.nullish(),
    kind: nonEmpty,
    name: nonEmpty,
    namespace: str.nullish(),
  })
  .superRefine((r, ctx) => {
    if (r.namespace !== undefined && r.namespace !== null && r.namespace !== '') {
      ctx.addIssue({ code: 'custom', path: ['namespace'], message: 'must not be set; cross namespace referencing is not supported' });
    }
    const group = canonicalGroup(r.group);
    if (TARGET_GROUPS[r.kind] !== group) {
      ctx.addIssue({
        code: 'custom',
        path: [TARGET_GROUPS[r.kind] === undefined ? 'kind' : 'group'],
        message: `targetRef must be to one of ${ALLOWED_TARGETS.join(', ')} but was ${r.kind} (${group})`,
      });
    }
  });

export type TargetRef = z.infer<typeof targetRefSchema>;

const selectorSchema = z
  .strictObject({ matchLabels: z.record(z.string(), str).nullish() })
  .superRefine((s, ctx) => {
    for (const [k, v] of Object.entries(s.matchLabels ?? {})) {
      if (k === '') ctx.addIssue({ code: 'custom', path: ['matchLabels'], message: 'empty key is not supported in selector' });
      if (k.includes('*') || v.includes('*')) ctx.addIssue({ code: 'custom', path: ['matchLabels', k], message: `wildcard is not supported in selector: "${k}=${v}"` });
    }
  });

// ---- AuthorizationPolicy -------------------------------------------------------------------------

export const ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const;

const authorizationPolicySpec = z
  .strictObject({
    selector: selectorSchema.nullish(),
    targetRef: targetRefSchema.nullish(),
    targetRefs: z.array(targetRefSchema).max(16, { error: 'must have at most 16 items' }).nullish(),
    rules: z.array(ruleSchema).nullish(),
    action: z.enum(ACTIONS).nullish(),
    provider: z.strictObject({ name: str.nullish() }).nullish(),
  })
  .superRefine((spec, ctx) => {
    const set = [spec.selector, spec.targetRef, spec.targetRefs?.length ? spec.targetRefs : undefined].filter((x) => x !== undefined && x !== null);
    if (set.length > 1) ctx.addIssue({ code: 'custom', message: 'only one of selector, targetRef or targetRefs can be set' });
    const action = spec.action ?? 'ALLOW';
    const noRules = (spec.rules?.length ?? 0) === 0;
    if (action === 'CUSTOM') {
      if (noRules) {
        ctx.addIssue({ code: 'custom', path: ['rules'], message: 'CUSTOM action without rules is meaningless as it will never be triggered; add an empty rule {} if you want it to be triggered for every request' });
      } else if ((spec.provider?.name ?? '') === '') {
        ctx.addIssue({ code: 'custom', path: ['provider', 'name'], message: 'must not be empty with action CUSTOM' });
      }
      (spec.rules ?? []).forEach((rule, i) => {
        (rule.from ?? []).forEach((from, j) => {
          for (const f of ['namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains', 'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals'] as const) {
            if ((from.source?.[f]?.length ?? 0) > 0) {
              ctx.addIssue({ code: 'custom', path: ['rules', i, 'from', j, 'source', f], message: 'is currently not supported with CUSTOM action' });
            }
          }
        });
        (rule.when ?? []).forEach((c, j) => {
          if (['source.namespace', 'source.serviceAccount', 'source.trustDomain', 'source.principal'].includes(c.key) || c.key.startsWith('request.auth.')) {
            ctx.addIssue({ code: 'custom', path: ['rules', i, 'when', j, 'key'], message: `${c.key} is currently not supported with CUSTOM action` });
          }
        });
      });
    }
    if (spec.provider !== undefined && spec.provider !== null && action !== 'CUSTOM') {
      ctx.addIssue({ code: 'custom', path: ['provider'], message: `must not be set with action ${action} (only with CUSTOM)` });
    }
    if (action === 'DENY' && noRules) {
      ctx.addIssue({ code: 'custom', path: ['rules'], message: 'DENY action without rules is meaningless as it will never be triggered; add an empty rule {} if you want it to be triggered for every request' });
    }
  });

export type AuthorizationPolicySpec = z.infer<typeof authorizationPolicySpec>;
export type RuleSpec = z.infer<typeof ruleSchema>;
export type SourceSpec = z.infer<typeof sourceSchema>;
export type OperationSpec = z.infer<typeof operationSchema>;
export type ConditionSpec = z.infer<typeof conditionSchema>;

export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

/** Go `strconv.ParseBool`. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

const metadataSchema = z.looseObject({ annotations: z.record(z.string(), z.unknown()).nullish() });

export const authorizationPolicySchema = z
  .looseObject({ metadata: metadataSchema, spec: authorizationPolicySpec.nullish() })
  .superRefine((doc, ctx) => {
    const value = doc.metadata.annotations?.[DRY_RUN_ANNOTATION];
    if (value === undefined) return;
    const path = ['metadata', 'annotations', DRY_RUN_ANNOTATION];
    const action = doc.spec?.action ?? 'ALLOW';
    if (action !== 'ALLOW' && action !== 'DENY') {
      ctx.addIssue({ code: 'custom', path, message: `only supported with action ALLOW or DENY, found action ${action}` });
    } else if (typeof value !== 'string' || parseGoBool(value) === undefined) {
      ctx.addIssue({ code: 'custom', path, message: `must be "true" or "false" (got ${showValue(value)})` });
    }
  });

export type AuthorizationPolicyDoc = z.infer<typeof authorizationPolicySchema>;

// ---- RequestAuthentication -----------------------------------------------------------------------

/** Why an inline `jwks` is not a JSON Web Key Set, or undefined when it is one. */
export function jwksProblem(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'jwks parse error: not JSON';
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) return 'jwks parse error: must be a JSON object with a "keys" list';
  const keys = (doc as { keys: unknown[] }).keys;
  if (keys.length === 0) return 'jwks parse error: the "keys" list is empty';
  const bad = keys.findIndex((k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string');
  return bad < 0 ? undefined : `jwks parse error: keys[${bad}] has no "kty"`;
}

/** A `jwtRules[].timeout` (protobuf Duration text: `5s`, `1.5s`, `500ms`) in milliseconds. */
export function jwksTimeoutMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60000);
  return ms > 0 ? ms : undefined;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const headerName = nonEmpty.refine((v) => HEADER_NAME.test(v), { error: 'must be a valid HTTP header name' });

const jwtRuleSchema = z
  .strictObject({
    issuer: str.nullish(),
    audiences: list(nonEmpty),
    jwksUri: str.nullish(),
    jwks: str.nullish(),
    fromHeaders: list(z.strictObject({ name: headerName, prefix: str.nullish() })),
    fromParams: list(nonEmpty),
    fromCookies: list(nonEmpty),
    outputPayloadToHeader: headerName.nullish(),
    forwardOriginalToken: z.boolean().nullish(),
    outputClaimToHeaders: list(z.strictObject({ header: headerName, claim: nonEmpty })),
    timeout: str.refine((v) => jwksTimeoutMs(v) !== undefined, { error: 'must be a positive duration such as "5s" or "500ms"' }).nullish(),
  })
  .superRefine((r, ctx) => {
    if ((r.issuer ?? '') === '' && (r.jwksUri ?? '') === '') ctx.addIssue({ code: 'custom', message: 'issuer or jwksUri must be set' });
    if ((r.jwksUri ?? '') !== '' && !/^https?:\/\//.test(r.jwksUri ?? '')) {
      ctx.addIssue({ code: 'custom', path: ['jwksUri'], message: 'must be an http:// or https:// URL' });
    }
    const jwks = r.jwks ?? '';
    const bad = jwks === '' ? undefined : jwksProblem(jwks);
    if (bad !== undefined) ctx.addIssue({ code: 'custom', path: ['jwks'], message: bad });
    if (jwks === '' && (r.jwksUri ?? '') === '') ctx.addIssue({ code: 'custom', message: 'jwks or jwksUri must be set: this waypoint does not discover keys from the issuer (OpenID discovery)' });
  });

export const requestAuthenticationSchema = z.looseObject({
  spec: z
    .strictObject({
      selector: selectorSchema.nullish(),
      targetRef: targetRefSchema.nullish(),
      targetRefs: z.array(targetRefSchema).max(16).nullish(),
      jwtRules: z.array(jwtRuleSchema).nullish(),
    })
    .superRefine((spec, ctx) => {
      const set = [spec.selector, spec.targetRef, spec.targetRefs?.length ? spec.targetRefs : undefined].filter((x) => x !== undefined && x !== null);
      if (set.length > 1) ctx.addIssue({ code: 'custom', message: 'only one of selector, targetRef or targetRefs can be set' });
    })
    .nullish(),
});

export type RequestAuthenticationDoc = z.infer<typeof requestAuthenticationSchema>;

// ---- issues → problems ---------------------------------------------------------------------------

export interface FieldIssue {
  field: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export function parseWith<T>(schema: z.ZodType<T>, doc: unknown): ParseResult<T> {
  const result = schema.safeParse(doc, { error: friendlyIssueMessage });
  if (result.success) return { ok: true, value: result.data };
  const issues: FieldIssue[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ field: formatFieldPath([...issue.path, key]), message: 'is not a field of this object (check the spelling)' });
      }
      continue;
    }
    issues.push({ field: formatFieldPath(issue.path), message: issue.message });
  }
  return { ok: false, issues };
}
