/**
 * A minimal RFC 6455 peer for the upgrade tests: frame encoding and decoding (no extensions, no
 * fragmentation), a WebSocket echo backend, and a client over any Duplex (an HBONE tunnel).
 *
 * The backend (`WebSocketEchoApp`) on `host:port`:
 * - `Upgrade: websocket` on `/ws*`: 101, then every text or binary message echoed, a close frame
 *   answered with a close frame and the end of the connection;
 * - `Upgrade: websocket` on `/refuse`: 426 with a short body (a non-101 answer);
 * - any plain request: 200 `plain`.
 *
 * `WsClient` speaks over an HTTP/1.1 upgrade (`handshake`) or over a stream that already carries
 * frames (`established`: an HTTP/2 extended CONNECT stream, RFC 8441).
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const Opcode = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface WsFrame {
  opcode: number;
  payload: Buffer;
}

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One final frame; clients mask (RFC 6455 §5.3), servers do not. */
export function encodeFrame(opcode: number, payload: Buffer | string, mask: boolean): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(len, 2);
  if (lenBytes === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, data]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  key.copy(head, 2 + lenBytes);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames (unmasking masked ones). */
export class FrameReader {
  #buf = Buffer.alloc(0);

  push(chunk: Buffer): WsFrame[] {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    const out: WsFrame[] = [];
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return out;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return out;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return out;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const keyAt = off;
      if (masked) off += 4;
      if (b.length < off + len) return out;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ b[keyAt + (i & 3)]!;
      out.push({ opcode: b[0]! & 0x0f, payload });
      this.#buf = b.subarray(off + len);
    }
  }
}

export class WebSocketEchoApp {
  readonly #server: http.Server;
  readonly #sockets = new Set<Duplex>();
  readonly host: string;
  readonly port: number;
  /** Upgrade requests answered with 101. */
  upgrades = 0;
  /** Heads of the upgrade requests received (the last 100). */
  readonly seen: Array<{ path: string; headers: IncomingMessage['headers'] }> = [];
  /** Close frames received from clients. */
  closes = 0;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.#server = http.createServer((_req, res) => res.end('plain'));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    this.seen.push({ path: req.url ?? '', headers: req.headers });
    if (this.seen.length > 100) this.seen.shift();
    if (req.url === '/refuse') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\nrefused');
      return;
    }
    this.upgrades++;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\n\r\n`);
    const reader = new FrameReader();
    const onBytes = (chunk: Buffer): void => {
      for (const f of reader.push(chunk)) {
        if (f.opcode === Opcode.close) {
          this.closes++;
          socket.end(encodeFrame(Opcode.close, f.payload, false));
          return;
        }
        if (f.opcode === Opcode.ping) socket.write(encodeFrame(Opcode.pong, f.payload, false));
        else socket.write(encodeFrame(f.opcode, f.payload, false));
      }
    };
    if (head.length > 0) onBytes(head);
    socket.on('data', onBytes);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.port, this.host, () => resolve());
    });
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** A WebSocket client over an already open byte stream (an HBONE tunnel to the waypoint). */
export class WsClient {
  readonly #socket: Duplex;
  readonly #reader = new FrameReader();
  readonly #frames: WsFrame[] = [];
  #waiters: Array<() => void> = [];
  #head = Buffer.alloc(0);
  #headDone = false;
  /** The HTTP response head (status line and headers) as received. */
  responseHead = '';
  /** Bytes after the head when the answer was not a 101 (a body). */
  rest = Buffer.alloc(0);
  ended = false;
  readonly #established: boolean;

  /** `established`: the socket already carries WebSocket frames (an RFC 8441 stream after its 200). */
  constructor(socket: Duplex, opts: { established?: boolean } = {}) {
    this.#socket = socket;
    this.#established = opts.established === true;
    this.#headDone = this.#established;
    socket.on('error', () => undefined);
    socket.on('data', (c: Buffer) => this.#onData(c));
    socket.once('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.once('close', () => {
      this.ended = true;
      this.#wake();
    });
  }

  get status(): number {
    if (this.#established) return 101;
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(this.responseHead)?.[1] ?? 0);
  }

  #onData(c: Buffer): void {
    if (!this.#headDone) {
      this.#head = Buffer.concat([this.#head, c]);
      const at = this.#head.indexOf('\r\n\r\n');
      if (at < 0) return;
      this.#headDone = true;
      this.responseHead = this.#head.subarray(0, at).toString('latin1');
      c = this.#head.subarray(at + 4);
      if (this.status !== 101) {
        this.rest = Buffer.from(c);
        this.#wake();
        return;
      }
      this.#wake();
    } else if (this.status !== 101) {
      this.rest = Buffer.concat([this.rest, c]);
      return;
    }
    if (c.length > 0) this.#frames.push(...this.#reader.push(c));
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #until<T>(what: string, ready: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = ready();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends the upgrade request and waits for the response head. */
  async handshake(host: string, path: string, extra: Record<string, string> = {}, timeoutMs = 5000): Promise<number> {
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
    for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
    this.#socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    await this.#until('the response head', () => (this.#headDone ? true : this.ended ? true : undefined), timeoutMs);
    return this.status;
  }

  send(opcode: number, payload: Buffer | string): void {
    this.#socket.write(encodeFrame(opcode, payload, true));
  }

  /** The next frame from the server. */
  next(timeoutMs = 5000): Promise<WsFrame> {
    return this.#until('a frame', () => this.#frames.shift() ?? (this.ended ? failEnded() : undefined), timeoutMs);
  }

  /** Waits until the server ended the connection. */
  waitEnd(timeoutMs = 5000): Promise<true> {
    return this.#until('the end of the connection', () => (this.ended ? true : undefined), timeoutMs);
  }

  /** Waits for the whole non-101 response body (until the connection ends). */
  async body(timeoutMs = 5000): Promise<string> {
    await this.waitEnd(timeoutMs);
    return this.rest.toString();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

function failEnded(): never {
  throw new Error('the connection ended before a frame arrived');
}
