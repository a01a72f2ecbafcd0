/**
 * HBONE keepalive (src/hbone/keepalive.ts) over real TLS 1.3 + HTTP/2 on loopback, both ways:
 * connect_terminate drops a client that stops answering PINGs, connect_originate drops a pooled
 * session whose server stops answering, and a peer that answers is kept. Intervals are injected
 * (100 ms PING, 1 s timeout) so that the 10 s / 20 s defaults are not waited for.
 */
import http2, { type ClientHttp2Stream } from 'node:http2';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestMesh, type TestMesh, type WorkloadCert } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneServer } from '../../src/hbone/server.js';
import { TlsSource, type TlsMaterial } from '../../src/hbone/tls-source.js';
import { Flags, FrameType, RawH2, connectHeaders, encodeHeaders, headersFrame, pingFrame, settingsAck, settingsFrame, type Frame } from '../helpers/h2-raw.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const WAYPOINT_IP = '127.154.200.1';
const RAW_ZTUNNEL_IP = '127.154.200.2';
/** Never dialled: the tunnels here end at the HBONE layer. */
const TUNNEL_AUTHORITY = '127.154.201.1:8080';
const KEEPALIVE = { intervalMs: 100, timeoutMs: 1_000 };
/** Generous bound for a detection that takes about interval + timeout. */
const DETECT_WITHIN_MS = 15_000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let testMesh: TestMesh | undefined;
async function mesh(): Promise<TestMesh> {
  testMesh ??= await createTestMesh();
  return testMesh;
}

function material(c: WorkloadCert): TlsMaterial {
  return { certChainPem: c.certChainPem, keyPem: c.keyPem, rootCertPem: c.rootCertPem, identity: c.spiffe, notAfter: new Date(Date.now() + 3_600_000) };
}

/** connect_terminate with fast keepalive; every CONNECT is accepted and left open. */
async function startWaypointListener(logger: ReturnType<typeof captureLogs>['logger']): Promise<{ server: HboneServer; port: number }> {
  const cert = await (await mesh()).issue('default', 'waypoint');
  const server = new HboneServer({
    host: WAYPOINT_IP,
    port: 0,
    tls: new TlsSource(material(cert)),
    trustDomains: ['cluster.local'],
    logger,
    handler: () => ({ ok: true, open: (stream) => stream.on('data', () => undefined) }),
    keepaliveIntervalMs: KEEPALIVE.intervalMs,
    keepaliveTimeoutMs: KEEPALIVE.timeoutMs,
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, port };
}

/** One connection to the raw destination ztunnel below. */
interface RawPeer {
  /** Answer PINGs (true until the test says otherwise). */
  answering: boolean;
  pingsAnswered: number;
  pingsIgnored: number;
  closed: boolean;
}

/**
 * A destination "ztunnel" that speaks HTTP/2 by hand over real TLS: it answers SETTINGS, accepts
 * every CONNECT with `:status 200`, and answers PINGs only while its peer's `answering` is true.
 */
async function startRawZtunnel(): Promise<{ port: number; peers: RawPeer[] }> {
  const m = await mesh();
  const cert = await m.issue('default', 'echo');
  const peers: RawPeer[] = [];
  const server = tls.createServer({
    cert: cert.certChainPem,
    key: cert.keyPem,
    ca: m.ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
  });
  const sockets = new Set<tls.TLSSocket>();
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    const peer: RawPeer = { answering: true, pingsAnswered: 0, pingsIgnored: 0, closed: false };
    peers.push(peer);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      peer.closed = true;
      sockets.delete(socket);
    });
    socket.write(settingsFrame([]));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    const onFrame = (f: Frame): void => {
      if (f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0) socket.write(settingsAck());
      else if (f.type === FrameType.HEADERS) socket.write(headersFrame(f.streamId, encodeHeaders([[':status', '200']])));
      else if (f.type === FrameType.PING && (f.flags & Flags.ACK) === 0) {
        if (peer.answering) {
          peer.pingsAnswered++;
          socket.write(pingFrame(Buffer.from(f.payload), true));
        } else peer.pingsIgnored++;
      }
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        onFrame({ type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + len)) });
        buf = buf.subarray(9 + len);
      }
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, RAW_ZTUNNEL_IP, () => {
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new Error('raw ztunnel has no address'));
      else resolve(a.port);
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port, peers };
}

async function clientPool(logger: ReturnType<typeof captureLogs>['logger']): Promise<HboneClientPool> {
  const cert = await (await mesh()).issue('default', 'waypoint');
  const pool = new HboneClientPool({
    tls: new TlsSource(material(cert)),
    trustDomains: ['cluster.local'],
    logger,
    keepaliveIntervalMs: KEEPALIVE.intervalMs,
    keepaliveTimeoutMs: KEEPALIVE.timeoutMs,
  });
  cleanups.push(() => pool.close());
  return pool;
}

const dropped = (lines: LogLine[], msg: string): LogLine | undefined => lines.find((l) => l.msg === msg);

describe('connect_terminate keepalive', () => {
  it('drops a client that stops answering PINGs, and says so', async () => {
    const { logger, lines } = captureLogs('info');
    const { server, port } = await startWaypointListener(logger);
    const cert = await (await mesh()).issue('default', 'sleep');
    // RawH2 never answers a PING: a peer that went away without closing its connection.
    const raw = await RawH2.connect({ host: WAYPOINT_IP, port, ca: (await mesh()).ca.certPem, cert: cert.certChainPem, key: cert.keyPem });
    cleanups.push(() => raw.destroy());
    raw.request(1, connectHeaders(TUNNEL_AUTHORITY));
    await raw.until(() => raw.status(1) !== undefined, 5_000, 'the CONNECT answer');
    expect(raw.status(1)).toBe(200);
    expect(server.sessionCount).toBe(1);

    expect(await raw.waitClosed(DETECT_WITHIN_MS)).toBe(true);
    expect(raw.count(FrameType.PING)).toBeGreaterThanOrEqual(1);
    const line = await eventually(() => dropped(lines, 'HBONE session dropped: keepalive PING unanswered'), 5_000, 'the keepalive log line');
    expect(line).toMatchObject({ listener: 'connect_terminate', peer: expect.stringMatching(/^127\./) });
    await eventually(() => server.sessionCount === 0, 5_000, 'the session to be forgotten');
  });

  it('keeps a client that answers its PINGs', async () => {
    const { logger, lines } = captureLogs('info');
    const { server, port } = await startWaypointListener(logger);
    const cert = await (await mesh()).issue('default', 'sleep');
    const session = http2.connect(`https://${WAYPOINT_IP}:${port}`, {
      ca: (await mesh()).ca.certPem,
      cert: cert.certChainPem,
      key: cert.keyPem,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    cleanups.push(() => void session.destroy());
    session.on('error', () => undefined);
    let pings = 0;
    session.on('ping', () => pings++);
    const status = (stream: ClientHttp2Stream): Promise<number> =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no CONNECT answer in 5 s')), 5_000);
        stream.once('response', (h) => {
          clearTimeout(t);
          resolve(Number(h[':status']));
        });
        stream.once('error', reject);
      });
    expect(await status(session.request({ ':method': 'CONNECT', ':authority': TUNNEL_AUTHORITY }, { endStream: false }))).toBe(200);
    // Node answers every PING; 20 answered PINGs span about two keepalive timeouts.
    await eventually(() => pings >= 20, DETECT_WITHIN_MS, '20 PINGs from the waypoint');
    expect(session.closed || session.destroyed).toBe(false);
    expect(server.sessionCount).toBe(1);
    expect(dropped(lines, 'HBONE session dropped: keepalive PING unanswered')).toBeUndefined();
    // The session still carries new tunnels.
    expect(await status(session.request({ ':method': 'CONNECT', ':authority': TUNNEL_AUTHORITY }, { endStream: false }))).toBe(200);
  });
});

describe('connect_originate keepalive', () => {
  it('keeps a pooled session while its server answers PINGs, drops it once the server stops, and dials a new one', async () => {
    const { logger, lines } = captureLogs('info');
    const { port, peers } = await startRawZtunnel();
    const pool = await clientPool(logger);
    const target = { address: RAW_ZTUNNEL_IP, port, authority: TUNNEL_AUTHORITY };

    const tunnel = await pool.connect(target);
    tunnel.on('error', () => undefined);
    expect(pool.sessionCount).toBe(1);
    const first = peers[0]!;
    // Alive: 20 answered PINGs (about two keepalive timeouts) and the session is still pooled.
    await eventually(() => first.pingsAnswered >= 20, DETECT_WITHIN_MS, '20 answered PINGs');
    expect(pool.sessionCount).toBe(1);
    expect(first.closed).toBe(false);
    expect(dropped(lines, 'upstream HBONE session dropped: keepalive PING unanswered')).toBeUndefined();

    // The server goes silent (its process hangs, a middlebox eats the packets).
    first.answering = false;
    await eventually(() => pool.sessionCount === 0, DETECT_WITHIN_MS, 'the silent session to leave the pool');
    expect(first.pingsIgnored).toBeGreaterThanOrEqual(1);
    await eventually(() => tunnel.destroyed, 5_000, 'the tunnel on the dead session to close');
    await eventually(() => first.closed, 5_000, 'the TCP connection to the silent server to close');
    expect(dropped(lines, 'upstream HBONE session dropped: keepalive PING unanswered')).toMatchObject({ listener: 'connect_originate' });

    // The next tunnel dials a fresh session.
    const again = await pool.connect(target);
    again.on('error', () => undefined);
    expect(peers).toHaveLength(2);
    expect(pool.sessionCount).toBe(1);
  });
});
