/**
 * A raw HTTP/2 client for hostile-input tests: it writes frames and HPACK by hand over TLS, so it
 * can send what Node's client refuses to (CONNECT with :path, floods, streams beyond the peer's
 * limit, a window that never opens) and see exactly what comes back (RST_STREAM and GOAWAY codes).
 *
 * HPACK out: literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2).
 * HPACK in: enough to read response heads: static and dynamic table, raw strings, and Huffman
 * strings made only of digits (every `:status` value); other Huffman strings are kept undecoded.
 */
import tls from 'node:tls';

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export function settingsFrame(entries: ReadonlyArray<readonly [number, number]>): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flags.ACK, 0);
export const pingFrame = (data = Buffer.alloc(8), ack = false): Buffer => frame(FrameType.PING, ack ? Flags.ACK : 0, 0, data);

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

export function dataFrame(streamId: number, data: Buffer | string, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1'));
}

export function headersFrame(streamId: number, block: Buffer, opts: { endStream?: boolean; endHeaders?: boolean } = {}): Buffer {
  const flags = (opts.endStream === true ? Flags.END_STREAM : 0) | (opts.endHeaders === false ? 0 : Flags.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, block);
}

export function continuationFrame(streamId: number, block: Buffer, endHeaders: boolean): Buffer {
  return frame(FrameType.CONTINUATION, endHeaders ? Flags.END_HEADERS : 0, streamId, block);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits. */
export function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7, 0), b]);
}

/** A header block of literal fields without indexing (new names), in the given order. */
export function encodeHeaders(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(headers.flatMap(([n, v]) => [Buffer.from([0x00]), hpackString(n), hpackString(v)]));
}

// RFC 7541 Appendix A.
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

// Huffman codes of the ten digits (RFC 7541 Appendix B): enough for every `:status`.
const DIGIT_CODES: ReadonlyArray<readonly [number, number, string]> = [
  [0x0, 5, '0'], [0x1, 5, '1'], [0x2, 5, '2'], [0x19, 6, '3'], [0x1a, 6, '4'],
  [0x1b, 6, '5'], [0x1c, 6, '6'], [0x1d, 6, '7'], [0x1e, 6, '8'], [0x1f, 6, '9'],
];

/** Decodes a Huffman string of digits, or undefined when it holds anything else. */
function huffmanDigits(b: Buffer): string | undefined {
  let acc = 0;
  let bits = 0;
  let out = '';
  let i = 0;
  for (;;) {
    while (bits < 6 && i < b.length) {
      acc = (acc << 8) | b[i++]!;
      bits += 8;
    }
    if (bits === 0) return out;
    let matched = false;
    for (const [code, len, ch] of DIGIT_CODES) {
      if (bits < len) continue;
      if (((acc >> (bits - len)) & ((1 << len) - 1)) === code) {
        out += ch;
        bits -= len;
        acc &= (1 << bits) - 1;
        matched = true;
        break;
      }
    }
    if (!matched) {
      // Only EOS padding (all ones, fewer than 8 bits) may remain.
      if (i >= b.length && bits < 8 && acc === (1 << bits) - 1) return out;
      return undefined;
    }
  }
}

/** HPACK decoder for response heads (one per connection: the dynamic table is shared). */
export class HpackDecoder {
  readonly #dynamic: Array<[string, string]> = [];
  #size = 0;
  #max = 4096;

  #lookup(index: number): [string, string] {
    if (index >= 1 && index <= STATIC_TABLE.length) {
      const e = STATIC_TABLE[index - 1]!;
      return [e[0], e[1]];
    }
    const d = this.#dynamic[index - STATIC_TABLE.length - 1];
    if (d === undefined) throw new Error(`HPACK index ${index} out of range`);
    return d;
  }

  #insert(name: string, value: string): void {
    this.#dynamic.unshift([name, value]);
    this.#size += name.length + value.length + 32;
    this.#evict();
  }

  #evict(): void {
    while (this.#size > this.#max && this.#dynamic.length > 0) {
      const [n, v] = this.#dynamic.pop()!;
      this.#size -= n.length + v.length + 32;
    }
  }

  decode(block: Buffer): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    let i = 0;
    const int = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let v = block[i++]! & max;
      if (v < max) return v;
      let m = 0;
      for (;;) {
        const b = block[i++]!;
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if ((b & 0x80) === 0) return v;
      }
    };
    const str = (): string => {
      const huff = (block[i]! & 0x80) !== 0;
      const len = int(7);
      const raw = block.subarray(i, i + len);
      i += len;
      if (!huff) return raw.toString('latin1');
      return huffmanDigits(raw) ?? `<huffman:${raw.toString('hex')}>`;
    };
    while (i < block.length) {
      const b = block[i]!;
      if (b & 0x80) {
        out.push(this.#lookup(int(7)));
      } else if ((b & 0xc0) === 0x40) {
        const idx = int(6);
        const name = idx === 0 ? str() : this.#lookup(idx)[0];
        const value = str();
        this.#insert(name, value);
        out.push([name, value]);
      } else if ((b & 0xe0) === 0x20) {
        this.#max = int(5);
        this.#evict();
      } else {
        const idx = int(4);
        const name = idx === 0 ? str() : this.#lookup(idx)[0];
        out.push([name, str()]);
      }
    }
    return out;
  }
}

export interface RawH2Options {
  host: string;
  port: number;
  ca: string;
  cert: string;
  key: string;
  /** Our SETTINGS (default: none, i.e. the protocol defaults). */
  settings?: ReadonlyArray<readonly [number, number]>;
  /** ACK the server's SETTINGS (default true). */
  ackSettings?: boolean;
  /** Read from the socket (default true); false leaves the server's output in its send buffers. */
  read?: boolean;
}

/**
 * One raw HTTP/2 connection. Collects every frame received; the test decides what to send.
 */
export class RawH2 {
  readonly socket: tls.TLSSocket;
  readonly frames: Frame[] = [];
  readonly hpack = new HpackDecoder();
  /** Decoded response heads by stream. */
  readonly heads = new Map<number, Array<[string, string]>>();
  /** Bytes of DATA received by stream. */
  readonly dataBytes = new Map<number, number>();
  readonly data = new Map<number, Buffer[]>();
  closed = false;
  error: Error | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #headerBlock: { streamId: number; parts: Buffer[] } | undefined;
  #waiters: Array<() => void> = [];
  readonly #ackSettings: boolean;

  private constructor(socket: tls.TLSSocket, ackSettings: boolean) {
    this.socket = socket;
    this.#ackSettings = ackSettings;
  }

  static connect(opts: RawH2Options): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: opts.host,
        port: opts.port,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        minVersion: 'TLSv1.3',
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      });
      const raw = new RawH2(socket, opts.ackSettings ?? true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('raw h2: TLS handshake timed out'));
      }, 5000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          reject(new Error(`raw h2: ALPN ${String(socket.alpnProtocol)}`));
          return;
        }
        socket.write(Buffer.concat([PREFACE, settingsFrame(opts.settings ?? [])]));
        resolve(raw);
      });
      socket.on('error', (err: Error) => {
        clearTimeout(timer);
        raw.error = err;
        reject(err);
      });
      socket.on('close', () => {
        raw.closed = true;
        raw.#wake();
      });
      if (opts.read !== false) socket.on('data', (d: Buffer) => raw.#onData(d));
      else socket.pause();
    });
  }

  /** Starts reading (for connections opened with `read: false`). */
  startReading(): void {
    this.socket.on('data', (d: Buffer) => this.#onData(d));
    this.socket.resume();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + len) break;
      const f: Frame = { type: this.#buf[3]!, flags: this.#buf[4]!, streamId: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) };
      this.#buf = this.#buf.subarray(9 + len);
      this.#onFrame(f);
    }
    this.#wake();
  }

  #onFrame(f: Frame): void {
    if (f.type === FrameType.DATA) {
      this.dataBytes.set(f.streamId, (this.dataBytes.get(f.streamId) ?? 0) + f.payload.length);
      const list = this.data.get(f.streamId) ?? [];
      list.push(Buffer.from(f.payload));
      this.data.set(f.streamId, list);
      // Keep memory small in floods: only frames other than DATA are kept whole.
      this.frames.push({ ...f, payload: Buffer.alloc(0) });
      return;
    }
    this.frames.push({ ...f, payload: Buffer.from(f.payload) });
    if (f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0 && this.#ackSettings && !this.socket.destroyed) this.socket.write(settingsAck());
    if (f.type === FrameType.HEADERS) {
      let block = f.payload;
      let off = 0;
      let pad = 0;
      if (f.flags & Flags.PADDED) {
        pad = block[0]!;
        off = 1;
      }
      if (f.flags & Flags.PRIORITY) off += 5;
      block = block.subarray(off, block.length - pad);
      if (f.flags & Flags.END_HEADERS) this.#onHeaderBlock(f.streamId, block);
      else this.#headerBlock = { streamId: f.streamId, parts: [block] };
    } else if (f.type === FrameType.CONTINUATION && this.#headerBlock !== undefined) {
      this.#headerBlock.parts.push(f.payload);
      if (f.flags & Flags.END_HEADERS) {
        const hb = this.#headerBlock;
        this.#headerBlock = undefined;
        this.#onHeaderBlock(hb.streamId, Buffer.concat(hb.parts));
      }
    }
  }

  #onHeaderBlock(streamId: number, block: Buffer): void {
    const fields = this.hpack.decode(block);
    if (!this.heads.has(streamId)) this.heads.set(streamId, fields);
  }

  send(...bufs: Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  }

  /** Sends a CONNECT (or any request) as one HEADERS frame. */
  request(streamId: number, headers: ReadonlyArray<readonly [string, string]>, endStream = false): void {
    this.send(headersFrame(streamId, encodeHeaders(headers), { endStream }));
  }

  status(streamId: number): number | undefined {
    const s = this.heads.get(streamId)?.find(([n]) => n === ':status')?.[1];
    return s === undefined ? undefined : Number(s);
  }

  rstCode(streamId: number): number | undefined {
    const f = this.frames.find((x) => x.type === FrameType.RST_STREAM && x.streamId === streamId);
    return f?.payload.readUInt32BE(0);
  }

  goaway(): { lastStreamId: number; code: number; debug: string } | undefined {
    const f = this.frames.find((x) => x.type === FrameType.GOAWAY);
    if (f === undefined) return undefined;
    return { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('latin1') };
  }

  count(type: number): number {
    let n = 0;
    for (const f of this.frames) if (f.type === type) n++;
    return n;
  }

  /** Waits until `pred` holds (checked after every read) or the connection closes; bounded. */
  async until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.closed) throw new Error(`raw h2: connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`raw h2: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves once the server closed the connection (or after the timeout, false). */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The request fields of an HBONE CONNECT. */
export const connectHeaders = (authority: string, extra: ReadonlyArray<readonly [string, string]> = []): Array<[string, string]> => [
  [':method', 'CONNECT'],
  [':authority', authority],
  ...extra.map(([n, v]): [string, string] => [n, v]),
];
