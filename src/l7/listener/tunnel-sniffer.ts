import type { ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { SNIFF_LIMIT, sniffProtocol, type SniffResult } from './sniff.js';

export type SniffOutcome = Exclude<SniffResult, 'need-more'>;

/**
 * Reads the first bytes of a tunnel until its protocol is certain (sniff.ts decides), then pauses
 * the stream and hands over the verdict and the bytes read. On an HTTP port only HTTP/1.1 vs h2c
 * is decided; on an unknown port, silence for `timeoutMs` means opaque TCP. Nothing is handed over
 * when the tunnel closes first.
 */
export function sniffTunnel(stream: ServerHttp2Stream, httpPort: boolean, timeoutMs: number, log: Logger, done: (result: SniffOutcome, prefix: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (result: SniffOutcome): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onClose);
    stream.pause();
    done(result, buf);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const r = sniffProtocol(buf);
    if (r !== 'need-more') finish(r);
    else if (buf.length >= SNIFF_LIMIT) finish('tcp');
  };
  const onEnd = (): void => {
    const r = sniffProtocol(buf);
    finish(r === 'need-more' ? (httpPort ? 'http1' : 'tcp') : r);
  };
  const onClose = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    log.debug('tunnel closed before its protocol was known');
  };
  const timer = setTimeout(() => finish(httpPort ? 'http1' : 'tcp'), timeoutMs);
  timer.unref();
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('close', onClose);
}
