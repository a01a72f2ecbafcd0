/**
 * The container image, as far as it can be tested without a container engine: the packed package
 * with production dependencies only (what the Dockerfile's runtime stage holds), read-only, run as
 * uid 1337 with no HOME and no /tmp, started with exactly istiod's waypoint template args and env,
 * against the fake Istio CA and a file configuration. It must become ready and carry traffic.
 *
 * Uses the built dist/ (`npm test` builds first) and the dependencies already installed here:
 * they are copied and pruned with `npm prune --omit=dev --offline`, so nothing is fetched.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, type TestMesh, type WorkloadCert } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { EchoApp, type EchoReply } from '../../src/testkit/echo-app.js';
import { FakeIstioCa } from '../../src/testkit/fake-istio-ca.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually } from '../helpers/log-capture.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
// Addresses of this file: 127.156.3.x, pods 127.156.4.x, VIPs 127.156.5.x (istio-ca.test.ts uses
// the core mesh's own 127.156.0.x, 1.x and 10.x; the files may run at the same time).
const core = coreMesh(156);
const moved = (s: string): string => s.replaceAll('127.156.1.', '127.156.4.').replaceAll('127.156.10.', '127.156.5.');
const config = moved(core.config);
const pods = core.pods.map((p) => ({ ...p, ip: moved(p.ip) }));
const ip = (rest: string): string => moved(core.ip(rest));
const WAYPOINT_IP = ip('3.10');
const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const UID = 1337;
/** As root (as here), the child runs as the image's uid 1337, for whom the install is read-only. */
const AS_ROOT = process.getuid?.() === 0;

/** istiod's waypoint template: `proxy waypoint …` (manifests/charts/…/files/waypoint.yaml). */
const TEMPLATE_ARGS = ['proxy', 'waypoint', '--domain', 'default.svc.cluster.local', '--serviceCluster', 'waypoint.default', '--proxyLogLevel', 'warning', '--proxyComponentLogLevel', 'misc:error', '--log_output_level', 'default:info'];

let dir: string;
let app: string;
let mesh: TestMesh;
let client: WorkloadCert;
let ca: FakeIstioCa;
let child: ChildProcess | undefined;
let stdout = '';
let stderr = '';
const background: Array<{ close(): Promise<void> }> = [];

/** Every file and directory under `path`: no write bit for anyone. */
async function makeReadOnly(path: string): Promise<void> {
  const s = await stat(path);
  if (s.isDirectory()) for (const e of await readdir(path)) await makeReadOnly(join(path, e));
  await chmod(path, s.mode & 0o555);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'waypoint-prod-'));
  await chmod(dir, 0o755);
  // The package as published, unpacked: what `npm install ts-waypoint` puts on disk.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO, timeout: 60_000 });
  const { filename } = (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0] as { filename: string };
  await run('tar', ['xzf', join(dir, filename), '-C', dir], { timeout: 30_000 });
  app = join(dir, 'package');
  // Production dependencies only, offline: the lockfile's tree, dev packages pruned.
  await cp(join(REPO, 'package-lock.json'), join(app, 'package-lock.json'));
  await cp(await realpath(join(REPO, 'node_modules')), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  await run('npm', ['prune', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, timeout: 120_000 });
  await makeReadOnly(app);

  mesh = await createTestMesh();
  client = await mesh.issue('default', 'sleep');
  const echo = await mesh.issue('default', 'echo');
  let ztunnelPort = 0;
  for (const p of pods.filter((x) => x.name.startsWith('echo-'))) {
    const zt = new FakeZtunnel({ host: p.ip, port: 15008, tls: echo });
    ztunnelPort = await zt.listen();
    background.push(zt);
    const a = new EchoApp({ host: p.ip, httpPort: p.httpPort, pod: p.name, namespace: p.namespace, peerIdentity: (port) => zt.peerForLocalPort(port) });
    await a.listen();
    background.push(a);
  }
  expect(ztunnelPort).toBe(15008);
  // What the pod's volumes hold: the mesh root, the projected token, the downward-API labels.
  const files = join(dir, 'pod');
  await mkdir(join(files, 'config'), { recursive: true });
  await writeFile(join(files, 'config', 'mesh.yaml'), config);
  await writeFile(join(files, 'root-cert.pem'), mesh.ca.certPem);
  await writeFile(join(files, 'istio-token'), 'projected-token\n');
  await writeFile(join(files, 'labels'), 'gateway.networking.k8s.io/gateway-name="waypoint"\nistio.io/dataplane-mode="none"\nsidecar.istio.io/inject="false"\n');
  if (AS_ROOT) for (const f of ['', 'config', 'config/mesh.yaml', 'root-cert.pem', 'istio-token', 'labels']) await chown(join(files, f), UID, UID);
  ca = new FakeIstioCa({ host: ip('3.5'), ca: mesh.ca, tokens: { 'projected-token': WAYPOINT_ID } });
  await ca.start();
}, 180_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child?.once('exit', r));
  }
  await ca?.close();
  await Promise.allSettled(background.map((b) => b.close()));
  if (dir !== undefined) {
    await run('chmod', ['-R', 'u+w', dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('the production install, as the container runs it', () => {
  it('holds the CA proto and no dev dependencies', async () => {
    await expect(stat(join(app, 'proto', 'istio', 'v1', 'auth', 'ca.proto'))).resolves.toBeDefined();
    await expect(stat(join(app, 'node_modules', '@grpc', 'grpc-js'))).resolves.toBeDefined();
    for (const dev of ['vitest', 'typescript', 'eslint', 'fast-check']) await expect(stat(join(app, 'node_modules', dev))).rejects.toThrow(/ENOENT/);
  });

  it("starts with istiod's template args and env, read-only as uid 1337 without /tmp, becomes ready and carries traffic", async () => {
    const pod = join(dir, 'pod');
    // The package's bin, as the Dockerfile's ENTRYPOINT runs it (the bundle in dist/bin).
    const bin = (JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { bin: { waypoint: string } }).bin.waypoint;
    child = spawn(process.execPath, [join(app, bin), ...TEMPLATE_ARGS], {
      cwd: '/',
      ...(AS_ROOT ? { uid: UID, gid: UID } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: '/nonexistent',
        TMPDIR: '/nonexistent/tmp',
        // The env istiod's waypoint template (istio-discovery chart, files/waypoint.yaml) sets.
        POD_NAME: 'waypoint-7d9c-abcde',
        POD_NAMESPACE: 'default',
        INSTANCE_IP: WAYPOINT_IP,
        SERVICE_ACCOUNT: 'waypoint',
        HOST_IP: '127.156.3.1',
        ISTIO_META_SERVICE_ACCOUNT: 'waypoint',
        ISTIO_META_NODE_NAME: 'node-1',
        PILOT_CERT_PROVIDER: 'istiod',
        CA_ADDR: ca.address,
        ISTIO_CPU_LIMIT: '2',
        GOMEMLIMIT: '1073741824',
        PROXY_CONFIG: '{}',
        ISTIO_META_CLUSTER_ID: 'Kubernetes',
        ISTIO_META_NETWORK: '',
        ISTIO_META_MESH_ID: 'cluster.local',
        ISTIO_META_WORKLOAD_NAME: 'waypoint',
        ISTIO_META_OWNER: 'kubernetes://apis/apps/v1/namespaces/default/deployments/waypoint',
        // Moved for the test: paths and listeners (every flag has its WAYPOINT_ variable).
        WAYPOINT_CONFIG: join(pod, 'config'),
        WAYPOINT_CA_ROOT: join(pod, 'root-cert.pem'),
        WAYPOINT_TOKEN_PATH: join(pod, 'istio-token'),
        WAYPOINT_POD_LABELS: join(pod, 'labels'),
        WAYPOINT_HBONE: `${WAYPOINT_IP}:15008`,
        WAYPOINT_ADMIN: `${WAYPOINT_IP}:15000`,
        WAYPOINT_METRICS: `${WAYPOINT_IP}:15020`,
        WAYPOINT_READINESS: `${WAYPOINT_IP}:15021`,
        WAYPOINT_DRAIN_MS: '200',
      },
    });
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child?.once('exit', r));

    const ready = await eventually(
      async () => {
        if (child?.exitCode !== null) throw new Error(`waypoint exited ${String(child?.exitCode)}\n${stdout}\n${stderr}`);
        const res = await request(`http://${WAYPOINT_IP}:15021/healthz/ready`, { headersTimeout: 2_000, bodyTimeout: 2_000 }).catch(() => undefined);
        if (res === undefined) return undefined;
        await res.body.dump();
        return res.statusCode === 200 ? res : undefined;
      },
      30_000,
      `ready\n${stdout}\n${stderr}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`);
    });
    expect(ready.statusCode).toBe(200);
    expect(ca.lastToken).toBe('projected-token');
    expect(ca.lastClusterId).toBe('Kubernetes');
    expect(ca.issued.at(-1)?.requestedSeconds).toBe(86_400);

    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'waypoint identity')).toMatchObject({ namespace: 'default', serviceAccount: 'waypoint', name: 'waypoint', from: { name: 'pod label gateway.networking.k8s.io/gateway-name' } });
    expect(lines.some((l) => l.msg === 'proxy waypoint: istiod template argument' && String(l.note).startsWith('--proxyLogLevel warning: ignored'))).toBe(true);
    // The CA client logs the issue after installing the certificate, which can be after readiness answered.
    await eventually(() => stdout.split('\n').some((l) => l.includes('"msg":"certificate issued by the CA"') && l.includes(`"identity":"${WAYPOINT_ID}"`)), 5_000, 'the CA issue log line');

    // Traffic from a source ztunnel through the waypoint's HBONE listener.
    const material = { certChainPem: client.certChainPem, keyPem: client.keyPem, rootCertPem: client.rootCertPem, identity: client.spiffe, notAfter: new Date(Date.now() + 86_400_000) };
    const pool = new HboneClientPool({ tls: new TlsSource(material), trustDomains: ['cluster.local'], logger: captureLogs('silent').logger });
    try {
      const c = new HboneHttpClient(pool, { host: WAYPOINT_IP, port: 15008, authority: `${ip('10.1')}:80`, expectedIdentity: WAYPOINT_ID });
      const res = await c.request({ path: '/from-the-container' });
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body.toString()) as EchoReply;
      expect(body.path).toBe('/from-the-container');
      expect(body.peerIdentity).toBe(WAYPOINT_ID);
      await c.http1.close();
    } finally {
      await pool.close();
    }
    const metrics = await request(`http://${WAYPOINT_IP}:15020/stats/prometheus`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    expect(await metrics.body.text()).toMatch(/istio_requests_total\{[^}]*response_code="200"/);

    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
    expect(code, stderr).toBe(0);
  }, 90_000);
});
