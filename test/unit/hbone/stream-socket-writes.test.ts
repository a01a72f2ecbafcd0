import { PassThrough } from 'node:stream';
import type { Http2Stream } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { StreamSocket } from '../../../src/hbone/stream-socket.js';

const ADDR = { remoteAddress: '127.197.0.1', remotePort: 1, localAddress: '127.197.0.2', localPort: 2 }; // never dialled

/** A stand-in Http2Stream that records each write it is given (each would be one DATA frame). */
function recordingStream(): { stream: Http2Stream; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const p = new PassThrough();
  const write = p.write.bind(p) as (chunk: Buffer) => boolean;
  const stream = Object.assign(p, {
    rstCode: undefined,
    close: () => p.destroy(),
    write: (chunk: Buffer) => {
      writes.push(chunk);
      return write(chunk);
    },
  });
  p.resume();
  return { stream: stream as unknown as Http2Stream, writes };
}

const fill = (n: number, c: string): Buffer => Buffer.alloc(n, c);

describe('StreamSocket writes to the HTTP/2 stream', () => {
  const cases: Array<{ name: string; chunks: Buffer[]; corked: boolean; writes: number[] }> = [
    { name: 'one write goes as it is', chunks: [fill(1224, 'a')], corked: false, writes: [1224] },
    { name: 'a corked head and body (node:http response) go as one write', chunks: [fill(200, 'h'), fill(1024, 'b')], corked: true, writes: [1224] },
    { name: 'corked chunks up to 16 KiB together go as one write', chunks: [fill(8 * 1024, 'x'), fill(8 * 1024, 'y')], corked: true, writes: [16 * 1024] },
    { name: 'corked chunks above 16 KiB together go one write each (no large copy)', chunks: [fill(200, 'h'), fill(16 * 1024, 'b')], corked: true, writes: [200, 16 * 1024] },
  ];
  it.each(cases)('$name', async ({ chunks, corked, writes }) => {
    const { stream, writes: seen } = recordingStream();
    const socket = new StreamSocket(stream, ADDR);
    socket.on('error', () => undefined);
    if (corked) socket.cork();
    for (const c of chunks) socket.write(c);
    if (corked) socket.uncork();
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen.map((w) => w.length)).toEqual(writes);
    expect(Buffer.concat(seen).equals(Buffer.concat(chunks))).toBe(true);
    expect(socket.bytesWritten).toBe(writes.reduce((a, b) => a + b, 0));
    socket.destroy();
  });
});
