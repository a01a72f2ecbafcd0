import { once } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endedCleanly, StreamRelay, type ClosedEnd } from '../../../../src/l7/tcp/stream-relay.js';
import { eventually } from '../../../helpers/log-capture.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

describe('endedCleanly: how a closed end decides what happens to the other', () => {
  const base: ClosedEnd = { inputEnded: false, failed: false, stream: true, resetHere: false, rstCode: undefined };
  const cases: Array<[string, Partial<ClosedEnd>, boolean]> = [
    ['a stream whose END_STREAM was read', { inputEnded: true, rstCode: NGHTTP2_NO_ERROR }, true],
    ['a stream whose END_STREAM was read, reset afterwards', { inputEnded: true, rstCode: NGHTTP2_INTERNAL_ERROR, failed: true }, true],
    ['a stream its peer closed with RST_STREAM(NO_ERROR)', { rstCode: NGHTTP2_NO_ERROR }, true],
    ['a stream its peer closed with RST_STREAM(CANCEL)', { rstCode: NGHTTP2_CANCEL }, true],
    ['a stream closed without a code', {}, true],
    ['a stream its peer reset with INTERNAL_ERROR', { rstCode: NGHTTP2_INTERNAL_ERROR, failed: true }, false],
    ['a stream that failed', { failed: true }, false],
    ['a stream reset here (CANCEL from this process)', { rstCode: NGHTTP2_CANCEL, resetHere: true }, false],
    ['a socket whose FIN was read', { stream: false, inputEnded: true }, true],
    ['a socket destroyed before its FIN', { stream: false }, false],
    ['a socket that failed', { stream: false, failed: true }, false],
  ];
  it.each(cases.map(([name, e, clean]) => ({ name, e, clean })))('$name → clean: $clean', ({ e, clean }) => {
    expect(endedCleanly({ ...base, ...e })).toBe(clean);
  });
});

/**
 * Two CONNECT-like streams from one h2c client session to an in-process server, relayed to each
 * other on the server side: bytes written on one client stream come out of the other.
 */
let server: Http2Server;
let session: ClientHttp2Session;
const arrivals: ServerHttp2Stream[] = [];
const WINDOW = 256 * 1024;

beforeAll(async () => {
  server = http2.createServer({ settings: { initialWindowSize: WINDOW } });
  server.on('stream', (s) => {
    s.on('error', () => undefined);
    s.respond({ ':status': 200 });
    arrivals.push(s);
  });
  server.listen(0, '127.162.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  session = http2.connect(`http://127.162.0.1:${port}`, { settings: { initialWindowSize: WINDOW } });
  session.on('error', () => undefined);
  await once(session, 'connect');
});

afterAll(async () => {
  session?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function pair(prefix?: Buffer): Promise<{ a: ClientHttp2Stream; b: ClientHttp2Stream; relay: StreamRelay; done: Promise<void> }> {
  const open = async (): Promise<[ClientHttp2Stream, ServerHttp2Stream]> => {
    const n = arrivals.length;
    const c = session.request({ ':method': 'CONNECT', ':authority': '127.162.0.2:9' }, { endStream: false }); // never dialled
    c.on('error', () => undefined);
    await once(c, 'response');
    const s = await eventually(() => arrivals[n], 2000, 'server stream');
    return [c, s];
  };
  const [a, sa] = await open();
  const [b, sb] = await open();
  const relay = new StreamRelay(sa, sb, { prefix, bufferBytes: 64 * 1024 });
  const done = new Promise<void>((resolve) => relay.onDone(resolve));
  return { a, b, relay, done };
}

function collect(s: ClientHttp2Stream): { data: () => Buffer; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return { data: () => Buffer.concat(chunks), ended: once(s, 'end').then(() => undefined) };
}

describe('StreamRelay between two HTTP/2 streams', () => {
  it('relays both ways with half-close, the prefix first, and counts every byte', async () => {
    const { a, b, relay, done } = await pair(Buffer.from('sniffed:'));
    const atB = collect(b);
    const atA = collect(a);
    a.end('from a');
    await atB.ended;
    expect(atB.data().toString()).toBe('sniffed:from a');
    // b's side is still open after a ended (half-close): it can answer.
    b.end('from b');
    await atA.ended;
    expect(atA.data().toString()).toBe('from b');
    await done;
    expect(relay.countsA).toEqual({ read: 14, written: 6 });
    expect(relay.countsB).toEqual({ read: 6, written: 14 });
  });

  it('holds the writer back while the reader does not read (bounded), then delivers every byte', async () => {
    const { a, b, relay, done } = await pair();
    b.pause();
    const total = 16 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const writeAll = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!a.write(chunk)) {
          a.once('drain', writeAll);
          return;
        }
      }
      a.end();
    };
    writeAll();
    // Stalled: the windows (256 KiB each way) and the relay's 64 KiB hold it all.
    await new Promise((r) => setTimeout(r, 300));
    const held = relay.countsA.read;
    await new Promise((r) => setTimeout(r, 200));
    expect(relay.countsA.read).toBe(held);
    expect(held).toBeLessThan(2 * 1024 * 1024);
    let got = 0;
    b.on('data', (c: Buffer) => (got += c.length));
    b.resume();
    await once(b, 'end');
    expect(got).toBe(total);
    b.end();
    await done;
    expect(relay.countsA.read).toBe(total);
    expect(relay.countsB.written).toBe(total);
  });

  it('a stream reset with an error code resets the other (CANCEL)', async () => {
    const { a, b, done } = await pair();
    a.write('something');
    a.close(NGHTTP2_INTERNAL_ERROR);
    await once(b, 'close');
    expect(b.rstCode).toBe(NGHTTP2_CANCEL);
    await done;
  });

  it('reset() resets both streams (CANCEL)', async () => {
    const { a, b, relay, done } = await pair();
    relay.reset();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
    expect([a.rstCode, b.rstCode]).toEqual([NGHTTP2_CANCEL, NGHTTP2_CANCEL]);
    await done;
  });

  it('a stream closed with RST_STREAM(NO_ERROR) ends the other, which is closed once flushed', async () => {
    const { a, b, done } = await pair();
    const atB = collect(b);
    a.write('last words');
    await eventually(() => (atB.data().length === 10 ? true : undefined), 2000, 'bytes at b');
    a.close(NGHTTP2_NO_ERROR);
    await atB.ended;
    expect(atB.data().toString()).toBe('last words');
    await once(b, 'close');
    await done;
  });
});
