/**
 * Certificates from Istio's CA over real HBONE: the waypoint asks the fake CA (gRPC over TLS on
 * loopback) for its certificate, serves HBONE with it, renews it at half its lifetime while
 * traffic flows, and reports on /healthz/ready why it is not ready.
 */
import http2 from 'node:http2';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, type TestMesh, type WorkloadCert } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { CertificateManager } from '../../src/hbone/istio-ca/certificate-manager.js';
import { startIstioCertificates } from '../../src/hbone/istio-ca/start.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { EchoApp, type EchoReply } from '../../src/testkit/echo-app.js';
import { FakeIstioCa } from '../../src/testkit/fake-istio-ca.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { Waypoint } from '../../src/waypoint.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const { config, pods, ip } = coreMesh(156);
const WAYPOINT_ID = 'spiffe://cluster.local/ns/default/sa/waypoint';
const VIP = ip('10.1');

let dir: string;
let mesh: TestMesh;
let client: WorkloadCert;
let ca: FakeIstioCa;
let ztunnelPort = 0;
const background: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'waypoint-istio-ca-'));
  mesh = await createTestMesh();
  client = await mesh.issue('default', 'sleep');
  const echo = await mesh.issue('default', 'echo');
  for (const p of pods.filter((x) => x.name.startsWith('echo-'))) {
    const zt = new FakeZtunnel({ host: p.ip, port: ztunnelPort, tls: echo });
    ztunnelPort = await zt.listen();
    background.push(zt);
    const app = new EchoApp({ host: p.ip, httpPort: p.httpPort, pod: p.name, namespace: p.namespace, peerIdentity: (port) => zt.peerForLocalPort(port) });
    await app.listen();
    background.push(app);
  }
  await mkdir(join(dir, 'config'));
  await writeFile(join(dir, 'config', 'mesh.yaml'), config);
  await writeFile(join(dir, 'root-cert.pem'), mesh.ca.certPem);
  ca = new FakeIstioCa({ host: ip('0.5'), ca: mesh.ca, tokens: { 'token-1': WAYPOINT_ID, 'token-2': WAYPOINT_ID } });
  await ca.start();
}, 60_000);

afterAll(async () => {
  await ca?.close();
  await Promise.allSettled(background.map((b) => b.close()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Running {
  wp: Waypoint;
  certs: CertificateManager;
  lines: LogLine[];
  readinessUrl: string;
  tokenPath: string;
}

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.wp.close();
  ca.lifetimeSeconds = undefined;
  ca.tokens.set('token-1', WAYPOINT_ID);
  if (!ca.running) await ca.start();
});

/** A waypoint on `waypointIp` with certificates from the fake CA and configuration from files. */
async function startWaypoint(waypointIp: string, opts: { ttlSeconds?: number; token?: string } = {}): Promise<Running> {
  const tokenPath = join(dir, `token-${waypointIp}`);
  await writeFile(tokenPath, `${opts.token ?? 'token-1'}\n`);
  const { logger, lines } = captureLogs('info');
  const certs = await startIstioCertificates({
    identity: WAYPOINT_ID,
    caAddress: ca.address,
    caRoot: join(dir, 'root-cert.pem'),
    tokenPath,
    clusterId: 'Kubernetes',
    ttlSeconds: opts.ttlSeconds ?? 86_400,
    logger,
  });
  const wp = await Waypoint.start({
    configPaths: [join(dir, 'config')],
    tls: certs.tls,
    certificates: certs,
    logger,
    namespace: 'default',
    name: 'waypoint',
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    hbone: { host: waypointIp, port: 15008 },
    readiness: { host: waypointIp, port: 0 },
    upstreamHbonePort: ztunnelPort,
    watch: false,
  });
  const r = { wp, certs, lines, readinessUrl: `http://${waypointIp}:${wp.admin.addresses.readiness?.port}/healthz/ready`, tokenPath };
  running.push(r);
  return r;
}

async function readiness(r: Running): Promise<{ status: number; body: string }> {
  const res = await request(r.readinessUrl, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

/** A source ztunnel's HBONE client (one pool: one session per waypoint). */
function hboneClient(): HboneClientPool {
  const material = { certChainPem: client.certChainPem, keyPem: client.keyPem, rootCertPem: client.rootCertPem, identity: client.spiffe, notAfter: new Date(Date.now() + 86_400_000) };
  return new HboneClientPool({ tls: new TlsSource(material), trustDomains: ['cluster.local'], logger: captureLogs('silent').logger });
}

/** One request through a new HBONE session (a new TLS handshake), as a fresh source ztunnel would. */
async function freshRequest(waypointIp: string, path: string): Promise<EchoReply> {
  const pool = hboneClient();
  try {
    const c = new HboneHttpClient(pool, { host: waypointIp, port: 15008, authority: `${VIP}:80`, expectedIdentity: WAYPOINT_ID });
    const res = await c.request({ path });
    if (res.status !== 200) throw new Error(`status ${res.status}: ${res.body.toString()}`);
    await c.http1.close();
    return JSON.parse(res.body.toString()) as EchoReply;
  } finally {
    await pool.close();
  }
}

/** The serial of the certificate the waypoint presents to a new HBONE client (upper-case hex, no leading zeros). */
function servedSerial(waypointIp: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: waypointIp,
      port: 15008,
      cert: client.certChainPem,
      key: client.keyPem,
      ca: mesh.ca.certPem,
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    s.setTimeout(5_000, () => s.destroy(new Error('handshake timed out')));
    s.once('secureConnect', () => {
      resolve(s.getPeerCertificate().serialNumber.replace(/^0+/, '').toUpperCase());
      s.destroy();
    });
    s.once('error', reject);
  });
}

const bare = (serial: string): string => serial.replace(/^0+/, '').toUpperCase();

/** An HTTP/1.1 GET through a new CONNECT stream on an existing HBONE session. */
function getOverSession(session: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'CONNECT', ':authority': `${VIP}:80` });
    const timer = setTimeout(() => stream.destroy(new Error(`no answer for ${path}`)), 5_000);
    let text = '';
    stream.on('response', (h) => {
      if (h[':status'] !== 200) reject(new Error(`CONNECT answered ${String(h[':status'])}`));
      stream.write(`GET ${path} HTTP/1.1\r\nhost: echo\r\nconnection: close\r\n\r\n`);
    });
    stream.on('data', (d: Buffer) => (text += d.toString()));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve(text);
    });
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe("certificates from Istio's CA", () => {
  it('renews a 20 s certificate before it expires: new serial for new clients, no failed request, an open session keeps working', async () => {
    const wpIp = ip('0.10');
    ca.lifetimeSeconds = 20;
    const r = await startWaypoint(wpIp);
    await eventually(async () => (await readiness(r)).status === 200, 10_000, 'ready');
    const first = ca.issued.at(-1);
    expect(first?.identity).toBe(WAYPOINT_ID);
    expect(await servedSerial(wpIp)).toBe(bare(first?.serial ?? ''));
    expect((await freshRequest(wpIp, '/before')).peerIdentity).toBe(WAYPOINT_ID);

    // A session opened before the rotation, watched for GOAWAY.
    let goaway = false;
    const session = http2.connect(`https://${wpIp}:15008`, { cert: client.certChainPem, key: client.keyPem, ca: mesh.ca.certPem, checkServerIdentity: () => undefined });
    session.on('goaway', () => (goaway = true));
    session.on('error', () => undefined);
    expect(await getOverSession(session, '/old-session-before')).toContain('HTTP/1.1 200');

    // Requests on new handshakes the whole time, until a renewal and a little after.
    const issuedBefore = ca.issued.length;
    let failures = 0;
    let ok = 0;
    let renewedAt: number | undefined;
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline && (renewedAt === undefined || Date.now() < renewedAt + 1_500)) {
      try {
        await freshRequest(wpIp, `/during-${ok}`);
        ok++;
      } catch {
        failures++;
      }
      if (renewedAt === undefined && ca.issued.length > issuedBefore) renewedAt = Date.now();
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(renewedAt, 'a renewal within 25 s').toBeDefined();
    const second = ca.issued.at(-1);
    expect(renewedAt as number).toBeLessThan(first?.notAfter.getTime() ?? 0);
    expect(failures).toBe(0);
    expect(ok).toBeGreaterThan(10);
    const serial = await servedSerial(wpIp);
    expect(serial).toBe(bare(second?.serial ?? ''));
    expect(serial).not.toBe(bare(first?.serial ?? ''));
    expect(r.lines.some((l) => l.msg === 'certificate renewed by the CA' && bare(String(l.serial)) === serial)).toBe(true);

    // The old session serves new streams after the rotation and never saw GOAWAY.
    expect(await getOverSession(session, '/old-session-after')).toContain('HTTP/1.1 200');
    expect(goaway).toBe(false);
    session.close();
  }, 45_000);

  it('CA down at start: 503 naming the CA and why; ready and serving once the CA comes up', async () => {
    await ca.stop();
    const wpIp = ip('0.11');
    const r = await startWaypoint(wpIp);
    const down = await eventually(async () => {
      const res = await readiness(r);
      return res.body.includes('UNAVAILABLE') ? res : undefined;
    }, 10_000, 'a readiness reason naming the failed call');
    expect(down.status).toBe(503);
    expect(down.body).toContain(`certificate: no certificate yet from the CA at ${ca.address}: CA ${ca.address}: UNAVAILABLE`);
    expect(down.body).toContain('hbone: HBONE listener not up');
    await ca.start();
    await eventually(async () => (await readiness(r)).status === 200, 20_000, 'ready after the CA came up');
    expect((await freshRequest(wpIp, '/after-ca-up')).pod).toMatch(/^echo-/);
  }, 40_000);

  it('a refused token: 503 with the reason; the token file is read again on every call', async () => {
    const wpIp = ip('0.12');
    const r = await startWaypoint(wpIp, { token: 'token-unknown' });
    const refused = await eventually(async () => {
      const res = await readiness(r);
      return res.body.includes('UNAUTHENTICATED') ? res : undefined;
    }, 10_000, 'a refusal');
    expect(refused.status).toBe(503);
    expect(ca.lastToken).toBe('token-unknown');
    expect(ca.lastClusterId).toBe('Kubernetes');

    // Rotated as kubelet does (a new file renamed over the old); the next call uses it.
    await writeFile(`${r.tokenPath}.new`, 'token-1\n');
    await rename(`${r.tokenPath}.new`, r.tokenPath);
    await r.certs.renewNow();
    expect(ca.lastToken).toBe('token-1');
    await eventually(async () => (await readiness(r)).status === 200, 10_000, 'ready');

    ca.tokens.delete('token-1');
    await writeFile(`${r.tokenPath}.new`, 'token-2\n');
    await rename(`${r.tokenPath}.new`, r.tokenPath);
    const issued = ca.issued.length;
    await r.certs.renewNow();
    expect(ca.lastToken).toBe('token-2');
    expect(ca.issued.length).toBe(issued + 1);
    expect(r.certs.lastError).toBeUndefined();
  }, 30_000);

  it('a certificate that expires while the CA is down: 503 saying it expired', async () => {
    const wpIp = ip('0.13');
    ca.lifetimeSeconds = 6;
    const r = await startWaypoint(wpIp);
    await r.certs.ready;
    await ca.stop();
    const held = r.certs.held;
    expect(held).toBeDefined();
    if (Date.now() < (held?.notAfter.getTime() ?? 0) - 500) expect((await readiness(r)).status).toBe(200);
    const expired = await eventually(async () => {
      const res = await readiness(r);
      return res.status === 503 ? res : undefined;
    }, 15_000, 'not ready after expiry');
    expect(expired.body).toContain(`certificate: certificate expired at ${held?.notAfter.toISOString()}; renewal from ${ca.address} failing`);
    expect(r.lines.some((l) => l.msg === 'certificate expired and not renewed: not ready until the CA answers')).toBe(true);
  }, 30_000);
});
