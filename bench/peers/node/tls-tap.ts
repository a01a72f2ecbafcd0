/**
 * A TCP relay that counts what passes through an HBONE (TLS 1.3 + HTTP/2) connection: TLS records
 * and bytes on the wire, and, decrypting with the session secrets a peer writes with Node's
 * `--tls-keylog`, the HTTP/2 frames inside. Lets the benchmark count the Node peer's frames,
 * which Node writes from nghttp2 to TLS in C++, out of reach of any JavaScript wrapper.
 */
import { createDecipheriv, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type { DirCounts, FrameType, LegCounts } from '../../frames.js';

// ---------------------------------------------------------------------------------------------
// Pure parts: counters, HTTP/2 frame headers, TLS 1.3 traffic keys

export function emptyDir(): DirCounts {
  return { frames: {}, tlsCalls: 0, tcpCalls: 0, tcpBytes: 0, tlsRecords: 0 };
}

export function emptyLeg(): LegCounts {
  return { sessions: 0, streams: 0, sent: emptyDir(), recv: emptyDir() };
}

const FRAME_BY_CODE: readonly FrameType[] = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
const H2_PREFACE_LENGTH = 24;

/** Follows HTTP/2 frame boundaries in one direction's plaintext, counting frames by type. */
export class FrameCounter {
  readonly #dir: DirCounts;
  #preface: number;
  readonly #header = Buffer.alloc(9);
  #have = 0;
  #remain = 0;

  constructor(dir: DirCounts, skipPreface: boolean) {
    this.#dir = dir;
    this.#preface = skipPreface ? H2_PREFACE_LENGTH : 0;
  }

  feed(b: Buffer): void {
    let at = 0;
    while (at < b.length) {
      if (this.#preface > 0) {
        const n = Math.min(this.#preface, b.length - at);
        this.#preface -= n;
        at += n;
      } else if (this.#remain > 0) {
        const n = Math.min(this.#remain, b.length - at);
        this.#remain -= n;
        at += n;
      } else {
        const n = b.copy(this.#header, this.#have, at, Math.min(b.length, at + 9 - this.#have));
        this.#have += n;
        at += n;
        if (this.#have === 9) {
          const length = this.#header.readUIntBE(0, 3);
          const type: FrameType = FRAME_BY_CODE[this.#header[3] ?? 255] ?? 'other';
          const c = this.#dir.frames[type] ?? { frames: 0, bytes: 0 };
          c.frames++;
          c.bytes += 9 + length;
          this.#dir.frames[type] = c;
          this.#remain = length;
          this.#have = 0;
        }
      }
    }
  }
}

export type Aead = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

/** TLS 1.3 cipher suites by code point: AEAD and HKDF hash. */
export const SUITES: Readonly<Record<number, { aead: Aead; hash: 'sha256' | 'sha384'; keyLength: number }>> = {
  0x1301: { aead: 'aes-128-gcm', hash: 'sha256', keyLength: 16 },
  0x1302: { aead: 'aes-256-gcm', hash: 'sha384', keyLength: 32 },
  0x1303: { aead: 'chacha20-poly1305', hash: 'sha256', keyLength: 32 },
};

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, for outputs of one hash block or less. */
export function hkdfExpandLabel(hash: 'sha256' | 'sha384', secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  return createHmac(hash, secret).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(0, length);
}

export interface TrafficKey {
  aead: Aead;
  key: Buffer;
  iv: Buffer;
}

export function trafficKey(suite: number, secret: Buffer): TrafficKey | undefined {
  const s = SUITES[suite];
  if (s === undefined) return undefined;
  return { aead: s.aead, key: hkdfExpandLabel(s.hash, secret, 'key', s.keyLength), iv: hkdfExpandLabel(s.hash, secret, 'iv', 12) };
}

/** Opens one TLS 1.3 record (header + ciphertext); the inner plaintext and content type, or undefined. */
export function openRecord(k: TrafficKey, seq: bigint, record: Buffer): { type: number; data: Buffer } | undefined {
  const nonce = Buffer.from(k.iv);
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(seq);
  for (let i = 0; i < 8; i++) nonce[4 + i] = (nonce[4 + i] ?? 0) ^ (seqBytes[i] ?? 0);
  const body = record.subarray(5);
  if (body.length < 17) return undefined;
  try {
    // The overloads split GCM and ChaCha20-Poly1305; both take a 16-byte tag here.
    const d = k.aead === 'chacha20-poly1305' ? createDecipheriv(k.aead, k.key, nonce, { authTagLength: 16 }) : createDecipheriv(k.aead, k.key, nonce, { authTagLength: 16 });
    d.setAAD(record.subarray(0, 5), { plaintextLength: body.length - 16 });
    d.setAuthTag(body.subarray(body.length - 16));
    const plain = Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]);
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    if (end < 0) return undefined;
    return { type: plain[end] ?? 0, data: plain.subarray(0, end) };
  } catch {
    return undefined;
  }
}

/** `CLIENT_TRAFFIC_SECRET_0` and `SERVER_TRAFFIC_SECRET_0` of one session from an NSS key log. */
export function secretsFor(keylog: string, clientRandomHex: string): { client: Buffer; server: Buffer } | undefined {
  let client: Buffer | undefined;
  let server: Buffer | undefined;
  for (const line of keylog.split('\n')) {
    const [label, random, secret] = line.trim().split(' ');
    if (random?.toLowerCase() !== clientRandomHex || secret === undefined) continue;
    if (label === 'CLIENT_TRAFFIC_SECRET_0') client = Buffer.from(secret, 'hex');
    if (label === 'SERVER_TRAFFIC_SECRET_0') server = Buffer.from(secret, 'hex');
  }
  return client !== undefined && server !== undefined ? { client, server } : undefined;
}

// ---------------------------------------------------------------------------------------------
// One direction of one connection

const RECORD_HANDSHAKE = 22;
const RECORD_APPLICATION = 23;
/** Records held while the key log catches up; beyond this the direction stops decrypting. */
const MAX_PENDING_RECORDS = 1024;
const MAX_RECORD = 5 + 16384 + 256;

class Direction {
  readonly dir: DirCounts;
  readonly frames: FrameCounter;
  #buf: Buffer = Buffer.alloc(0);
  key: TrafficKey | undefined;
  /** Application records start at sequence 0 once the handshake records (other keys) are past. */
  #seq = -1n;
  pending: Buffer[] = [];
  broken = false;
  first: Buffer | undefined;
  readonly onFirst: (record: Buffer) => void;

  constructor(dir: DirCounts, fromClient: boolean, onFirst: (record: Buffer) => void) {
    this.dir = dir;
    this.frames = new FrameCounter(dir, fromClient);
    this.onFirst = onFirst;
  }

  feed(chunk: Buffer): void {
    this.dir.tcpCalls++;
    this.dir.tcpBytes += chunk.length;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 5) {
      const length = this.#buf.readUInt16BE(3);
      if (5 + length > MAX_RECORD) {
        this.broken = true;
        this.#buf = Buffer.alloc(0);
        return;
      }
      if (this.#buf.length < 5 + length) return;
      const record = this.#buf.subarray(0, 5 + length);
      this.#buf = this.#buf.subarray(5 + length);
      this.dir.tlsRecords++;
      this.#record(Buffer.from(record));
    }
  }

  #record(record: Buffer): void {
    if (this.first === undefined) {
      this.first = record;
      if (record[0] === RECORD_HANDSHAKE) this.onFirst(record);
      return;
    }
    if (record[0] !== RECORD_APPLICATION || this.broken) return;
    if (this.key === undefined) {
      if (this.pending.length < MAX_PENDING_RECORDS) this.pending.push(record);
      else this.broken = true;
      return;
    }
    this.open(record);
  }

  open(record: Buffer): void {
    const k = this.key;
    if (k === undefined) return;
    if (this.#seq < 0n) {
      // Still in the handshake: records sealed with the handshake keys do not open with these.
      const r = openRecord(k, 0n, record);
      if (r === undefined) return;
      this.#seq = 1n;
      if (r.type === RECORD_APPLICATION) this.frames.feed(r.data);
      return;
    }
    const r = openRecord(k, this.#seq, record);
    this.#seq++;
    if (r === undefined) {
      this.broken = true; // a KeyUpdate or a lost record: stop rather than count garbage
      return;
    }
    if (r.type === RECORD_APPLICATION) this.frames.feed(r.data);
  }

  flush(): void {
    const queued = this.pending;
    this.pending = [];
    for (const r of queued) this.open(r);
  }
}

// ---------------------------------------------------------------------------------------------
// The relay

export interface TlsTapOptions {
  listen: { host: string; port: number };
  target: { host: string; port: number };
  /** The NSS key log a peer of these connections writes (`node --tls-keylog=FILE`). */
  keylog: string;
  /** Which end is the counted peer: its `sent` direction is what that end writes. */
  peerSide: 'client' | 'server';
  /** How long to wait for a session's key log lines (default 2 s). */
  keyWaitMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class TlsTap {
  readonly counts: LegCounts = emptyLeg();
  /** Sessions whose frames could not be decrypted (no key log line, or an unknown suite). */
  undecrypted = 0;
  readonly #opts: TlsTapOptions;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  /** The listening port (useful with port 0). */
  port = 0;

  constructor(opts: TlsTapOptions) {
    this.#opts = opts;
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => this.#accept(c));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.listen.port, this.#opts.listen.host, () => {
        const a = this.#server.address();
        this.port = typeof a === 'object' && a !== null ? a.port : 0;
        resolve();
      });
    });
  }

  #accept(client: net.Socket): void {
    const { target, peerSide } = this.#opts;
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    this.counts.sessions++;
    const fromClientDir = peerSide === 'client' ? this.counts.sent : this.counts.recv;
    const fromServerDir = peerSide === 'client' ? this.counts.recv : this.counts.sent;
    let clientRandom: string | undefined;
    let suite: number | undefined;
    const up = new Direction(fromClientDir, true, (hello) => {
      // ClientHello: record header (5), handshake header (4), legacy version (2), random (32).
      clientRandom = hello.subarray(11, 43).toString('hex');
      void this.#keys(() => clientRandom, () => suite, up, down);
    });
    const down = new Direction(fromServerDir, false, (hello) => {
      // ServerHello: ... random (32) at 11, session id length at 43, then the session id, then the suite.
      const sid = hello[43] ?? 0;
      suite = hello.readUInt16BE(44 + sid);
    });
    client.on('data', (d: Buffer) => up.feed(d));
    upstream.on('data', (d: Buffer) => down.feed(d));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Finds the session's secrets in the key log (polling briefly: it is written as the handshake ends). */
  async #keys(random: () => string | undefined, suite: () => number | undefined, up: Direction, down: Direction): Promise<void> {
    const deadline = Date.now() + (this.#opts.keyWaitMs ?? 2000);
    while (Date.now() < deadline) {
      const r = random();
      const s = suite();
      if (r !== undefined && s !== undefined) {
        let text = '';
        try {
          text = await readFile(this.#opts.keylog, 'utf8');
        } catch {
          // not written yet
        }
        const secrets = secretsFor(text, r);
        if (secrets !== undefined) {
          up.key = trafficKey(s, secrets.client);
          down.key = trafficKey(s, secrets.server);
          if (up.key === undefined || down.key === undefined) break;
          up.flush();
          down.flush();
          return;
        }
      }
      await sleep(20);
    }
    this.undecrypted++;
    up.broken = true;
    down.broken = true;
    up.pending = [];
    down.pending = [];
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
