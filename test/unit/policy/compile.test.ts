/**
 * Validation (errors reject the configuration), warnings (the policy still loads), attachment
 * bookkeeping, and the admin summary.
 */
import { describe, expect, it } from 'vitest';
import { compileYaml, context, gatewayPolicy, oneRule, resources, REVIEWS } from '../../fixtures/policy/resources.js';
import { compilePolicies, migrateTrustDomain } from '../../../src/policy/compile.js';

function problemsOf(yaml: string): ReturnType<typeof compilePolicies>['problems'] {
  return compilePolicies(resources(yaml, 'authz.yaml'), context()).problems;
}

describe('validation errors (the configuration is rejected)', () => {
  const rule = (r: string): string => oneRule('ALLOW', r);
  const cases: Array<{ name: string; yaml: string; field: string; message: string }> = [
    { name: 'unknown action', yaml: gatewayPolicy('p', '  action: DENYY\n  rules: [{}]\n'), field: 'spec.action', message: 'must be one of ALLOW, DENY, AUDIT, CUSTOM (got "DENYY")' },
    { name: 'bad CIDR prefix length', yaml: rule('{from: [{source: {ipBlocks: [127.0.0.1, 127.0.0.0/33]}}]}'), field: 'spec.rules[0].from[0].source.ipBlocks[1]', message: 'bad CIDR range (127.0.0.0/33)' },
    { name: 'bad IP address', yaml: rule('{from: [{source: {notIpBlocks: [127.0.0.256]}}]}'), field: 'spec.rules[0].from[0].source.notIpBlocks[0]', message: 'bad IP address (127.0.0.256)' },
    { name: 'bad remoteIpBlocks', yaml: rule('{from: [{source: {remoteIpBlocks: [not-an-ip]}}]}'), field: 'spec.rules[0].from[0].source.remoteIpBlocks[0]', message: 'bad IP address' },
    { name: 'port out of range', yaml: rule('{to: [{operation: {ports: ["70000"]}}]}'), field: 'spec.rules[0].to[0].operation.ports[0]', message: 'bad port (70000)' },
    { name: 'port not a number', yaml: rule('{to: [{operation: {notPorts: [http]}}]}'), field: 'spec.rules[0].to[0].operation.notPorts[0]', message: 'bad port (http)' },
    { name: 'unquoted port number', yaml: rule('{to: [{operation: {ports: [80]}}]}'), field: 'spec.rules[0].to[0].operation.ports[0]', message: 'must be a string (got 80; quote it in YAML)' },
    { name: 'empty string in a list', yaml: rule('{from: [{source: {principals: [""]}}]}'), field: 'spec.rules[0].from[0].source.principals[0]', message: 'empty value not allowed' },
    { name: 'empty from list', yaml: rule('{from: []}'), field: 'spec.rules[0].from', message: 'must not be empty' },
    { name: 'from entry without source', yaml: rule('{from: [{}]}'), field: 'spec.rules[0].from[0].source', message: 'is required' },
    { name: 'empty source', yaml: rule('{from: [{source: {}}]}'), field: 'spec.rules[0].from[0].source', message: 'must not be empty' },
    { name: 'empty operation', yaml: rule('{to: [{operation: {}}]}'), field: 'spec.rules[0].to[0].operation', message: 'must not be empty' },
    { name: 'unknown source field (typo)', yaml: rule('{from: [{source: {principal: [a/ns/b/sa/c]}}]}'), field: 'spec.rules[0].from[0].source.principal', message: 'is not a field' },
    { name: 'unknown rule field', yaml: rule('{from: [{source: {namespaces: [a]}}], notWhen: []}'), field: 'spec.rules[0].notWhen', message: 'is not a field' },
    { name: 'condition without values', yaml: rule('{when: [{key: source.ip}]}'), field: 'spec.rules[0].when[0]', message: 'at least one of values or notValues' },
    { name: 'unknown condition key', yaml: rule('{when: [{key: source.user, values: [a]}]}'), field: 'spec.rules[0].when[0].key', message: 'unknown attribute: source.user' },
    { name: 'destination.namespace is not a condition', yaml: rule('{when: [{key: destination.namespace, values: [a]}]}'), field: 'spec.rules[0].when[0].key', message: 'replaced by the metadata.namespace' },
    { name: 'destination.labels is not a condition', yaml: rule('{when: [{key: "destination.labels[app]", values: [a]}]}'), field: 'spec.rules[0].when[0].key', message: 'replaced by the workload selector' },
    { name: 'header key without brackets', yaml: rule('{when: [{key: request.headers, values: [a]}]}'), field: 'spec.rules[0].when[0].key', message: 'request.headers[<name>]' },
    { name: 'bad source.ip value', yaml: rule('{when: [{key: source.ip, values: [127.0.0.1, nope]}]}'), field: 'spec.rules[0].when[0].values[1]', message: 'bad IP address (nope)' },
    { name: 'bad destination.port notValue', yaml: rule('{when: [{key: destination.port, notValues: ["-1"]}]}'), field: 'spec.rules[0].when[0].notValues[0]', message: 'bad port' },
    { name: 'source.trustDomain with a wildcard in the middle', yaml: rule('{when: [{key: source.trustDomain, values: [a*b]}]}'), field: 'spec.rules[0].when[0].values[0]', message: 'only allowed at the start or end' },
    { name: 'serviceAccounts with a wildcard', yaml: rule('{from: [{source: {serviceAccounts: [default/*]}}]}'), field: 'spec.rules[0].from[0].source.serviceAccounts[0]', message: 'wildcard not allowed' },
    { name: 'serviceAccounts with too many slashes', yaml: rule('{from: [{source: {serviceAccounts: [a/b/c]}}]}'), field: 'spec.rules[0].from[0].source.serviceAccounts[0]', message: "expected format 'serviceAccount' or 'namespace/serviceAccount'" },
    { name: 'serviceAccounts together with principals', yaml: rule('{from: [{source: {serviceAccounts: [sleep], principals: [a/ns/b/sa/c]}}]}'), field: 'spec.rules[0].from[0].source.serviceAccounts', message: 'cannot be set together with principals or namespaces' },
    { name: 'trustDomains with a slash', yaml: rule('{from: [{source: {trustDomains: [a/b]}}]}'), field: 'spec.rules[0].from[0].source.trustDomains[0]', message: "must not contain '/'" },
    { name: 'path template with {**} not last', yaml: rule('{to: [{operation: {paths: ["/a/{**}/{*}"]}}]}'), field: 'spec.rules[0].to[0].operation.paths[0]', message: '{**} must be the last operator' },
    { name: 'path template operator inside a segment', yaml: rule('{to: [{operation: {notPaths: ["/a/x{*}"]}}]}'), field: 'spec.rules[0].to[0].operation.notPaths[0]', message: "'{' or '}' outside" },
    { name: 'DENY without rules', yaml: gatewayPolicy('p', '  action: DENY\n'), field: 'spec.rules', message: 'DENY action without rules is meaningless' },
    { name: 'DENY with an empty rules list', yaml: gatewayPolicy('p', '  action: DENY\n  rules: []\n'), field: 'spec.rules', message: 'DENY action without rules' },
    { name: 'CUSTOM without rules', yaml: gatewayPolicy('p', '  action: CUSTOM\n  provider: {name: opa}\n'), field: 'spec.rules', message: 'CUSTOM action without rules' },
    { name: 'CUSTOM without provider', yaml: gatewayPolicy('p', '  action: CUSTOM\n  rules: [{}]\n'), field: 'spec.provider.name', message: 'must not be empty with action CUSTOM' },
    { name: 'CUSTOM with principals', yaml: oneRule('CUSTOM', '{from: [{source: {principals: [a/ns/b/sa/c]}}]}'), field: 'spec.rules[0].from[0].source.principals', message: 'not supported with CUSTOM' },
    { name: 'CUSTOM with request.auth', yaml: oneRule('CUSTOM', '{when: [{key: request.auth.principal, values: [a/b]}]}'), field: 'spec.rules[0].when[0].key', message: 'not supported with CUSTOM' },
    { name: 'provider with ALLOW', yaml: gatewayPolicy('p', '  provider: {name: opa}\n  rules: [{}]\n'), field: 'spec.provider', message: 'must not be set with action ALLOW' },
    {
      name: 'selector and targetRefs together',
      yaml: gatewayPolicy('p', '  selector: {matchLabels: {app: x}}\n  rules: [{}]\n'),
      field: 'spec',
      message: 'only one of selector, targetRef or targetRefs',
    },
    {
      name: 'targetRef with a namespace',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Service, group: "", name: reviews, namespace: other}]\n',
      field: 'spec.targetRefs[0].namespace',
      message: 'cross namespace referencing is not supported',
    },
    {
      name: 'targetRef to an unsupported kind',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Deployment, group: apps, name: reviews}]\n',
      field: 'spec.targetRefs[0].kind',
      message: 'targetRef must be to one of',
    },
    {
      name: 'Gateway ref without its group',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Gateway, name: waypoint}]\n',
      field: 'spec.targetRefs[0].group',
      message: 'targetRef must be to one of',
    },
    {
      name: 'targetRef without a name',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Service, group: ""}]\n',
      field: 'spec.targetRefs[0].name',
      message: 'is required',
    },
    {
      name: 'more than 16 targetRefs',
      yaml: `kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [${Array.from({ length: 17 }, (_, i) => `{kind: Service, group: "", name: s${i}}`).join(', ')}]\n`,
      field: 'spec.targetRefs',
      message: 'at most 16',
    },
    { name: 'dry-run annotation that is not a boolean', yaml: gatewayPolicy('p', '  rules: [{}]\n', { annotations: '    istio.io/dry-run: "yes"' }), field: 'metadata.annotations["istio.io/dry-run"]', message: 'must be "true" or "false"' },
    {
      name: 'dry-run annotation on AUDIT',
      yaml: gatewayPolicy('p', '  action: AUDIT\n  rules: [{}]\n', { annotations: '    istio.io/dry-run: "true"' }),
      field: 'metadata.annotations["istio.io/dry-run"]',
      message: 'only supported with action ALLOW or DENY',
    },
    { name: 'a null rule', yaml: gatewayPolicy('p', '  rules: [null]\n'), field: 'spec.rules[0]', message: 'must be a mapping' },
    { name: 'rules that is not a list', yaml: gatewayPolicy('p', '  rules: {from: []}\n'), field: 'spec.rules', message: 'must be a list' },
  ];
  it.each(cases)('$name', ({ yaml, field, message }) => {
    const errors = problemsOf(yaml).filter((p) => p.severity === 'error');
    expect(errors.map((e) => `${e.field ?? ''}: ${e.message}`)).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${escape(field)}: .*${escape(message)}`))]));
    expect(errors[0]).toMatchObject({ file: 'authz.yaml', kind: 'AuthorizationPolicy', namespace: 'default', name: 'p' });
  });

  it('a malformed policy is left out, the others still compile', () => {
    const { policies, problems } = compilePolicies(resources(`${gatewayPolicy('bad', '  action: NOPE\n')}---\n${oneRule('DENY', '{}', 'good')}`), context());
    expect(problems.some((p) => p.severity === 'error' && p.name === 'bad')).toBe(true);
    expect(policies.all.map((p) => p.id)).toEqual(['default/good']);
  });

  it.each([
    { name: 'rules: [{}]', yaml: oneRule('ALLOW', '{}') },
    { name: 'no rules (allow nothing)', yaml: gatewayPolicy('p', '') },
    { name: 'every source field', yaml: oneRule('ALLOW', '{from: [{source: {principals: [a/ns/b/sa/c], notPrincipals: [x], requestPrincipals: [i/s], notRequestPrincipals: [j/t], namespaces: [a], notNamespaces: [b], trustDomains: [td], notTrustDomains: ["*.td"], ipBlocks: [127.0.0.0/8], notIpBlocks: [127.1.0.0/16], remoteIpBlocks: [127.0.0.1], notRemoteIpBlocks: ["::1/128"]}}]}') }, // never dialled
    { name: 'every operation field', yaml: oneRule('ALLOW', '{to: [{operation: {hosts: [a], notHosts: [b], ports: ["1"], notPorts: ["2"], methods: [GET], notMethods: [POST], paths: ["/a/{*}"], notPaths: ["/b*"]}}]}') },
    { name: 'every condition key', yaml: oneRule('DENY', `{when: [${['request.headers[x]', 'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'source.serviceAccount', 'source.trustDomain', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter', 'request.auth.claims[a][b]', 'destination.ip', 'destination.port', 'connection.sni', 'experimental.envoy.filters.a.b[c]'].map((k) => `{key: "${k}", values: ["${k.includes('ip') ? '127.0.0.1' : k.includes('port') ? '80' : 'v'}"]}`).join(', ')}]}`) },
    { name: 'legacy v1beta1 apiVersion', yaml: oneRule('ALLOW', '{}').replace('security.istio.io/v1', 'security.istio.io/v1beta1') },
  ])('valid: $name', ({ yaml }) => {
    expect(problemsOf(yaml).filter((p) => p.severity === 'error')).toEqual([]);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('warnings (the policy loads)', () => {
  const cases: Array<{ name: string; yaml: string; field?: string; message: string }> = [
    {
      name: 'selector policies do not apply at a waypoint',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  selector: {matchLabels: {app: reviews}}\n  rules: [{}]\n',
      field: 'spec.selector',
      message: 'selector policies are not enforced by a waypoint',
    },
    {
      name: 'namespace-wide policies do not apply at a waypoint',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: istio-system}\nspec: {}\n',
      message: 'a namespace-wide policy is not enforced by a waypoint',
    },
    { name: 'CUSTOM on TCP connections', yaml: oneRule('CUSTOM', '{to: [{operation: {paths: [/admin]}}]}'), field: 'spec.action', message: 'any other provider denies what its rules match (fail closed)' },
    { name: 'a spiffe:// principal never matches', yaml: oneRule('ALLOW', '{from: [{source: {principals: ["spiffe://cluster.local/ns/a/sa/b"]}}]}'), field: 'spec.rules[0].from[0].source.principals', message: 'never matches: Istio adds "spiffe://" itself' },
    { name: 'a lower-case method never matches', yaml: oneRule('ALLOW', '{to: [{operation: {methods: [get]}}]}'), field: 'spec.rules[0].to[0].operation.methods', message: 'methods are matched case-sensitively' },
    { name: 'experimental metadata is never present', yaml: oneRule('ALLOW', '{when: [{key: "experimental.envoy.filters.a.b[c]", values: [v]}]}'), field: 'spec.rules[0].when[0]', message: 'reads Envoy filter metadata' },
    { name: 'a DENY rule with only HTTP attributes denies all TCP', yaml: oneRule('DENY', '{to: [{operation: {methods: [GET]}}]}'), field: 'spec.rules[0]', message: 'denies all traffic to TCP ports under its scope' },
    {
      name: 'a Service that is not in the configuration',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Service, group: "", name: missing}]\n',
      field: 'spec.targetRefs[0]',
      message: 'Service default/missing is not in the configuration; the reference applies nowhere',
    },
    {
      name: 'a ServiceEntry that is not in the configuration',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: ServiceEntry, group: networking.istio.io, name: missing}]\n',
      field: 'spec.targetRefs[0]',
      message: 'ServiceEntry default/missing is not in the configuration',
    },
    {
      name: 'a Gateway that is not in the configuration',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: missing}]\n',
      field: 'spec.targetRefs[0]',
      message: 'Gateway default/missing is not in the configuration',
    },
    {
      name: 'the waypoint Gateway from another namespace',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: istio-system}\nspec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]\n',
      field: 'spec.targetRefs[0]',
      message: "a Gateway reference only reaches a waypoint from the waypoint's own namespace",
    },
    {
      name: 'GatewayClass istio-waypoint outside the root namespace',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n',
      field: 'spec.targetRefs[0]',
      message: 'apply only from the root namespace (istio-system)',
    },
    {
      name: 'another GatewayClass',
      yaml: 'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: istio-system}\nspec:\n  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio}]\n',
      field: 'spec.targetRefs[0]',
      message: 'GatewayClass istio is not istio-waypoint',
    },
  ];
  it.each(cases)('$name', ({ yaml, field, message }) => {
    const problems = problemsOf(yaml);
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    const match = problems.find((p) => p.message.includes(message));
    expect(match, JSON.stringify(problems)).toBeDefined();
    expect(match!.severity).toBe('warning');
    if (field !== undefined) expect(match!.field).toBe(field);
    else expect(match!.field).toBeUndefined();
  });

  it('CUSTOM is reported once per policy, not per rule', () => {
    const yaml = gatewayPolicy('p', '  action: CUSTOM\n  provider: {name: opa}\n  rules: [{}, {to: [{operation: {paths: [/a]}}]}]\n');
    expect(problemsOf(yaml).filter((p) => p.message.includes('CUSTOM authorization'))).toHaveLength(1);
  });

  it('a policy on an existing other Gateway is not a problem', () => {
    const yaml =
      'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: other-waypoint, namespace: default}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}\n---\n' +
      'kind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: other-waypoint}]\n';
    expect(problemsOf(yaml)).toEqual([]);
  });
});

describe('trust domain migration of principals', () => {
  it.each([
    { name: 'mesh trust domain is kept', values: ['td/ns/a/sa/b'], td: 'td', expected: ['td/ns/a/sa/b'] },
    { name: 'cluster.local becomes the mesh trust domain', values: ['cluster.local/ns/a/sa/b'], td: 'td', expected: ['td/ns/a/sa/b'] },
    { name: 'a foreign trust domain is kept', values: ['other/ns/a/sa/b'], td: 'td', expected: ['other/ns/a/sa/b'] },
    { name: 'a * trust domain is not enforced', values: ['*/ns/a/sa/b'], td: 'td', expected: ['*/ns/a/sa/b'] },
    { name: 'a matching *-suffix is kept', values: ['*-td/ns/a/sa/b'], td: 'new-td', expected: ['*-td/ns/a/sa/b'] },
    { name: 'not five segments: kept', values: ['cluster.local/ns/a/*', 'spiffe://cluster.local/ns/a/sa/b'], td: 'td', expected: ['cluster.local/ns/a/*', 'spiffe://cluster.local/ns/a/sa/b'] },
    { name: 'duplicates collapse', values: ['cluster.local/ns/a/sa/b', 'td/ns/a/sa/b'], td: 'td', expected: ['td/ns/a/sa/b'] },
  ])('$name', ({ values, td, expected }) => {
    expect(migrateTrustDomain(values, td)).toEqual(expected);
  });
});

describe('CompiledPolicies', () => {
  const yaml = [
    oneRule('DENY', '{to: [{operation: {paths: [/admin]}}]}', 'gw-deny'),
    'kind: AuthorizationPolicy\nmetadata: {name: svc-allow, namespace: default}\nspec:\n  targetRefs: [{kind: Service, group: "", name: reviews}]\n  rules: [{}]\n',
    'kind: AuthorizationPolicy\nmetadata: {name: mesh-allow, namespace: istio-system, annotations: {istio.io/dry-run: "true"}}\nspec:\n  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  rules: [{}]\n',
    'kind: AuthorizationPolicy\nmetadata: {name: ns-wide, namespace: default}\nspec: {}\n',
  ].join('---\n');

  it('forService pools waypoint-wide and service policies, ordered by namespace/name', () => {
    const { policies } = compileYaml(yaml);
    expect(policies.forService(REVIEWS).policies.map((p) => p.id)).toEqual(['default/gw-deny', 'default/svc-allow', 'istio-system/mesh-allow']);
    expect(policies.forService('ratings.default.svc.cluster.local').policies.map((p) => p.id)).toEqual(['default/gw-deny', 'istio-system/mesh-allow']);
    expect(policies.forWorkload().policies.map((p) => p.id)).toEqual(['default/gw-deny', 'istio-system/mesh-allow']);
  });

  it('forService is cached per hostname; an unknown hostname gets the waypoint-wide set', () => {
    const { policies } = compileYaml(yaml);
    expect(policies.forService(REVIEWS)).toBe(policies.forService(REVIEWS));
    expect(policies.forService('unknown.example')).toBe(policies.forWorkload());
  });

  it('count is the policies that apply somewhere; describe() is JSON-able', () => {
    const { policies } = compileYaml(yaml);
    expect(policies.count).toBe(3);
    const dump = policies.describe();
    expect(JSON.parse(JSON.stringify(dump))).toEqual(dump);
    expect(dump).toMatchObject({ waypoint: 'default/waypoint', rootNamespace: 'istio-system', count: 3 });
    expect(dump.policies).toEqual([
      { policy: 'default/gw-deny', file: 'policies.yaml', action: 'DENY', dryRun: false, rules: 1, targets: ['Gateway waypoint'], appliesTo: ['waypoint (Gateway)'] },
      { policy: 'default/ns-wide', file: 'policies.yaml', action: 'ALLOW', dryRun: false, rules: 0, targets: [], appliesTo: [] },
      { policy: 'default/svc-allow', file: 'policies.yaml', action: 'ALLOW', dryRun: false, rules: 1, targets: ['Service reviews'], appliesTo: ['Service default/reviews'] },
      { policy: 'istio-system/mesh-allow', file: 'policies.yaml', action: 'ALLOW', dryRun: true, rules: 1, targets: ['GatewayClass istio-waypoint'], appliesTo: ['waypoint (GatewayClass)'] },
    ]);
  });

  it('PolicySet splits policies by action and enforcement', () => {
    const { policies } = compileYaml(yaml);
    const set = policies.forService(REVIEWS);
    expect(set.deny.map((p) => p.id)).toEqual(['default/gw-deny']);
    expect(set.allow.map((p) => p.id)).toEqual(['default/svc-allow']);
    expect(set.dryRun.map((p) => p.id)).toEqual(['istio-system/mesh-allow']);
    expect(set.size).toBe(3);
  });
});

describe('benchDecision', () => {
  // Timing is bench/policy-decision.ts's business; here, that it measures the paths it names.
  it('compiles 1,000 policies on one service and decides its request mix as each request says', async () => {
    const { benchDecision } = await import('../../../bench/policy-decision.js');
    const out = benchDecision(50);
    expect(out).toMatchObject({ policies: 1000, rules: 2000 });
    expect(out.decisions).toEqual([
      { allowed: true, policy: 'bench/p0001', rule: 0 }, // allowed by the first ALLOW policy
      { allowed: true, policy: 'bench/p0999', rule: 0 }, // allowed by the last ALLOW policy
      { allowed: true, policy: 'bench/p0501', rule: 1 }, // allowed half way (the writer rule)
      { allowed: false, policy: 'bench/p0010', rule: 0 }, // denied by a DENY rule
      { allowed: false, policy: undefined, rule: undefined }, // denied: no ALLOW rule matches
      { allowed: true, policy: 'bench/p0007', rule: 0 }, // allowed after path normalisation
      { allowed: true, policy: 'bench/p0995', rule: 0 }, // a source-agnostic policy near the end
      // TCP: a DENY rule drops its HTTP-only conditions and so matches more (its ipBlock holds the source).
      { allowed: false, policy: 'bench/p0000', rule: 1 },
    ]);
  });
});
