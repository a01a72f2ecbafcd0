/**
 * Introspection as an operator uses it: `/routes` (text and JSON), DestinationRule subset
 * clusters in `/clusters`, `/authz/explain` with short names and Istio-style principals, and
 * `waypoint inspect` against a running waypoint, in table, JSON and YAML. Addresses: 127.157.2.x
 * (pods) and 127.157.20.x (VIPs).
 */
import { request } from 'undici';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import type { RouteView } from '../../src/admin/route-views.js';
import type { ClusterView } from '../../src/admin/views.js';
import { runCli } from '../helpers/process.js';

const WP = '127.157.2.10';
const pods: MeshPod[] = [
  { name: 'reviews-v1', namespace: 'bookinfo', serviceAccount: 'reviews', ip: '127.157.2.1', httpPort: 9080 },
  { name: 'reviews-v2', namespace: 'bookinfo', serviceAccount: 'reviews', ip: '127.157.2.2', httpPort: 9080 },
  { name: 'ratings-v1', namespace: 'bookinfo', serviceAccount: 'ratings', ip: '127.157.2.3', httpPort: 9080 },
];
const pod = (p: MeshPod, app: string, version: string): string => `---
apiVersion: v1
kind: Pod
metadata: { name: ${p.name}, namespace: bookinfo, labels: { app: ${app}, version: ${version} } }
spec: { serviceAccountName: ${p.serviceAccount}, containers: [{ name: app, ports: [{ name: http, containerPort: 9080 }] }] }
status: { phase: Running, podIP: ${p.ip} }
`;
const CONFIG = `apiVersion: v1
kind: Namespace
metadata: { name: bookinfo, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: bookinfo }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: bookinfo }
spec: { clusterIP: 127.157.20.1, selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: bookinfo }
spec: { clusterIP: 127.157.20.2, selector: { app: ratings }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ratings-route, namespace: bookinfo }
spec:
  parentRefs: [{ group: "", kind: Service, name: ratings, port: 9080 }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /v2 }, headers: [{ name: x-user, value: jason }] }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-added, value: "yes" }] } }]
    backendRefs: [{ name: ratings, port: 9080, weight: 90 }, { name: reviews, port: 9080, weight: 10 }]
    timeouts: { request: 2s }
  - backendRefs: [{ name: ratings, port: 9080 }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-vs, namespace: bookinfo }
spec:
  hosts: [reviews]
  http:
  - name: canary
    match: [{ uri: { prefix: /canary } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
    retries: { attempts: 3, perTryTimeout: 1s, retryOn: 5xx }
    timeout: 3s
  - route: [{ destination: { host: reviews, subset: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-dr, namespace: bookinfo }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-viewers, namespace: bookinfo }
spec:
  targetRefs: [{ kind: Service, group: "", name: reviews }]
  action: ALLOW
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/bookinfo/sa/productpage"] } }] }]
${pod(pods[0]!, 'reviews', 'v1')}${pod(pods[1]!, 'reviews', 'v2')}${pod(pods[2]!, 'ratings', 'v1')}`;

let mesh: LoopbackMesh;
let client: HboneClientPool;
let adminAddr: string;

beforeAll(async () => {
  mesh = await LoopbackMesh.start({ config: CONFIG, pods, waypoint: { ip: WP, namespace: 'bookinfo', name: 'waypoint' }, admin: { host: WP, port: 0 } });
  client = await mesh.client('bookinfo', 'productpage');
  const a = mesh.waypoint.admin.addresses.admin!;
  adminAddr = `${a.host}:${a.port}`;
}, 30_000);

afterAll(async () => {
  await mesh?.close();
});

async function admin(path: string): Promise<{ status: number; text: string }> {
  const res = await request(`http://${adminAddr}${path}`, { headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: res.statusCode, text: await res.body.text() };
}

async function get(authority: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; pod: string }> {
  const c = new HboneHttpClient(client, { ...mesh.hbone, authority });
  try {
    const r = await c.request({ path, headers });
    return { status: r.status, pod: r.status === 200 ? (JSON.parse(r.body.toString()) as { pod: string }).pod : '' };
  } finally {
    await c.close();
  }
}

describe('/routes', () => {
  it('lists each Service port with its ordered rules, matches, weighted backends, filters, timeouts, retries and source', async () => {
    const views = JSON.parse((await admin('/routes?format=json')).text) as RouteView[];
    const ratings = views.find((v) => v.name === 'inbound-vip|9080|http|ratings.bookinfo.svc.cluster.local')!;
    expect(ratings.vips).toStrictEqual(['127.157.20.2:9080']);
    expect(ratings.sources).toStrictEqual(['HTTPRoute/bookinfo/ratings-route']);
    expect(ratings.rules.map((r) => r.order)).toStrictEqual([1, 2]);
    expect(ratings.rules[0]).toMatchObject({
      source: 'HTTPRoute/bookinfo/ratings-route',
      match: { path: { prefix: '/v2' }, headers: [{ name: 'x-user', exact: 'jason' }] },
      backends: [
        { cluster: 'inbound-vip|9080|http|ratings.bookinfo.svc.cluster.local', weight: 90 },
        { cluster: 'inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local', weight: 10 },
      ],
      filters: ['request set x-added: yes'],
      timeoutMs: 2000,
    });
    const reviews = views.find((v) => v.service === 'reviews.bookinfo.svc.cluster.local')!;
    expect(reviews.sources).toStrictEqual(['VirtualService/bookinfo/reviews-vs']);
    expect(reviews.rules[0]).toMatchObject({ rule: 'spec.http[0].match[0]', backends: [{ cluster: 'inbound-vip|9080|http/v2|reviews.bookinfo.svc.cluster.local', weight: 100 }], timeoutMs: 3000, retry: { retries: 3, perTryTimeoutMs: 1000 } });
    expect(reviews.rules[0]!.retry!.retryOn).toContain('5xx');
    expect(reviews.rules[1]!.backends[0]!.cluster).toBe('inbound-vip|9080|http/v1|reviews.bookinfo.svc.cluster.local');
  });

  it('routes the way /routes says (the canary rule goes to subset v2)', async () => {
    expect(await get('127.157.20.1:9080', '/canary')).toStrictEqual({ status: 200, pod: 'reviews-v2' });
    expect(await get('127.157.20.1:9080', '/other')).toStrictEqual({ status: 200, pod: 'reviews-v1' });
  });

  it('prints a table like istioctl proxy-config routes', async () => {
    const text = (await admin('/routes')).text;
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+#\s+MATCH\s+BACKENDS\s+FILTERS\s+TIMEOUT\s+RETRIES\s+SOURCE$/);
    expect(lines.find((l) => l.includes('ratings.bookinfo') && / 1 /.test(l))).toMatch(/\/v2\* x-user=jason\s+9080\|http\|ratings\.bookinfo\.svc\.cluster\.local 90, 9080\|http\|reviews\.bookinfo\.svc\.cluster\.local 10\s+request set x-added: yes\s+2s\s+\S.*HTTPRoute\/bookinfo\/ratings-route$/);
    expect(lines.find((l) => l.includes('/canary*'))).toMatch(/9080\|http\/v2\|reviews\.bookinfo\.svc\.cluster\.local\s+-\s+3s\s+3 \(.*5xx.*\) per try 1s\s+VirtualService\/bookinfo\/reviews-vs$/);
  });
});

describe('/clusters', () => {
  it('includes DestinationRule subset clusters with only their endpoints', async () => {
    const views = JSON.parse((await admin('/clusters?format=json')).text) as ClusterView[];
    const byName = new Map(views.map((c) => [c.name, c]));
    expect(byName.get('inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local')!.endpoints.map((e) => e.address).sort()).toStrictEqual(['127.157.2.1:9080', '127.157.2.2:9080']);
    expect(byName.get('inbound-vip|9080|http/v2|reviews.bookinfo.svc.cluster.local')).toMatchObject({ subset: 'v2', subsetLabels: { version: 'v2' }, endpoints: [{ address: '127.157.2.2:9080', health: 'HEALTHY' }] });
    expect(byName.get('inbound-vip|9080|http/v1|reviews.bookinfo.svc.cluster.local')!.endpoints.map((e) => e.address)).toStrictEqual(['127.157.2.1:9080']);
    const text = (await admin('/clusters')).text;
    expect(text).toContain('inbound-vip|9080|http/v2|reviews.bookinfo.svc.cluster.local::127.157.2.2:9080::health_flags::healthy');
  });
});

describe('/authz/explain', () => {
  const base = '/authz/explain?ip=127.157.2.50&port=9080&path=/';
  it.each([
    ['a short name', 'reviews', ['reviews.bookinfo.svc.cluster.local']],
    ['an unknown name', 'nope.bookinfo.svc.cluster.local', []],
  ])('answers %s with 404 and the known services', async (_what, service, candidates) => {
    const r = await admin(`${base}&service=${service}&principal=cluster.local/ns/bookinfo/sa/productpage`);
    expect(r.status).toBe(404);
    const body = JSON.parse(r.text) as { error: string; known: string[]; candidates: string[] };
    expect(body.error).toContain(`unknown service "${service}"`);
    expect(body.known).toStrictEqual(['ratings.bookinfo.svc.cluster.local', 'reviews.bookinfo.svc.cluster.local']);
    expect(body.candidates).toStrictEqual(candidates);
  });

  it.each([
    ['as Istio writes it', 'cluster.local/ns/bookinfo/sa/productpage', true],
    ['as a SPIFFE id', 'spiffe://cluster.local/ns/bookinfo/sa/productpage', true],
    ['of another workload', 'cluster.local/ns/bookinfo/sa/intruder', false],
  ])('matches a principal %s', async (_what, principal, allowed) => {
    const r = await admin(`${base}&service=reviews.bookinfo.svc.cluster.local&principal=${encodeURIComponent(principal)}`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text) as { target: string; decision: { allowed: boolean }; applicable: Array<{ policy: string }> };
    expect(body.target).toBe('service reviews.bookinfo.svc.cluster.local');
    expect(body.applicable.map((p) => p.policy)).toStrictEqual(['bookinfo/reviews-viewers']);
    expect(body.decision.allowed).toBe(allowed);
  });
});

describe('waypoint inspect', () => {
  const inspect = (args: string[]) => runCli(['inspect', ...args, '--admin', adminAddr], { timeoutMs: 15_000 });

  it('listeners: a table of listeners and chains', async () => {
    const r = await inspect(['listeners']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^LISTENER\s+ADDRESS\s+CHAIN\s+MATCH\s+DESTINATION\n/);
    expect(r.stdout).toContain('inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local');
  });

  it('routes: the same table as /routes; -o json and -o yaml give the same data', async () => {
    const table = await inspect(['routes']);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe((await admin('/routes')).text);
    const json = JSON.parse((await inspect(['routes', '-o', 'json'])).stdout) as RouteView[];
    const yaml = parseYaml((await inspect(['routes', '-o', 'yaml'])).stdout) as RouteView[];
    expect(yaml).toStrictEqual(json);
    expect(json.map((v) => v.name)).toContain('inbound-vip|9080|http|ratings.bookinfo.svc.cluster.local');
  });

  it('clusters: endpoints with status, outlier check and subset', async () => {
    const r = await inspect(['clusters']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ENDPOINT\s+STATUS\s+OUTLIER CHECK\s+SUBSET\s+IDENTITY\s+CLUSTER\n/);
    expect(r.stdout).toMatch(/127\.157\.2\.2:9080\s+HEALTHY\s+OK\s+v2\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/reviews\s+inbound-vip\|9080\|http\/v2\|reviews\.bookinfo\.svc\.cluster\.local/);
  });

  it('authz: the policies and where they apply', async () => {
    const r = await inspect(['authz']);
    expect(r.stdout).toMatch(/bookinfo\/reviews-viewers\s+ALLOW\s+1\s+Service bookinfo\/reviews/);
  });

  it('explain: the decision with the deciding policy; a short name lists the known services and fails', async () => {
    const ok = await inspect(['explain', '--service', 'reviews.bookinfo.svc.cluster.local', '--principal', 'cluster.local/ns/bookinfo/sa/productpage', '--ip', '127.157.2.50', '--port', '9080']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/DECISION\s+ALLOW by bookinfo\/reviews-viewers/);
    expect(ok.stdout).toMatch(/PRINCIPAL spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/productpage/);
    const bad = await inspect(['explain', '--service', 'reviews', '--ip', '127.157.2.50', '--port', '9080']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('did you mean reviews.bookinfo.svc.cluster.local?');
    expect(bad.stderr).toContain('  ratings.bookinfo.svc.cluster.local');
  });

  it('config: version, load time and identity; a waypoint that is not there is a clear error', async () => {
    const r = await inspect(['config']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^WAYPOINT\s+bookinfo\/waypoint/m);
    expect(r.stdout).toMatch(/^VERSION\s+1$/m);
    expect(r.stdout).toMatch(/^IDENTITY\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/waypoint$/m);
    const gone = await runCli(['inspect', 'config', '--admin', '127.157.2.99:1'], { timeoutMs: 15_000 });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/cannot reach the waypoint admin listener at 127\.157\.2\.99:1/);
  });
});
