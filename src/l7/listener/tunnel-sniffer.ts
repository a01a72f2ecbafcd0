import type { ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { SNIFF_LIMIT, sniffProtocol, type SniffResult } from './sniff.js';

/** What the first bytes were; `timeout`: on an HTTP port, no complete request line in time. */
export type SniffOutcome = Exclude<SniffResult, 'need-more'> | 'timeout';

/** The prefix handed over when nothing was read (shared: never written to). */
const NOTHING = Buffer.alloc(0);

/**
 * Reads the first bytes of a tunnel until its protocol is certain (sniff.ts decides), then pauses
 * the stream and hands over the verdict and the bytes read. On a port without a protocol, silence
 * for `timeoutMs` (the sniff timeout) means opaque TCP. On an HTTP port only HTTP/1.1 vs h2c is
 * decided and silence decides nothing: `timeoutMs` is the headers timeout there (0: none), after
 * which the outcome is `timeout`. Until its first byte a tunnel holds only its listeners and one
 * timer: no buffer, no socket, no codec (an idle tunnel costs little more than its HTTP/2 stream).
 * Nothing is handed over when the tunnel closes first.
 */
export function sniffTunnel(stream: ServerHttp2Stream, httpPort: boolean, timeoutMs: number, log: Logger, done: (result: SniffOutcome, prefix: Buffer) => void): void {
  let buf: Buffer | undefined;
  let finished = false;
  // 'end' and 'close' come once: plain listeners, removed here, cost less than once() wrappers.
  const stop = (): void => {
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onClose);
  };
  const finish = (result: SniffOutcome): void => {
    if (finished) return;
    stop();
    stream.pause();
    done(result, buf ?? NOTHING);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    const r = sniffProtocol(buf);
    if (r !== 'need-more') finish(r);
    else if (buf.length >= SNIFF_LIMIT) finish('tcp');
  };
  const onEnd = (): void => {
    const r = buf === undefined ? 'need-more' : sniffProtocol(buf);
    finish(r === 'need-more' ? (httpPort ? 'http1' : 'tcp') : r);
  };
  const onClose = (): void => {
    if (finished) return;
    stop();
    log.debug('tunnel closed before its protocol was known');
  };
  const timer = timeoutMs > 0 ? setTimeout(() => finish(httpPort ? 'timeout' : 'tcp'), timeoutMs) : undefined;
  timer?.unref();
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onClose);
}
