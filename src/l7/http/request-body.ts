import type { Http2ServerRequest } from 'node:http2';
import type { DownstreamRequest } from './exchange.js';

/** Whether a body follows the request head. */
export function requestHasBody(req: DownstreamRequest, h2: boolean): boolean {
  if (h2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads a small body whole (so that it can be retried and mirrored), at most `limit` bytes (the
 * request is destroyed above it); undefined if the client went away.
 */
export function readBody(req: DownstreamRequest, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy(new Error('request body larger than declared'));
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', () => resolve(undefined));
    req.once('close', () => {
      if (!req.readableEnded) resolve(undefined);
    });
  });
}
