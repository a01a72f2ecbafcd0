import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCertDir } from '../../src/hbone/certs.js';
import { pino } from 'pino';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import { readTlsMaterial, TlsSource } from '../../src/hbone/tls-source.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { EchoApp, type EchoReply } from '../../src/testkit/echo-app.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { eventually } from '../helpers/log-capture.js';
import { CliProcess, runCli, waitForPort } from '../helpers/process.js';

// Real processes: `waypoint run` and `waypoint tunnel`, with certificates from `waypoint certs`.
const { config, pods, ip } = coreMesh(43);
const echoPods = pods.filter((p) => p.name.startsWith('echo-'));
let dir: string;
const started: Array<{ close(): Promise<void> }> = [];
const processes: CliProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'waypoint-cli-'));
  const ca = await runCli(['certs', 'ca', '--out', join(dir, 'ca')]);
  expect(ca.code).toBe(0);
  for (const [out, ns, sa] of [
    ['waypoint', 'default', 'waypoint'],
    ['client', 'default', 'sleep'],
    ['echo', 'default', 'echo'],
  ] as const) {
    const r = await runCli(['certs', 'issue', '--ca', join(dir, 'ca'), '--out', join(dir, out), '--namespace', ns, '--service-account', sa]);
    expect(r.code, r.stderr).toBe(0);
  }
  const echoCert = await readCertDir(join(dir, 'echo'));
  for (const p of echoPods) {
    const zt = new FakeZtunnel({ host: p.ip, port: 15008, tls: echoCert });
    await zt.listen();
    started.push(zt);
    const app = new EchoApp({ host: p.ip, httpPort: p.httpPort, tcpPort: p.tcpPort, pod: p.name, namespace: p.namespace, peerIdentity: (port) => zt.peerForLocalPort(port) });
    await app.listen();
    started.push(app);
  }
  await mkdir(join(dir, 'config'));
  await writeFile(join(dir, 'config', 'mesh.yaml'), config);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop('SIGKILL')));
  await Promise.allSettled(started.map((s) => s.close()));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('waypoint certs', () => {
  it('writes Istio-layout certificates with the SPIFFE identity asked for', async () => {
    const m = await readTlsMaterial(join(dir, 'waypoint'));
    expect(m.identity).toBe('spiffe://cluster.local/ns/default/sa/waypoint');
    const r = await runCli(['certs', 'issue', '--ca', join(dir, 'ca'), '--out', join(dir, 'x'), '--spiffe', 'spiffe://cluster.local/ns/a/sa/b']);
    expect(r.code).toBe(0);
    expect((await readTlsMaterial(join(dir, 'x'))).identity).toBe('spiffe://cluster.local/ns/a/sa/b');
  });

  it('refuses a malformed SPIFFE id with a clear error', async () => {
    const r = await runCli(['certs', 'issue', '--ca', join(dir, 'ca'), '--out', join(dir, 'y'), '--spiffe', 'spiffe://cluster.local/a/b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>');
  });
});

describe('waypoint validate', () => {
  it('exits 0 on a good configuration', async () => {
    const r = await runCli(['validate', '--config', join(dir, 'config')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('exits 1 naming the file, the resource and the field of each problem', async () => {
    const bad = join(dir, 'broken.yaml');
    await writeFile(
      bad,
      `apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: default }
spec:
  clusterIP: 127.43.10.9
  ports:
    - { name: http, port: 70000 }
`,
    );
    const r = await runCli(['validate', '--config', bad]);
    expect(r.code).toBe(1);
    const line = r.stdout.split('\n').find((l) => l.startsWith('error:'));
    expect(line).toBeDefined();
    expect(line).toContain('broken.yaml');
    expect(line).toContain('Service default/reviews');
    expect(line).toContain('spec.ports[0].port');
  });
});

describe('waypoint run + waypoint tunnel as processes', () => {
  it('serves traffic from a tunnel process, then drains on SIGTERM', async () => {
    const wp = new CliProcess([
      'run',
      '--config', join(dir, 'config'),
      '--certs', join(dir, 'waypoint'),
      '--hbone', `${ip('0.10')}:15008`,
      '--admin', `${ip('0.10')}:15000`,
      '--metrics', `${ip('0.10')}:15020`,
      '--readiness', `${ip('0.10')}:15021`,
      '--drain-ms', '500',
      '--access-log', 'stdout',
    ]);
    processes.push(wp);
    await waitForPort(ip('0.10'), 15021);
    const ready = await request(`http://${ip('0.10')}:15021/healthz/ready`);
    await ready.body.dump();
    expect(ready.statusCode).toBe(200);

    const tunnel = new CliProcess([
      'tunnel',
      '--listen', `${ip('0.1')}:15080`,
      '--to', `${ip('0.10')}:15008`,
      '--authority', `${ip('10.1')}:80`,
      '--certs', join(dir, 'client'),
      '--expect-identity', 'spiffe://cluster.local/ns/default/sa/waypoint',
    ]);
    processes.push(tunnel);
    await waitForPort(ip('0.1'), 15080);
    const res = await request(`http://${ip('0.1')}:15080/through-processes`);
    const body = (await res.body.json()) as EchoReply;
    expect(res.statusCode).toBe(200);
    expect(body.path).toBe('/through-processes');
    expect(body.peerIdentity).toBe('spiffe://cluster.local/ns/default/sa/waypoint');

    const access = await eventually(() => wp.logLines.find((l) => l.msg === 'access' && l.path === '/through-processes'));
    expect(access).toMatchObject({ response_code: 200, response_flags: '-', source_principal: 'spiffe://cluster.local/ns/default/sa/sleep' });

    expect(await tunnel.stop()).toBe(0);
    expect(await wp.stop('SIGTERM')).toBe(0);
    expect(wp.logLines.some((l) => l.msg === 'draining')).toBe(true);
  }, 30_000);

  it('on SIGTERM: readiness fails, new CONNECTs are refused, in-flight requests finish, exit 0 within the drain period', async () => {
    const host = ip('0.12');
    const wp = new CliProcess([
      'run',
      '--config', join(dir, 'config'),
      '--certs', join(dir, 'waypoint'),
      '--hbone', `${host}:15008`,
      '--admin', `${host}:15000`,
      '--metrics', `${host}:15020`,
      '--readiness', `${host}:15021`,
      '--drain-ms', '4000',
    ]);
    processes.push(wp);
    await waitForPort(host, 15021);
    const material = await readTlsMaterial(join(dir, 'client'));
    const logger = pino({ level: 'silent' });
    const pool = new HboneClientPool({ tls: new TlsSource(material), trustDomains: ['cluster.local'], logger });
    // One client per request: each its own inner connection, all in flight before the signal.
    const clients = [1, 2, 3].map(() => new HboneHttpClient(pool, { host, port: 15008, authority: `${ip('10.1')}:80` }));
    try {
      const slow = Promise.all(clients.map((c, i) => c.request({ path: `/slow/${i}?delay=1500` })));
      // Let the requests reach the echo pods.
      await new Promise((r) => setTimeout(r, 400));
      const signalled = Date.now();
      wp.child.kill('SIGTERM');
      await eventually(() => wp.logLines.some((l) => String(l.msg).startsWith('drain started')), 3000, 'drain start');
      const ready = await request(`http://${host}:15021/healthz/ready`);
      await ready.body.dump();
      expect(ready.statusCode).toBe(503);
      const fresh = new HboneClientPool({ tls: new TlsSource(material), trustDomains: ['cluster.local'], logger });
      const refused = await fresh.connect({ address: host, port: 15008, authority: `${ip('10.1')}:80` }).then(
        () => 'connected',
        (e: Error) => e.message,
      );
      await fresh.close();
      expect(refused).not.toBe('connected');
      const results = await slow;
      expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(await wp.exited).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(4000 + 1500);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await pool.close();
    }
  }, 30_000);

  it('--workers 2: both workers serve, metrics are merged on the primary, SIGTERM drains all', async () => {
    const host = ip('0.13');
    const wp = new CliProcess([
      'run',
      '--config', join(dir, 'config'),
      '--certs', join(dir, 'waypoint'),
      '--hbone', `${host}:15008`,
      '--admin', `${host}:15000`,
      '--metrics', `${host}:15020`,
      '--readiness', `${host}:15021`,
      '--workers', '2',
      '--drain-ms', '500',
      '--access-log', 'stdout',
    ]);
    processes.push(wp);
    await eventually(async () => {
      const r = await request(`http://${host}:15021/healthz/ready`).catch(() => undefined);
      await r?.body.dump();
      return r?.statusCode === 200;
    }, 15_000, 'both workers ready');
    const material = await readTlsMaterial(join(dir, 'client'));
    const logger = pino({ level: 'silent' });
    const pools = [0, 1, 2, 3].map(() => new HboneClientPool({ tls: new TlsSource(material), trustDomains: ['cluster.local'], logger }));
    try {
      // Separate pools: separate HBONE connections, spread over the workers by the primary.
      for (const pool of pools) {
        const c = new HboneHttpClient(pool, { host, port: 15008, authority: `${ip('10.1')}:80` });
        expect((await c.request({ path: '/workers' })).status).toBe(200);
        await c.close();
      }
      const workersSeen = new Set(wp.logLines.filter((l) => l.msg === 'access' && l.path === '/workers').map((l) => l.worker));
      expect(workersSeen.size).toBe(2);
      const res = await request(`http://${host}:15020/stats/prometheus`);
      const text = await res.body.text();
      const counted = text
        .split('\n')
        .filter((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      expect(counted).toBe(4);
      expect(text.split('\n').filter((l) => l.startsWith('istio_build{'))).toEqual(['istio_build{component="proxy",tag="unknown"} 1']);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
    expect(await wp.stop('SIGTERM')).toBe(0);
  }, 30_000);

  it('refuses to start on a broken configuration, printing each problem', async () => {
    const bad = join(dir, 'bad-config');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: { name: x }\nspec:\n  ports:\n    - { port: 0 }\n');
    const r = await runCli(['run', '--config', bad, '--certs', join(dir, 'waypoint'), '--hbone', `${ip('0.11')}:15008`, '--admin', `${ip('0.11')}:15000`, '--metrics', `${ip('0.11')}:15020`, '--readiness', `${ip('0.11')}:15021`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('svc.yaml');
    expect(r.stderr).toContain('spec.ports[0].port');
  });

  it('explains a missing --certs', async () => {
    const r = await runCli(['run', '--config', join(dir, 'config')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--config was given without --certs');
  });
});
