/**
 * The admin, metrics and readiness listeners of an in-process waypoint (src/admin/servers.ts), as
 * an operator or the kubelet uses them: `/ready`, `/healthz/ready`, `/stats`, `/stats/prometheus`,
 * `/authz`, `/logging`, `POST /drain_listeners`, `POST /quitquitquit`, and a port already taken.
 *
 * Each mesh lives under its own 127.154.<k> prefix (see `meshAt`); tests that stop or drain a
 * waypoint start their own.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileConfigSource } from '../../src/config/file-source.js';
import type { ConfigSource, ConfigSourceHandlers, ConfigState } from '../../src/config/source.js';
import { createTestMesh } from '../../src/hbone/certs.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { HboneHttpClient, type SimpleResponse } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { Waypoint } from '../../src/waypoint.js';
import { RawH2, connectHeaders } from '../helpers/h2-raw.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

/** Addresses of one small mesh: the waypoint, one echo pod and the `echo` Service VIP. */
function meshAt(k: number): { waypoint: string; pod: string; vip: string; config: string } {
  const waypoint = `127.154.${k}.10`;
  const pod = `127.154.${k}.1`;
  const vip = `127.154.${k}.100`;
  const config = `apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: { istio.io/use-waypoint: waypoint }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: default
spec:
  gatewayClassName: istio-waypoint
  listeners:
    - { name: mesh, port: 15008, protocol: HBONE }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: echo }
  ports:
    - { name: http, port: 80, targetPort: 8080, appProtocol: http }
---
apiVersion: v1
kind: Pod
metadata: { name: echo-1, namespace: default, labels: { app: echo } }
spec:
  serviceAccountName: echo
  containers:
    - { name: app, image: echo, ports: [{ name: http, containerPort: 8080 }] }
status: { phase: Running, podIP: ${pod} }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-forbidden, namespace: default }
spec:
  targetRefs: [{ group: "", kind: Service, name: echo }]
  action: DENY
  rules:
    - to: [{ operation: { paths: ["/forbidden"] } }]
`;
  return { waypoint, pod, vip, config };
}

async function startMesh(k: number, logger = pino({ level: 'silent' })): Promise<{ mesh: LoopbackMesh; vip: string }> {
  const at = meshAt(k);
  const mesh = await LoopbackMesh.start({
    config: at.config,
    pods: [{ name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: at.pod, httpPort: 8080 }],
    waypoint: { ip: at.waypoint, namespace: 'default', name: 'waypoint' },
    admin: { host: at.waypoint, port: 0 },
    metrics: { host: at.waypoint, port: 0 },
    readiness: { host: at.waypoint, port: 0 },
    logger,
  });
  return { mesh, vip: at.vip };
}

type Listener = 'admin' | 'metrics' | 'readiness';

async function get(wp: Waypoint, listener: Listener, path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; text: string; type: string }> {
  const a = wp.admin.addresses[listener];
  if (a === undefined) throw new Error(`no ${listener} listener`);
  const res = await request(`http://${a.host}:${a.port}${path}`, { method, headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: res.statusCode, text: await res.body.text(), type: String(res.headers['content-type']) };
}

/** One source-workload HBONE client per mesh (closed with the mesh). */
const clients = new WeakMap<LoopbackMesh, Promise<HboneClientPool>>();

/** Sends one HTTP/1.1 request to the echo Service through HBONE, as a client pod would. */
async function send(mesh: LoopbackMesh, vip: string, path: string): Promise<SimpleResponse> {
  let pool = clients.get(mesh);
  if (pool === undefined) {
    pool = mesh.client();
    clients.set(mesh, pool);
  }
  const c = new HboneHttpClient(await pool, { ...mesh.hbone, authority: `${vip}:80` });
  try {
    return await c.request({ path });
  } finally {
    await c.close();
  }
}

/** Sum of `istio_requests_total` for one response code, from the Envoy-style `/stats` text. */
function requestsTotal(stats: string, code: number): number {
  let sum = 0;
  for (const line of stats.split('\n')) {
    if (line.startsWith('istio_requests_total{') && line.includes(`response_code="${code}"`)) sum += Number(line.slice(line.lastIndexOf(': ') + 2));
  }
  return sum;
}

/** Whether something accepts TCP connections at host:port right now. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 2_000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** Whether host:port is free to listen on (it is closed again at once). */
function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

describe('a running waypoint', () => {
  let mesh: LoopbackMesh;
  let vip: string;
  let logs: LogLine[];

  beforeAll(async () => {
    const cap = captureLogs('info');
    logs = cap.lines;
    ({ mesh, vip } = await startMesh(30, cap.logger));
  });
  afterAll(async () => {
    await mesh?.close();
  });

  it('/ready says LIVE and /healthz/ready answers 200', async () => {
    expect(await get(mesh.waypoint, 'admin', '/ready')).toMatchObject({ status: 200, text: 'LIVE\n' });
    expect(await get(mesh.waypoint, 'readiness', '/healthz/ready')).toMatchObject({ status: 200, text: '' });
    expect(await get(mesh.waypoint, 'metrics', '/healthz/ready')).toMatchObject({ status: 200 });
  });

  it('/stats and /stats/prometheus count a request that went through', async () => {
    const before = requestsTotal((await get(mesh.waypoint, 'admin', '/stats')).text, 200);
    const res = await send(mesh, vip, '/counted');
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body.toString()) as EchoReply).pod).toBe('echo-1');

    const stats = await get(mesh.waypoint, 'admin', '/stats');
    expect(stats.status).toBe(200);
    expect(requestsTotal(stats.text, 200)).toBe(before + 1);
    // Envoy's `/stats` shape: `name{labels}: value`, one a line, no comments.
    expect(stats.text).toMatch(/^istio_build\{component="proxy",tag="[^"]*"\}: 1$/m);
    expect(stats.text.split('\n').filter((l) => l !== '' && !/^[a-z_][a-z0-9_]*(\{.*\})?: [-+0-9.eNa]+$/.test(l))).toEqual([]);

    const prom = await get(mesh.waypoint, 'metrics', '/stats/prometheus');
    expect(prom.status).toBe(200);
    expect(prom.type).toContain('text/plain');
    expect(prom.text).toContain('# TYPE istio_requests_total counter');
    expect(prom.text).toMatch(/^istio_requests_total\{reporter="waypoint",.*destination_service_name="echo".*response_code="200".*\} \d+$/m);
    // The same exposition on the admin port, as Envoy serves it there.
    expect((await get(mesh.waypoint, 'admin', '/stats/prometheus')).text).toContain('# TYPE istio_requests_total counter');
  });

  it('/authz lists the policy and where it applies, and the policy denies with 403', async () => {
    const authz = await get(mesh.waypoint, 'admin', '/authz');
    expect(authz.status).toBe(200);
    expect(authz.type).toContain('application/json');
    const dump = JSON.parse(authz.text) as { policies: Array<Record<string, unknown>> };
    expect(dump.policies).toEqual([expect.objectContaining({ policy: 'default/deny-forbidden', action: 'DENY', rules: 1, appliesTo: ['Service default/echo'] })]);

    const denied = await send(mesh, vip, '/forbidden');
    expect(denied.status).toBe(403);
    expect(denied.body.toString()).toBe('RBAC: access denied');
  });

  it('/logging shows the level; POST changes it, and the access log follows', async () => {
    expect(await get(mesh.waypoint, 'admin', '/logging')).toMatchObject({ status: 200, text: 'active level: info\n' });
    try {
      expect(await get(mesh.waypoint, 'admin', '/logging?level=warn', 'POST')).toMatchObject({ status: 200, text: 'active level: warn\n' });
      expect(await get(mesh.waypoint, 'admin', '/logging')).toMatchObject({ text: 'active level: warn\n' });
      expect((await send(mesh, vip, '/while-warn')).status).toBe(200);
      const unknown = await get(mesh.waypoint, 'admin', '/logging?level=loud', 'POST');
      expect(unknown.status).toBe(400);
      expect(unknown.text).toContain('unknown level loud');
    } finally {
      expect(await get(mesh.waypoint, 'admin', '/logging?level=info', 'POST')).toMatchObject({ text: 'active level: info\n' });
    }
    expect((await send(mesh, vip, '/while-info')).status).toBe(200);
    await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/while-info'), 5_000, 'the access line of /while-info');
    expect(logs.filter((l) => l.msg === 'access' && l.path === '/while-warn')).toEqual([]);
  });

  it('control endpoints want POST: a GET changes nothing', async () => {
    expect(await get(mesh.waypoint, 'admin', '/drain_listeners')).toMatchObject({ status: 405, text: 'use POST\n' });
    expect(await get(mesh.waypoint, 'admin', '/quitquitquit')).toMatchObject({ status: 405, text: 'use POST\n' });
    expect(await get(mesh.waypoint, 'admin', '/ready')).toMatchObject({ status: 200, text: 'LIVE\n' });
    expect((await send(mesh, vip, '/still-serving')).status).toBe(200);
  });
});

describe('POST /drain_listeners', () => {
  it('fails readiness, says DRAINING, sends GOAWAY to open sessions and stops accepting new ones', async () => {
    const { lines, logger } = captureLogs('info');
    const { mesh, vip } = await startMesh(31, logger);
    let raw: RawH2 | undefined;
    try {
      const cert = await mesh.issue('default', 'sleep');
      raw = await RawH2.connect({ host: mesh.hbone.host, port: mesh.hbone.port, ca: mesh.ca.certPem, cert: cert.certChainPem, key: cert.keyPem });
      raw.request(1, connectHeaders(`${vip}:80`));
      await raw.until(() => raw?.status(1) !== undefined, 5_000, 'the CONNECT answer');
      expect(raw.status(1)).toBe(200);

      expect(await get(mesh.waypoint, 'admin', '/drain_listeners', 'POST')).toMatchObject({ status: 200, text: 'OK\n' });

      await raw.until(() => raw?.goaway() !== undefined, 5_000, 'GOAWAY');
      expect(raw.goaway()).toMatchObject({ code: 0 });
      expect(await get(mesh.waypoint, 'readiness', '/healthz/ready')).toMatchObject({ status: 503, text: 'draining\n' });
      expect(await get(mesh.waypoint, 'admin', '/ready')).toMatchObject({ status: 503, text: 'DRAINING\n' });
      await eventually(async () => !(await accepts(mesh.hbone.host, mesh.hbone.port)), 5_000, 'the HBONE listener to stop accepting');
      expect(lines.find((l) => l.msg.startsWith('drain started'))).toMatchObject({ sessions: 1 });
    } finally {
      raw?.destroy();
      await mesh.close();
    }
  });
});

describe('POST /quitquitquit', () => {
  it('answers OK, then the waypoint stops: its HBONE and admin ports close', async () => {
    const { mesh, vip } = await startMesh(32);
    try {
      expect((await send(mesh, vip, '/before-quit')).status).toBe(200);
      const admin = mesh.waypoint.admin.addresses.admin!;
      expect(await get(mesh.waypoint, 'admin', '/quitquitquit', 'POST')).toMatchObject({ status: 200, text: 'OK\n' });
      await eventually(async () => !(await accepts(mesh.hbone.host, mesh.hbone.port)), 10_000, 'the HBONE port to close');
      await eventually(async () => !(await accepts(admin.host, admin.port)), 10_000, 'the admin port to close');
    } finally {
      await mesh.close();
    }
  });
});

/** A configuration source whose `start` waits for the test: the waypoint is up but not yet started. */
class GatedSource implements ConfigSource {
  readonly description: string;
  readonly #inner: ConfigSource;
  readonly #gate: Promise<void>;

  constructor(inner: ConfigSource, gate: Promise<void>) {
    this.#inner = inner;
    this.#gate = gate;
    this.description = inner.description;
  }

  read(): Promise<ConfigState> {
    return this.#inner.read();
  }

  async start(handlers: ConfigSourceHandlers): Promise<void> {
    await this.#gate;
    await this.#inner.start(handlers);
  }

  stop(): void {
    this.#inner.stop();
  }
}

/** Starts a waypoint in-process at 127.154.<k>.10 with fixed ports, without pods. */
async function startWaypointAt(k: number, source?: (files: FileConfigSource) => ConfigSource): Promise<{ started: Promise<Waypoint>; cleanup: () => Promise<void>; host: string }> {
  const at = meshAt(k);
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-admin-test-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, at.config);
  const test = await createTestMesh();
  const cert = await test.issue('default', 'waypoint');
  const files = new FileConfigSource({ paths: [file] });
  const started = Waypoint.start({
    configPaths: [file],
    source: source?.(files) ?? files,
    tls: new TlsSource({ certChainPem: cert.certChainPem, keyPem: cert.keyPem, rootCertPem: cert.rootCertPem, identity: cert.spiffe, notAfter: new Date(Date.now() + 3_600_000) }),
    logger: pino({ level: 'silent' }),
    namespace: 'default',
    name: 'waypoint',
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    hbone: { host: at.waypoint, port: 15008 },
    admin: { host: at.waypoint, port: 15000 },
    readiness: { host: at.waypoint, port: 15021 },
    upstreamHbonePort: 15008,
  });
  // Never an unhandled rejection: the tests look at `started` themselves.
  started.catch(() => undefined);
  const cleanup = async (): Promise<void> => {
    await started.then((wp) => wp.close(), () => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  return { started, cleanup, host: at.waypoint };
}

async function plain(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('/ready while starting', () => {
  it('says PRE_INITIALIZING (503) until the configuration source has started, then LIVE', async () => {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { started, cleanup, host } = await startWaypointAt(33, (files) => new GatedSource(files, gate));
    try {
      // The admin listener is up before the source has started.
      await eventually(() => accepts(host, 15000), 10_000, 'the admin listener');
      expect(await plain(`http://${host}:15000/ready`)).toEqual({ status: 503, text: 'PRE_INITIALIZING\n' });
      await eventually(() => accepts(host, 15021), 10_000, 'the readiness listener');
      expect(await plain(`http://${host}:15021/healthz/ready`)).toEqual({ status: 503, text: 'not ready\nstarted: starting\n' });

      open();
      const wp = await started;
      expect(await get(wp, 'admin', '/ready')).toMatchObject({ status: 200, text: 'LIVE\n' });
      expect(await get(wp, 'readiness', '/healthz/ready')).toMatchObject({ status: 200 });
    } finally {
      open();
      await cleanup();
    }
  });
});

describe('an admin port already taken', () => {
  it('fails to start with an error that names the listener and the address, and releases what it bound', async () => {
    const host = meshAt(34).waypoint;
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(15000, host, () => resolve());
    });
    try {
      const { started, cleanup } = await startWaypointAt(34);
      try {
        await expect(started).rejects.toThrow(/^cannot listen for admin \(--admin\) on 127\.154\.34\.10:15000: .*EADDRINUSE/);
      } finally {
        await cleanup();
      }
      // The HBONE listener it had already opened was closed again: the port can be bound.
      expect(await canBind(host, 15008)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});
