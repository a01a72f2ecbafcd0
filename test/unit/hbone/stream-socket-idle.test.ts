import { PassThrough } from 'node:stream';
import type { Http2Stream } from 'node:http2';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamSocket } from '../../../src/hbone/stream-socket.js';

/** Enough of an Http2Stream for StreamSocket: a duplex with rstCode and close(code). */
function fakeStream(): Http2Stream {
  const p = new PassThrough();
  return Object.assign(p, { rstCode: undefined, close: () => p.destroy() }) as unknown as Http2Stream;
}

const ADDR = { remoteAddress: '127.197.0.1', remotePort: 1, localAddress: '127.197.0.2', localPort: 2 }; // never dialled

describe('StreamSocket idle timeout', () => {
  let socket: StreamSocket;
  let timeouts: number;
  beforeEach(() => {
    vi.useFakeTimers();
    socket = new StreamSocket(fakeStream(), ADDR);
    socket.on('error', () => undefined);
    timeouts = 0;
    socket.on('timeout', () => timeouts++);
  });
  afterEach(() => {
    socket.destroy();
    vi.useRealTimers();
  });

  it('fires once after the idle time, not before', () => {
    socket.setTimeout(100);
    vi.advanceTimersByTime(99);
    expect(timeouts).toBe(0);
    vi.advanceTimersByTime(2);
    expect(timeouts).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(timeouts).toBe(1);
  });

  it('counts from the last write', () => {
    socket.setTimeout(100);
    vi.advanceTimersByTime(60);
    socket.write(Buffer.from('x'));
    vi.advanceTimersByTime(60);
    expect(timeouts).toBe(0);
    vi.advanceTimersByTime(41);
    expect(timeouts).toBe(1);
  });

  it('counts from the last byte read', () => {
    const stream = fakeStream();
    const s = new StreamSocket(stream, ADDR);
    let fired = 0;
    s.on('timeout', () => fired++);
    s.on('data', () => undefined);
    s.setTimeout(100);
    vi.advanceTimersByTime(80);
    stream.emit('data', Buffer.from('y'));
    vi.advanceTimersByTime(80);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(21);
    expect(fired).toBe(1);
    s.destroy();
  });

  it('setTimeout(0) turns it off, and a later setTimeout counts from then', () => {
    socket.setTimeout(100);
    vi.advanceTimersByTime(50);
    socket.setTimeout(0);
    vi.advanceTimersByTime(500);
    expect(timeouts).toBe(0);
    socket.setTimeout(100);
    vi.advanceTimersByTime(99);
    expect(timeouts).toBe(0);
    vi.advanceTimersByTime(2);
    expect(timeouts).toBe(1);
  });

  it('a shorter timeout set while a longer one is armed fires on time', () => {
    socket.setTimeout(10_000);
    vi.advanceTimersByTime(10);
    socket.setTimeout(100);
    vi.advanceTimersByTime(101);
    expect(timeouts).toBe(1);
  });

  it('fires again after new activity once it has fired', () => {
    socket.setTimeout(100);
    vi.advanceTimersByTime(101);
    socket.write(Buffer.from('x'));
    vi.advanceTimersByTime(101);
    expect(timeouts).toBe(2);
  });

  it('calls the callback given to setTimeout', () => {
    const cb = vi.fn();
    socket.setTimeout(100, cb);
    vi.advanceTimersByTime(101);
    expect(cb).toHaveBeenCalledTimes(1);
  });
});
