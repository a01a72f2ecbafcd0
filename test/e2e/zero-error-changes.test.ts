/**
 * Issue 13, item 6: zero-error changes under load. A paced load (200 req/s for 8 s over keep-alive
 * HTTP/1.1 connections and h2c sessions, each an HBONE tunnel from two source identities) runs
 * across each change: a routing edit, certificate rotation, endpoint churn, and a SIGHUP-triggered
 * reload of a `waypoint run` process. Every request must succeed, no inner connection or HBONE
 * session may be reset, a slow request in flight across the change finishes where it started,
 * and traffic started after the change follows it. Addresses: 127.180.x.y.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE, writeCertDir, type WorkloadCert } from '../../src/hbone/certs.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { HboneDestination } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, meshPodManifest, type MeshPod } from '../../src/testkit/mesh.js';
import { eventually } from '../helpers/log-capture.js';
import { CliProcess } from '../helpers/process.js';
import { presentedCertificate } from '../helpers/tls-probe.js';
import { h2cChannel, http1Channel, inFlight, steadyLoad, type LoadChannel, type LoadResult } from '../helpers/steady-load.js';
import { holdLoadLock } from '../helpers/load-lock.js';
import { waypointNamespace } from '../helpers/policy-mesh.js';

holdLoadLock();

const ip = (rest: string): string => `127.180.${rest}`;
const WAYPOINT_IP = ip('0.10');
const CHILD_IP = ip('0.20');
const VIP = ip('10.1');
const VIP_V2 = ip('10.2');
const RATE = 200;
const LOAD_MS = 8_000;
/** When, after the load starts, the slow request is sent and then the change made. */
const CHANGE_AFTER_MS = 1_500;

const pod = (name: string, app: string, rest: string): MeshPod => ({ name, namespace: 'default', serviceAccount: app, ip: ip(rest), httpPort: 8080, labels: { app }, containerPorts: { http: 8080 } });
const PODS: MeshPod[] = [pod('echo-1', 'echo', '1.1'), pod('echo-2', 'echo', '1.2'), pod('echo-3', 'echo', '1.3'), pod('echo-v2-1', 'echo-v2', '1.4')];
const V1 = new Set(['echo-1', 'echo-2', 'echo-3']);

/** The mesh: Services `echo` and `echo-v2`, an HTTPRoute splitting `echo` between them, and the Pods that exist. */
function meshYaml(opts: { v2Weight: number; pods: readonly string[] }): string {
  const service = (name: string, vip: string): string => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: http, appProtocol: http }]
`;
  return `${waypointNamespace('service')}${service('echo', VIP)}${service('echo-v2', VIP_V2)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-split, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  rules:
    - backendRefs:
        - { name: echo, port: 80, weight: ${100 - opts.v2Weight} }
        - { name: echo-v2, port: 80, weight: ${opts.v2Weight} }
${PODS.filter((p) => opts.pods.includes(p.name)).map(meshPodManifest).join('')}`;
}

/** Replaces a file the way editors and ConfigMap volumes do: write aside, then rename over it. */
async function replaceFile(file: string, text: string): Promise<void> {
  const aside = join(file, '..', `.${Math.random().toString(36).slice(2)}.tmp`);
  await writeFile(aside, text);
  await rename(aside, file);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Serial number of the certificate a new HBONE handshake is shown. */
const presentedSerial = async (host: string, port: number, client: WorkloadCert): Promise<string> => (await presentedCertificate(host, port, client)).serialNumber;
const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

/** Two source identities, each with up to four keep-alive HTTP/1.1 connections and one h2c session; warmed up. */
async function openChannels(pools: readonly HboneClientPool[], dest: Omit<HboneDestination, 'authority'>): Promise<LoadChannel[]> {
  const channels: LoadChannel[] = [];
  for (const [n, pool] of pools.entries()) {
    channels.push(http1Channel(`src${n}-h1`, pool, { ...dest, authority: `${VIP}:80` }, 4));
    channels.push(await h2cChannel(`src${n}-h2c`, pool, { ...dest, authority: `${VIP}:80` }));
  }
  const warm = await steadyLoad(channels, { ratePerSecond: 50, durationMs: 1_000, path: (i) => `/warm-up/${i}` });
  expect(warm.failures).toEqual([]);
  return channels;
}

interface Run {
  load: LoadResult;
  /** When the change was made, and when the waypoint was seen serving it. */
  changedAt: number;
  swappedAt: number;
  slow: Awaited<ReturnType<typeof inFlight>>;
}

/** Runs the load; part way in, sends a slow request, then makes the change and waits until it is served. */
async function acrossChange(channels: readonly LoadChannel[], slow: () => ReturnType<typeof inFlight>, change: () => Promise<void>, served: () => Promise<unknown>): Promise<Run> {
  const load = steadyLoad(channels, { ratePerSecond: RATE, durationMs: LOAD_MS, path: (i) => `/load/${i}` });
  await sleep(CHANGE_AFTER_MS);
  const slowDone = slow();
  await sleep(200);
  const changedAt = Date.now();
  await change();
  await served();
  const swappedAt = Date.now();
  return { load: await load, changedAt, swappedAt, slow: await slowDone };
}

/** Every request answered 2xx; nothing reset: one inner connection per channel, one HBONE session per source. */
function expectNoFailures(run: Run, channels: readonly LoadChannel[], pools: readonly HboneClientPool[]): void {
  expect(run.load.failures).toEqual([]);
  expect(run.load.samples).toHaveLength((RATE * LOAD_MS) / 1000);
  expect(channels.map((c) => `${c.name}: ${c.connectionsReopened()}`)).toEqual(channels.map((c) => `${c.name}: 0`));
  expect(pools.map((p) => p.sessionCount)).toEqual(pools.map(() => 1));
}

let mesh: LoopbackMesh;
let configFile: string;
let pools: HboneClientPool[];

beforeAll(async () => {
  mesh = await LoopbackMesh.start({
    config: meshYaml({ v2Weight: 0, pods: ['echo-1', 'echo-2', 'echo-v2-1'] }),
    pods: PODS,
    waypoint: { ip: WAYPOINT_IP, namespace: 'default', name: 'waypoint' },
    accessLog: { kind: 'off' },
  });
  configFile = join(mesh.configDir, 'mesh.yaml');
  pools = [await mesh.client('default', 'load-a'), await mesh.client('default', 'load-b')];
}, 30_000);

afterAll(async () => {
  await mesh?.close();
});

describe('zero-error changes under load (in-process waypoint)', () => {
  let channels: LoadChannel[];
  beforeAll(async () => {
    channels = await openChannels(pools, { ...mesh.hbone, expectedIdentity: mesh.waypointIdentity });
  });
  afterAll(async () => {
    await Promise.allSettled(channels.map((c) => c.close()));
  });
  const dest = (): HboneDestination => ({ ...mesh.hbone, authority: `${VIP}:80`, expectedIdentity: mesh.waypointIdentity });
  const version = (): number => mesh.waypoint.store.current.version;
  const servedAfter = (v: number) => () => eventually(() => version() > v, 5000, `configuration version above ${v}`);

  it('a routing edit: no failure, the request in flight finishes on the old backend, later traffic follows the new weights', async () => {
    const v = version();
    const run = await acrossChange(
      channels,
      () => inFlight(pools[0]!, dest(), '/slow?delay=1500'),
      () => replaceFile(configFile, meshYaml({ v2Weight: 100, pods: ['echo-1', 'echo-2', 'echo-v2-1'] })),
      servedAfter(v),
    );
    expectNoFailures(run, channels, pools);
    expect(run.slow.status).toBe(200);
    expect(V1.has(run.slow.reply.pod)).toBe(true);
    expect(run.slow.endedAt).toBeGreaterThan(run.swappedAt);
    const before = run.load.samples.filter((s) => s.endedAt < run.changedAt);
    const after = run.load.samples.filter((s) => s.startedAt > run.swappedAt);
    expect(before.length).toBeGreaterThan(50);
    expect(after.length).toBeGreaterThan(100);
    expect(before.filter((s) => !V1.has(s.pod ?? ''))).toEqual([]);
    expect(after.filter((s) => s.pod !== 'echo-v2-1')).toEqual([]);
  }, 30_000);

  it('certificate rotation (files replaced): no failure, open HBONE sessions keep working, a new handshake sees the new certificate', async () => {
    const probe = await mesh.issue('default', 'probe');
    const next = await mesh.issue('default', 'waypoint');
    const oldSerial = await presentedSerial(mesh.hbone.host, mesh.hbone.port, probe);
    expect(oldSerial).not.toBe(serialOf(next.certChainPem));
    const run = await acrossChange(
      channels,
      () => inFlight(pools[0]!, dest(), '/slow?delay=1500'),
      () => writeCertDir(mesh.certDir, next),
      () => eventually(async () => (await presentedSerial(mesh.hbone.host, mesh.hbone.port, probe)) === serialOf(next.certChainPem), 5000, 'the new certificate on a new handshake'),
    );
    expectNoFailures(run, channels, pools);
    expect(run.slow.status).toBe(200);
    expect(run.slow.endedAt).toBeGreaterThan(run.swappedAt);
  }, 30_000);

  it('endpoint churn (a pod added, two removed): no failure, the request in flight on a removed pod finishes there, later traffic goes to the pod left', async () => {
    const v0 = version();
    await replaceFile(configFile, meshYaml({ v2Weight: 0, pods: ['echo-1', 'echo-2', 'echo-v2-1'] }));
    await servedAfter(v0)();
    const v = version();
    let addedAt = 0;
    const run = await acrossChange(
      channels,
      () => inFlight(pools[0]!, dest(), '/slow?delay=3000'),
      async () => {
        await replaceFile(configFile, meshYaml({ v2Weight: 0, pods: ['echo-1', 'echo-2', 'echo-3', 'echo-v2-1'] }));
        await servedAfter(v)();
        addedAt = Date.now();
        await sleep(1_000);
        await replaceFile(configFile, meshYaml({ v2Weight: 0, pods: ['echo-3', 'echo-v2-1'] }));
      },
      servedAfter(v + 1),
    );
    expectNoFailures(run, channels, pools);
    expect(run.slow.status).toBe(200);
    expect(['echo-1', 'echo-2']).toContain(run.slow.reply.pod);
    expect(run.slow.endedAt).toBeGreaterThan(run.swappedAt);
    const between = run.load.samples.filter((s) => s.startedAt > addedAt && s.endedAt < run.swappedAt - 1_000);
    expect(between.filter((s) => s.pod === 'echo-3').length).toBeGreaterThan(0);
    const after = run.load.samples.filter((s) => s.startedAt > run.swappedAt);
    expect(after.length).toBeGreaterThan(100);
    expect(after.filter((s) => s.pod !== 'echo-3')).toEqual([]);
  }, 30_000);
});

/**
 * `waypoint run` from dist on `host` (ports 15008, 15000, 15020, 15021), in front of the mesh's
 * pods. Its configuration and certificates are symlinks into directories no watch sees
 * (`config-store/mesh.yaml`, `cert-store/`): only SIGHUP makes it read them again.
 */
async function startRun(name: string, host: string, extraArgs: string[], startedWhen: string, count = 1): Promise<{ child: CliProcess; dir: string }> {
  const dir = join(mesh.dir, name);
  await mkdir(join(dir, 'config-store'), { recursive: true });
  await mkdir(join(dir, 'config'), { recursive: true });
  await writeFile(join(dir, 'config-store', 'mesh.yaml'), meshYaml({ v2Weight: 0, pods: ['echo-1', 'echo-2', 'echo-v2-1'] }));
  await symlink(join(dir, 'config-store', 'mesh.yaml'), join(dir, 'config', 'mesh.yaml'));
  await writeCertDir(join(dir, 'cert-store'), await mesh.issue('default', 'waypoint'));
  await mkdir(join(dir, 'certs'));
  for (const f of [CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE]) await symlink(join(dir, 'cert-store', f), join(dir, 'certs', f));
  const ztunnelPort = mesh.ztunnels.get(ip('1.1'))!.port;
  const child = new CliProcess([
    'run',
    '--config', join(dir, 'config'),
    '--certs', join(dir, 'certs'),
    '--namespace', 'default',
    '--name', 'waypoint',
    '--hbone', `${host}:15008`,
    '--admin', `${host}:15000`,
    '--metrics', `${host}:15020`,
    '--readiness', `${host}:15021`,
    '--upstream-hbone-port', String(ztunnelPort),
    '--drain-ms', '500',
    ...extraArgs,
  ]);
  await eventually(() => {
    if (child.child.exitCode !== null) throw new Error(`waypoint exited\n${child.stdout}\n${child.stderr}`);
    return child.logLines.filter((l) => l.msg === startedWhen).length >= count;
  }, 20_000, `${count} × "${startedWhen}" from the waypoint process`);
  return { child, dir };
}

describe('zero-error SIGHUP reload under load (waypoint run process)', () => {
  let child: CliProcess;
  let channels: LoadChannel[];
  let dir: string;
  let childPools: HboneClientPool[];

  beforeAll(async () => {
    ({ child, dir } = await startRun('child', CHILD_IP, [], 'waypoint started'));
    childPools = [await mesh.client('default', 'hup-a'), await mesh.client('default', 'hup-b')];
    channels = await openChannels(childPools, { host: CHILD_IP, port: 15008, expectedIdentity: mesh.waypointIdentity });
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled((channels ?? []).map((c) => c.close()));
    await child?.stop('SIGTERM');
  });

  it('re-reads configuration and certificates on SIGHUP: no failure, the request in flight finishes on the old backend, later traffic follows', async () => {
    const probe = await mesh.issue('default', 'probe');
    const next = await mesh.issue('default', 'waypoint');
    const oldSerial = await presentedSerial(CHILD_IP, 15008, probe);
    const requested = (): number => child.logLines.filter((l) => l.msg === 'reload requested by SIGHUP').length;
    const run = await acrossChange(
      channels,
      () => inFlight(childPools[0]!, { host: CHILD_IP, port: 15008, authority: `${VIP}:80`, expectedIdentity: mesh.waypointIdentity }, '/slow?delay=3000'),
      async () => {
        await replaceFile(join(dir, 'config-store', 'mesh.yaml'), meshYaml({ v2Weight: 100, pods: ['echo-1', 'echo-2', 'echo-v2-1'] }));
        await writeCertDir(join(dir, 'cert-store'), next);
        // Nothing watches those files: the waypoint still serves the old route and certificate.
        await sleep(500);
        expect(child.logLines.some((l) => l.msg === 'configuration reloaded' || l.msg === 'certificate reloaded')).toBe(false);
        expect(await presentedSerial(CHILD_IP, 15008, probe)).toBe(oldSerial);
        expect(requested()).toBe(0);
        process.kill(child.child.pid!, 'SIGHUP');
      },
      () => eventually(() => child.logLines.find((l) => l.msg === 'SIGHUP reload finished'), 5000, 'the SIGHUP reload to finish'),
    );
    expectNoFailures(run, channels, childPools);
    expect(child.logLines.find((l) => l.msg === 'reload requested by SIGHUP')).toMatchObject({ reread: ['configuration', 'certificates'], ignored: [] });
    expect(child.logLines.find((l) => l.msg === 'SIGHUP reload finished')).toMatchObject({ config: 'applied', version: 2, certificates: 'updated' });
    expect(await presentedSerial(CHILD_IP, 15008, probe)).toBe(serialOf(next.certChainPem));
    expect(run.slow.status).toBe(200);
    expect(V1.has(run.slow.reply.pod)).toBe(true);
    expect(run.slow.endedAt).toBeGreaterThan(run.swappedAt);
    const after = run.load.samples.filter((s) => s.startedAt > run.swappedAt);
    expect(after.length).toBeGreaterThan(100);
    expect(after.filter((s) => s.pod !== 'echo-v2-1')).toEqual([]);
    expect(run.load.samples.filter((s) => s.endedAt < run.changedAt && !V1.has(s.pod ?? ''))).toEqual([]);
  }, 40_000);

  it('a SIGHUP with a broken file keeps the last good configuration and says so', async () => {
    const before = child.logLines.length;
    await replaceFile(join(dir, 'config-store', 'mesh.yaml'), `${meshYaml({ v2Weight: 100, pods: ['echo-1', 'echo-v2-1'] })}---\napiVersion: v1\nkind: Service\nmetadata: { name: broken, namespace: default }\nspec:\n  ports: [{ port: 70000 }]\n`);
    process.kill(child.child.pid!, 'SIGHUP');
    const line = await eventually(() => child.logLines.slice(before).find((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP reload finished')), 5000, 'the SIGHUP reload to finish');
    expect(line).toMatchObject({ msg: 'SIGHUP reload finished with errors; still serving the last good configuration and certificate', config: 'rejected', version: 2, certificates: 'unchanged' });
    expect(String((line.errors as string[])[0])).toMatch(/mesh\.yaml.*Service default\/broken.*spec\.ports\[0\]\.port/);
    expect(child.logLines.slice(before).some((l) => l.msg === 'configuration rejected; still serving the last good one')).toBe(true);
    const res = await inFlight(childPools[1]!, { host: CHILD_IP, port: 15008, authority: `${VIP}:80`, expectedIdentity: mesh.waypointIdentity }, '/after-rejected');
    expect(res.status).toBe(200);
    expect(res.reply.pod).toBe('echo-v2-1');
  }, 20_000);
});

describe('SIGHUP with --workers 2', () => {
  let child: CliProcess | undefined;
  afterAll(async () => {
    await child?.stop('SIGTERM');
  });

  it('the primary tells every worker to re-read; each logs the reload and new connections follow the new route', async () => {
    const host = ip('0.30');
    const started = await startRun('workers', host, ['--workers', '2'], 'worker ready', 2);
    child = started.child;
    const client = await mesh.client('default', 'hup-workers');
    const dest = { host, port: 15008, authority: `${VIP}:80`, expectedIdentity: mesh.waypointIdentity };
    expect(V1.has((await inFlight(client, dest, '/before')).reply.pod)).toBe(true);
    await replaceFile(join(started.dir, 'config-store', 'mesh.yaml'), meshYaml({ v2Weight: 100, pods: ['echo-1', 'echo-2', 'echo-v2-1'] }));
    process.kill(child.child.pid!, 'SIGHUP');
    const finished = await eventually(() => {
      const done = child!.logLines.filter((l) => l.msg === 'SIGHUP reload finished');
      return done.length >= 3 ? done : undefined;
    }, 10_000, 'the primary and both workers to finish the SIGHUP reload');
    expect(finished.map((l) => l.worker ?? 'primary').sort()).toEqual([1, 2, 'primary']);
    for (const l of finished) expect(l).toMatchObject({ config: 'applied', version: 2, certificates: 'unchanged' });
    // Each new HBONE session lands on one worker or the other (round robin): all follow the new route.
    for (let i = 0; i < 4; i++) expect((await inFlight(await mesh.client('default', `hup-workers-${i}`), dest, `/after/${i}`)).reply.pod).toBe('echo-v2-1');
  }, 40_000);
});
