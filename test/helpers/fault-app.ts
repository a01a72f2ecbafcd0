/**
 * A backend that misbehaves on request, for upstream-fault tests. HTTP/1.1 on one port:
 *
 * - `/stream?bytes=N`: N bytes of a fixed pattern, written with backpressure; `streams` records how
 *   far each got, so a test can see whether a slow client held the backend back.
 * - `/reset-mid?bytes=N`: announces 2N bytes, sends N, then resets the connection (TCP RST).
 * - `/close-before-headers`: closes the connection as soon as the request arrived.
 * - `/never`: accepts the request and never answers.
 * - anything else: a JSON echo (method, path, headers, body size and SHA-256).
 * - `Upgrade: websocket`: 101, then every byte is echoed back.
 *
 * Every request is recorded in `seen` (the last 1000), so smuggling tests can see what arrived.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type net from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  bodyBytes: number;
  bodySha256: string;
}

export interface StreamRecord {
  path: string;
  /** Bytes handed to the socket so far. */
  written: number;
  total: number;
  finished: boolean;
  /** The connection closed before the whole body was written. */
  aborted: boolean;
}

/** 64 KiB of a fixed non-repeating-within-chunk pattern. */
export const PATTERN_CHUNK: Buffer = (() => {
  const b = Buffer.alloc(64 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
})();

/** The SHA-256 of N bytes of the pattern, as `/stream?bytes=N` sends them. */
export function patternSha256(n: number): string {
  const h = createHash('sha256');
  let left = n;
  while (left > 0) {
    const c = Math.min(left, PATTERN_CHUNK.length);
    h.update(c === PATTERN_CHUNK.length ? PATTERN_CHUNK : PATTERN_CHUNK.subarray(0, c));
    left -= c;
  }
  return h.digest('hex');
}

export class FaultApp {
  readonly #server: http.Server;
  readonly #sockets = new Set<net.Socket | Duplex>();
  readonly seen: SeenRequest[] = [];
  readonly streams: StreamRecord[] = [];
  /** Requests whose response has not finished and whose connection is still open. */
  active = 0;
  upgrades = 0;
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.#server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.#onRequest(req, res));
    this.#server.on('connection', (s: net.Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
      s.on('error', () => undefined);
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrades++;
      this.#record(req, 0, createHash('sha256').digest('hex'));
      socket.on('error', () => undefined);
      const key = String(req.headers['sec-websocket-key'] ?? '');
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    });
  }

  /** Open connections to this backend. */
  get connections(): number {
    return this.#sockets.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.port, this.host, () => resolve());
    });
  }

  #record(req: IncomingMessage, bodyBytes: number, bodySha256: string): void {
    this.seen.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, bodyBytes, bodySha256 });
    if (this.seen.length > 1000) this.seen.shift();
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fault');
    this.active++;
    let counted = true;
    const done = (): void => {
      if (counted) {
        counted = false;
        this.active--;
      }
    };
    res.once('close', done);
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.once('end', () => {
      this.#record(req, bytes, hash.digest('hex'));
      switch (url.pathname) {
        case '/stream':
          this.#stream(req, res, Number(url.searchParams.get('bytes') ?? 0));
          return;
        case '/reset-mid': {
          const n = Number(url.searchParams.get('bytes') ?? 65536);
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(2 * n) });
          res.write(Buffer.alloc(n, 'r'), () => {
            setTimeout(() => (req.socket).resetAndDestroy(), 50);
          });
          return;
        }
        case '/close-before-headers':
          req.socket.destroy();
          return;
        case '/never':
          return;
        default: {
          const body = Buffer.from(
            JSON.stringify({ method: req.method, path: req.url, headers: req.headers, bodyBytes: bytes, bodySha256: this.seen[this.seen.length - 1]?.bodySha256 }),
          );
          res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'content-type': 'application/json', 'content-length': String(body.length) });
          res.end(body);
        }
      }
    });
  }

  #stream(req: IncomingMessage, res: ServerResponse, total: number): void {
    const rec: StreamRecord = { path: req.url ?? '', written: 0, total, finished: false, aborted: false };
    this.streams.push(rec);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    res.once('close', () => {
      if (!rec.finished) rec.aborted = true;
    });
    const pump = (): void => {
      while (rec.written < total) {
        if (res.destroyed) return;
        const n = Math.min(PATTERN_CHUNK.length, total - rec.written);
        rec.written += n;
        const ok = res.write(n === PATTERN_CHUNK.length ? PATTERN_CHUNK : PATTERN_CHUNK.subarray(0, n));
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      rec.finished = true;
      res.end();
    };
    pump();
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
