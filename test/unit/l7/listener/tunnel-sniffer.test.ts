import { EventEmitter } from 'node:events';
import type { ServerHttp2Stream } from 'node:http2';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { H2_PREFACE } from '../../../../src/l7/listener/sniff.js';
import { sniffTunnel, type SniffOutcome } from '../../../../src/l7/listener/tunnel-sniffer.js';

/** What a test does to the tunnel: bytes arrive, the peer ends or closes it, time passes. */
type Step = { data: string | Buffer } | { end: true } | { close: true } | { wait: number };

interface Row {
  name: string;
  httpPort: boolean;
  timeoutMs: number;
  steps: Step[];
  /** The verdict and the prefix handed over, or undefined: nothing handed over (yet). */
  expected: { result: SniffOutcome; prefix: string } | undefined;
}

const rows: Row[] = [
  { name: 'http port: a request line decides at once', httpPort: true, timeoutMs: 1000, steps: [{ data: 'GET / HTTP/1.1\r\n' }], expected: { result: 'http1', prefix: 'GET / HTTP/1.1\r\n' } },
  { name: 'http port: the h2c preface', httpPort: true, timeoutMs: 1000, steps: [{ data: H2_PREFACE }], expected: { result: 'h2c', prefix: H2_PREFACE.toString('latin1') } },
  { name: 'http port: a request line in two pieces', httpPort: true, timeoutMs: 1000, steps: [{ data: 'GET /a ' }, { wait: 500 }, { data: 'HTTP/1.1\r\n' }], expected: { result: 'http1', prefix: 'GET /a HTTP/1.1\r\n' } },
  { name: 'http port: silence decides nothing before the timeout', httpPort: true, timeoutMs: 1000, steps: [{ wait: 999 }], expected: undefined },
  { name: 'http port: silence until the timeout (the headers timeout there)', httpPort: true, timeoutMs: 1000, steps: [{ wait: 1000 }], expected: { result: 'timeout', prefix: '' } },
  { name: 'http port: an unfinished request line at the timeout', httpPort: true, timeoutMs: 1000, steps: [{ data: 'GET /slow' }, { wait: 1000 }], expected: { result: 'timeout', prefix: 'GET /slow' } },
  { name: 'http port: no timeout (0) waits for the first byte for ever', httpPort: true, timeoutMs: 0, steps: [{ wait: 3_600_000 }], expected: undefined },
  { name: 'http port: end before any byte goes to HTTP/1.1', httpPort: true, timeoutMs: 1000, steps: [{ end: true }], expected: { result: 'http1', prefix: '' } },
  { name: 'http port: anything else goes on (to the HTTP/1.1 codec, which answers 400)', httpPort: true, timeoutMs: 1000, steps: [{ data: Buffer.from([0x16, 0x03, 0x01]) }], expected: { result: 'tcp', prefix: '\x16\x03\x01' } },
  { name: 'no protocol: silence until the sniff timeout is TCP', httpPort: false, timeoutMs: 300, steps: [{ wait: 300 }], expected: { result: 'tcp', prefix: '' } },
  { name: 'no protocol: not before it', httpPort: false, timeoutMs: 300, steps: [{ wait: 299 }], expected: undefined },
  { name: 'no protocol: a request line is HTTP/1.1', httpPort: false, timeoutMs: 300, steps: [{ data: 'POST /x HTTP/1.0\r\n' }], expected: { result: 'http1', prefix: 'POST /x HTTP/1.0\r\n' } },
  { name: 'no protocol: end before any byte is TCP', httpPort: false, timeoutMs: 300, steps: [{ end: true }], expected: { result: 'tcp', prefix: '' } },
  { name: 'closed before any byte: nothing handed over', httpPort: true, timeoutMs: 1000, steps: [{ close: true }, { wait: 2000 }], expected: undefined },
  { name: 'closed after a partial line: nothing handed over', httpPort: false, timeoutMs: 300, steps: [{ data: 'GE' }, { close: true }, { wait: 1000 }], expected: undefined },
];

class FakeStream extends EventEmitter {
  paused = false;
  pause(): this {
    this.paused = true;
    return this;
  }
}

const log = pino({ level: 'silent' });

describe('sniffTunnel', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it.each(rows)('$name', ({ httpPort, timeoutMs, steps, expected }) => {
    const stream = new FakeStream();
    const handed: Array<{ result: SniffOutcome; prefix: string }> = [];
    sniffTunnel(stream as unknown as ServerHttp2Stream, httpPort, timeoutMs, log, (result, prefix) => handed.push({ result, prefix: prefix.toString('latin1') }));
    for (const s of steps) {
      if ('data' in s) stream.emit('data', typeof s.data === 'string' ? Buffer.from(s.data, 'latin1') : s.data);
      else if ('end' in s) stream.emit('end');
      else if ('close' in s) stream.emit('close');
      else vi.advanceTimersByTime(s.wait);
    }
    expect(handed).toStrictEqual(expected === undefined ? [] : [expected]);
    const settled = expected !== undefined || steps.some((s) => 'close' in s);
    // Once settled: no listener and no timer left behind; the stream is paused only when handed over.
    expect(stream.listenerCount('data') + stream.listenerCount('end') + stream.listenerCount('close')).toBe(settled ? 0 : 3);
    expect(vi.getTimerCount()).toBe(settled || timeoutMs === 0 ? 0 : 1);
    expect(stream.paused).toBe(expected !== undefined);
  });

  it('holds one timer and three listeners per waiting tunnel, and no once() wrappers', () => {
    const stream = new FakeStream();
    sniffTunnel(stream as unknown as ServerHttp2Stream, true, 60_000, log, () => undefined);
    expect(vi.getTimerCount()).toBe(1);
    for (const event of ['data', 'end', 'close']) {
      expect(stream.listeners(event)).toHaveLength(1);
      // rawListeners shows a once() wrapper where there is one.
      expect(stream.rawListeners(event)).toStrictEqual(stream.listeners(event));
    }
  });
});
