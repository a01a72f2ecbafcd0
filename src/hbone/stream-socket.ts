import { Duplex } from 'node:stream';
import type { Http2Stream } from 'node:http2';
import { constants as h2constants } from 'node:http2';

export interface StreamSocketAddress {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

/**
 * What each direction buffers before backpressure (the Duplex default is 16 KiB, one DATA frame:
 * a bulk transfer would then pause and resume the HTTP/2 stream on every frame). Memory is taken
 * only while bytes wait, never by an idle tunnel.
 */
const BUFFER_BYTES = 256 * 1024;
/**
 * Chunks written together (an HTTP/1.1 response head and its first body chunk, corked by
 * node:http) up to this size go out as one copy: one DATA frame and one TLS record instead of one
 * per chunk. The copy of a few KiB costs less than the frame.
 */
const COALESCE_BYTES = 16 * 1024;

/** Streams this process reset itself (so a peer's resets can be told from ours). */
const localResets = new WeakSet<Http2Stream>();

/** Whether this side closed (reset) the stream, rather than the peer. */
export function closedLocally(stream: Http2Stream): boolean {
  return localResets.has(stream);
}

/** Resets a stream from this side, remembering that it was us. */
export function closeLocally(stream: Http2Stream, code: number): void {
  localResets.add(stream);
  stream.close(code);
}

/**
 * A socket-like Duplex over one HBONE CONNECT stream.
 *
 * Node's `http.Server`, `http2` sessions and undici all want "a socket". Handing them the
 * `Http2Stream` itself corrupts HTTP/1.1 heads (latin1 strings through writev), so
 * this wrapper forwards only Buffers, can replay bytes already read while sniffing, and offers the
 * few socket methods those consumers call (`setTimeout`, `setNoDelay`, `setKeepAlive`,
 * `destroySoon`, addresses).
 *
 * Half-close maps to HTTP/2 as HBONE defines it: `end()` sends END_STREAM; the peer's END_STREAM,
 * or an RST_STREAM with NO_ERROR or CANCEL, is a clean end of input.
 */
export class StreamSocket extends Duplex {
  static #live = 0;
  /** StreamSockets created and not yet destroyed, in this process (leak checks, stats). */
  static get live(): number {
    return StreamSocket.#live;
  }

  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteFamily: string;
  readonly encrypted = false;
  bytesRead = 0;
  bytesWritten = 0;
  #stream: Http2Stream;
  #idleMs = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  /** When the armed idle timer fires, and the last activity (Date.now()). */
  #idleFiresAt = 0;
  #lastActive = 0;
  #readingPaused = false;
  #pushedEnd = false;

  constructor(stream: Http2Stream, addr: StreamSocketAddress, prefix?: Buffer) {
    super({ allowHalfOpen: true, decodeStrings: true, readableHighWaterMark: BUFFER_BYTES, writableHighWaterMark: BUFFER_BYTES });
    StreamSocket.#live++;
    this.#stream = stream;
    this.remoteAddress = addr.remoteAddress;
    this.remotePort = addr.remotePort;
    this.localAddress = addr.localAddress;
    this.localPort = addr.localPort;
    this.remoteFamily = addr.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    if (prefix !== undefined && prefix.length > 0) {
      this.bytesRead += prefix.length;
      this.push(prefix);
    }
    stream.on('error', this.#onError);
    if (stream.readableEnded) this.#onEnd();
    else {
      stream.on('data', this.#onData);
      stream.once('end', this.#onEnd);
    }
    if (stream.closed || stream.destroyed) process.nextTick(this.#onClose);
    else stream.once('close', this.#onClose);
    // The stream may have been paused while its first bytes were sniffed.
    stream.resume();
  }

  get stream(): Http2Stream {
    return this.#stream;
  }

  #onData = (chunk: Buffer): void => {
    this.bytesRead += chunk.length;
    this.#touch();
    if (!this.push(chunk)) {
      this.#readingPaused = true;
      this.#stream.pause();
    }
  };

  #onEnd = (): void => {
    this.#pushedEnd = true;
    this.push(null);
  };

  #onClose = (): void => {
    if (this.destroyed) return;
    const code = this.#stream.rstCode;
    // END_STREAM then RST_STREAM(NO_ERROR), or CANCEL, is a clean close, as ztunnel ends tunnels: deliver
    // what was received, then go away; nothing more can be written on a closed stream.
    if (code === undefined || code === h2constants.NGHTTP2_NO_ERROR || code === h2constants.NGHTTP2_CANCEL) {
      if (!this.#pushedEnd) {
        this.#pushedEnd = true;
        this.push(null);
      }
      if (this.readableEnded) this.destroy();
      else this.once('end', () => this.destroy());
      return;
    }
    this.destroy(Object.assign(new Error(`tunnel stream reset (code ${code})`), { code: 'ERR_TUNNEL_RESET', rstCode: code }));
  };

  #onError = (err: Error): void => {
    this.destroy(err);
  };

  override _read(): void {
    if (this.#readingPaused) {
      this.#readingPaused = false;
      this.#stream.resume();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.#beforeWrite(chunk.length, cb)) return;
    this.#stream.write(chunk);
    this.#sent(cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    let bytes = 0;
    for (const c of chunks) bytes += c.chunk.length;
    if (!this.#beforeWrite(bytes, cb)) return;
    if (bytes <= COALESCE_BYTES) {
      const one = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (const c of chunks) at += c.chunk.copy(one, at);
      this.#stream.write(one);
    } else for (const c of chunks) this.#stream.write(c.chunk);
    this.#sent(cb);
  }

  /** Counts `bytes` about to be written; false (and `cb` failed) when the stream is gone. */
  #beforeWrite(bytes: number, cb: (err?: Error | null) => void): boolean {
    this.bytesWritten += bytes;
    this.#touch();
    const s = this.#stream;
    if (!s.destroyed && !s.closed) return true;
    cb(Object.assign(new Error('tunnel stream closed'), { code: 'ERR_STREAM_DESTROYED' }));
    return false;
  }

  /**
   * Chunks go to the HTTP/2 stream as they are (corked small ones as one copy, see COALESCE_BYTES),
   * and more are taken at once while the stream holds less than BUFFER_BYTES, else after its 'drain':
   * several DATA frames go out per turn of the event loop instead of one, backpressure kept.
   * A failed write surfaces as the stream's 'error', which destroys this socket.
   */
  #sent(cb: (err?: Error | null) => void): void {
    if (this.#stream.writableLength < BUFFER_BYTES) cb();
    else this.#stream.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#stream.destroyed || this.#stream.closed) {
      cb();
      return;
    }
    this.#stream.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    StreamSocket.#live--;
    this.#clearIdle();
    const s = this.#stream;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    if (!s.destroyed && !s.closed) {
      // A clean local close after both halves finished is NO_ERROR; anything else cancels.
      const clean = err === null && this.readableEnded && this.writableFinished;
      closeLocally(s, clean ? h2constants.NGHTTP2_NO_ERROR : h2constants.NGHTTP2_CANCEL);
    }
    // Keep swallowing late stream errors: the wrapper has already reported its own.
    s.on('error', noop);
    s.off('error', this.#onError);
    cb(err);
  }

  /** Ends the write side and destroys once it has flushed (used by http.Server). */
  destroySoon(): void {
    if (this.writableFinished) this.destroy();
    else {
      this.once('finish', () => this.destroy());
      this.end();
    }
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.#idleMs = ms;
    if (cb !== undefined) this.once('timeout', cb);
    this.#touch();
    return this;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  address(): { address: string; port: number; family: string } {
    return { address: this.localAddress, port: this.localPort, family: this.remoteFamily };
  }

  /**
   * Notes activity for the idle timeout. The timer is not moved on every chunk or request (a
   * timer-list insert each time, ~1 % of the waypoint's CPU in the profile): it stays armed, and
   * when it fires it re-arms for whatever is left since the last activity. `setTimeout(0)`, which
   * http.Server calls on every request of a kept-alive connection, only turns it off.
   */
  #touch(): void {
    if (this.#idleMs <= 0) return;
    const now = Date.now();
    this.#lastActive = now;
    const due = now + this.#idleMs;
    if (this.#idleTimer !== undefined) {
      if (due >= this.#idleFiresAt) return;
      clearTimeout(this.#idleTimer);
    }
    this.#armIdle(this.#idleMs, due);
  }

  #armIdle(ms: number, due: number): void {
    this.#idleFiresAt = due;
    this.#idleTimer = setTimeout(this.#onIdleTimer, ms);
    this.#idleTimer.unref();
  }

  #onIdleTimer = (): void => {
    this.#idleTimer = undefined;
    if (this.#idleMs <= 0 || this.destroyed) return;
    const now = Date.now();
    const left = this.#lastActive + this.#idleMs - now;
    if (left > 0) {
      this.#armIdle(left, now + left);
      return;
    }
    this.emit('timeout');
  };

  #clearIdle(): void {
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }
}

function noop(): void {}
