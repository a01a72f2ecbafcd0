/**
 * The Kubernetes API as the configuration source, end to end: the fake API server (through a
 * kubeconfig), a waypoint with certificates from files, destination ztunnels with echo pods and a
 * source "ztunnel" sending HTTP over real HBONE. Every address is in 127.155.x.x.
 *
 * - fake API server 127.155.2.1, waypoint 127.155.0.10
 * - pods 127.155.1.x (a FakeZtunnel and an EchoApp each, started up front; the API decides who
 *   is a pod of what), Service VIPs 127.155.10.x
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiClient } from '../../src/config/kube/api-client.js';
import { KubernetesConfigSource } from '../../src/config/kube/source.js';
import { createTestMesh, writeCertDir, type TestMesh } from '../../src/hbone/certs.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { EchoApp } from '../../src/testkit/echo-app.js';
import { FakeKubeApi } from '../../src/testkit/fake-kube-api.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { Waypoint } from '../../src/waypoint.js';
import { sourceClientPool } from '../helpers/source-client.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const NS = 'shop';
const WAYPOINT_IP = '127.155.0.10';
const POD_NAMES = ['echo-1', 'echo-2', 'alpha-1', 'beta-1', 'churn-1', 'churn-2', 'churn-3', 'churn-4', 'gamma-1', 'late-1', 'relist-1', 'authz-1', 'other-1'];
const podIp = (name: string): string => `127.155.1.${POD_NAMES.indexOf(name) + 1}`;

let dir: string;
let ca: TestMesh;
let api: FakeKubeApi;
let waypoint: Waypoint;
let source: KubernetesConfigSource;
let client: HboneClientPool;
let logs: LogLine[];
const started: Array<{ close(): Promise<void> }> = [];
const delays: Record<string, number> = {};

// ---- objects -------------------------------------------------------------------------------------

const pod = (name: string, app: string, ready = true): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, labels: { app }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
  spec: { serviceAccountName: app, nodeName: 'node-1', containers: [{ name: 'app', image: 'echo:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: podIp(name), podIPs: [{ ip: podIp(name) }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

const service = (name: string, vip: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: NS },
  spec: { type: 'ClusterIP', clusterIP: vip, clusterIPs: [vip], selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }] },
});

type SliceEndpoint = { pod: string; ready?: boolean; terminating?: boolean };
const slice = (svc: string, endpoints: SliceEndpoint[]): Record<string, unknown> => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${svc}-abcde`, namespace: NS, labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: endpoints.map((e) => ({
    addresses: [podIp(e.pod)],
    conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: e.terminating ?? false },
    targetRef: { kind: 'Pod', name: e.pod, namespace: NS },
    nodeName: 'node-1',
  })),
});

const route = (name: string, parent: string, backend: string, setHeader?: string): Record<string, unknown> => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name, namespace: NS },
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: parent, port: 80 }],
    rules: [
      {
        ...(setHeader !== undefined ? { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: setHeader }] } }] } : {}),
        backendRefs: [{ name: backend, port: 80 }],
      },
    ],
  },
});

const policy = (name: string, spec: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: NS },
  spec,
});

// ---- traffic -------------------------------------------------------------------------------------

interface Answer {
  status: number;
  pod?: string;
  headers?: EchoReply['headers'];
  body: string;
}

/** One GET to `vip:80` through the waypoint; status 0 when the waypoint refuses the tunnel. */
async function get(vip: string, pathname = '/'): Promise<Answer> {
  const c = new HboneHttpClient(client, { host: WAYPOINT_IP, port: waypoint.hboneAddress.port, authority: `${vip}:80` });
  try {
    const res = await c.request({ path: pathname });
    const body = res.body.toString('utf8');
    if (res.status !== 200) return { status: res.status, body };
    const e = JSON.parse(body) as EchoReply;
    return { status: 200, pod: e.pod, headers: e.headers, body };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  } finally {
    await c.close();
  }
}

/** Polls until `check` holds (5 s bound) and records how long it took. */
async function until(what: string, vip: string, check: (a: Answer) => boolean): Promise<Answer> {
  const t0 = performance.now();
  const answer = await eventually(async () => {
    const a = await get(vip);
    return check(a) ? a : undefined;
  }, 5_000, what);
  delays[what] = Math.round(performance.now() - t0);
  return answer;
}

// ---- set-up --------------------------------------------------------------------------------------

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'waypoint-kube-e2e-'));
  ca = await createTestMesh();
  let ztunnelPort = 0;
  for (const name of POD_NAMES) {
    const app = name.replace(/-\d+$/, '');
    const zt = new FakeZtunnel({ host: podIp(name), port: ztunnelPort, tls: await ca.issue(NS, app) });
    ztunnelPort = await zt.listen();
    started.push(zt);
    const echo = new EchoApp({ host: podIp(name), httpPort: 8080, pod: name, namespace: NS, peerIdentity: (p) => zt.peerForLocalPort(p) });
    await echo.listen();
    started.push(echo);
  }
  const certDir = path.join(dir, 'certs');
  await writeCertDir(certDir, await ca.issue(NS, 'waypoint'));

  api = await FakeKubeApi.start({ host: '127.155.2.1', notInstalled: ['AuthorizationPolicy'] });
  const kubeconfig = path.join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  const cap = captureLogs('info');
  logs = cap.lines;
  source = new KubernetesConfigSource({ client: KubeApiClient.fromFile(kubeconfig), logger: cap.logger, notInstalledRetryMs: 1_000 });
  // Starts from an empty API server: every kind lists empty, the waypoint serves nothing yet.
  waypoint = await Waypoint.start({
    configPaths: [],
    source,
    failClosedPolicies: true,
    registerMetrics: (r) => source.registerMetrics(r),
    tls: await TlsSource.fromDir(certDir),
    logger: cap.logger,
    namespace: NS,
    name: 'waypoint',
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    hbone: { host: WAYPOINT_IP, port: 0 },
    upstreamHbonePort: ztunnelPort,
    accessLog: { kind: 'logger', logger: cap.logger },
  });
  client = await sourceClientPool(ca, NS, 'sleep', cap.logger);
}, 60_000);

afterAll(async () => {
  // The measured delays, for the report (not asserted: two loaded cores).
  process.stdout.write(`kube-source delays (ms): ${JSON.stringify(delays)}\n`);
  await client?.close();
  await waypoint?.close();
  await api?.close();
  await Promise.allSettled(started.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

// ---- tests ---------------------------------------------------------------------------------------

describe('the Kubernetes API as the configuration source', () => {
  it('starts from an empty API server; objects added make traffic flow', async () => {
    expect(waypoint.store.current.byVip.size).toBe(0);
    expect((await get('127.155.10.1')).status).toBe(0);
    api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio.io/use-waypoint': 'waypoint' } } });
    api.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: NS },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    api.apply(service('echo', '127.155.10.1'));
    api.apply(pod('echo-1', 'echo'));
    api.apply(pod('echo-2', 'echo', false));
    const a = await until('objects added → first request served', '127.155.10.1', (x) => x.status === 200);
    expect(a.pod).toBe('echo-1');
    // echo-2 is not Ready: it gets nothing.
    for (let i = 0; i < 6; i++) expect((await get('127.155.10.1')).pod).toBe('echo-1');
    // The objects the waypoint keeps are slimmed.
    expect(JSON.stringify(waypoint.store.current.resources.map((r) => r.raw))).not.toMatch(/managedFields|last-applied|nodeName/);
  });

  it('applies an HTTPRoute added, changed and deleted through watch events', async () => {
    api.apply(service('alpha', '127.155.10.2'));
    api.apply(service('beta', '127.155.10.3'));
    api.apply(pod('alpha-1', 'alpha'));
    api.apply(pod('beta-1', 'beta'));
    await until('alpha served', '127.155.10.2', (a) => a.pod === 'alpha-1');

    api.apply(route('alpha-to-beta', 'alpha', 'beta'));
    await until('HTTPRoute added', '127.155.10.2', (a) => a.pod === 'beta-1');
    api.apply(route('alpha-to-beta', 'alpha', 'beta', 'v2'));
    const changed = await until('HTTPRoute changed', '127.155.10.2', (a) => a.headers?.['x-route'] === 'v2');
    expect(changed.pod).toBe('beta-1');
    api.delete('HTTPRoute', NS, 'alpha-to-beta');
    await until('HTTPRoute deleted', '127.155.10.2', (a) => a.pod === 'alpha-1');
  });

  it('moves traffic with EndpointSlice churn and fails no request', async () => {
    api.apply(service('churn', '127.155.10.4'));
    for (const p of ['churn-1', 'churn-2', 'churn-3', 'churn-4']) api.apply(pod(p, 'churn'));
    api.apply(slice('churn', [{ pod: 'churn-1' }, { pod: 'churn-2' }]));
    await until('churn served', '127.155.10.4', (a) => a.status === 200);

    const answers: Answer[] = [];
    let running = true;
    const load = (async () => {
      while (running) answers.push(await get('127.155.10.4'));
    })();
    const step = async (endpoints: SliceEndpoint[], deletePod?: string): Promise<void> => {
      api.apply(slice('churn', endpoints));
      if (deletePod !== undefined) api.delete('Pod', NS, deletePod);
      await new Promise((r) => setTimeout(r, 400));
    };
    // A pod added, one draining (terminating, still serving its requests), then gone; then again.
    await step([{ pod: 'churn-1' }, { pod: 'churn-2' }, { pod: 'churn-3' }]);
    await step([{ pod: 'churn-1', ready: false, terminating: true }, { pod: 'churn-2' }, { pod: 'churn-3' }]);
    await step([{ pod: 'churn-2' }, { pod: 'churn-3' }], 'churn-1');
    await step([{ pod: 'churn-2' }, { pod: 'churn-3' }, { pod: 'churn-4' }]);
    await step([{ pod: 'churn-2', ready: false, terminating: true }, { pod: 'churn-3' }, { pod: 'churn-4' }]);
    await step([{ pod: 'churn-3' }, { pod: 'churn-4' }], 'churn-2');
    const mark = answers.length;
    await eventually(() => answers.length >= mark + 10, 5_000, '10 more requests after the churn');
    running = false;
    await load;

    expect(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    const after = new Set(answers.slice(mark).map((a) => a.pod));
    expect([...after].sort()).toEqual(['churn-3', 'churn-4']);
    expect(answers.some((a) => a.pod === 'churn-3')).toBe(true);
    expect(answers.length).toBeGreaterThan(20);
  });

  it('picks up an API installed after start (a CRD applied later)', async () => {
    expect(logs.some((l) => l.msg.startsWith('API not installed') && l['kind'] === 'AuthorizationPolicy')).toBe(true);
    api.apply(service('gamma', '127.155.10.5'));
    api.apply(pod('gamma-1', 'gamma'));
    await until('gamma served', '127.155.10.5', (a) => a.status === 200);
    api.setInstalled('AuthorizationPolicy', true);
    api.apply(policy('gamma-deny-all', { targetRefs: [{ kind: 'Service', group: '', name: 'gamma' }], action: 'DENY', rules: [{}] }));
    const denied = await until('AuthorizationPolicy CRD installed and a policy applied', '127.155.10.5', (a) => a.status === 403);
    expect(denied.body).toBe('RBAC: access denied');
    api.delete('AuthorizationPolicy', NS, 'gamma-deny-all');
    await until('policy deleted', '127.155.10.5', (a) => a.status === 200);
  });

  it('a malformed AuthorizationPolicy denies only its targets, logged by name, until fixed', async () => {
    api.apply(service('authz', '127.155.10.6'));
    api.apply(pod('authz-1', 'authz'));
    await until('authz served', '127.155.10.6', (a) => a.status === 200);
    const broken = { targetRefs: [{ kind: 'Service', group: '', name: 'authz' }], rules: [{ when: [{ key: 'no.such.key', values: ['x'] }] }] };
    api.apply(policy('broken', broken));
    const denied = await until('malformed policy fails closed', '127.155.10.6', (a) => a.status === 403);
    expect(denied.body).toBe('RBAC: access denied');
    // Only its target: the others still answer.
    expect((await get('127.155.10.1')).status).toBe(200);
    expect((await get('127.155.10.2')).status).toBe(200);
    expect(logs.some((l) => l.msg === 'access' && l['policy'] === `${NS}/broken` && l['response_code'] === 403)).toBe(true);
    expect(logs.some((l) => l['policy'] === `${NS}/broken` && String(l.msg).includes('cannot be compiled'))).toBe(true);
    api.apply(policy('broken', { ...broken, rules: [{ when: [{ key: 'request.headers[x-ok]', values: ['yes'] }] }], action: 'DENY' }));
    await until('policy fixed', '127.155.10.6', (a) => a.status === 200);
  });

  it('410 Gone: the informers list again and changes made meanwhile apply', async () => {
    const listsBefore = api.stats.lists.get('Service') ?? 0;
    api.expireHistory();
    api.apply(service('relist', '127.155.10.7'));
    api.apply(pod('relist-1', 'relist'));
    await until('change after 410 applied', '127.155.10.7', (a) => a.pod === 'relist-1');
    expect(api.stats.lists.get('Service') ?? 0).toBeGreaterThan(listsBefore);
  });

  it('API server stopped for 10 s: keeps serving, then resyncs what changed meanwhile', async () => {
    await api.stop();
    api.apply(service('late', '127.155.10.8'));
    api.apply(pod('late-1', 'late'));
    api.apply(route('echo-to-alpha', 'echo', 'alpha'));
    const during: Answer[] = [];
    const outageEnd = Date.now() + 10_000;
    while (Date.now() < outageEnd) {
      during.push(await get('127.155.10.1'));
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(during.length).toBeGreaterThan(10);
    expect(during.every((a) => a.status === 200 && a.pod === 'echo-1')).toBe(true);
    expect((await get('127.155.10.8')).status).toBe(0);

    await api.restart();
    const t0 = performance.now();
    await eventually(async () => (await get('127.155.10.8')).pod === 'late-1', 10_000, 'the Service made during the outage');
    delays['outage: change made during it applied after return'] = Math.round(performance.now() - t0);
    // Each kind's informer relists on its own: the HTTPRoute may arrive after the Service.
    await eventually(async () => (await get('127.155.10.1')).pod === 'alpha-1', 10_000, 'the HTTPRoute made during the outage');
  }, 40_000);
});
