/**
 * Hardening, item 4: upstream faults. The destination ztunnel refuses, denies or resets the
 * CONNECT, presents another identity or never answers; the backend resets mid-response, closes
 * before its headers, never answers, reads its client's pace only, or sends 256 MiB. Each case
 * gets Envoy's status, body and response flag, and leaves no tunnel, stream or backend request
 * behind; memory stays bounded while a slow client holds a large response.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { StreamSocket } from '../../src/hbone/stream-socket.js';
import { patternSha256 } from '../helpers/fault-app.js';
import { HardeningMesh, VIP } from '../helpers/hardening-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

let mesh: HardeningMesh;
let logs: LogLine[];
let client: HboneClientPool;

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await HardeningMesh.start({ slot: 3, logger: cap.logger });
  client = await mesh.client();
});

afterAll(async () => {
  await mesh?.close();
});

const BEFORE_HEADERS = 'upstream connect error or disconnect/reset before headers. reset reason: ';

async function accessFor(path: string): Promise<LogLine> {
  return eventually(() => logs.find((l) => l.msg === 'access' && l.path === path), 5000, `access line for ${path}`);
}

/** One request on a fresh client connection; the connection is closed afterwards. */
async function once(authority: string, path: string): Promise<{ status: number; body: string; ms: number }> {
  const c = mesh.via(client, authority);
  const t0 = Date.now();
  try {
    const res = await c.request({ path });
    return { status: res.status, body: res.body.toString(), ms: Date.now() - t0 };
  } finally {
    await c.close();
  }
}

/** The waypoint holds no CONNECT stream, and no tunnel socket beyond the pooled idle ones. */
async function released(baseline: number): Promise<void> {
  await eventually(() => mesh.fault.active === 0, 5000, `backend requests (${mesh.fault.active}) back to 0`);
  await eventually(
    () => mesh.waypoint.hbone.streamCount === 0 && StreamSocket.live <= baseline + mesh.faultZtunnel.open,
    5000,
    `streams (${mesh.waypoint.hbone.streamCount}) back to 0, tunnel sockets (${StreamSocket.live}) back to ${baseline} + ${mesh.faultZtunnel.open} pooled`,
  );
}

describe('the destination ztunnel fails the CONNECT', () => {
  const cases: Array<[string, string, string, string, RegExp]> = [
    ['refuses it (503)', VIP.refuse, '/zt-refuse', 'UF,URX', /refused with status 503/],
    ['denies it (401, an AuthorizationPolicy at the destination)', VIP.deny, '/zt-deny', 'UF,URX', /refused with status 401/],
    ['resets it', VIP.reset, '/zt-reset', 'UF,URX', /Stream closed with error code NGHTTP2_INTERNAL_ERROR/],
    ['presents another identity than the pod\'s service account', VIP.imposter, '/zt-imposter', 'UF,URX', /presented spiffe:\/\/cluster\.local\/ns\/default\/sa\/someone-else, expected spiffe:\/\/cluster\.local\/ns\/default\/sa\/imposter/],
  ];
  it.each(cases)('%s: 503 connection failure, flags %s', async (_name, vip, path, flags, details) => {
    const baseline = StreamSocket.live;
    const res = await once(`${vip}:80`, path);
    expect(res.status).toBe(503);
    expect(res.body).toBe(`${BEFORE_HEADERS}connection failure`);
    const line = await accessFor(path);
    expect(line).toMatchObject({ response_code: 503, response_flags: flags });
    expect(String(line.details)).toMatch(details);
    await released(baseline);
  });

  // The route timeout covers opening the upstream tunnel (as Envoy's covers connection setup):
  // the attempt ends at the timeout and the unanswered CONNECT is cancelled
  // (src/l7/upstream/attempt.ts, UpstreamConnections.awaitHttp1).
  it('never answers the CONNECT: the route timeout (1 s) gives 504 UT within the timeout, the CONNECT is cancelled', async () => {
    const c = mesh.via(client, `${VIP.hang}:80`);
    const hangZtunnel = mesh.ztunnelOf('hang-1');
    const resets = hangZtunnel.resets;
    try {
      const res = await Promise.race([c.request({ path: '/zt-hang' }), new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
      expect(res?.status).toBe(504);
      expect(res?.body.toString()).toBe('upstream request timeout');
      expect(await accessFor('/zt-hang')).toMatchObject({ response_code: 504, response_flags: 'UT' });
      await eventually(() => hangZtunnel.resets > resets, 3000, 'the unanswered CONNECT reset by the waypoint');
    } finally {
      await c.close();
    }
  });
});

describe('the backend fails', () => {
  it('closes the connection before its headers: 503 UC', async () => {
    const baseline = StreamSocket.live;
    const res = await once(`${VIP.fault}:80`, '/close-before-headers');
    expect(res.status).toBe(503);
    expect(res.body).toBe(`${BEFORE_HEADERS}connection termination`);
    expect(await accessFor('/close-before-headers')).toMatchObject({ response_code: 503, response_flags: 'UC' });
    await released(baseline);
  });

  it('never answers: the route timeout (1 s) gives 504 UT and the upstream request is cancelled', async () => {
    const baseline = StreamSocket.live;
    const resets = mesh.faultZtunnel.resets;
    const res = await once(`${VIP.faultTimeout}:80`, '/never');
    expect(res.status).toBe(504);
    expect(res.body).toBe('upstream request timeout');
    expect(res.ms).toBeGreaterThanOrEqual(950);
    expect(res.ms).toBeLessThan(3000);
    expect(await accessFor('/never')).toMatchObject({ response_code: 504, response_flags: 'UT' });
    await released(baseline);
    expect(mesh.faultZtunnel.resets).toBe(resets + 1);
  });

  it('resets the connection mid-response: the client sees the body cut short, logged 200 UR', async () => {
    const baseline = StreamSocket.live;
    const c = mesh.via(client, `${VIP.fault}:80`);
    const sock = await c.tunnel();
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => undefined);
    const ended = new Promise<void>((resolve) => {
      sock.once('end', resolve);
      sock.once('close', resolve);
    });
    sock.write('GET /reset-mid?bytes=100000 HTTP/1.1\r\nHost: fault\r\n\r\n');
    await Promise.race([ended, new Promise((r) => setTimeout(r, 5000))]);
    sock.destroy();
    const raw = Buffer.concat(chunks);
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toMatch(/\r\ncontent-length: 200000/i);
    // Fewer bytes than announced, then the tunnel closed: the client can tell the body is cut.
    expect(raw.length - head.length - 4).toBeLessThan(200_000);
    expect(await accessFor('/reset-mid?bytes=100000')).toMatchObject({ response_code: 200, response_flags: 'UR' });
    await released(baseline);
  });
});

describe('backpressure and large responses', () => {
  it('a slow reader holds the backend back (memory bounded); when it leaves, everything is released (DC)', async () => {
    const total = 256 * 1024 * 1024;
    const baseline = StreamSocket.live;
    const resets = mesh.faultZtunnel.resets;
    const c = mesh.via(client, `${VIP.fault}:80`);
    const sock = await c.tunnel();
    sock.on('error', () => undefined);
    const memBefore = process.memoryUsage().arrayBuffers;
    let memPeak = memBefore;
    const sampler = setInterval(() => (memPeak = Math.max(memPeak, process.memoryUsage().arrayBuffers)), 20);
    const streamsBefore = mesh.fault.streams.length;
    try {
      sock.pause();
      sock.write(`GET /slow-reader HTTP/1.1\r\nHost: fault\r\n\r\n`.replace('/slow-reader', `/stream?bytes=${total}`));
      const rec = await eventually(() => mesh.fault.streams[streamsBefore], 5000, 'backend streaming');
      // Read 256 KiB every 100 ms (2.5 MiB/s) for 2 s.
      let received = 0;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        let chunk: Buffer | null;
        let got = 0;
        while (got < 256 * 1024 && (chunk = sock.read() as Buffer | null) !== null) got += chunk.length;
        received += got;
      }
      const inFlight = rec.written - received;
      // Without backpressure the backend would have written all 256 MiB by now.
      expect(rec.written).toBeLessThan(64 * 1024 * 1024);
      expect(inFlight).toBeLessThan(40 * 1024 * 1024);
      expect(memPeak - memBefore).toBeLessThan(64 * 1024 * 1024);
      expect(rec.finished).toBe(false);
      sock.destroy();
      await eventually(() => rec.aborted, 5000, 'backend request aborted');
    } finally {
      clearInterval(sampler);
      sock.destroy();
    }
    expect(await accessFor(`/stream?bytes=${total}`)).toMatchObject({ response_code: 200, response_flags: 'DC' });
    await released(baseline);
    expect(mesh.faultZtunnel.resets).toBeGreaterThan(resets);
  });

  it('a 256 MiB response streams through intact, memory bounded', async () => {
    const total = 256 * 1024 * 1024;
    const expected = patternSha256(total);
    const baseline = StreamSocket.live;
    const c = mesh.via(client, `${VIP.fault}:80`);
    const memBefore = process.memoryUsage().arrayBuffers;
    let memPeak = memBefore;
    const sampler = setInterval(() => (memPeak = Math.max(memPeak, process.memoryUsage().arrayBuffers)), 20);
    try {
      const res = await c.http1.request({ method: 'GET', path: `/stream?bytes=${total}&n=2` });
      expect(res.statusCode).toBe(200);
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of res.body) {
        bytes += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      expect(bytes).toBe(total);
      expect(hash.digest('hex')).toBe(expected);
    } finally {
      clearInterval(sampler);
      await c.close();
    }
    expect(memPeak - memBefore).toBeLessThan(96 * 1024 * 1024);
    expect(await accessFor(`/stream?bytes=${total}&n=2`)).toMatchObject({ response_code: 200, response_flags: '-' });
    await released(baseline);
  }, 30_000);
});
