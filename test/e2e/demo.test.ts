/**
 * `waypoint demo` as a user runs it (`npm start`): the built CLI as a child process. The test waits
 * for the printed tunnels and curl commands, sends one request through every tunnel it printed
 * with a real client (HTTP/1.1, h2c, the sniffed port, raw TCP, the pod IP), checks who answered
 * and how, then stops it with SIGTERM and checks it exits 0 and frees its ports.
 *
 * Needs the build (`npm run build`; `npm test` builds first).
 */
import { existsSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { CLI, CliProcess } from '../helpers/process.js';
import { eventually } from '../helpers/log-capture.js';

/**
 * Every address the demo uses today (src/commands/demo.ts, examples/demo-mesh.yaml). They are
 * fixed for now; when flags move them, this is the one place to change.
 */
const DEMO = {
  /** Where the local tunnels listen. */
  tunnelHost: '127.0.0.1',
  /** Tunnel port → CONNECT authority, as the demo prints them. */
  tunnels: {
    http1: { port: 15080, authority: '127.0.20.1:80' },
    h2c: { port: 15081, authority: '127.0.20.1:81' },
    sniffed: { port: 15088, authority: '127.0.20.1:8080' },
    tcp: { port: 15090, authority: '127.0.20.1:9000' },
    pod: { port: 15082, authority: '127.0.11.3:8080' },
  },
  serviceHost: 'echo.demo.svc.cluster.local',
  waypoint: { ip: '127.0.10.1', hbonePort: 15008, identity: 'spiffe://cluster.local/ns/demo/sa/waypoint' },
  /** Admin, metrics and readiness listeners. */
  adminHost: '127.0.0.1',
  adminPorts: [15000, 15020, 15021],
  pods: { '127.0.11.1': 'echo-v1-7d4b9c-abcde', '127.0.11.2': 'echo-v1-7d4b9c-fghij', '127.0.11.3': 'echo-v2-5f6a7b-klmno' } as Record<string, string>,
  /** Each pod's ztunnel, HTTP and TCP echo ports. */
  podPorts: [15008, 8080, 9000],
} as const;

const STARTUP_MS = 45_000;
const REQUEST_MS = 10_000;

/** The running demo and the tunnels it printed (`authority → local address`). */
interface RunningDemo {
  process: CliProcess;
  tunnels: Map<string, { host: string; port: number }>;
}

let current: Promise<RunningDemo> | undefined;

/** The demo, started on first use (and again after the SIGTERM test stopped it). */
function running(): Promise<RunningDemo> {
  current ??= start();
  return current;
}

async function start(): Promise<RunningDemo> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const d = new CliProcess(['demo']);
  await eventually(() => d.stderr.includes('Ctrl-C stops the demo.') || d.child.exitCode !== null, STARTUP_MS, 'the demo to print its curl commands');
  if (d.child.exitCode !== null) throw new Error(`demo exited early (${d.child.exitCode}):\n${d.stderr}`);
  const tunnels = new Map<string, { host: string; port: number }>();
  for (const m of d.stderr.matchAll(/^\s+(127\.\d+\.\d+\.\d+):(\d+) -> (\S+)\s/gm)) tunnels.set(m[3]!, { host: m[1]!, port: Number(m[2]) });
  return { process: d, tunnels };
}

async function tunnelFor(authority: string): Promise<{ host: string; port: number }> {
  const t = (await running()).tunnels.get(authority);
  if (t === undefined) throw new Error(`the demo printed no tunnel to ${authority}`);
  return t;
}

/** JSON lines the demo logged on stdout (the access log among them). */
async function logLines(): Promise<Array<Record<string, unknown>>> {
  return (await running()).process.logLines;
}

async function getJson(url: string): Promise<{ status: number; reply: EchoReply }> {
  const res = await request(url, { headersTimeout: REQUEST_MS, bodyTimeout: REQUEST_MS, headers: { connection: 'close' } });
  return { status: res.statusCode, reply: (await res.body.json()) as EchoReply };
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

afterAll(async () => {
  const d = await current?.catch(() => undefined);
  if (d !== undefined && d.process.child.exitCode === null) await d.process.stop('SIGKILL');
});

// Whichever test runs first waits for the demo to start.
describe('waypoint demo', { timeout: STARTUP_MS + 15_000 }, () => {
  it('prints a tunnel for each way in, and the curl commands to use them', async () => {
    const { process: d, tunnels } = await running();
    expect(Object.fromEntries([...tunnels].map(([authority, t]) => [authority, `${t.host}:${t.port}`]))).toEqual(
      Object.fromEntries(Object.values(DEMO.tunnels).map((t) => [t.authority, `${DEMO.tunnelHost}:${t.port}`])),
    );
    const stderr = d.stderr;
    expect(stderr).toContain(`HBONE ${DEMO.waypoint.ip}:${DEMO.waypoint.hbonePort}  identity ${DEMO.waypoint.identity}`);
    for (const t of [DEMO.tunnels.http1, DEMO.tunnels.sniffed, DEMO.tunnels.pod]) expect(stderr).toMatch(new RegExp(`curl -s http://${DEMO.tunnelHost.replace(/\./g, '\\.')}:${t.port}/`));
    expect(stderr).toContain(`curl -s --http2-prior-knowledge http://${DEMO.tunnelHost}:${DEMO.tunnels.h2c.port}/`);
  });

  it('HTTP/1.1 through the Service port 80 tunnel: an echo pod answers over HTTP/1.1, reached by the waypoint', async () => {
    const t = await tunnelFor(DEMO.tunnels.http1.authority);
    const { status, reply } = await getJson(`http://${t.host}:${t.port}/hello`);
    expect(status).toBe(200);
    expect(Object.values(DEMO.pods)).toContain(reply.pod);
    expect(reply).toMatchObject({ namespace: 'demo', path: '/hello', protocol: 'HTTP/1.1', peerIdentity: DEMO.waypoint.identity });
  });

  it('h2c through the Service port 81 tunnel: HTTP/2 end to end', async () => {
    const t = await tunnelFor(DEMO.tunnels.h2c.authority);
    const session = http2.connect(`http://${t.host}:${t.port}`);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no h2c answer in ${REQUEST_MS} ms`)), REQUEST_MS);
        session.once('error', reject);
        const req = session.request({ ':path': '/h2' });
        let s = 0;
        let b = '';
        req.on('response', (h) => (s = Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', (c: string) => (b += c));
        req.on('end', () => {
          clearTimeout(timer);
          resolve({ status: s, body: b });
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      const reply = JSON.parse(body) as EchoReply;
      expect(Object.values(DEMO.pods)).toContain(reply.pod);
      expect(reply).toMatchObject({ path: '/h2', protocol: 'HTTP/2', peerIdentity: DEMO.waypoint.identity });
    } finally {
      session.destroy();
    }
  });

  it('the sniffed port: HTTP/1.1 is detected and handled as HTTP by the waypoint', async () => {
    const t = await tunnelFor(DEMO.tunnels.sniffed.authority);
    const { status, reply } = await getJson(`http://${t.host}:${t.port}/sniffed`);
    expect(status).toBe(200);
    expect(Object.values(DEMO.pods)).toContain(reply.pod);
    expect(reply.protocol).toBe('HTTP/1.1');
    // Only an L7 hop adds a request id: the bytes were not relayed blindly.
    expect(reply.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const line = await eventually(async () => (await logLines()).find((l) => l.msg === 'access' && l.path === '/sniffed'), 5_000, 'the access line of /sniffed');
    expect(line).toMatchObject({ type: 'http', chain: `inbound-vip|8080|http|${DEMO.serviceHost}`, response_code: 200 });
  });

  it('raw TCP through the Service port 9000 tunnel: the bytes come back, relayed to a pod', async () => {
    const t = await tunnelFor(DEMO.tunnels.tcp.authority);
    const echoed = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: t.host, port: t.port }, () => s.end('hello over tcp\n'));
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no TCP echo in ${REQUEST_MS} ms`));
      }, REQUEST_MS);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (got += c));
      s.on('end', () => {
        clearTimeout(timer);
        resolve(got);
      });
      s.on('error', reject);
    });
    expect(echoed).toBe('hello over tcp\n');
    const line = await eventually(async () => (await logLines()).find((l) => l.msg === 'access' && l.type === 'tcp'), 5_000, 'the TCP access line');
    expect(line).toMatchObject({ chain: `inbound-vip|9000|tcp|${DEMO.serviceHost}`, connect_authority: DEMO.tunnels.tcp.authority });
    expect(Object.keys(DEMO.pods).map((ip) => `${ip}:9000`)).toContain(line.upstream_host);
  });

  it('the pod-IP tunnel: pod echo-v2 answers, by the direct chain', async () => {
    const t = await tunnelFor(DEMO.tunnels.pod.authority);
    const { status, reply } = await getJson(`http://${t.host}:${t.port}/direct`);
    expect(status).toBe(200);
    expect(reply.pod).toBe(DEMO.pods[DEMO.tunnels.pod.authority.split(':')[0]!]);
    expect(reply).toMatchObject({ path: '/direct', protocol: 'HTTP/1.1', peerIdentity: DEMO.waypoint.identity });
  });

  it('stops on SIGTERM with exit code 0 and frees every port it bound', async () => {
    const d = (await running()).process;
    expect(d.child.exitCode).toBeNull();
    current = undefined; // a test after this one starts a fresh demo
    expect(await d.stop('SIGTERM', 15_000)).toBe(0);
    const ports: Array<[string, number]> = [
      ...Object.values(DEMO.tunnels).map((t): [string, number] => [DEMO.tunnelHost, t.port]),
      ...DEMO.adminPorts.map((p): [string, number] => [DEMO.adminHost, p]),
      [DEMO.waypoint.ip, DEMO.waypoint.hbonePort],
      ...Object.keys(DEMO.pods).flatMap((ip) => DEMO.podPorts.map((p): [string, number] => [ip, p])),
    ];
    const taken: string[] = [];
    for (const [host, port] of ports) if (!(await canBind(host, port))) taken.push(`${host}:${port}`);
    expect(taken).toEqual([]);
  }, STARTUP_MS + 30_000);
});
