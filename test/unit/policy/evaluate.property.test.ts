/**
 * Properties of the AuthorizationPolicy matcher over generated rules and requests (all IPs
 * loopback): evaluation never throws, DENY wins over ALLOW for the same rule, an ALLOW rule and the
 * same DENY rule decide opposite ways on HTTP, and the order of policies does not matter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileYaml, context, gatewayPolicy, REVIEWS, SLEEP } from '../../fixtures/policy/resources.js';
import { compilePolicies } from '../../../src/policy/compile.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import type { PolicySet } from '../../../src/policy/compile.js';
import type { RequestAttributes } from '../../../src/policy/types.js';
import { normalizePath } from '../../../src/config/path-normalization.js';
import { resources } from '../../fixtures/policy/resources.js';

const PRINCIPALS = [SLEEP, 'spiffe://cluster.local/ns/prod/sa/api', 'spiffe://cluster.local/ns/dev/sa/web', ''];
const IPS = ['127.0.0.10', '127.0.1.10', '127.1.0.10'];
const METHODS = ['GET', 'POST', 'DELETE', 'PATCH', 'get'];
const PATHS = ['/', '/admin', '/admin/users', '/api/v1/items', '/static/app.js', '/public/../admin', '/ADMIN', '//admin', '/admin%2Fx', '/api/%761/items?q=1', '/x%00y', '/%zz'];
const HOSTS = [REVIEWS, `${REVIEWS}:80`, 'Reviews.Default.svc.cluster.local', 'other.example', ''];
const PORTS = [80, 8080, 9080];

const sub = <T>(xs: readonly T[]): fc.Arbitrary<T[]> => fc.subarray([...xs], { minLength: 1, maxLength: Math.min(2, xs.length) });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });

const source = fc
  .record({
    principals: opt(sub(['cluster.local/ns/default/sa/sleep', 'cluster.local/ns/prod/*', '*/sa/web', '*'])),
    notPrincipals: opt(sub(['cluster.local/ns/dev/sa/web'])),
    namespaces: opt(sub(['default', 'prod', 'pro*', '*'])),
    notNamespaces: opt(sub(['dev'])),
    ipBlocks: opt(sub(['127.0.0.0/24', '127.0.0.0/16', '127.1.0.10'])),
    notIpBlocks: opt(sub(['127.0.1.0/24'])),
  })
  .filter((s) => Object.values(s).some((v) => v !== undefined));
const operation = fc
  .record({
    methods: opt(sub(['GET', 'POST', 'DELETE', 'P*'])),
    notMethods: opt(sub(['PATCH'])),
    paths: opt(sub(['/api/*', '/admin', '/admin*', '*.js', '/static/*', '*', '/api/{*}/items', '/'])),
    notPaths: opt(sub(['/admin/users'])),
    ports: opt(sub(['80', '9080'])),
    notPorts: opt(sub(['8080'])),
    hosts: opt(sub([REVIEWS, '*.svc.cluster.local', 'reviews*', 'other.example'])),
    notHosts: opt(sub(['other.example'])),
  })
  .filter((o) => Object.values(o).some((v) => v !== undefined));
const condition = fc.oneof(
  fc.record({ key: fc.constant('request.headers[x-user]'), values: sub(['alice', 'bob', 'ali*', '*']) }),
  fc.record({ key: fc.constant('request.headers[x-user]'), notValues: sub(['alice']) }),
  fc.record({ key: fc.constant('source.ip'), values: sub(['127.0.0.0/24', '127.1.0.10']) }),
  fc.record({ key: fc.constant('destination.port'), values: sub(['80', '9080']) }),
  fc.record({ key: fc.constant('request.headers[:method]'), values: sub(['GET']) }),
);
const rule = fc
  .record({
    from: opt(fc.array(source.map((s) => ({ source: s })), { minLength: 1, maxLength: 2 })),
    to: opt(fc.array(operation.map((o) => ({ operation: o })), { minLength: 1, maxLength: 2 })),
    when: opt(fc.array(condition, { minLength: 1, maxLength: 2 })),
  })
  .map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>);

const httpRequest: fc.Arbitrary<RequestAttributes> = fc.record({
  sourcePrincipal: fc.constantFrom(...PRINCIPALS),
  sourceIp: fc.constantFrom(...IPS),
  destinationIp: fc.constant('127.40.0.1'),
  destinationPort: fc.constantFrom(...PORTS),
  http: fc.record({
    method: fc.constantFrom(...METHODS),
    host: fc.constantFrom(...HOSTS),
    path: fc.oneof(fc.constantFrom(...PATHS), fc.string({ maxLength: 20 }).map((s) => `/${s}`)),
    headers: fc.oneof(fc.constant({}), fc.record({ 'x-user': fc.oneof(fc.constantFrom('alice', 'bob', ''), fc.array(fc.constantFrom('alice', 'bob'), { minLength: 2, maxLength: 2 })) })),
  }),
});
const tcpRequest: fc.Arbitrary<RequestAttributes> = fc.record({
  sourcePrincipal: fc.constantFrom(...PRINCIPALS),
  sourceIp: fc.constantFrom(...IPS),
  destinationIp: fc.constant('127.40.0.1'),
  destinationPort: fc.constantFrom(...PORTS),
});

function policy(name: string, action: 'ALLOW' | 'DENY', r: Record<string, unknown>): string {
  return gatewayPolicy(name, `  action: ${action}\n  rules:\n  - ${JSON.stringify(r)}\n`);
}

/** The policy set for the reviews Service, or undefined when a policy was refused at compile time. */
function compiled(text: string): PolicySet | undefined {
  const { policies, problems } = compilePolicies(resources(text), context());
  if (problems.some((p) => p.severity === 'error')) return undefined;
  return policies.forService(REVIEWS);
}

describe('evaluate (property)', () => {
  it('never throws, whatever the request carries', () => {
    const junk = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
    const anyRequest: fc.Arbitrary<RequestAttributes> = fc.record({
      sourcePrincipal: fc.oneof(fc.constantFrom(...PRINCIPALS), junk),
      sourceIp: fc.oneof(fc.constantFrom(...IPS), junk),
      destinationIp: fc.oneof(fc.constant('127.40.0.1'), junk),
      destinationPort: fc.integer({ min: -1, max: 70000 }),
      http: fc.option(
        fc.record({
          method: junk,
          host: junk,
          path: junk,
          headers: fc.dictionary(fc.oneof(fc.constant('x-user'), junk), fc.oneof(junk, fc.array(junk, { maxLength: 3 }))),
        }),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(fc.constantFrom<'ALLOW' | 'DENY'>('ALLOW', 'DENY'), rule, anyRequest, (action, r, req) => {
        const set = compiled(policy('p', action, r));
        fc.pre(set !== undefined);
        const d = evaluate(set, req);
        expect(typeof d.allowed).toBe('boolean');
        expect(d.reason).not.toBe('');
      }),
      { numRuns: 400 },
    );
  });

  it('DENY wins over ALLOW for the same rule: the request is never allowed, and when the rule matches the DENY policy decides', () => {
    fc.assert(
      fc.property(rule, fc.oneof(httpRequest, tcpRequest), fc.boolean(), (r, req, denyFirst) => {
        const allow = policy('allow-it', 'ALLOW', r);
        const deny = policy('deny-it', 'DENY', r);
        const both = compiled(denyFirst ? `${deny}---\n${allow}` : `${allow}---\n${deny}`);
        const allowOnly = compiled(allow);
        fc.pre(both !== undefined && allowOnly !== undefined);
        const d = evaluate(both, req);
        expect(d.allowed).toBe(false);
        if (evaluate(allowOnly, req).allowed) expect(d).toMatchObject({ action: 'DENY', policy: 'default/deny-it' });
      }),
      { numRuns: 600 },
    );
  });

  it('on HTTP, an ALLOW rule allows exactly the requests the same DENY rule denies (paths that normalise)', () => {
    fc.assert(
      fc.property(rule, httpRequest, (r, req) => {
        fc.pre(normalizePath(req.http!.path) !== undefined);
        const allow = compiled(policy('a', 'ALLOW', r));
        const deny = compiled(policy('d', 'DENY', r));
        fc.pre(allow !== undefined && deny !== undefined);
        expect(evaluate(allow, req).allowed).toBe(!evaluate(deny, req).allowed);
      }),
      { numRuns: 600 },
    );
  });

  it('the order of policies does not change a decision', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<'ALLOW' | 'DENY'>('ALLOW', 'DENY'), rule), { minLength: 1, maxLength: 4 }),
        fc.oneof(httpRequest, tcpRequest),
        (ps, req) => {
          const docs = ps.map(([action, r], i) => policy(`p${i}`, action, r));
          const forward = compiled(docs.join('---\n'));
          const backward = compiled([...docs].reverse().join('---\n'));
          fc.pre(forward !== undefined && backward !== undefined);
          const a = evaluate(forward, req);
          const b = evaluate(backward, req);
          expect(a.allowed).toBe(b.allowed);
          expect(a.action).toBe(b.action);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('compileYaml accepts the generated rules (the generators stay inside the schema)', () => {
    fc.assert(
      fc.property(rule, (r) => {
        compileYaml(policy('p', 'ALLOW', r), context());
      }),
      { numRuns: 200 },
    );
  });
});
