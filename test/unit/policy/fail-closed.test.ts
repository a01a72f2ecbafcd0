import { describe, expect, it } from 'vitest';
import { compilePolicies, readableTargets } from '../../../src/policy/compile.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import { context, httpReq, resources, REVIEWS, service, tcpReq } from '../../fixtures/policy/resources.js';

const RATINGS = 'ratings.default.svc.cluster.local';
const CATALOG = 'catalog.other.svc.cluster.local';

function policy(name: string, spec: string, namespace = 'default'): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${namespace}}
spec:
${spec}`;
}

const BAD_RULE_ON_REVIEWS = policy(
  'broken',
  `  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules:
  - to: [{operation: {methods: [GET]}}]
    when: [{key: no.such.key, values: [x]}]
`,
);

const BAD_TARGETS = policy('broken', `  targetRefs: [{kind: Deployment, group: apps, name: reviews}]\n  rules: [{}]\n`);

describe('compilePolicies with failClosed', () => {
  it('without the option (files) a malformed policy is an error that rejects the configuration', () => {
    const { policies, problems } = compilePolicies(resources(BAD_RULE_ON_REVIEWS), context());
    expect(problems.some((p) => p.severity === 'error' && p.resourceSkipped !== true)).toBe(true);
    expect(policies.all).toHaveLength(0);
  });

  const rows = [
    {
      name: 'a bad rule: only its target Service denies',
      yaml: BAD_RULE_ON_REVIEWS,
      denied: [REVIEWS],
      allowed: [RATINGS, CATALOG],
    },
    {
      name: 'unreadable targets: every bound Service of its namespace denies',
      yaml: BAD_TARGETS,
      denied: [REVIEWS, RATINGS],
      allowed: [CATALOG],
    },
    {
      name: 'a bad rule targeting the waypoint Gateway: everything behind the waypoint denies',
      yaml: policy('broken', `  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]\n  action: MAYBE\n`),
      denied: [REVIEWS, RATINGS, CATALOG],
      allowed: [],
    },
    {
      name: 'a good policy next to a bad one still applies as written',
      yaml: `${BAD_RULE_ON_REVIEWS}---\n${policy('only-get', `  targetRefs: [{kind: Service, group: "", name: ratings}]\n  rules: [{to: [{operation: {methods: [POST]}}]}]\n`)}`,
      denied: [REVIEWS, RATINGS],
      allowed: [CATALOG],
    },
  ];
  it.each(rows)('$name', ({ yaml, denied, allowed }) => {
    const { policies, problems } = compilePolicies(resources(yaml), context(), { failClosed: true });
    expect(problems.filter((p) => p.severity === 'error' && p.resourceSkipped !== true)).toEqual([]);
    for (const host of denied) {
      const d = evaluate(policies.forService(host), httpReq({ host }));
      expect(d.allowed, host).toBe(false);
      if (d.policy === 'default/broken') expect(d.reason).toMatch(/AuthorizationPolicy default\/broken cannot be compiled .*fail closed/);
    }
    for (const host of allowed) expect(evaluate(policies.forService(host), httpReq({ host })).allowed, host).toBe(true);
  });

  it('denies TCP traffic at its targets too, and says so in a warning naming the policy', () => {
    const { policies, problems } = compilePolicies(resources(BAD_RULE_ON_REVIEWS), context(), { failClosed: true });
    expect(evaluate(policies.forService(REVIEWS), tcpReq()).allowed).toBe(false);
    const note = problems.find((p) => p.severity === 'warning' && p.name === 'broken');
    expect(note?.message).toContain('deny every request until it is fixed');
    expect(policies.describe().policies[0]?.failedClosed).toMatch(/cannot be compiled/);
  });

  it('unreadable targets skip Services of the namespace that are not bound to this waypoint', () => {
    const unbound = { ...service('default', 'ratings', '127.40.0.2'), bound: false };
    const ctx = context({ services: [service('default', 'reviews'), unbound] });
    const { policies } = compilePolicies(resources(BAD_TARGETS), ctx, { failClosed: true });
    expect(evaluate(policies.forService(REVIEWS), httpReq()).allowed).toBe(false);
    expect(evaluate(policies.forService(RATINGS), httpReq({ host: RATINGS })).allowed).toBe(true);
  });
});

describe('readableTargets', () => {
  const rows: Array<{ name: string; raw: Record<string, unknown>; fields: string[]; expected: string[] | undefined }> = [
    { name: 'targets fine, error elsewhere', raw: { spec: { targetRefs: [{ kind: 'Service', name: 'a' }] } }, fields: ['spec.rules[0].when[0]'], expected: ['Service a'] },
    { name: 'single targetRef', raw: { spec: { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'w' } } }, fields: ['spec.action'], expected: ['Gateway w'] },
    { name: 'an error inside targetRefs', raw: { spec: { targetRefs: [{ kind: 'Service', name: 'a' }] } }, fields: ['spec.targetRefs[0].name'], expected: undefined },
    { name: 'a kind a waypoint does not know', raw: { spec: { targetRefs: [{ kind: 'Deployment', group: 'apps', name: 'a' }] } }, fields: ['spec.rules'], expected: undefined },
    { name: 'a Service ref with the wrong group', raw: { spec: { targetRefs: [{ kind: 'Service', group: 'apps', name: 'a' }] } }, fields: ['spec.rules'], expected: undefined },
    { name: 'targetRefs not a list', raw: { spec: { targetRefs: 'reviews' } }, fields: ['spec.rules'], expected: undefined },
    { name: 'spec itself broken', raw: { spec: 'x' }, fields: ['spec'], expected: undefined },
    { name: 'no targets at all', raw: { spec: { rules: [] } }, fields: ['spec.action'], expected: [] },
  ];
  it.each(rows)('$name', ({ raw, fields, expected }) => {
    expect(readableTargets(raw, fields)?.map((r) => `${r.kind} ${r.name}`)).toEqual(expected);
  });
});
