/**
 * Micro-benchmark of the decision path: 1,000 ALLOW/DENY policies attached to one Service, and
 * `evaluate()` timed over a mix of HTTP and TCP requests (allowed early, allowed late, denied by a
 * DENY rule, denied because no ALLOW rule matched). One policy in ten ignores the source, the
 * others are scoped to a client namespace or identity, as most are. Not a test: `bench/` calls it and reports
 * the figure.
 */
import type { LoadedResource, ServiceInfo } from '../src/config/types.js';
import { compilePolicies } from '../src/policy/compile.js';
import { evaluate } from '../src/policy/evaluate.js';
import type { RequestAttributes } from '../src/policy/types.js';

const POLICIES = 1000;
const HOST = 'reviews.bench.svc.cluster.local';

function benchService(): ServiceInfo {
  return {
    name: 'reviews',
    namespace: 'bench',
    hostname: HOST,
    vips: ['127.41.0.1'],
    ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: undefined, protocol: 'http' }],
    selector: { app: 'reviews' },
    labels: {},
    bound: true,
    bindingReason: 'bench',
  };
}

function policy(i: number): LoadedResource {
  const deny = i % 10 === 0;
  // One policy in ten does not look at the source at all: every request must test it.
  const anySource = i % 10 === 5;
  const spec = anySource
    ? { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'], paths: [`/static/${i}/*`] } }] }, { when: [{ key: 'request.headers[x-tenant]', values: [`t${i}`] }] }] }
    : deny
    ? {
        action: 'DENY',
        rules: [
          { from: [{ source: { principals: [`cluster.local/ns/team${i}/sa/blocked`] } }], to: [{ operation: { paths: [`/admin/${i}/*`] } }] },
          { from: [{ source: { ipBlocks: [`127.${(i >> 8) & 255}.${i & 255}.0/24`] } }], when: [{ key: 'request.headers[x-block]', values: [`b${i}`] }] },
        ],
      }
    : {
        action: 'ALLOW',
        rules: [
          { from: [{ source: { namespaces: [`team${i}`] } }], to: [{ operation: { methods: ['GET', 'HEAD'], paths: [`/api/v${i}/*`] } }] },
          { from: [{ source: { principals: [`cluster.local/ns/team${i}/sa/writer`] } }], to: [{ operation: { methods: ['POST'], ports: ['80'] } }] },
        ],
      };
  return {
    file: 'bench.yaml',
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    namespace: 'bench',
    name: `p${String(i).padStart(4, '0')}`,
    raw: {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `p${String(i).padStart(4, '0')}`, namespace: 'bench' },
      spec: { targetRefs: [{ kind: 'Service', group: '', name: 'reviews' }], ...spec },
    },
  };
}

function requests(): RequestAttributes[] {
  const http = (principal: string, method: string, path: string, headers: Record<string, string> = {}): RequestAttributes => ({
    sourcePrincipal: principal,
    sourceIp: '127.0.0.10',
    destinationIp: '127.41.0.1',
    destinationPort: 80,
    http: { method, host: HOST, path, headers: { 'user-agent': 'bench', ...headers } },
  });
  const sa = (ns: string, name: string): string => `spiffe://cluster.local/ns/${ns}/sa/${name}`;
  return [
    http(sa('team1', 'reader'), 'GET', '/api/v1/items?page=2'), // allowed by the first ALLOW policy
    http(sa('team999', 'reader'), 'GET', '/api/v999/items'), // allowed by the last ALLOW policy
    http(sa('team501', 'writer'), 'POST', '/anything'), // allowed half way (team500's policy is a DENY one)
    http(sa('team10', 'blocked'), 'GET', '/admin/10/x'), // denied by a DENY rule
    http(sa('nobody', 'x'), 'GET', '/api/v3/items'), // denied: no ALLOW rule matches
    http(sa('team7', 'reader'), 'GET', '/api/v7/a/../b', { 'x-block': 'no' }), // needs path normalisation
    http(sa('team8', 'reader'), 'GET', '/static/995/app.js'), // allowed by a source-agnostic policy near the end
    { sourcePrincipal: sa('team3', 'reader'), sourceIp: '127.0.0.10', destinationIp: '127.41.0.1', destinationPort: 80 }, // TCP
  ];
}

/** What one request of the mix came to: the decision, and the policy and rule that made it. */
export interface BenchDecision {
  allowed: boolean;
  policy: string | undefined;
  rule: number | undefined;
}

export function benchDecision(n: number): { policies: number; rules: number; decisions: BenchDecision[]; nsPerDecision: number } {
  const { policies, problems } = compilePolicies(Array.from({ length: POLICIES }, (_, i) => policy(i)), {
    waypoint: { namespace: 'bench', name: 'waypoint' },
    rootNamespace: 'istio-system',
    trustDomain: 'cluster.local',
    services: [benchService()],
  });
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(`bench policies do not compile: ${errors[0]!.field ?? ''} ${errors[0]!.message}`);
  const set = policies.forService(HOST);
  const reqs = requests();
  // Each request of the mix once, so a test can check the benchmark measures the paths it names.
  const decisions = reqs.map((r): BenchDecision => {
    const d = evaluate(set, r);
    return { allowed: d.allowed, policy: d.policy, rule: d.rule };
  });
  let allowed = 0;
  const warm = Math.min(n, 2000);
  for (let i = 0; i < warm; i++) if (evaluate(set, reqs[i % reqs.length]!).allowed) allowed++;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (evaluate(set, reqs[i % reqs.length]!).allowed) allowed++;
  const elapsed = Number(process.hrtime.bigint() - start);
  if (allowed < 0) throw new Error('unreachable'); // keeps the loop observable
  return {
    policies: set.size,
    rules: set.policies.reduce((sum, p) => sum + p.ruleCount, 0),
    decisions,
    nsPerDecision: n > 0 ? elapsed / n : 0,
  };
}
