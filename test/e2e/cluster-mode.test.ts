/**
 * The waypoint as a real process in cluster mode: configuration from the (fake) Kubernetes API,
 * its certificate from the (fake) Istio CA, no --certs. Readiness says why it is not ready while
 * the API is unreachable, traffic flows over real HBONE once synced, telemetry names the source
 * pod from ztunnel's `forwarded` header, and a certificate that expires with the CA down is never
 * presented. `proxy waypoint` with istiod's template env starts and becomes ready too.
 *
 * Addresses (this file only): API 127.155.40.1, CA 127.155.40.5, waypoints 127.155.40.10 and .11,
 * pods 127.155.41.x, Service VIP 127.155.42.1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createTestMesh, type TestMesh, type WorkloadCert } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { EchoApp, type EchoReply } from '../../src/testkit/echo-app.js';
import { FakeIstioCa } from '../../src/testkit/fake-istio-ca.js';
import { FakeKubeApi } from '../../src/testkit/fake-kube-api.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { captureLogs, eventually } from '../helpers/log-capture.js';
import { CliProcess } from '../helpers/process.js';

const NS = 'shop';
const WAYPOINT_ID = `spiffe://cluster.local/ns/${NS}/sa/waypoint`;
const ECHO_IP = '127.155.41.1';
const SLEEP_IP = '127.155.41.9';
const VIP = '127.155.42.1';

let dir: string;
let mesh: TestMesh;
let sleep: WorkloadCert;
let api: FakeKubeApi;
let ca: FakeIstioCa;
let kubeconfig: string;
const background: Array<{ close(): Promise<void> }> = [];
const processes: CliProcess[] = [];

// Ambient pods carry ztunnel's annotation; in Kubernetes mode a pod without it is dialled by plain TCP.
const pod = (name: string, ip: string, labels: Record<string, string>, serviceAccount: string, replicaSet?: string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, labels, annotations: { 'ambient.istio.io/redirection': 'enabled' }, ...(replicaSet !== undefined ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: replicaSet, uid: 'rs-1', controller: true }] } : {}) },
  spec: { serviceAccountName: serviceAccount, containers: [{ name: 'app', image: 'app:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
});

function seed(): void {
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio.io/use-waypoint': 'waypoint' } } });
  api.apply({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: NS },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  });
  api.apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'echo', namespace: NS },
    spec: { type: 'ClusterIP', clusterIP: VIP, clusterIPs: [VIP], selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' }] },
  });
  api.apply(pod('echo-1', ECHO_IP, { app: 'echo', version: 'v1' }, 'echo'));
  // A Deployment's pod: its workload is the Deployment (ReplicaSet name less the template hash).
  api.apply(pod('sleep-6d5f7c-x2k9q', SLEEP_IP, { app: 'sleep', version: 'v3', 'pod-template-hash': '6d5f7c', 'service.istio.io/canonical-name': 'sleep-app' }, 'sleep', 'sleep-6d5f7c'));
}

/** Cluster-mode flags: every path and address moved into this test's directory and range. */
function clusterArgs(ip: string, certTtl: string): string[] {
  return [
    'run',
    '--kubeconfig', kubeconfig,
    '--namespace', NS,
    '--name', 'waypoint',
    '--service-account', 'waypoint',
    '--ca-address', ca.address,
    '--ca-root', join(dir, 'root-cert.pem'),
    '--token-path', join(dir, 'istio-token'),
    '--cluster-id', 'Kubernetes',
    '--trust-domain', 'cluster.local',
    '--cert-ttl', certTtl,
    '--hbone', `${ip}:15008`,
    '--admin', `${ip}:15000`,
    '--metrics', `${ip}:15020`,
    '--readiness', `${ip}:15021`,
    '--drain-ms', '200',
  ];
}

async function readiness(ip: string): Promise<{ status: number; body: string } | undefined> {
  const res = await request(`http://${ip}:15021/healthz/ready`, { headersTimeout: 2_000, bodyTimeout: 2_000 }).catch(() => undefined);
  if (res === undefined) return undefined;
  return { status: res.statusCode, body: await res.body.text() };
}

async function untilReady(ip: string, p: CliProcess): Promise<void> {
  await eventually(async () => {
    if (p.child.exitCode !== null) throw new Error(`waypoint exited ${String(p.child.exitCode)}`);
    return (await readiness(ip))?.status === 200;
  }, 30_000, 'ready').catch((err: Error) => {
    throw new Error(`${err.message}\nstdout: ${p.stdout}\nstderr: ${p.stderr}`);
  });
}

function sourcePool(): HboneClientPool {
  const material = { certChainPem: sleep.certChainPem, keyPem: sleep.keyPem, rootCertPem: sleep.rootCertPem, identity: sleep.spiffe, notAfter: new Date(Date.now() + 86_400_000) };
  return new HboneClientPool({ tls: new TlsSource(material), trustDomains: ['cluster.local'], logger: captureLogs('silent').logger });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'waypoint-cluster-mode-'));
  mesh = await createTestMesh();
  sleep = await mesh.issue(NS, 'sleep');
  const echoCert: WorkloadCert = await mesh.issue(NS, 'echo');
  const zt = new FakeZtunnel({ host: ECHO_IP, port: 15008, tls: echoCert });
  await zt.listen();
  background.push(zt);
  const echo = new EchoApp({ host: ECHO_IP, httpPort: 8080, pod: 'echo-1', namespace: NS, peerIdentity: (port) => zt.peerForLocalPort(port) });
  await echo.listen();
  background.push(echo);
  await writeFile(join(dir, 'root-cert.pem'), mesh.ca.certPem);
  await writeFile(join(dir, 'istio-token'), 'kube-token\n');
  await writeFile(join(dir, 'labels'), 'gateway.networking.k8s.io/gateway-name="waypoint"\n');
  ca = new FakeIstioCa({ host: '127.155.40.5', ca: mesh.ca, tokens: { 'kube-token': WAYPOINT_ID } });
  await ca.start();
  api = await FakeKubeApi.start({ host: '127.155.40.1' });
  kubeconfig = join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  seed();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop('SIGKILL')));
  await ca?.close();
  await api?.close();
  await Promise.allSettled(background.map((b) => b.close()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('waypoint run in cluster mode (Kubernetes API + Istio CA), as a process', () => {
  const ip = '127.155.40.10';
  let wp: CliProcess;

  it('503 naming the kinds not listed while the API server is down; ready once it is back; traffic over HBONE; source labels from forwarded', async () => {
    await api.stop();
    wp = new CliProcess(clusterArgs(ip, '20s'));
    processes.push(wp);
    const waiting = await eventually(async () => {
      if (wp.child.exitCode !== null) throw new Error(`waypoint exited\n${wp.stdout}\n${wp.stderr}`);
      const r = await readiness(ip);
      return r?.status === 503 && r.body.includes('config: waiting for the Kubernetes API') ? r : undefined;
    }, 20_000, 'readiness 503 while the API is down');
    expect(waiting.body).toMatch(/config: waiting for the Kubernetes API \(https?:\/\/127\.155\.40\.1:\d+\): not listed yet: .*Service/);

    await api.restart();
    await untilReady(ip, wp);
    expect(ca.lastToken).toBe('kube-token');
    expect(ca.issued.at(-1)?.requestedSeconds).toBe(20);

    // A source "ztunnel on the node": the HBONE peer address names no pod; forwarded does.
    const pool = sourcePool();
    try {
      const c = new HboneHttpClient(pool, { host: ip, port: 15008, authority: `${VIP}:80`, expectedIdentity: WAYPOINT_ID, connectHeaders: { forwarded: `for="${SLEEP_IP}:41000"` } });
      const res = await c.request({ path: '/in-cluster' });
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body.toString()) as EchoReply;
      expect(body.pod).toBe('echo-1');
      expect(body.peerIdentity).toBe(WAYPOINT_ID);
      await c.close();
    } finally {
      await pool.close();
    }
    const metrics = await request(`http://${ip}:15020/stats/prometheus`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const text = await metrics.body.text();
    const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_workload="echo'));
    expect(line, text).toBeDefined();
    expect(line).toContain('source_workload="sleep"');
    expect(line).toContain('source_canonical_service="sleep-app"');
    expect(line).toContain('source_canonical_revision="v3"');
    expect(line).toContain('source_workload_namespace="shop"');
  }, 90_000);

  it('the CA down past the certificate expiry: 503 saying it expired, and new HBONE handshakes are refused', async () => {
    await ca.stop();
    // The CA comes back whatever this test finds: the next describe needs it.
    onTestFinished(() => ca.start());
    const expired = await eventually(async () => {
      const r = await readiness(ip);
      return r?.status === 503 && r.body.includes('expired') ? r : undefined;
    }, 40_000, 'not ready after expiry');
    expect(expired.body).toMatch(/certificate: certificate expired at .*; renewal from 127\.155\.40\.5:\d+ failing/);
    // A client that would accept even an expired certificate still gets no handshake.
    const outcome = await new Promise<string>((resolve) => {
      const session = http2.connect(`https://${ip}:15008`, { cert: sleep.certChainPem, key: sleep.keyPem, ca: mesh.ca.certPem, rejectUnauthorized: false });
      const timer = setTimeout(() => resolve('timeout'), 5_000);
      const done = (what: string): void => {
        clearTimeout(timer);
        session.destroy();
        resolve(what);
      };
      session.on('error', (err: Error & { code?: string }) => done(`error ${err.code ?? ''}`));
      session.on('close', () => done('closed'));
      session.on('connect', () => done('handshake completed'));
    });
    expect(outcome).not.toBe('handshake completed');
    expect(outcome).not.toBe('timeout');
    // The child's log line travels through a pipe: wait for it rather than look once.
    await eventually(() => wp.logLines.some((l) => String(l.msg).startsWith(`HBONE handshakes refused: certificate ${WAYPOINT_ID} expired at`)), 5_000, 'the refusal log line');
  }, 60_000);
});

describe("waypoint proxy waypoint with istiod's template env, against the fake API and CA", () => {
  it('starts in Kubernetes mode and becomes ready', async () => {
    const ip = '127.155.40.11';
    const p = new CliProcess(['proxy', 'waypoint', '--domain', `${NS}.svc.cluster.local`, '--serviceCluster', `waypoint.${NS}`, '--proxyLogLevel', 'warning', '--proxyComponentLogLevel', 'misc:error', '--log_output_level', 'default:info'], {
      POD_NAME: 'waypoint-5d8f-abcde',
      POD_NAMESPACE: NS,
      INSTANCE_IP: ip,
      SERVICE_ACCOUNT: 'waypoint',
      ISTIO_META_SERVICE_ACCOUNT: 'waypoint',
      PILOT_CERT_PROVIDER: 'istiod',
      CA_ADDR: ca.address,
      ISTIO_META_CLUSTER_ID: 'Kubernetes',
      ISTIO_META_MESH_ID: 'cluster.local',
      PROXY_CONFIG: '{}',
      WAYPOINT_KUBECONFIG: kubeconfig,
      WAYPOINT_CA_ROOT: join(dir, 'root-cert.pem'),
      WAYPOINT_TOKEN_PATH: join(dir, 'istio-token'),
      WAYPOINT_POD_LABELS: join(dir, 'labels'),
      WAYPOINT_HBONE: `${ip}:15008`,
      WAYPOINT_ADMIN: `${ip}:15000`,
      WAYPOINT_METRICS: `${ip}:15020`,
      WAYPOINT_READINESS: `${ip}:15021`,
      WAYPOINT_DRAIN_MS: '200',
    });
    processes.push(p);
    await untilReady(ip, p);
    expect(p.logLines.find((l) => l.msg === 'waypoint identity')).toMatchObject({ namespace: NS, serviceAccount: 'waypoint', name: 'waypoint', config: 'kubernetes', certificates: 'istio-ca' });
    expect(await p.stop()).toBe(0);
  }, 60_000);
});
