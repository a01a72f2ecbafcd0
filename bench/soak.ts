/**
 * `npm run soak -- --minutes N` (default 1): a steady mixed load through a `waypoint run` child
 * process, sampling its RSS, heap, libuv handles, HBONE sessions, CONNECT streams and tunnels
 * over time (its `--stats-interval-ms` lines). After the load stops and a settle period, memory
 * must be back near where it started and nothing the load opened may remain: no downstream
 * session or stream, no tunnel but the pooled upstream h2c ones, no extra socket or timer.
 *
 * The child runs with --expose-gc, so every sample is taken after a full collection: heap
 * figures are retained memory, not garbage waiting for the next GC.
 *
 * Load (per worker, until the deadline): HTTP/1.1 POSTs of random bodies with digest checks,
 * h2c POSTs, downloads, TCP echo round trips, requests to a destination that refuses (503),
 * new inner connections and new HBONE sessions now and then. Every address is 127.48.x.
 *
 * Options: --minutes N | --seconds N, --concurrency N (12), --settle-seconds N (20),
 * --sample-seconds N (5), --json FILE (write the result).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createMeshCa, issueWorkloadCert, writeCertDir, type WorkloadCert } from '../src/hbone/certs.js';
import { HboneClientPool } from '../src/hbone/client-pool.js';
import { spiffeId } from '../src/hbone/spiffe.js';
import { TlsSource } from '../src/hbone/tls-source.js';
import { EchoApp, type EchoReply } from '../src/testkit/echo-app.js';
import { FakeZtunnel } from '../src/testkit/fake-ztunnel.js';
import { h2Request, HboneHttpClient } from '../src/testkit/hbone-http-client.js';
import type { WaypointStats } from '../src/waypoint.js';

/** The built CLI: beside this file once compiled (dist/bench → dist/src), else under dist/. */
const CLI = [new URL('../src/cli.js', import.meta.url), new URL('../dist/src/cli.js', import.meta.url)].map((u) => fileURLToPath(u)).find((p) => existsSync(p)) ?? 'dist/src/cli.js';

export interface SoakOptions {
  /** Load duration. */
  seconds: number;
  /** Concurrent workers. */
  concurrency?: number;
  /** Quiet time after the load before the final measurement. */
  settleSeconds?: number;
  /** One progress line this often. */
  sampleSeconds?: number;
  /** 0-7: address block (the CLI uses 0, the CI test 1), so runs do not collide. */
  slot?: number;
  /** Progress lines; silent when absent. */
  log?: (line: string) => void;
}

/** One sample of the waypoint process. */
export interface SoakSample {
  t: number;
  phase: 'load' | 'settle';
  rssMb: number;
  heapUsedMb: number;
  handles: number;
  sockets: number;
  timers: number;
  sessions: number;
  streams: number;
  tunnels: number;
  upstreamSessions: number;
  requests: number;
}

export interface SoakResult {
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  errors: Record<string, number>;
  mismatches: number;
  samples: SoakSample[];
  /** After warm-up (the first sample past 20 % of the load), and after the settle period. */
  startRssMb: number;
  endRssMb: number;
  peakRssMb: number;
  startHeapMb: number;
  endHeapMb: number;
  /** Least-squares RSS slope over the load after warm-up, MB per minute. */
  rssSlopeMbPerMin: number;
  heapSlopeMbPerMin: number;
  /** Handles before the load and after the settle period, by type. */
  handlesBefore: Record<string, number>;
  handlesAfter: Record<string, number>;
  final: Pick<WaypointStats, 'sessions' | 'streams' | 'tunnels' | 'upstreamSessions'>;
  /** Error lines in the waypoint's log during the run, and the first few of them. */
  waypointErrors: number;
  waypointErrorSamples: string[];
  /** Failed criteria; empty when the soak passed. */
  problems: string[];
}

const TD = 'cluster.local';
const NS = 'soak';
const PODS = 2;
const MB = 1024 * 1024;

interface Layout {
  waypoint: string;
  pods: string[];
  refusePod: string;
  vip: string;
  refuseVip: string;
}

function layout(slot: number): Layout {
  const pod = (k: number): string => `127.48.2.${slot * 8 + k + 1}`;
  return { waypoint: `127.48.0.${20 + slot}`, pods: Array.from({ length: PODS }, (_, k) => pod(k)), refusePod: pod(PODS), vip: `127.48.20.${slot * 2 + 1}`, refuseVip: `127.48.20.${slot * 2 + 2}` };
}

function config(l: Layout): string {
  const pod = (name: string, ip: string, app: string): string => `---
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${NS}, labels: { app: ${app} } }
spec: { serviceAccountName: ${app}, containers: [{ name: app, image: echo }] }
status: { phase: Running, podIP: ${ip} }
`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${NS}, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: ${NS} }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: ${NS} }
spec:
  clusterIP: ${l.vip}
  selector: { app: echo }
  ports:
    - { name: http, port: 80, targetPort: 8080, appProtocol: http }
    - { name: http2-echo, port: 81, targetPort: 8080 }
    - { name: tcp-echo, port: 9000, targetPort: 9000 }
---
apiVersion: v1
kind: Service
metadata: { name: refuse, namespace: ${NS} }
spec:
  clusterIP: ${l.refuseVip}
  selector: { app: refuse }
  ports: [{ name: http, port: 80, targetPort: 8080, appProtocol: http }]
${l.pods.map((ip, k) => pod(`echo-${k + 1}`, ip, 'echo')).join('')}${pod('refuse-1', l.refusePod, 'refuse')}`;
}

/** The waypoint child and its latest `stats` line. */
class WaypointChild {
  readonly proc: ChildProcess;
  latest: WaypointStats | undefined;
  /** Error lines the waypoint logged (an uncaught exception it survived, say), and the first few. */
  errorLines = 0;
  readonly errorSamples: string[] = [];
  #tail = '';
  #buf = '';

  constructor(args: string[]) {
    // --expose-gc: each stats line is taken after a full collection (see Waypoint.start).
    // SOAK_WAYPOINT_NODE_ARGS (e.g. "--heapsnapshot-signal=SIGUSR2") adds Node flags for diagnosis.
    const nodeArgs = (process.env.SOAK_WAYPOINT_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    this.proc = spawn(process.execPath, ['--expose-gc', ...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (d: Buffer) => {
      this.#buf += d.toString();
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        this.#tail = (this.#tail + line + '\n').slice(-4096);
        if (line.includes('"level":"error"') || line.includes('"level":"fatal"')) {
          this.errorLines++;
          if (this.errorSamples.length < 5) this.errorSamples.push(line.slice(0, 2000));
        }
        if (!line.includes('"msg":"stats"')) continue;
        try {
          this.latest = JSON.parse(line) as WaypointStats;
        } catch {
          // a partial line cannot happen with the split above; ignore anything odd
        }
      }
    });
    this.proc.stderr?.on('data', (d: Buffer) => (this.#tail = (this.#tail + d.toString()).slice(-4096)));
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get tail(): string {
    return this.#tail;
  }

  /** Waits for the next stats line (bounded). */
  async nextStats(timeoutMs = 5000): Promise<WaypointStats> {
    const prev = this.latest;
    const deadline = Date.now() + timeoutMs;
    while (this.latest === prev || this.latest === undefined) {
      if (!this.alive) throw new Error(`waypoint exited:\n${this.tail}`);
      if (Date.now() > deadline) throw new Error(`no stats line in ${timeoutMs} ms:\n${this.tail}`);
      await sleep(50);
    }
    return this.latest;
  }

  async stop(): Promise<number | null> {
    if (!this.alive) return this.proc.exitCode;
    const exited = new Promise<number | null>((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ready(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/healthz/ready', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const count = (h: Record<string, number>, ...types: string[]): number => types.reduce((n, t) => n + (h[t] ?? 0), 0);
const total = (h: Record<string, number>): number => Object.values(h).reduce((a, b) => a + b, 0);

function slope(points: Array<[number, number]>): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Runs one soak; resolves with the figures and the failed criteria (empty when it passed). */
export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? ((): void => undefined);
  const concurrency = opts.concurrency ?? 12;
  const settleSeconds = opts.settleSeconds ?? 20;
  const sampleSeconds = opts.sampleSeconds ?? 5;
  const l = layout(opts.slot ?? 0);
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-soak-'));
  const closers: Array<() => Promise<unknown>> = [];
  let child: WaypointChild | undefined;
  try {
    const ca = await createMeshCa({ trustDomain: TD });
    const issue = (sa: string): Promise<WorkloadCert> => issueWorkloadCert(ca, { spiffe: spiffeId(TD, NS, sa) });
    const clientCert = await issue('loadgen');
    await writeCertDir(join(dir, 'certs'), await issue('waypoint'));
    await mkdir(join(dir, 'config'), { recursive: true });
    await writeFile(join(dir, 'config', 'mesh.yaml'), config(l));

    // Destination ztunnels and echo pods, in this process.
    let ztPort = 0;
    for (const [i, ip] of [...l.pods, l.refusePod].entries()) {
      const refuse = i === l.pods.length;
      const zt = new FakeZtunnel({ host: ip, port: ztPort, tls: await issue(refuse ? 'refuse' : 'echo'), behaviour: refuse ? 'refuse' : 'forward' });
      ztPort = await zt.listen();
      closers.push(() => zt.close());
      const app = new EchoApp({ host: ip, httpPort: 8080, tcpPort: 9000, pod: `pod-${i}`, namespace: NS });
      await app.listen();
      closers.push(() => app.close());
    }

    const w = l.waypoint;
    child = new WaypointChild([
      'run',
      ...['--config', join(dir, 'config'), '--certs', join(dir, 'certs'), '--namespace', NS, '--name', 'waypoint'],
      ...['--hbone', `${w}:15008`, '--admin', `${w}:15000`, '--metrics', `${w}:15020`, '--readiness', `${w}:15021`],
      ...['--upstream-hbone-port', String(ztPort), '--log-level', 'warn', '--drain-ms', '0', '--stats-interval-ms', '1000'],
      // Short upstream idle timeouts, so that the settle period can show every pooled
      // connection released (the defaults keep them for a minute and five).
      ...['--upstream-idle-timeout-ms', String(Math.max(1000, (settleSeconds * 1000) / 4)), '--upstream-session-idle-timeout-ms', String(Math.max(1000, (settleSeconds * 1000) / 4))],
    ]);
    const deadlineReady = Date.now() + 20_000;
    while (!(await ready(w, 15021))) {
      if (!child.alive) throw new Error(`waypoint exited before it was ready:\n${child.tail}`);
      if (Date.now() > deadlineReady) throw new Error(`waypoint not ready after 20 s:\n${child.tail}`);
      await sleep(100);
    }
    const before = await child.nextStats();
    log(`waypoint ready (pid ${child.proc.pid ?? '?'}): RSS ${(before.rssBytes / MB).toFixed(1)} MB, heap ${(before.heapUsedBytes / MB).toFixed(1)} MB, handles ${JSON.stringify(before.handles)}`);

    const material = {
      certChainPem: clientCert.certChainPem,
      keyPem: clientCert.keyPem,
      rootCertPem: clientCert.rootCertPem,
      identity: clientCert.spiffe ?? '',
      notAfter: new Date(Date.now() + 86_400_000),
    };
    const silent = pino({ level: 'silent' });
    const newPool = (): HboneClientPool => new HboneClientPool({ tls: new TlsSource(material), trustDomains: [TD], logger: silent });
    const dest = (pool: HboneClientPool, authority: string): HboneHttpClient => new HboneHttpClient(pool, { host: w, port: 15008, authority });

    let requests = 0;
    let mismatches = 0;
    const errors: Record<string, number> = {};
    const fail = (kind: string): void => {
      errors[kind] = (errors[kind] ?? 0) + 1;
    };
    const loadEnd = Date.now() + opts.seconds * 1000;

    const worker = async (n: number): Promise<void> => {
      let pool = newPool();
      let h1 = dest(pool, `${l.vip}:80`);
      let h2c: HboneHttpClient | undefined;
      let session: ClientHttp2Session | undefined;
      let done = 0;
      const resetClients = async (newSession: boolean): Promise<void> => {
        session?.close();
        session = undefined;
        await h2c?.close();
        h2c = undefined;
        await h1.close();
        if (newSession) {
          await pool.close();
          pool = newPool();
        }
        h1 = dest(pool, `${l.vip}:80`);
      };
      while (Date.now() < loadEnd) {
        const roll = Math.random();
        const id = `w${n}-${done}-${randomBytes(4).toString('hex')}`;
        try {
          if (roll < 0.5) {
            const body = randomBytes(Math.floor(Math.random() * 256 * 1024));
            const res = await h1.request({ method: 'POST', path: '/up', body, headers: { 'x-request-id': id, 'content-type': 'application/octet-stream' } });
            const e = JSON.parse(res.body.toString()) as EchoReply;
            if (res.status !== 200 || e.headers['x-request-id'] !== id || e.bodySha256 !== createHash('sha256').update(body).digest('hex')) mismatches++;
          } else if (roll < 0.7) {
            if (session === undefined) {
              h2c = dest(pool, `${l.vip}:81`);
              session = await h2c.h2c();
            }
            const body = randomBytes(Math.floor(Math.random() * 64 * 1024));
            const res = await h2Request(session, { method: 'POST', path: '/up2', body, headers: { 'x-request-id': id } });
            const e = JSON.parse(res.body.toString()) as EchoReply;
            if (res.status !== 200 || e.headers['x-request-id'] !== id || e.bodySha256 !== createHash('sha256').update(body).digest('hex')) mismatches++;
          } else if (roll < 0.8) {
            const res = await h1.request({ path: '/down?raw=262144', headers: { 'x-request-id': id } });
            if (res.status !== 200 || res.body.length !== 262_144) mismatches++;
          } else if (roll < 0.9) {
            const sock = await dest(pool, `${l.vip}:9000`).tunnel();
            const data = randomBytes(16 * 1024);
            const back = await new Promise<Buffer>((resolve, reject) => {
              const chunks: Buffer[] = [];
              const t = setTimeout(() => reject(new Error('tcp echo timeout')), 10_000);
              sock.on('data', (d: Buffer) => chunks.push(d));
              sock.once('end', () => {
                clearTimeout(t);
                resolve(Buffer.concat(chunks));
              });
              sock.once('error', (err) => {
                clearTimeout(t);
                reject(err);
              });
              sock.end(data);
            });
            sock.destroy();
            if (!back.equals(data)) mismatches++;
          } else if (roll < 0.95) {
            const c = dest(pool, `${l.refuseVip}:80`);
            const res = await c.request({ path: '/refused' });
            await c.close();
            if (res.status !== 503) mismatches++;
          } else {
            await resetClients(done % 4 === 0);
          }
          requests++;
        } catch (err) {
          fail((err as Error & { code?: string }).code ?? (err as Error).message.slice(0, 60));
          await resetClients(true).catch(() => undefined);
        }
        done++;
      }
      session?.close();
      await h2c?.close();
      await h1.close();
      await pool.close();
    };

    const samples: SoakSample[] = [];
    const t0 = Date.now();
    const sample = (phase: SoakSample['phase'], s: WaypointStats): SoakSample => {
      const x: SoakSample = {
        t: (Date.now() - t0) / 1000,
        phase,
        rssMb: s.rssBytes / MB,
        heapUsedMb: s.heapUsedBytes / MB,
        handles: total(s.handles),
        sockets: count(s.handles, 'TCPSocketWrap', 'TLSWrap'),
        timers: count(s.handles, 'Timeout'),
        sessions: s.sessions,
        streams: s.streams,
        tunnels: s.tunnels,
        upstreamSessions: s.upstreamSessions,
        requests,
      };
      samples.push(x);
      return x;
    };
    const line = (x: SoakSample): string =>
      `${x.t.toFixed(0).padStart(5)} s ${x.phase.padEnd(6)} req ${String(x.requests).padStart(7)}  RSS ${x.rssMb.toFixed(1).padStart(6)} MB  heap ${x.heapUsedMb.toFixed(1).padStart(6)} MB  handles ${String(x.handles).padStart(4)} (sockets ${x.sockets}, timers ${x.timers})  sessions ${x.sessions}  streams ${x.streams}  tunnels ${x.tunnels}  upstream sessions ${x.upstreamSessions}`;

    log(`load: ${concurrency} workers for ${opts.seconds} s`);
    const load = Promise.all(Array.from({ length: concurrency }, (_, n) => worker(n)));
    let loadDone = false;
    void load.finally(() => (loadDone = true));
    let nextPrint = Date.now();
    while (!loadDone) {
      const s = sample('load', await child.nextStats());
      if (Date.now() >= nextPrint) {
        log(line(s));
        nextPrint += sampleSeconds * 1000;
      }
    }
    await load;
    const loadSeconds = (Date.now() - t0) / 1000;
    log(`load stopped after ${loadSeconds.toFixed(1)} s: ${requests} requests (${(requests / loadSeconds).toFixed(0)}/s), ${mismatches} mismatches, errors ${JSON.stringify(errors)}; settling ${settleSeconds} s`);
    const settleEnd = Date.now() + settleSeconds * 1000;
    nextPrint = Date.now();
    let last = sample('settle', await child.nextStats());
    while (Date.now() < settleEnd) {
      last = sample('settle', await child.nextStats());
      if (Date.now() >= nextPrint) {
        log(line(last));
        nextPrint += sampleSeconds * 1000;
      }
    }
    log(line(last));
    const after = child.latest!;

    const loadSamples = samples.filter((s) => s.phase === 'load');
    const warm = loadSamples.filter((s) => s.t >= loadSeconds * 0.2);
    const start = warm[0] ?? loadSamples[0] ?? last;
    const rssSlope = slope(warm.map((s) => [s.t / 60, s.rssMb]));
    const heapSlope = slope(warm.map((s) => [s.t / 60, s.heapUsedMb]));
    const problems: string[] = [];
    if (mismatches > 0) problems.push(`${mismatches} responses did not match their request`);
    if (child.errorLines > 0) problems.push(`the waypoint logged ${child.errorLines} errors, first: ${child.errorSamples[0] ?? ''}`);
    if (Object.keys(errors).length > 0) problems.push(`errors: ${JSON.stringify(errors)}`);
    if (last.sessions !== 0) problems.push(`${last.sessions} HBONE sessions remain`);
    if (last.streams !== 0) problems.push(`${last.streams} CONNECT streams remain`);
    // Upstream h2c sessions (one tunnel per pod) have no idle timeout: they are the only tunnels allowed to stay.
    if (last.tunnels > PODS) problems.push(`${last.tunnels} tunnels remain (at most ${PODS} pooled upstream h2c ones may)`);
    if (last.upstreamSessions > PODS) problems.push(`${last.upstreamSessions} upstream HBONE sessions remain (at most ${PODS} may)`);
    const extraSockets = last.sockets - count(before.handles, 'TCPSocketWrap', 'TLSWrap');
    if (extraSockets > PODS) problems.push(`${extraSockets} more sockets than before the load`);
    const extraTimers = last.timers - count(before.handles, 'Timeout');
    if (extraTimers > 2) problems.push(`${extraTimers} more timers than before the load`);
    if (last.rssMb > start.rssMb * 1.25 + 16) problems.push(`RSS did not come back: ${start.rssMb.toFixed(1)} MB after warm-up, ${last.rssMb.toFixed(1)} MB after settling`);
    if (last.heapUsedMb > start.heapUsedMb * 1.25 + 8) problems.push(`heap did not come back: ${start.heapUsedMb.toFixed(1)} MB after warm-up, ${last.heapUsedMb.toFixed(1)} MB after settling`);

    return {
      seconds: loadSeconds,
      requests,
      requestsPerSecond: requests / loadSeconds,
      errors,
      mismatches,
      samples,
      startRssMb: start.rssMb,
      endRssMb: last.rssMb,
      peakRssMb: Math.max(...samples.map((s) => s.rssMb)),
      startHeapMb: start.heapUsedMb,
      endHeapMb: last.heapUsedMb,
      rssSlopeMbPerMin: rssSlope,
      heapSlopeMbPerMin: heapSlope,
      handlesBefore: before.handles,
      handlesAfter: after.handles,
      final: { sessions: last.sessions, streams: last.streams, tunnels: last.tunnels, upstreamSessions: last.upstreamSessions },
      waypointErrors: child.errorLines,
      waypointErrorSamples: child.errorSamples,
      problems,
    };
  } finally {
    const code = await child?.stop();
    if (code !== undefined && code !== 0 && code !== null) log(`waypoint exited with ${code}`);
    await Promise.allSettled(closers.map((c) => c()));
    await rm(dir, { recursive: true, force: true });
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const minutes = Number(arg('minutes') ?? 1);
  const seconds = arg('seconds') !== undefined ? Number(arg('seconds')) : minutes * 60;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 24 * 3600) throw new Error('--minutes/--seconds: a positive duration up to a day');
  const t0 = Date.now();
  const log = (s: string): void => {
    process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
  };
  const r = await runSoak({
    seconds,
    concurrency: Number(arg('concurrency') ?? 12),
    settleSeconds: Number(arg('settle-seconds') ?? 20),
    sampleSeconds: Number(arg('sample-seconds') ?? (seconds >= 300 ? 30 : 5)),
    log,
  });
  const json = arg('json');
  if (json !== undefined) await writeFile(json, JSON.stringify(r, null, 2));
  process.stdout.write(
    [
      '',
      `soak: ${r.seconds.toFixed(0)} s of load, ${r.requests} requests (${r.requestsPerSecond.toFixed(0)}/s), ${r.mismatches} mismatches, errors ${JSON.stringify(r.errors)}`,
      `RSS: ${r.startRssMb.toFixed(1)} MB after warm-up, peak ${r.peakRssMb.toFixed(1)} MB, ${r.endRssMb.toFixed(1)} MB after settling; slope ${r.rssSlopeMbPerMin.toFixed(2)} MB/min`,
      `heap used: ${r.startHeapMb.toFixed(1)} MB after warm-up, ${r.endHeapMb.toFixed(1)} MB after settling; slope ${r.heapSlopeMbPerMin.toFixed(2)} MB/min`,
      `after settling: sessions ${r.final.sessions}, streams ${r.final.streams}, tunnels ${r.final.tunnels}, upstream sessions ${r.final.upstreamSessions}`,
      `handles before ${JSON.stringify(r.handlesBefore)}, after ${JSON.stringify(r.handlesAfter)}`,
      r.problems.length === 0 ? 'PASS' : `FAIL:\n  ${r.problems.join('\n  ')}`,
      '',
    ].join('\n'),
  );
  process.exitCode = r.problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
