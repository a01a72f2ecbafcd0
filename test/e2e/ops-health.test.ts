/**
 * What an operator sees of the waypoint's health: readiness that tells the truth about the
 * certificate, certificate replacements checked before use (the last good one kept), the
 * configuration state in /config_dump and in metrics, start-up warnings, the admin listener kept
 * on loopback, and bind errors that name the listener. Addresses: 127.157.1.x.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCa, issueWorkloadCert, writeCertDir } from '../../src/hbone/certs.js';
import { spiffeId } from '../../src/hbone/spiffe.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { Waypoint } from '../../src/waypoint.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { presentedCertificate } from '../helpers/tls-probe.js';

/**
 * Replaces one file the way an operator's `mv` or kubelet's volume swap does: written beside it,
 * then renamed into place, so the watcher never reads a truncated file (which it would rightly
 * reject as holding no certificate, before the full file arrives).
 */
async function replaceFile(path: string, data: string): Promise<void> {
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
}

const { config, pods, ip } = coreMesh(157);
const WAYPOINT_IP = ip('1.10');
// coreMesh(157) puts pods at 127.157.1.x and VIPs at 127.157.10.x.
let mesh: LoopbackMesh;
let client: HboneClientPool;
let logs: LogLine[];
let certDir: string;
let configFile: string;
let goodConfig: string;
let original: { chain: string; key: string; root: string };

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config,
    pods: pods.filter((p) => p.name.startsWith('echo')),
    waypoint: { ip: WAYPOINT_IP, namespace: 'default', name: 'waypoint' },
    admin: { host: WAYPOINT_IP, port: 0 },
    metrics: { host: WAYPOINT_IP, port: 0 },
    readiness: { host: WAYPOINT_IP, port: 0 },
    logger: cap.logger,
  });
  client = await mesh.client();
  certDir = join(mesh.dir, 'waypoint-certs');
  configFile = join(mesh.dir, 'config', 'mesh.yaml');
  goodConfig = await readFile(configFile, 'utf8');
  original = {
    chain: await readFile(join(certDir, 'cert-chain.pem'), 'utf8'),
    key: await readFile(join(certDir, 'key.pem'), 'utf8'),
    root: await readFile(join(certDir, 'root-cert.pem'), 'utf8'),
  };
}, 30_000);

afterAll(async () => {
  await mesh?.close();
});

async function get(listener: 'admin' | 'metrics' | 'readiness', path: string): Promise<{ status: number; text: string }> {
  const a = mesh.waypoint.admin.addresses[listener]!;
  const res = await request(`http://${a.host}:${a.port}${path}`, { headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: res.statusCode, text: await res.body.text() };
}

async function hello(path: string): Promise<number> {
  const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.1')}:80` });
  try {
    return (await c.request({ path })).status;
  } finally {
    await c.close();
  }
}

/** SHA-256 fingerprint of the certificate the HBONE listener presents to a new handshake. */
async function presentedFingerprint(): Promise<string> {
  return (await presentedCertificate(mesh.hbone.host, mesh.hbone.port, await mesh.issue('default', 'probe'))).fingerprint256;
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
const metricValue = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

async function restoreCertificate(): Promise<void> {
  await writeCertDir(certDir, { certChainPem: original.chain, keyPem: original.key, rootCertPem: original.root });
  // Until the reload lands the waypoint still holds the invalid certificate and refuses handshakes.
  await eventually(async () => (await presentedFingerprint().catch(() => undefined)) === fingerprint(original.chain), 5000, 'the original certificate back');
}

describe('readiness and the certificate', () => {
  it('is ready with a valid certificate, and metrics give its expiry', async () => {
    expect((await get('readiness', '/healthz/ready')).status).toBe(200);
    const metrics = (await get('metrics', '/stats/prometheus')).text;
    const expiry = metricValue(metrics, 'waypoint_cert_expiry_timestamp_seconds');
    expect(expiry).toBe(new Date(new X509Certificate(original.chain).validTo).getTime() / 1000);
  });

  it('keeps serving the last good certificate when key.pem is replaced by one that does not match', async () => {
    const before = logs.length;
    const stranger = await mesh.issue('default', 'waypoint');
    await replaceFile(join(certDir, 'key.pem'), stranger.keyPem);
    const line = await eventually(() => logs.slice(before).find((l) => l.msg.startsWith('certificate reload failed')), 5000, 'the rejection log line');
    expect(String(line.err)).toContain(`${join(certDir, 'key.pem')} does not match the certificate in ${join(certDir, 'cert-chain.pem')}`);
    expect(line.level).toBe(50);
    expect(await presentedFingerprint()).toBe(fingerprint(original.chain));
    expect(await hello('/after-bad-key')).toBe(200);
    expect((await get('readiness', '/healthz/ready')).status).toBe(200);
    await replaceFile(join(certDir, 'key.pem'), original.key);
  });

  it('refuses a root-cert.pem from another CA, naming the files, and keeps handshaking', async () => {
    const before = logs.length;
    const other = await createMeshCa();
    await replaceFile(join(certDir, 'root-cert.pem'), other.certPem);
    const line = await eventually(() => logs.slice(before).find((l) => l.msg.startsWith('certificate reload failed')), 5000, 'the rejection log line');
    expect(String(line.err)).toContain(`${join(certDir, 'cert-chain.pem')} does not verify against ${join(certDir, 'root-cert.pem')}`);
    expect(await hello('/after-bad-root')).toBe(200);
    await replaceFile(join(certDir, 'root-cert.pem'), original.root);
  });

  it.each([
    ['expired', { notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }, /certificate: certificate spiffe:\/\/cluster\.local\/ns\/default\/sa\/waypoint expired at \d{4}-/],
    ['not yet valid', { notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 3 * 86_400_000) }, /certificate: certificate spiffe:\/\/cluster\.local\/ns\/default\/sa\/waypoint is not valid before \d{4}-/],
  ])('is not ready (503, reason in body and log) while the certificate is %s', async (_what, validity, reason) => {
    const before = logs.length;
    const cert = await issueWorkloadCert(mesh.ca, { spiffe: spiffeId('cluster.local', 'default', 'waypoint'), ...validity });
    await writeCertDir(certDir, cert);
    const probe = await eventually(async () => {
      const r = await get('readiness', '/healthz/ready');
      return r.status === 503 ? r : undefined;
    }, 5000, 'readiness 503');
    expect(probe.text).toMatch(reason);
    const line = logs.slice(before).find((l) => l.msg.startsWith('not ready: certificate'));
    expect(line?.level).toBe(50);
    expect((await get('admin', '/ready')).status).toBe(503);
    await restoreCertificate();
    await eventually(async () => (await get('readiness', '/healthz/ready')).status === 200, 5000, 'ready again');
  });
});

describe('configuration state', () => {
  it('shows the version served, a rejected edit with its errors, and counts both in metrics', async () => {
    const first = JSON.parse((await get('admin', '/config_dump')).text) as { configuration: { version: number; loadedAt: string; lastRejected: unknown; servingOlder: boolean } };
    expect(first.configuration.lastRejected).toBeNull();
    expect(first.configuration.servingOlder).toBe(false);
    expect(Date.parse(first.configuration.loadedAt)).toBeGreaterThan(Date.now() - 120_000);
    const m0 = (await get('metrics', '/stats/prometheus')).text;
    const ok0 = metricValue(m0, 'waypoint_config_reloads_total{result="success"}')!;
    expect(ok0).toBeGreaterThanOrEqual(1);
    expect(metricValue(m0, 'waypoint_config_reloads_total{result="failure"}')).toBe(0);
    expect(metricValue(m0, 'waypoint_config_last_success_timestamp_seconds')).toBe(Date.parse(first.configuration.loadedAt) / 1000);

    await writeFile(configFile, `${goodConfig}---\napiVersion: v1\nkind: Service\nmetadata: { name: broken, namespace: default }\nspec:\n  ports: [{ port: 70000 }]\n`);
    const dump = await eventually(async () => {
      const d = JSON.parse((await get('admin', '/config_dump')).text) as { version: number; configuration: { version: number; servingOlder: boolean; lastRejected: { at: string; errors: string[] } | null } };
      return d.configuration.lastRejected !== null ? d : undefined;
    }, 5000, 'the rejected attempt in config_dump');
    expect(dump.configuration.version).toBe(first.configuration.version);
    expect(dump.version).toBe(first.configuration.version);
    expect(dump.configuration.servingOlder).toBe(true);
    expect(dump.configuration.lastRejected!.errors.join('\n')).toMatch(/mesh\.yaml.*Service default\/broken.*spec\.ports\[0\]\.port/);
    const m1 = (await get('metrics', '/stats/prometheus')).text;
    expect(metricValue(m1, 'waypoint_config_reloads_total{result="failure"}')).toBeGreaterThanOrEqual(1);
    expect(await hello('/while-rejected')).toBe(200);

    await writeFile(configFile, goodConfig);
    const fixed = await eventually(async () => {
      const d = JSON.parse((await get('admin', '/config_dump')).text) as { configuration: { version: number; servingOlder: boolean; lastRejected: unknown } };
      return d.configuration.version > first.configuration.version ? d : undefined;
    }, 5000, 'the next version');
    expect(fixed.configuration.servingOlder).toBe(false);
    expect(fixed.configuration.lastRejected).not.toBeNull();
  });

  it('exports prom-client process and Node.js metrics on the metrics port', async () => {
    const text = (await get('metrics', '/stats/prometheus')).text;
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'istio_build']) {
      expect(text).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'));
    }
  });
});

describe('start-up checks', () => {
  const bare = (extra: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: default
  annotations: { istio.io/for-service-account: reviews${extra} }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
`;

  async function startWith(yaml: string, identitySa: string, extra: Partial<Parameters<typeof Waypoint.start>[0]> = {}): Promise<{ logs: LogLine[]; start: Promise<Waypoint> }> {
    const cap = captureLogs('info');
    const dir = join(mesh.dir, `checks-${identitySa}-${Math.random().toString(36).slice(2, 8)}`);
    await writeCertDir(join(dir, 'certs'), await mesh.issue('default', identitySa));
    await writeFile(join(dir, 'mesh.yaml'), yaml);
    const tlsSource = await TlsSource.fromDir(join(dir, 'certs'));
    const start = Waypoint.start({ configPaths: [join(dir, 'mesh.yaml')], tls: tlsSource, logger: cap.logger, namespace: 'default', name: 'waypoint', trustDomain: 'cluster.local', clusterId: 'Kubernetes', hbone: { host: ip('1.20'), port: 0 }, upstreamHbonePort: 15008, watch: false, ...extra });
    return { logs: cap.lines, start };
  }

  it('warns about an identity that is not the Gateway service account, nothing bound, and obsolete annotations', async () => {
    const { logs: lines, start } = await startWith(bare(''), 'someone');
    const wp = await start;
    try {
      const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
      expect(warnings).toContainEqual(expect.stringMatching(/identity spiffe:\/\/cluster\.local\/ns\/default\/sa\/someone is not the waypoint's service account spiffe:\/\/cluster\.local\/ns\/default\/sa\/waypoint \(Gateway default\/waypoint\)/));
      expect(warnings).toContainEqual(expect.stringMatching(/nothing is bound to waypoint default\/waypoint/));
      expect(warnings).toContainEqual(expect.stringMatching(/Gateway default\/waypoint \(.*mesh\.yaml\) has the annotation istio\.io\/for-service-account: Istio no longer reads it/));
    } finally {
      await wp.close();
    }
  });

  it('takes the service account from gateway.istio.io/service-account', async () => {
    const { logs: lines, start } = await startWith(bare(', gateway.istio.io/service-account: custom-sa'), 'custom-sa');
    const wp = await start;
    await wp.close();
    expect(lines.some((l) => /is not the waypoint's service account/.test(l.msg))).toBe(false);
  });

  it('refuses an admin address that is not loopback, unless allowed (then warns)', async () => {
    const refused = await startWith(bare(''), 'waypoint', { admin: { host: '0.0.0.0', port: 0 } });
    await expect(refused.start).rejects.toThrow(/refusing to serve admin on non-loopback address 0\.0\.0\.0.*--admin-allow-remote/);
    const allowed = await startWith(bare(''), 'waypoint', { admin: { host: '0.0.0.0', port: 0 }, adminAllowRemote: true });
    const wp = await allowed.start;
    try {
      const warn = allowed.logs.find((l) => l.level === 40 && l.listener === 'admin');
      expect(warn?.msg).toMatch(/reachable from outside this host.*unauthenticated POST \/quitquitquit/);
      const port = wp.admin.addresses.admin!.port;
      const res = await request(`http://${ip('1.21')}:${port}/ready`, { headersTimeout: 5000 });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await wp.close();
    }
  });

  it.each([
    ['HBONE', (): Partial<Parameters<typeof Waypoint.start>[0]> => ({ hbone: { host: mesh.hbone.host, port: mesh.hbone.port } }), /cannot listen for HBONE \(connect_terminate, --hbone\) on 127\.157\.1\.10:\d+: .*EADDRINUSE/],
    ['admin', (): Partial<Parameters<typeof Waypoint.start>[0]> => ({ admin: mesh.waypoint.admin.addresses.admin! }), /cannot listen for admin \(--admin\) on 127\.157\.1\.10:\d+: .*EADDRINUSE/],
    ['metrics', (): Partial<Parameters<typeof Waypoint.start>[0]> => ({ metrics: mesh.waypoint.admin.addresses.metrics! }), /cannot listen for metrics \(--metrics\) on 127\.157\.1\.10:\d+: .*EADDRINUSE/],
    ['readiness', (): Partial<Parameters<typeof Waypoint.start>[0]> => ({ readiness: mesh.waypoint.admin.addresses.readiness! }), /cannot listen for readiness \(--readiness\) on 127\.157\.1\.10:\d+: .*EADDRINUSE/],
  ])('names the %s listener when its address is taken', async (_name, extra, message) => {
    const { start } = await startWith(bare(''), 'waypoint', extra());
    await expect(start).rejects.toThrow(message);
  });

  it('refuses at start a certificate whose chain does not verify against root-cert.pem, naming the files', async () => {
    const dir = join(mesh.dir, 'foreign-root');
    await writeCertDir(dir, await mesh.issue('default', 'waypoint'));
    await writeFile(join(dir, 'root-cert.pem'), (await createMeshCa()).certPem);
    await expect(TlsSource.fromDir(dir)).rejects.toThrow(`${join(dir, 'cert-chain.pem')} does not verify against ${join(dir, 'root-cert.pem')}`);
    await writeFile(join(dir, 'root-cert.pem'), original.root);
    await writeFile(join(dir, 'key.pem'), original.key);
    await expect(TlsSource.fromDir(dir)).rejects.toThrow(`${join(dir, 'key.pem')} does not match the certificate in ${join(dir, 'cert-chain.pem')}`);
  });

  it('checks material installed from elsewhere (a CA) too, keeping the current one', async () => {
    const source = new TlsSource(await TlsSource.fromDir(certDir).then((s) => s.current));
    const good = await mesh.issue('default', 'waypoint');
    const bad = { ...good, keyPem: (await mesh.issue('default', 'waypoint')).keyPem };
    expect(() => source.install(bad)).toThrow(/the private key does not match the certificate in the certificate chain/);
    expect(source.current.certChainPem).toBe(original.chain);
    const installed = source.install(good);
    expect(installed.identity).toBe('spiffe://cluster.local/ns/default/sa/waypoint');
    expect(source.current.certChainPem).toBe(good.certChainPem);
  });
});
