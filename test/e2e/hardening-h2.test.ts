/**
 * Hardening, item 2: hostile HTTP/2 on connect_terminate, written frame by frame (h2-raw): CONNECT
 * with :path/:scheme/:protocol, malformed authorities, streams beyond the limit, rapid reset
 * (CVE-2023-44487), SETTINGS / PING / CONTINUATION floods, and a peer that never opens its window.
 * Each case asserts the frame the waypoint answers with (status, RST_STREAM or GOAWAY code), the
 * log line, that other sessions keep working, and that no stream or tunnel is left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { StreamSocket } from '../../src/hbone/stream-socket.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { HardeningMesh, VIP } from '../helpers/hardening-mesh.js';
import {
  connectHeaders,
  continuationFrame,
  dataFrame,
  encodeHeaders,
  ErrorCode,
  FrameType,
  headersFrame,
  pingFrame,
  RawH2,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from '../helpers/h2-raw.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

let mesh: HardeningMesh;
let logs: LogLine[];
let good: HboneClientPool;

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await HardeningMesh.start({ slot: 1, logger: cap.logger });
  good = await mesh.client('default', 'good');
  // Warm the upstream keep-alive pools (one connection per echo pod), so that tunnel counts
  // measured by the tests only move with what the tests do.
  const c = mesh.via(good, `${VIP.echo}:80`);
  for (let i = 0; i < 4; i++) await c.request({ path: '/warm' });
  await c.close();
});

afterAll(async () => {
  await mesh?.close();
});

async function raw(opts: { read?: boolean; ackSettings?: boolean; settings?: Array<[number, number]> } = {}): Promise<RawH2> {
  const c = await mesh.issue('default', 'hostile');
  return RawH2.connect({ ...mesh.hbone, ca: mesh.ca.certPem, cert: c.certChainPem, key: c.keyPem, ...opts });
}

const warnings = (from: number, msg: RegExp): LogLine[] => logs.slice(from).filter((l) => l.level >= 40 && msg.test(l.msg));

/** Sequential requests from a well-behaved client while `during` runs: all must succeed. */
async function goodTrafficDuring(during: Promise<unknown>): Promise<number> {
  const c = mesh.via(good, `${VIP.echo}:80`);
  let ok = 0;
  let done = false;
  void during.finally(() => (done = true));
  try {
    do {
      const res = await c.request({ path: `/good/${ok}` });
      expect(res.status).toBe(200);
      ok++;
    } while (!done || ok < 3);
  } finally {
    await c.close();
  }
  return ok;
}

/**
 * No CONNECT stream is left open once the hostile sessions are gone, and no tunnel socket beyond
 * the `baseline` (the upstream keep-alive connections the waypoint pools on purpose).
 */
async function nothingLeftBehind(baseline: number): Promise<void> {
  await eventually(
    () => mesh.waypoint.hbone.streamCount === 0 && StreamSocket.live <= baseline,
    5000,
    `streams (${mesh.waypoint.hbone.streamCount}) back to 0 and tunnel sockets (${StreamSocket.live}) back to ${baseline}`,
  );
}

describe('CONNECT requests the HTTP/2 layer refuses before the waypoint sees them', () => {
  it('CONNECT with :path, :scheme or :protocol: RST_STREAM(PROTOCOL_ERROR); the session keeps working', async () => {
    const baseline = StreamSocket.live;
    const r = await raw();
    try {
      r.request(1, connectHeaders(`${VIP.echo}:80`, [[':path', '/'], [':scheme', 'https']]));
      r.request(3, connectHeaders(`${VIP.echo}:80`, [[':scheme', 'https']]));
      r.request(5, connectHeaders(`${VIP.echo}:80`, [[':path', '/']]));
      r.request(7, connectHeaders(`${VIP.echo}:80`, [[':protocol', 'websocket']]));
      r.request(9, connectHeaders(`${VIP.echo}:80`));
      await r.until(() => r.status(9) !== undefined && [1, 3, 5, 7].every((id) => r.rstCode(id) !== undefined), 5000, 'answers');
      for (const id of [1, 3, 5, 7]) {
        expect(r.rstCode(id)).toBe(ErrorCode.PROTOCOL_ERROR);
        expect(r.status(id)).toBeUndefined();
      }
      expect(r.status(9)).toBe(200);
      expect(r.goaway()).toBeUndefined();
    } finally {
      r.destroy();
    }
    await nothingLeftBehind(baseline);
  });

  it('an authority with characters HTTP/2 forbids (space, tab, slash, empty): RST_STREAM(PROTOCOL_ERROR)', async () => {
    const r = await raw();
    try {
      const bad = [`${VIP.echo}:80 `, ` ${VIP.echo}:80`, `${VIP.echo}:80\t`, `${VIP.echo}:80/x`, ''];
      bad.forEach((a, i) => r.request(1 + 2 * i, connectHeaders(a)));
      await r.until(() => bad.every((_, i) => r.rstCode(1 + 2 * i) !== undefined), 5000, 'resets');
      bad.forEach((_, i) => expect(r.rstCode(1 + 2 * i)).toBe(ErrorCode.PROTOCOL_ERROR));
    } finally {
      r.destroy();
    }
  });
});

describe('malformed :authority the waypoint refuses (400, one log line each)', () => {
  const cases: Array<[string, string, string]> = [
    ['missing closing bracket', '[::1', 'malformed IPv6 authority'],
    ['bracketed IPv4', `[${VIP.echo}]:80`, 'brackets around a non-IPv6 host'],
    ['unbracketed IPv6', '::1:80', 'IPv6 authority must be bracketed'],
    ['userinfo', `user@${VIP.echo}:80`, 'authority host is not an IP address'],
    ['percent-encoded host', `%31${VIP.echo.slice(1)}:80`, 'authority host is not an IP address'],
    ['port with a sign', `${VIP.echo}:+80`, 'authority port is not a number'],
    ['IPv6 zone id', '[fe80::1%25eth0]:80', 'authority host is not an IP address'],
    ['too long', `${'1'.repeat(70)}:80`, 'authority too long'],
  ];
  it.each(cases)('%s (%s)', async (_name, authority, reason) => {
    const from = logs.length;
    const r = await raw();
    try {
      r.request(1, connectHeaders(authority));
      await r.until(() => r.status(1) !== undefined, 5000, 'response');
      expect(r.status(1)).toBe(400);
    } finally {
      r.destroy();
    }
    const lines = await eventually(() => (warnings(from, /^CONNECT refused/).length > 0 ? warnings(from, /^CONNECT refused/) : undefined), 3000, 'log line');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe(`CONNECT refused: ${reason}`);
    expect(lines[0]!.authority).toBe(authority);
  });
});

describe('stream limit', () => {
  it('streams beyond SETTINGS_MAX_CONCURRENT_STREAMS sent before the SETTINGS ACK: RST_STREAM(REFUSED_STREAM), the others served', async () => {
    const baseline = StreamSocket.live;
    const r = await raw({ ackSettings: false });
    try {
      for (let i = 0; i < 103; i++) r.request(1 + 2 * i, connectHeaders(`${VIP.echo}:9000`));
      await r.until(() => r.heads.size === 100 && r.count(FrameType.RST_STREAM) === 3, 10_000, '100 answers and 3 resets');
      expect([...r.heads.keys()].every((id) => r.status(id) === 200)).toBe(true);
      expect([201, 203, 205].map((id) => r.rstCode(id))).toStrictEqual([ErrorCode.REFUSED_STREAM, ErrorCode.REFUSED_STREAM, ErrorCode.REFUSED_STREAM]);
      expect(r.goaway()).toBeUndefined();
      expect(mesh.waypoint.hbone.streamCount).toBe(100);
      // Once some streams are closed, new ones are accepted on the same session.
      for (let id = 1; id <= 9; id += 2) r.send(rstStreamFrame(id, ErrorCode.CANCEL));
      r.request(207, connectHeaders(`${VIP.echo}:9000`));
      await r.until(() => r.status(207) !== undefined, 5000, 'a stream after others ended');
      expect(r.status(207)).toBe(200);
    } finally {
      r.destroy();
    }
    await nothingLeftBehind(baseline);
  });

  it('streams beyond the limit after the SETTINGS ACK are a connection error: closed and logged once', async () => {
    const baseline = StreamSocket.live;
    const from = logs.length;
    const r = await raw();
    try {
      await r.until(() => r.count(FrameType.SETTINGS) >= 1, 3000, 'server SETTINGS');
      await new Promise((res) => setTimeout(res, 100));
      for (let i = 0; i < 101; i++) r.request(1 + 2 * i, connectHeaders(`${VIP.echo}:9000`));
      expect(await r.waitClosed(5000)).toBe(true);
    } finally {
      r.destroy();
    }
    const lines = await eventually(() => (warnings(from, /^HBONE session closed/).length > 0 ? warnings(from, /^HBONE session closed/) : undefined), 3000, 'log line');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe('HBONE session closed: Protocol error');
    await nothingLeftBehind(baseline);
  });
});

describe('rapid reset (CVE-2023-44487)', () => {
  it('HEADERS + RST_STREAM in a loop: GOAWAY(ENHANCE_YOUR_CALM) after a bounded number of streams, logged once; other sessions unaffected', async () => {
    const from = logs.length;
    const baseline = StreamSocket.live;
    const r = await raw();
    const t0 = Date.now();
    let sent = 0;
    const flood = (async () => {
      let id = 1;
      // Up to 20 000 streams, sent as fast as the socket takes them, until the server closes.
      for (let batch = 0; batch < 100 && !r.closed; batch++) {
        const bufs: Buffer[] = [];
        for (let i = 0; i < 200; i++) {
          bufs.push(headersFrame(id, encodeHeaders(connectHeaders(`${VIP.echo}:80`))), rstStreamFrame(id, ErrorCode.CANCEL));
          id += 2;
        }
        sent += 200;
        r.send(Buffer.concat(bufs));
        await new Promise((res) => setImmediate(res));
      }
      await r.waitClosed(5000);
    })();
    const goodRequests = await goodTrafficDuring(flood);
    await flood;
    const elapsed = Date.now() - t0;
    r.destroy();
    const goaway = r.goaway();
    expect(goaway?.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    // Envoy's rule: closed once half of the first 500 streams were reset early.
    expect(goaway!.lastStreamId).toBeLessThanOrEqual(2 * 260);
    expect(r.closed).toBe(true);
    expect(elapsed).toBeLessThan(5000);
    expect(sent).toBeGreaterThan(250);
    expect(goodRequests).toBeGreaterThanOrEqual(3);
    const lines = warnings(from, /rapid reset/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'HBONE session closed: too many streams reset by the peer (rapid reset)', reason: 'too_many_premature_resets', identity: 'spiffe://cluster.local/ns/default/sa/hostile' });
    await nothingLeftBehind(baseline);
  });

  it('short tunnels closed the HBONE way (END_STREAM, then RST_STREAM(NO_ERROR)) never count as resets', async () => {
    const from = logs.length;
    const r = await raw();
    try {
      for (let round = 0; round < 6; round++) {
        const ids = Array.from({ length: 100 }, (_, i) => 1 + round * 200 + 2 * i);
        for (const id of ids) r.request(id, connectHeaders(`${VIP.echo}:9000`));
        await r.until(() => ids.every((id) => r.status(id) === 200), 5000, `round ${round}`);
        r.send(...ids.map((id) => Buffer.concat([dataFrame(id, '', true), rstStreamFrame(id, ErrorCode.NO_ERROR)])));
      }
      await new Promise((res) => setTimeout(res, 200));
      expect(r.goaway()).toBeUndefined();
      expect(r.closed).toBe(false);
    } finally {
      r.destroy();
    }
    expect(warnings(from, /rapid reset/)).toHaveLength(0);
  });

  it('a well-behaved client resetting streams it used is not mistaken for an attack', async () => {
    const from = logs.length;
    const r = await raw();
    try {
      // 300 streams, each reset by the client only after it lived longer than the premature window.
      for (let i = 0; i < 300; i++) r.request(1 + 2 * i, connectHeaders(`${VIP.echo}:9000`));
      await r.until(() => r.heads.size === 100, 5000, 'first 100 answers');
      await new Promise((res) => setTimeout(res, 1100));
      let next = 1;
      while (next <= 599) {
        const batch: Buffer[] = [];
        for (let id = next; id < next + 200 && id <= 599; id += 2) if (r.heads.has(id)) batch.push(rstStreamFrame(id, ErrorCode.CANCEL));
        r.send(...batch);
        next += 200;
        await new Promise((res) => setTimeout(res, 1100));
      }
      expect(r.goaway()).toBeUndefined();
      expect(r.closed).toBe(false);
    } finally {
      r.destroy();
    }
    expect(warnings(from, /rapid reset/)).toHaveLength(0);
  });
});

describe('floods', () => {
  it('SETTINGS flood from a peer that does not read: the session is closed, logged once, others unaffected', async () => {
    const from = logs.length;
    const r = await raw({ read: false });
    const flood = (async () => {
      for (let batch = 0; batch < 100 && !r.socket.destroyed && !r.closed; batch++) {
        r.send(Buffer.concat(Array.from({ length: 1000 }, () => settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 100]]))));
        await new Promise((res) => setTimeout(res, 2));
      }
      r.startReading();
      await r.waitClosed(5000);
    })();
    await goodTrafficDuring(flood);
    expect(r.closed).toBe(true);
    r.destroy();
    const lines = warnings(from, /^HBONE session closed/);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe('HBONE session closed: Flooding was detected in this HTTP/2 session, and it must be closed');
  });

  it('PING flood from a peer that does not read: the session is closed, logged once', async () => {
    const from = logs.length;
    const r = await raw({ read: false });
    for (let batch = 0; batch < 100 && !r.socket.destroyed && !r.closed; batch++) {
      r.send(Buffer.concat(Array.from({ length: 1000 }, () => pingFrame())));
      await new Promise((res) => setTimeout(res, 2));
    }
    r.startReading();
    expect(await r.waitClosed(5000)).toBe(true);
    r.destroy();
    const lines = warnings(from, /^HBONE session closed/);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/Flooding was detected/);
  });

  it('PING flood from a peer that reads: every PING is answered, memory stays bounded, others unaffected', async () => {
    const r = await raw();
    // Only ACKs count: the waypoint's own keepalive PING (every 10 s) may fall inside a slow flood.
    const acks = (): number => r.frames.filter((f) => f.type === FrameType.PING && (f.flags & 1) === 1).length;
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 20);
    // nghttp2 (like Envoy, max_outbound_control_frames) closes a session once more than 1,000
    // control frames wait to be written. A reading peer keeps at most two batches of 400 PINGs
    // unanswered, so however the batches coalesce into reads on a loaded machine the queue stays
    // within that bound and every PING must be answered.
    const flood = (async () => {
      for (let batch = 0; batch < 125; batch++) {
        if (batch >= 2) await r.until(() => acks() >= (batch - 1) * 400, 10_000, `ACKs of batch ${batch - 2}`);
        r.send(Buffer.concat(Array.from({ length: 400 }, () => pingFrame())));
      }
      await r.until(() => acks() >= 50_000, 10_000, '50 000 PING ACKs');
    })();
    try {
      await goodTrafficDuring(flood);
      await flood;
    } finally {
      clearInterval(sampler);
    }
    expect(acks()).toBe(50_000);
    expect(r.closed).toBe(false);
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
    r.destroy();
  });

  it('CONTINUATION flood: GOAWAY and close after a few frames, logged once', async () => {
    const baseline = StreamSocket.live;
    const from = logs.length;
    const r = await raw();
    r.send(headersFrame(1, encodeHeaders(connectHeaders(`${VIP.echo}:80`)), { endHeaders: false }));
    let n = 0;
    for (; n < 5000 && !r.closed; n++) {
      r.send(continuationFrame(1, encodeHeaders([[`x-h${n}`, 'v'.repeat(100)]]), false));
      if (n % 100 === 0) await new Promise((res) => setImmediate(res));
    }
    expect(await r.waitClosed(5000)).toBe(true);
    r.destroy();
    expect(r.goaway()).toBeDefined();
    expect(r.status(1)).toBeUndefined();
    const lines = warnings(from, /^HBONE session closed/);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe('HBONE session closed: Too many CONTINUATION frames following a HEADER frame');
    await nothingLeftBehind(baseline);
  });
});

describe('oversized CONNECT headers', () => {
  it('a header block above 64 KiB (SETTINGS_MAX_HEADER_LIST_SIZE): GOAWAY(COMPRESSION_ERROR), no tunnel, others unaffected', async () => {
    const r = await raw();
    try {
      const block = encodeHeaders(connectHeaders(`${VIP.echo}:80`, [['x-big', 'b'.repeat(70_000)]]));
      const parts: Buffer[] = [];
      for (let i = 0; i < block.length; i += 16_384) parts.push(block.subarray(i, i + 16_384));
      r.send(headersFrame(1, parts[0]!, { endHeaders: false }));
      parts.slice(1).forEach((p, i) => r.send(continuationFrame(1, p, i === parts.length - 2)));
      await r.until(() => r.goaway() !== undefined, 5000, 'GOAWAY');
      expect(r.goaway()).toMatchObject({ code: ErrorCode.COMPRESSION_ERROR, lastStreamId: 1 });
      expect(r.status(1)).toBeUndefined();
      // nghttp2 ended the session; Node keeps the socket until the keepalive PING goes
      // unanswered (at most interval + timeout, 30 s) or the peer leaves.
      expect(mesh.waypoint.hbone.streamCount).toBe(0);
      await goodTrafficDuring(Promise.resolve());
    } finally {
      r.destroy();
    }
  });
});

describe('a peer that never opens its window', () => {
  it('a 64 MiB response stalls at the window: the backend is held back, memory bounded, other streams served; a reset frees it all', async () => {
    const total = 64 * 1024 * 1024;
    const baseline = StreamSocket.live;
    const r = await raw();
    const memBefore = process.memoryUsage().arrayBuffers;
    let memPeak = memBefore;
    const sampler = setInterval(() => (memPeak = Math.max(memPeak, process.memoryUsage().arrayBuffers)), 20);
    try {
      // The connection window is opened wide; stream 1's window is never updated (65 535 bytes).
      r.send(windowUpdateFrame(0, 1_000_000_000));
      r.request(1, connectHeaders(`${VIP.fault}:80`));
      await r.until(() => r.status(1) === 200, 5000, 'tunnel 1');
      const streamsBefore = mesh.fault.streams.length;
      r.send(dataFrame(1, `GET /stream?bytes=${total} HTTP/1.1\r\nHost: fault\r\n\r\n`));
      await eventually(() => mesh.fault.streams[streamsBefore], 5000, 'backend starts streaming');
      const rec = mesh.fault.streams[streamsBefore]!;
      await new Promise((res) => setTimeout(res, 1500));
      const stalledAt = rec.written;
      await new Promise((res) => setTimeout(res, 500));
      // Stalled: nothing more leaves the backend, and it is far from done.
      expect(rec.written).toBe(stalledAt);
      expect(rec.written).toBeLessThan(32 * 1024 * 1024);
      expect(r.dataBytes.get(1)).toBeLessThanOrEqual(65_535);

      // Another stream on the same session, with its own window, is served.
      r.request(3, connectHeaders(`${VIP.echo}:80`));
      await r.until(() => r.status(3) === 200, 5000, 'tunnel 3');
      r.send(dataFrame(3, 'GET /other HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n'));
      await r.until(() => r.frames.some((f) => f.type === FrameType.DATA && f.streamId === 3 && (f.flags & 1) === 1), 5000, 'stream 3 response');
      const body = Buffer.concat(r.data.get(3) ?? []).toString('latin1');
      expect(body.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      expect((JSON.parse(body.slice(body.indexOf('\r\n\r\n') + 4)) as EchoReply).path).toBe('/other');
      expect(memPeak - memBefore).toBeLessThan(48 * 1024 * 1024);

      // The client gives up on stream 1: the backend request is cancelled, the tunnels freed.
      const resetsBefore = mesh.faultZtunnel.resets;
      r.send(rstStreamFrame(1, ErrorCode.CANCEL));
      await eventually(() => rec.aborted, 5000, 'backend request aborted');
      // The waypoint reset its upstream tunnel (that is what reached the backend).
      expect(mesh.faultZtunnel.resets).toBe(resetsBefore + 1);
      expect(rec.finished).toBe(false);
    } finally {
      clearInterval(sampler);
      r.destroy();
    }
    await eventually(() => mesh.fault.active === 0, 3000, 'no request left at the backend');
    // What stays are idle keep-alive tunnels to the backend, pooled on purpose.
    await nothingLeftBehind(baseline + mesh.faultZtunnel.open);
  });
});
