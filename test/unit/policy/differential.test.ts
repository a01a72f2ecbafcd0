/**
 * The fast path (per-client candidate cache and signature prefilter) must decide exactly as a
 * naive scan of every rule in order. Seeded random policies and requests; all IPs loopback.
 */
import { describe, expect, it } from 'vitest';
import { compileYaml, context } from '../../fixtures/policy/resources.js';
import { createRandom } from '../../helpers/random.js';
import type { CompiledPolicy, PolicySet } from '../../../src/policy/compile.js';
import { evaluate, firstMatchingRule } from '../../../src/policy/evaluate.js';
import { RequestView } from '../../../src/policy/rules.js';
import type { AuthzDecision, RequestAttributes } from '../../../src/policy/types.js';

const NAMESPACES = ['default', 'prod', 'dev'];
const ACCOUNTS = ['sleep', 'admin', 'web'];
const METHODS = ['GET', 'POST', 'DELETE', 'PATCH'];
const PATHS = ['/', '/api/v1/items', '/api/v2/items', '/admin', '/admin/users', '/static/app.js', '/public/../admin', '/api/%761/items?q=1'];
const PATH_VALUES = ['/api/*', '/api/v1/*', '/admin', '/admin*', '*.js', '/static/*', '*', '/api/{*}/items', '/'];
const PORTS = [80, 9080, 15000];
const IPS = ['127.0.0.10', '127.0.1.10', '127.1.0.10'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function some<T>(r: () => number, xs: readonly T[]): T[] {
  const n = 1 + Math.floor(r() * 2);
  return Array.from({ length: n }, () => pick(r, xs));
}

const list = (xs: readonly (string | number)[]): string => `[${xs.map((x) => JSON.stringify(String(x))).join(', ')}]`;

function randomSource(r: () => number, custom: boolean): string {
  const fields: string[] = [];
  const roll = (): boolean => r() < 0.35;
  if (custom) return `{source: {ipBlocks: ${list(some(r, ['127.0.0.0/24', '127.1.0.10']))}}}`;
  if (roll()) fields.push(`principals: ${list(some(r, ACCOUNTS).map((a) => `cluster.local/ns/${pick(r, NAMESPACES)}/sa/${a}`))}`);
  if (roll()) fields.push(`notPrincipals: ${list(['cluster.local/ns/dev/sa/web'])}`);
  if (roll()) fields.push(`namespaces: ${list(some(r, [...NAMESPACES, 'pro*']))}`);
  if (roll()) fields.push(`ipBlocks: ${list(some(r, ['127.0.0.0/24', '127.0.0.0/16', '127.1.0.10']))}`);
  if (roll()) fields.push(`notIpBlocks: ${list(['127.0.1.0/24'])}`);
  if (fields.length === 0) fields.push(`namespaces: ${list([pick(r, NAMESPACES)])}`);
  return `{source: {${fields.join(', ')}}}`;
}

function randomOperation(r: () => number): string {
  const fields: string[] = [];
  const roll = (): boolean => r() < 0.4;
  if (roll()) fields.push(`methods: ${list(some(r, [...METHODS, 'P*']))}`);
  if (roll()) fields.push(`paths: ${list(some(r, PATH_VALUES))}`);
  if (roll()) fields.push(`notPaths: ${list(['/admin/users'])}`);
  if (roll()) fields.push(`ports: ${list(some(r, PORTS))}`);
  if (roll()) fields.push(`notMethods: ${list(['DELETE'])}`);
  if (fields.length === 0) fields.push(`ports: ${list([pick(r, PORTS)])}`);
  return `{operation: {${fields.join(', ')}}}`;
}

/** A random rule; DENY and CUSTOM rules always constrain both source and operation (narrow). */
function randomRule(r: () => number, action: string): string {
  const custom = action === 'CUSTOM';
  const narrow = action !== 'ALLOW';
  const parts: string[] = [];
  if (narrow || r() < 0.6) parts.push(`from: [${Array.from({ length: 1 + Math.floor(r() * 2) }, () => randomSource(r, custom)).join(', ')}]`);
  if (narrow || r() < 0.6) parts.push(`to: [${Array.from({ length: 1 + Math.floor(r() * 2) }, () => randomOperation(r)).join(', ')}]`);
  if (r() < 0.25) parts.push(`when: [{key: destination.port, values: ${list(some(r, PORTS))}}]`);
  if (r() < 0.15) parts.push(`when: [{key: "request.headers[x-team]", notValues: ["blue"]}]`);
  if (r() < 0.15 && !custom) parts.push(`when: [{key: source.namespace, values: ${list([pick(r, NAMESPACES)])}}]`);
  return `{${parts.join(', ')}}`;
}

function randomPolicies(r: () => number, n: number): string {
  return Array.from({ length: n }, (_, i) => {
    const action = pick(r, ['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'DENY', 'DENY', 'CUSTOM']);
    const rules = Array.from({ length: 1 + Math.floor(r() * 3) }, () => randomRule(r, action)).map((x) => `  - ${x}`).join('\n');
    return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p${String(i).padStart(3, '0')}, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}]
  action: ${action}
${action === 'CUSTOM' ? '  provider: {name: opa}\n' : ''}  rules:
${rules}
`;
  }).join('---\n');
}

function randomRequest(r: () => number): RequestAttributes {
  const base = {
    sourcePrincipal: r() < 0.1 ? '' : `spiffe://cluster.local/ns/${pick(r, NAMESPACES)}/sa/${pick(r, ACCOUNTS)}`,
    sourceIp: pick(r, IPS),
    destinationIp: '127.40.0.1',
    destinationPort: pick(r, PORTS),
  };
  if (r() < 0.3) return base;
  return {
    ...base,
    http: { method: pick(r, METHODS), host: 'reviews.default.svc.cluster.local', path: pick(r, PATHS), headers: r() < 0.3 ? { 'x-team': 'blue' } : {} },
  };
}

/** The decision by scanning every enforced rule of every policy in order. */
function reference(set: PolicySet, attrs: RequestAttributes): Pick<AuthzDecision, 'allowed' | 'action' | 'policy' | 'rule'> {
  const v = new RequestView().reset(attrs);
  if (!v.tcp && set.needsPath && v.normalizedPath() === undefined) return { allowed: false, action: 'NONE' };
  const first = (ps: readonly CompiledPolicy[]): { policy: string; rule: number } | undefined => {
    for (const p of ps) {
      const r = firstMatchingRule(p, v);
      if (r !== undefined) return { policy: p.id, rule: r.index };
    }
    return undefined;
  };
  const custom = first(set.custom);
  if (custom !== undefined) return { allowed: false, action: 'CUSTOM', ...custom };
  const deny = first(set.deny);
  if (deny !== undefined) return { allowed: false, action: 'DENY', ...deny };
  if (set.allow.length === 0) return { allowed: true, action: 'NONE' };
  const allow = first(set.allow);
  return allow !== undefined ? { allowed: true, action: 'ALLOW', ...allow } : { allowed: false, action: 'ALLOW' };
}

interface SeedRun {
  /** `action:allowed` of every decision made. */
  outcomes: Set<string>;
  /** Requests where the fast path and the full scan disagree. */
  mismatches: Array<{ request: RequestAttributes; got: Pick<AuthzDecision, 'allowed' | 'action' | 'policy' | 'rule'>; want: Pick<AuthzDecision, 'allowed' | 'action' | 'policy' | 'rule'> }>;
}

/** 12 random policies and 400 random requests from one seed, each decided both ways. Pure. */
function runSeed(seed: number): SeedRun {
  const r = createRandom(seed);
  const { policies } = compileYaml(randomPolicies(r, 12), context());
  const set = policies.forService('reviews.default.svc.cluster.local');
  const run: SeedRun = { outcomes: new Set(), mismatches: [] };
  for (let i = 0; i < 400; i++) {
    const request = randomRequest(r);
    const d = evaluate(set, request);
    const got = { allowed: d.allowed, action: d.action, policy: d.policy, rule: d.rule };
    const w = reference(set, request);
    const want = { allowed: w.allowed, action: w.action, policy: w.policy, rule: w.rule };
    run.outcomes.add(`${got.action}:${got.allowed}`);
    if (JSON.stringify(got) !== JSON.stringify(want)) run.mismatches.push({ request, got, want });
  }
  return run;
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

// Each test computes what it needs from its seeds: none depends on another having run first.
describe('fast path equals a full scan', () => {
  it.each(SEEDS)('seed %i: 12 random policies, 400 random requests', (seed) => {
    const { outcomes, mismatches } = runSeed(seed);
    expect(mismatches.slice(0, 3)).toEqual([]);
    // The random mix reaches several layers (not one policy deciding everything).
    expect(outcomes.size, [...outcomes].join(' ')).toBeGreaterThanOrEqual(3);
  });

  it('across seeds every outcome occurs', () => {
    const all = new Set(SEEDS.flatMap((seed) => [...runSeed(seed).outcomes]));
    expect([...all].sort()).toEqual(['ALLOW:false', 'ALLOW:true', 'CUSTOM:false', 'DENY:false']);
  });
});
