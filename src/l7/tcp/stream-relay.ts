import { constants as h2constants, type Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { closedLocally, closeLocally } from '../../hbone/stream-socket.js';

/** One end of a TCP relay: an HBONE CONNECT stream, or a socket to a destination outside the mesh. */
export type RelayEnd = Http2Stream | Socket;

/**
 * What one direction may hold unsent in the end it writes to before the end it reads from is
 * paused; reading resumes once half of it has gone out, not only when all has (waiting for
 * 'drain' left the pipe empty on every cycle and cost more CPU per byte than the StreamSocket
 * relay it replaced: bench/relay-layer.ts). The writable's own high-water mark, 16 KiB, is one
 * DATA frame: pausing there would stop and restart the reading stream on every frame. Held only
 * while bytes wait.
 */
export const RELAY_BUFFER_BYTES = 256 * 1024;

/** Bytes read from and written to one end, counted as they pass. */
export interface RelayCounts {
  read: number;
  written: number;
}

export interface StreamRelayOptions {
  /** Bytes already read from `a` (while its protocol was sniffed): written to `b` first. */
  prefix?: Buffer | undefined;
  /** Per direction; default RELAY_BUFFER_BYTES. */
  bufferBytes?: number;
}

/**
 * Relays an opaque byte stream between two ends, with nothing between them: each chunk read from
 * one end is written to the other as it is, and the reading end is paused while the writing end
 * holds `bufferBytes` or more unsent (resumed when half of that has gone out), so memory stays
 * bounded when one side stops reading. Half-close is carried both ways (END_STREAM or FIN once the other side's
 * input ended); an end that fails or is reset resets the other (RST_STREAM(CANCEL), or the socket
 * destroyed); an end that closes cleanly while the other still sends ends the other's output and
 * closes it once that has flushed (nothing could reach the closed end any more).
 *
 * A stream closed by its peer with NO_ERROR or CANCEL, or after its END_STREAM, is a clean end of
 * its input (HBONE peers end tunnels with END_STREAM followed by RST_STREAM(NO_ERROR)); a reset
 * with another code, an error, or a reset from this process is not.
 */
export class StreamRelay {
  static #liveEnds = 0;
  /** Ends of relays in this process not yet closed (stats, leak checks). */
  static get liveEnds(): number {
    return StreamRelay.#liveEnds;
  }

  readonly a: RelayEnd;
  readonly b: RelayEnd;
  readonly countsA: RelayCounts = { read: 0, written: 0 };
  readonly countsB: RelayCounts = { read: 0, written: 0 };
  readonly #limit: number;
  readonly #failed = new Set<RelayEnd>();
  #open = 2;
  #onDone: (() => void) | undefined;

  constructor(a: RelayEnd, b: RelayEnd, opts: StreamRelayOptions = {}) {
    this.a = a;
    this.b = b;
    this.#limit = opts.bufferBytes ?? RELAY_BUFFER_BYTES;
    StreamRelay.#liveEnds += 2;
    for (const end of [a, b]) {
      // Recorded, not thrown: how the end closed is judged when it closes.
      end.on('error', () => this.#failed.add(end));
      if (end.destroyed) process.nextTick(() => this.#closed(end));
      else end.once('close', () => this.#closed(end));
    }
    const prefix = opts.prefix;
    if (prefix !== undefined && prefix.length > 0 && writable(b)) {
      this.countsA.read += prefix.length;
      this.countsB.written += prefix.length;
      b.write(prefix);
    }
    this.#pump(a, b, this.countsA, this.countsB);
    this.#pump(b, a, this.countsB, this.countsA);
  }

  /** Called once, when both ends have closed. */
  onDone(cb: () => void): void {
    if (this.#open === 0) cb();
    else this.#onDone = cb;
  }

  /** Resets both ends (a policy re-check closing the tunnel, the downstream gone). */
  reset(): void {
    resetEnd(this.a);
    resetEnd(this.b);
  }

  #pump(from: RelayEnd, to: RelayEnd, fromCounts: RelayCounts, toCounts: RelayCounts): void {
    const limit = this.#limit;
    const low = limit >> 1;
    let waiting = false;
    // One function for every write (Writable merges the completions of one callback): once `to`
    // is down to half the limit, reading goes on, before it runs dry.
    const written = (): void => {
      if (!waiting || to.writableLength > low) return;
      waiting = false;
      if (!from.destroyed) from.resume();
    };
    from.on('data', (chunk: Buffer) => {
      fromCounts.read += chunk.length;
      // Nowhere to go once `to` is gone or its output ended: the close handling ends this relay.
      if (!writable(to)) return;
      toCounts.written += chunk.length;
      to.write(chunk, written);
      if (!waiting && to.writableLength >= limit) {
        waiting = true;
        from.pause();
      }
    });
    from.once('end', () => {
      if (writable(to)) to.end();
    });
    from.resume();
  }

  #closed(x: RelayEnd): void {
    const y = x === this.a ? this.b : this.a;
    StreamRelay.#liveEnds--;
    if (--this.#open === 0) {
      const done = this.#onDone;
      this.#onDone = undefined;
      done?.();
      return;
    }
    if (y.destroyed) return;
    if (!this.#endedCleanly(x)) {
      resetEnd(y);
      return;
    }
    // All x sent has been passed on: y's peer gets END_STREAM (FIN) after it.
    if (writable(y)) y.end();
    if (y.readableEnded) return;
    // x can take nothing more, so y's input has nowhere to go: close y once its output flushed.
    if (y.writableFinished) resetEnd(y);
    else y.once('finish', () => resetEnd(y));
  }

  #endedCleanly(x: RelayEnd): boolean {
    const stream = isStream(x);
    return endedCleanly({
      inputEnded: x.readableEnded,
      failed: this.#failed.has(x),
      stream,
      resetHere: stream && closedLocally(x),
      rstCode: stream ? x.rstCode : undefined,
    });
  }
}

/** How one end of a relay closed, as `endedCleanly` judges it. */
export interface ClosedEnd {
  /** Its input ended (END_STREAM or FIN was read). */
  inputEnded: boolean;
  /** It emitted an error. */
  failed: boolean;
  /** An HTTP/2 stream (else a socket). */
  stream: boolean;
  /** A stream this process reset. */
  resetHere: boolean;
  /** A stream's RST_STREAM code, if it was closed with one. */
  rstCode: number | undefined;
}

/**
 * Whether an end that closed ended its input as it should: after its END_STREAM or FIN; or a
 * stream its peer closed with NO_ERROR or CANCEL (or no code), which HBONE peers use to end a
 * tunnel. A failure, a reset with another code, a reset from this process, or a socket closed
 * without its FIN (destroyed here) is not clean, and the other end is reset.
 */
export function endedCleanly(e: ClosedEnd): boolean {
  if (e.inputEnded) return true;
  if (e.failed || !e.stream || e.resetHere) return false;
  return e.rstCode === undefined || e.rstCode === h2constants.NGHTTP2_NO_ERROR || e.rstCode === h2constants.NGHTTP2_CANCEL;
}

function isStream(end: RelayEnd): end is Http2Stream {
  return 'rstCode' in end;
}

/** Whether `end` can still be written to. */
function writable(end: RelayEnd): boolean {
  return !end.destroyed && !end.writableEnded && !(isStream(end) && end.closed);
}

/** Resets a stream (RST_STREAM(CANCEL), remembered as ours) or destroys a socket. */
export function resetEnd(end: RelayEnd): void {
  if (isStream(end)) {
    if (!end.destroyed && !end.closed) closeLocally(end, h2constants.NGHTTP2_CANCEL);
    return;
  }
  end.destroy();
}
