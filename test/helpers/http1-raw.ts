/**
 * Raw HTTP/1.1 inside an HBONE tunnel: write exact bytes (in timed parts), collect what comes
 * back until the waypoint ends the tunnel, and split it into responses.
 */
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';

export interface RawExchange {
  bytes: Buffer;
  /** The waypoint ended the tunnel (END_STREAM or reset) before the wait ran out. */
  ended: boolean;
  /** Milliseconds from the first write to the end (or the timeout). */
  ms: number;
}

/**
 * Sends `parts` (strings or buffers are written; numbers are pauses in ms) through a fresh tunnel
 * to `authority`, and waits up to `waitMs` after the last part for the tunnel to end.
 */
export async function rawExchange(
  pool: HboneClientPool,
  hbone: { host: string; port: number },
  authority: string,
  parts: ReadonlyArray<string | Buffer | number>,
  waitMs = 3000,
): Promise<RawExchange> {
  const client = new HboneHttpClient(pool, { ...hbone, authority });
  const sock = await client.tunnel();
  const chunks: Buffer[] = [];
  let ended = false;
  const endedP = new Promise<void>((resolve) => {
    sock.once('end', () => {
      ended = true;
      resolve();
    });
    sock.once('close', () => {
      ended = true;
      resolve();
    });
  });
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.on('error', () => undefined);
  const t0 = Date.now();
  for (const p of parts) {
    if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
    else if (!sock.destroyed && sock.writable) sock.write(p);
  }
  await Promise.race([endedP, new Promise((r) => setTimeout(r, waitMs))]);
  const ms = Date.now() - t0;
  sock.destroy();
  return { bytes: Buffer.concat(chunks), ended, ms };
}

export interface RawResponse {
  status: number;
  reason: string;
  headers: Map<string, string>;
  body: Buffer;
}

/** Splits concatenated HTTP/1.1 responses (Content-Length or chunked bodies, or none). */
export function parseResponses(raw: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`incomplete response head: ${JSON.stringify(rest.toString('latin1').slice(0, 200))}`);
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(lines[0]!);
    if (m === null) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const status = Number(m[1]);
    rest = rest.subarray(end + 4);
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = rest.indexOf('\r\n');
        if (eol < 0) throw new Error('incomplete chunked body');
        const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
        parts.push(rest.subarray(eol + 2, eol + 2 + size));
        rest = rest.subarray(eol + 2 + size + 2);
        if (size === 0) break;
      }
      out.push({ status, reason: m[2] ?? '', headers, body: Buffer.concat(parts) });
      continue;
    }
    const len = status === 100 || status === 101 || status === 204 || status === 304 ? 0 : Number(headers.get('content-length') ?? 0);
    out.push({ status, reason: m[2] ?? '', headers, body: rest.subarray(0, len) });
    rest = rest.subarray(len);
  }
  return out;
}
