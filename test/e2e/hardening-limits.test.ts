/**
 * Hardening, item 6: limits are configuration, and each one is enforced. The in-process waypoint
 * runs with every limit set low; a `waypoint run` process shows the flags and environment
 * variables reach the listeners (README "Limits").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { StreamSocket } from '../../src/hbone/stream-socket.js';
import { h2Request, HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { HardeningMesh, VIP } from '../helpers/hardening-mesh.js';
import { parseResponses, rawExchange } from '../helpers/http1-raw.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { connectHeaders, ErrorCode, FrameType, RawH2, rstStreamFrame, Setting } from '../helpers/h2-raw.js';
import { CliProcess, runCli, waitForPort } from '../helpers/process.js';

const LIMITS = {
  maxSessions: 3,
  maxStreamsPerSession: 4,
  maxHeaderBytes: 4096,
  maxRequestBufferBytes: 1024,
  streamWindowBytes: 256 * 1024,
  connectionWindowBytes: 1024 * 1024,
  headersTimeoutMs: 500,
  idleTimeoutMs: 800,
  sniffTimeoutMs: 300,
  sessionIdleTimeoutMs: 600,
  handshakeTimeoutMs: 2000,
};

let mesh: HardeningMesh;
let logs: LogLine[];
let client: HboneClientPool;
const processes: CliProcess[] = [];

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await HardeningMesh.start({ slot: 5, logger: cap.logger, limits: LIMITS });
  client = await mesh.client();
});

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop('SIGKILL')));
  await mesh?.close();
});

async function raw(host = mesh.hbone.host, port = mesh.hbone.port, opts: { ackSettings?: boolean } = {}): Promise<RawH2> {
  const c = await mesh.issue('default', 'limits');
  return RawH2.connect({ host, port, ca: mesh.ca.certPem, cert: c.certChainPem, key: c.keyPem, ...opts });
}

/** The server's first SETTINGS as a map, and the connection-level WINDOW_UPDATE it sent. */
async function serverSettings(r: RawH2): Promise<{ settings: Map<number, number>; connectionIncrement: number }> {
  await r.until(() => r.frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & 1) === 0) && r.frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0), 3000, 'SETTINGS and WINDOW_UPDATE');
  const f = r.frames.find((x) => x.type === FrameType.SETTINGS && (x.flags & 1) === 0)!;
  const settings = new Map<number, number>();
  for (let i = 0; i + 6 <= f.payload.length; i += 6) settings.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
  const wu = r.frames.find((x) => x.type === FrameType.WINDOW_UPDATE && x.streamId === 0)!;
  return { settings, connectionIncrement: wu.payload.readUInt32BE(0) };
}

describe('limits set on the Waypoint are enforced', () => {
  it('streams per session and windows are what the peer is told (SETTINGS, WINDOW_UPDATE), and the stream limit holds', async () => {
    expect(mesh.waypoint.limits).toStrictEqual({ ...DEFAULT_LIMITS, ...LIMITS });
    const r = await raw(mesh.hbone.host, mesh.hbone.port, { ackSettings: false });
    try {
      const { settings, connectionIncrement } = await serverSettings(r);
      expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(4);
      expect(settings.get(Setting.INITIAL_WINDOW_SIZE)).toBe(256 * 1024);
      expect(connectionIncrement).toBe(1024 * 1024 - 65_535);
      for (let i = 0; i < 6; i++) r.request(1 + 2 * i, connectHeaders(`${VIP.echo}:9000`));
      await r.until(() => r.heads.size === 4 && r.count(FrameType.RST_STREAM) === 2, 5000, '4 tunnels, 2 refused');
      expect([9, 11].map((id) => r.rstCode(id))).toStrictEqual([ErrorCode.REFUSED_STREAM, ErrorCode.REFUSED_STREAM]);
    } finally {
      r.destroy();
    }
  });

  it('sessions: the fourth concurrent session is refused after the handshake, logged; a slot freed is reused', async () => {
    const from = logs.length;
    await eventually(() => mesh.waypoint.hbone.sessionCount === 0, 3000, 'no sessions');
    // Each opens its tunnel as soon as its session is up, so that the session idle timeout
    // (600 ms here) leaves it be even on a busy machine.
    const open = await Promise.all(
      [0, 1, 2].map(async () => {
        const r = await raw();
        r.request(1, connectHeaders(`${VIP.echo}:9000`));
        return r;
      }),
    );
    try {
      for (const r of open) await r.until(() => r.status(1) === 200, 3000, 'tunnel');
      expect(mesh.waypoint.hbone.sessionCount).toBe(3);
      const fourth = await raw();
      expect(await fourth.waitClosed(3000)).toBe(true);
      const lines = logs.slice(from).filter((l) => l.msg === 'HBONE connection refused: session limit reached');
      expect(lines).toHaveLength(1);
      expect(lines[0]!.max).toBe(3);
      open.pop()!.destroy();
      await eventually(() => mesh.waypoint.hbone.sessionCount === 2, 3000, 'a slot freed');
      const again = await raw();
      again.request(1, connectHeaders(`${VIP.echo}:80`));
      await again.until(() => again.status(1) !== undefined, 3000, 'CONNECT answer');
      expect(again.status(1)).toBe(200);
      again.destroy();
    } finally {
      for (const r of open) r.destroy();
    }
  });

  it('session idle timeout: a session without streams gets GOAWAY(NO_ERROR), logged', async () => {
    const from = logs.length;
    const r = await raw();
    try {
      r.request(1, connectHeaders(`${VIP.echo}:80`));
      await r.until(() => r.status(1) === 200, 3000, 'tunnel');
      // While a stream is open, the session stays.
      await new Promise((res) => setTimeout(res, 900));
      expect(r.goaway()).toBeUndefined();
      r.send(rstStreamFrame(1, ErrorCode.CANCEL));
      await r.until(() => r.goaway() !== undefined, 3000, 'GOAWAY');
      expect(r.goaway()!.code).toBe(ErrorCode.NO_ERROR);
    } finally {
      r.destroy();
    }
    expect(logs.slice(from).filter((l) => l.msg === 'HBONE session closed: idle')).toHaveLength(1);
  });

  it('header bytes: a 5 KiB head is refused with 431, a 3 KiB one served', async () => {
    const big = await rawExchange(client, mesh.hbone, `${VIP.echo}:80`, [`GET / HTTP/1.1\r\nHost: e\r\nX-Big: ${'b'.repeat(5 * 1024)}\r\n\r\n`]);
    expect(parseResponses(big.bytes)[0]!.status).toBe(431);
    const ok = await rawExchange(client, mesh.hbone, `${VIP.echo}:80`, [`GET / HTTP/1.1\r\nHost: e\r\nX-Big: ${'b'.repeat(3 * 1024)}\r\nConnection: close\r\n\r\n`]);
    expect(parseResponses(ok.bytes)[0]!.status).toBe(200);
  });

  it('header bytes on h2c: a header list above the limit gets 431, logged', async () => {
    const from = logs.length;
    const c = mesh.via(client, `${VIP.echo}:81`);
    const session = await c.h2c();
    try {
      const outcome = await new Promise<string>((resolve) => {
        const s = session.request({ ':method': 'GET', ':path': '/', 'x-big': 'b'.repeat(6 * 1024) });
        s.on('response', (h) => resolve(`status ${String(h[':status'])}`));
        s.on('error', (e: Error & { code?: string }) => resolve(`error ${e.code ?? e.message}`));
        s.on('close', () => resolve(`closed ${s.rstCode}`));
        s.end();
      });
      expect(outcome).toBe('status 431');
    } finally {
      await c.close();
    }
    expect(logs.slice(from).filter((l) => l.msg.startsWith('bad HTTP/2 request in tunnel: header list of'))).toHaveLength(1);
  });

  it('request buffering: a body within the limit is retried (UF,URX); a larger one is streamed once (UF)', async () => {
    const c = mesh.via(client, `${VIP.refuse}:80`);
    try {
      await c.request({ method: 'POST', path: '/small-body', body: Buffer.alloc(512, 1), headers: { 'content-type': 'application/octet-stream' } });
      await c.request({ method: 'POST', path: '/large-body', body: Buffer.alloc(2048, 1), headers: { 'content-type': 'application/octet-stream' } });
    } finally {
      await c.close();
    }
    const small = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/small-body'), 3000, 'small');
    const large = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/large-body'), 3000, 'large');
    expect(small).toMatchObject({ response_code: 503, response_flags: 'UF,URX' });
    expect(large).toMatchObject({ response_code: 503, response_flags: 'UF' });
  });

  it('headers timeout: 408 after half a second', async () => {
    const x = await rawExchange(client, mesh.hbone, `${VIP.echo}:80`, ['GET / HTTP/1.1\r\nHost: e\r\n'], 3000);
    expect(parseResponses(x.bytes)[0]!.status).toBe(408);
    expect(x.ms).toBeGreaterThanOrEqual(400);
    expect(x.ms).toBeLessThan(1500);
  });

  it('a silent tunnel on an HTTP port holds no socket or codec before its first byte, and gets 408 at the headers timeout', async () => {
    const from = logs.length;
    const tunnel = await new HboneHttpClient(client, { ...mesh.hbone, authority: `${VIP.echo}:80` }).tunnel();
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    tunnel.on('data', (d: Buffer) => chunks.push(d));
    tunnel.on('error', () => undefined);
    const ended = new Promise<number>((resolve) => tunnel.once('close', () => resolve(Date.now() - t0)));
    try {
      const live = StreamSocket.live;
      // Past the sniff timeout (300 ms), before the headers timeout (500 ms): still only the stream.
      await new Promise((r) => setTimeout(r, 400));
      expect(StreamSocket.live).toBeLessThanOrEqual(live);
      const ms = await Promise.race([ended, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
      expect(ms).toBeGreaterThanOrEqual(450);
      expect(ms).toBeLessThan(1500);
      const [res] = parseResponses(Buffer.concat(chunks));
      expect(res!.status).toBe(408);
      expect(res!.headers.get('connection')).toBe('close');
      const lines = logs.slice(from).filter((l) => l.msg.startsWith('bad HTTP/1.1 request in tunnel'));
      expect(lines).toHaveLength(1);
      expect(lines[0]!.reason).toBe('ERR_HTTP_REQUEST_TIMEOUT');
    } finally {
      tunnel.destroy();
    }
  });

  it('idle timeout: an idle inner keep-alive connection is closed', async () => {
    const x = await rawExchange(client, mesh.hbone, `${VIP.echo}:80`, ['GET /idle HTTP/1.1\r\nHost: e\r\n\r\n'], 3000);
    expect(parseResponses(x.bytes)[0]!.status).toBe(200);
    expect(x.ended).toBe(true);
    expect(x.ms).toBeGreaterThanOrEqual(700);
    expect(x.ms).toBeLessThan(2500);
  });

  it('idle timeout on h2c: a session without streams gets GOAWAY and its tunnel ends', async () => {
    const c = mesh.via(client, `${VIP.echo}:81`);
    const session = await c.h2c();
    try {
      const t0 = Date.now();
      await h2Request(session, { path: '/h2-idle' });
      const goaway = await new Promise<number>((resolve) => {
        session.once('goaway', () => resolve(Date.now() - t0));
        setTimeout(() => resolve(-1), 3000);
      });
      expect(goaway).toBeGreaterThanOrEqual(700);
      expect(goaway).toBeLessThan(2500);
    } finally {
      await c.close();
    }
  });

  it('sniff timeout: a silent tunnel on a port without a protocol becomes TCP after it', async () => {
    const from = logs.length;
    const x = await rawExchange(client, mesh.hbone, `${VIP.echo}:8081`, [500, 'GET /late HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n'], 3000);
    const [res] = parseResponses(x.bytes);
    expect(res!.status).toBe(200);
    // Relayed as TCP: the request reached the pod untouched (no x-request-id from the waypoint).
    expect((JSON.parse(res!.body.toString()) as EchoReply).headers['x-request-id']).toBeUndefined();
    const tcp = await eventually(() => logs.slice(from).find((l) => l.msg === 'access' && l.type === 'tcp'), 3000, 'TCP access line');
    expect(tcp.chain).toBe('inbound-vip|8081|tcp|echo.default.svc.cluster.local');
  });
});

describe('limits as `waypoint run` flags and environment variables', () => {
  it('reach the listeners', async () => {
    const ztPort = mesh.ztunnelOf('echo-1').port;
    const host = '127.48.0.11';
    const p = new CliProcess(
      [
        'run',
        ...['--config', mesh.configDir, '--certs', mesh.certDir, '--namespace', 'default', '--name', 'waypoint'],
        ...['--hbone', `${host}:15008`, '--admin', `${host}:15000`, '--metrics', `${host}:15020`, '--readiness', `${host}:15021`],
        ...['--upstream-hbone-port', String(ztPort), '--log-level', 'warn'],
        ...['--max-streams-per-session', '7', '--stream-window-bytes', '131072'],
      ],
      { WAYPOINT_MAX_HEADER_BYTES: '2048', WAYPOINT_SESSION_IDLE_TIMEOUT_MS: '1000' },
    );
    processes.push(p);
    await waitForPort(host, 15008, 15_000);
    const r = await raw(host, 15008);
    try {
      const { settings } = await serverSettings(r);
      expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(7);
      expect(settings.get(Setting.INITIAL_WINDOW_SIZE)).toBe(131_072);
      // The session idle timeout from the environment: GOAWAY after a second without streams.
      await r.until(() => r.goaway() !== undefined, 3000, 'idle GOAWAY');
    } finally {
      r.destroy();
    }
    const hdr = await rawExchange(client, { host, port: 15008 }, `${VIP.echo}:80`, [`GET / HTTP/1.1\r\nHost: e\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`]);
    expect(parseResponses(hdr.bytes)[0]!.status).toBe(431);
    expect(await p.stop('SIGTERM')).toBe(0);
  }, 30_000);

  it('refuse a value out of range', async () => {
    const r = await runCli(['run', '--max-sessions', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("option '--max-sessions <n>' argument '0' is invalid. expected an integer 1-1000000");
  });
});
