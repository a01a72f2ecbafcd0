/**
 * Istio's mesh config from the `istio` ConfigMap in Kubernetes mode, end to end: a CUSTOM
 * AuthorizationPolicy whose ext_authz provider is defined only in the ConfigMap served by the fake
 * API server (with deploy/rbac.yaml enforced), over real HBONE; then the ConfigMap changes the
 * provider, a bad version is reported and the last good one kept. Every address is in 127.170.x.x:
 * fake API server 127.170.2.1, waypoint 127.170.0.10, pod 127.170.1.1, VIP 127.170.10.1,
 * authorizers 127.170.20.1 (denies) and 127.170.20.2 (allows).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiClient } from '../../src/config/kube/api-client.js';
import { MeshConfigMap } from '../../src/config/kube/mesh-config-map.js';
import { KubernetesConfigSource } from '../../src/config/kube/source.js';
import { createTestMesh, writeCertDir } from '../../src/hbone/certs.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { EchoApp, type EchoReply } from '../../src/testkit/echo-app.js';
import { HttpExtAuthzServer } from '../../src/testkit/ext-authz.js';
import { FakeKubeApi } from '../../src/testkit/fake-kube-api.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { Waypoint } from '../../src/waypoint.js';
import { sourceClientPool } from '../helpers/source-client.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const NS = 'shop';
const WAYPOINT_IP = '127.170.0.10';
const POD_IP = '127.170.1.1';
const VIP = '127.170.10.1';

const denier = new HttpExtAuthzServer({ host: '127.170.20.1', decide: () => ({ allow: false, status: 403, body: 'denied by the first authorizer' }) });
const allower = new HttpExtAuthzServer({ host: '127.170.20.2', decide: () => ({ allow: true, headers: { 'x-authorized-by': 'second' } }) });

let dir: string;
let api: FakeKubeApi;
let waypoint: Waypoint;
let client: HboneClientPool;
let logs: LogLine[];
const started: Array<{ close(): Promise<void> }> = [];

/** The `istio` ConfigMap with one HTTP provider `my-authz` at `host:port`. */
const meshConfigMap = (host: string, port: number | string): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'istio', namespace: 'istio-system' },
  data: { mesh: `defaultConfig: { discoveryAddress: istiod.istio-system.svc:15012 }\nextensionProviders:\n- name: my-authz\n  envoyExtAuthzHttp: { service: "${host}", port: ${port} }\n` },
});

async function get(pathname: string): Promise<{ status: number; body: string }> {
  const c = new HboneHttpClient(client, { host: WAYPOINT_IP, port: waypoint.hboneAddress.port, authority: `${VIP}:80` });
  try {
    const res = await c.request({ path: pathname });
    return { status: res.status, body: res.body.toString('utf8') };
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'waypoint-kube-mesh-e2e-'));
  const ca = await createTestMesh();
  const zt = new FakeZtunnel({ host: POD_IP, port: 0, tls: await ca.issue(NS, 'echo') });
  const ztunnelPort = await zt.listen();
  started.push(zt);
  const echo = new EchoApp({ host: POD_IP, httpPort: 8080, pod: 'echo-1', namespace: NS, peerIdentity: (p) => zt.peerForLocalPort(p) });
  await echo.listen();
  started.push(echo);
  await denier.listen();
  await allower.listen();
  started.push(denier, allower);
  const certDir = path.join(dir, 'certs');
  await writeCertDir(certDir, await ca.issue(NS, 'waypoint'));

  api = await FakeKubeApi.start({ host: '127.170.2.1' });
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio.io/use-waypoint': 'waypoint' } } });
  api.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: NS }, spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] } });
  api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: NS }, spec: { clusterIP: VIP, selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  api.apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'echo-1', namespace: NS, labels: { app: 'echo' } },
    spec: { serviceAccountName: 'echo', containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { phase: 'Running', podIP: POD_IP, podIPs: [{ ip: POD_IP }], conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.apply({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'ext-authz', namespace: NS },
    spec: { targetRefs: [{ kind: 'Service', group: '', name: 'echo' }], action: 'CUSTOM', provider: { name: 'my-authz' }, rules: [{ to: [{ operation: { notPaths: ['/healthz'] } }] }] },
  });
  const kubeconfig = path.join(dir, 'kubeconfig');
  await api.writeKubeconfig(kubeconfig);
  const cap = captureLogs('info');
  logs = cap.lines;
  const source = new KubernetesConfigSource({ client: KubeApiClient.fromFile(kubeconfig), logger: cap.logger, meshConfigMap: new MeshConfigMap({ namespace: 'istio-system', logger: cap.logger }) });
  waypoint = await Waypoint.start({
    configPaths: [],
    source,
    failClosedPolicies: true,
    tls: await TlsSource.fromDir(certDir),
    logger: cap.logger,
    namespace: NS,
    name: 'waypoint',
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    rootNamespace: 'istio-system',
    hbone: { host: WAYPOINT_IP, port: 0 },
    admin: { host: WAYPOINT_IP, port: 0 },
    upstreamHbonePort: ztunnelPort,
  });
  client = await sourceClientPool(ca, NS, 'sleep', cap.logger);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await waypoint?.close();
  await api?.close();
  await Promise.allSettled(started.map((s) => s.close()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('mesh config from the istio ConfigMap (Kubernetes mode)', () => {
  it('without the ConfigMap the CUSTOM provider is unknown: its target denies (fail closed)', async () => {
    expect(await get('/before')).toMatchObject({ status: 403 });
    expect(await get('/healthz')).toMatchObject({ status: 200 });
    expect(denier.checks).toHaveLength(0);
  });

  it("a ConfigMap applied through the API server defines the provider: the authorizer's answer decides", async () => {
    api.apply(meshConfigMap('127.170.20.1', denier.port));
    const denied = await eventually(async () => {
      const r = await get('/first');
      return r.body === 'denied by the first authorizer' ? r : undefined;
    }, 5_000, 'the first authorizer asked');
    expect(denied.status).toBe(403);
    expect(denier.checks.some((c) => c.path === '/first')).toBe(true);
    await eventually(() => logs.find((l) => l.msg === 'mesh config applied'), 5_000, 'the "mesh config applied" log line');
  });

  it("changing the ConfigMap's provider takes effect", async () => {
    api.apply(meshConfigMap('127.170.20.2', allower.port));
    const allowed = await eventually(async () => {
      const r = await get('/second');
      return r.status === 200 ? r : undefined;
    }, 5_000, 'the second authorizer allows');
    const echo = JSON.parse(allowed.body) as EchoReply;
    expect(echo.pod).toBe('echo-1');
    expect(allower.checks.some((c) => c.path === '/second')).toBe(true);
  });

  it('a bad mesh config is reported (log line, /config_dump) and the last good one kept', async () => {
    api.apply(meshConfigMap('127.170.20.2', '"not a port"'));
    await eventually(() => logs.find((l) => l.msg.startsWith('mesh config rejected')), 5_000, 'the rejection log line');
    const admin = waypoint.admin.addresses.admin!;
    const dump = await eventually(async () => {
      const text = await (await request(`http://${admin.host}:${admin.port}/config_dump`)).body.text();
      return text.includes('mesh config rejected') ? text : undefined;
    }, 5_000, '/config_dump lists the mesh config problem');
    expect(dump).toContain('ConfigMap');
    // The last good mesh config is the one in force.
    expect((JSON.parse(dump) as { meshConfig: unknown }).meshConfig).toEqual({ extAuthzProviders: [{ name: 'my-authz', kind: 'http', service: '127.170.20.2', port: allower.port }] });
    expect((await get('/still-allowed')).status).toBe(200);
  });
});
