/** explain(): which policies apply, what each rule does with the request, and the decision. */
import { describe, expect, it } from 'vitest';
import { compileYaml, gatewayPolicy, httpReq, oneRule, REVIEWS, tcpReq } from '../../fixtures/policy/resources.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import { explain } from '../../../src/policy/explain.js';

const YAML = [
  gatewayPolicy('allow-get', '  rules:\n  - to: [{operation: {methods: [GET], paths: ["/public*"]}}]\n  - from: [{source: {namespaces: [prod]}}, {source: {principals: [cluster.local/ns/default/sa/admin]}}]\n'),
  oneRule('DENY', '{from: [{source: {requestPrincipals: ["*"]}}], to: [{operation: {paths: [/admin]}}]}', 'deny-jwt'),
  oneRule('AUDIT', '{to: [{operation: {methods: [GET]}}]}', 'audit-get'),
  gatewayPolicy('dry-deny', '  action: DENY\n  rules: [{}]\n', { annotations: '    istio.io/dry-run: "true"' }),
  'kind: AuthorizationPolicy\nmetadata: {name: svc-nothing, namespace: default}\nspec:\n  targetRefs: [{kind: Service, group: "", name: ratings}]\n',
].join('---\n');

describe('explain', () => {
  const { policies } = compileYaml(YAML);

  it('lists every applicable policy with a verdict per rule, and the same decision as evaluate()', () => {
    const req = httpReq({ path: '/private' });
    const out = explain(policies, { serviceHostname: REVIEWS }, req);
    expect(out.target).toBe(`service ${REVIEWS}`);
    expect(out.protocol).toBe('http');
    expect(out.decision).toEqual(evaluate(policies.forService(REVIEWS), req));
    expect(out.decision).toMatchObject({ allowed: false, reason: 'denied: no ALLOW policy matched (1 ALLOW policy applies)' });
    expect(out.applicable.map((p) => [p.policy, p.action, p.dryRun])).toEqual([
      ['default/allow-get', 'ALLOW', false],
      ['default/audit-get', 'AUDIT', false],
      ['default/deny-jwt', 'DENY', false],
      ['default/dry-deny', 'DENY', true],
    ]);
    const allow = out.applicable[0]!.rules;
    expect(allow[0]).toEqual({
      index: 0,
      matched: false,
      why: 'not matched: no to entry matched (to[0]: operation.paths: normalised path "/private" matches none of ["/public*"])',
    });
    expect(allow[1]!.why).toBe(
      'not matched: no from entry matched (from[0]: source.namespaces: peer "spiffe://cluster.local/ns/default/sa/sleep" matches none of ["prod"]; ' +
        'from[1]: source.principals: peer "spiffe://cluster.local/ns/default/sa/sleep" matches none of ["cluster.local/ns/default/sa/admin"])',
    );
    expect(out.applicable[1]!.rules[0]).toEqual({ index: 0, matched: true, why: 'matched' });
    expect(out.applicable[2]!.rules[0]!.why).toContain('source.requestPrincipals: no validated JWT, so none of ["*"] can match');
    expect(out.applicable[3]!.rules[0]).toEqual({ index: 0, matched: true, why: 'matched: an empty rule matches every request' });
    expect(out.decision.dryRun).toEqual([{ policy: 'default/dry-deny', action: 'DENY', matched: true }]);
  });

  it('explains TCP: dropped ALLOW rules and widened DENY rules', () => {
    const out = explain(policies, { serviceHostname: REVIEWS }, tcpReq());
    expect(out.protocol).toBe('tcp');
    const allow = out.applicable.find((p) => p.policy === 'default/allow-get')!;
    expect(allow.rules[0]!.why).toBe(
      'never matches TCP traffic: an ALLOW rule using HTTP-only attributes is ignored on TCP (spec.rules[0].to[0].operation.methods, spec.rules[0].to[0].operation.paths)',
    );
    const deny = out.applicable.find((p) => p.policy === 'default/deny-jwt')!;
    expect(deny.rules[0]).toMatchObject({ matched: true });
    expect(deny.rules[0]!.why).toContain('HTTP-only attributes ignored on TCP traffic, so this DENY rule matches more');
    expect(out.decision).toMatchObject({ allowed: false, action: 'DENY', policy: 'default/deny-jwt', rule: 0 });
  });

  it('negative lists and conditions are explained', () => {
    const { policies: p } = compileYaml(oneRule('ALLOW', '{to: [{operation: {notMethods: [GET]}}], when: [{key: "request.headers[x-user]", values: [alice]}]}'));
    const out = explain(p, { serviceHostname: REVIEWS }, httpReq());
    expect(out.applicable[0]!.rules[0]!.why).toBe(
      'not matched: no to entry matched (to[0]: operation.notMethods: method "GET" matches one of ["GET"]); when request.headers[x-user] values: no x-user header, so none of ["alice"] can match',
    );
  });

  it('a policy without rules', () => {
    const out = explain(policies, { serviceHostname: 'ratings.default.svc.cluster.local' }, httpReq());
    const nothing = out.applicable.find((p) => p.policy === 'default/svc-nothing')!;
    expect(nothing.rules).toEqual([
      { index: 0, matched: false, why: 'the policy has no rules, so it never matches (an ALLOW policy without rules denies everything in its scope)' },
    ]);
  });

  it('without a service hostname: workload traffic, Gateway and GatewayClass policies only', () => {
    const out = explain(policies, {}, httpReq({ path: '/public/x' }));
    expect(out.target).toBe('waypoint');
    expect(out.applicable.some((p) => p.policy === 'default/svc-nothing')).toBe(false);
    expect(out.decision).toMatchObject({ allowed: true, policy: 'default/allow-get', rule: 0 });
  });
});
