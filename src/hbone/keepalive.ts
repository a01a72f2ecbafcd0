import type { Http2Session } from 'node:http2';
import { KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS } from './settings.js';

interface PingState {
  sentAt: number;
  outstanding: boolean;
}

export interface KeepaliveOptions {
  /** PING every this often; default `KEEPALIVE_INTERVAL_MS` (10 s). */
  intervalMs?: number | undefined;
  /** Drop a session whose PING is unanswered this long; default `KEEPALIVE_TIMEOUT_MS` (20 s). */
  timeoutMs?: number | undefined;
  onDead: (session: Http2Session) => void;
}

/**
 * PING keepalive for a set of HTTP/2 sessions, as ztunnel does: a PING every interval; a session
 * whose PING goes unanswered for the timeout is destroyed. One timer serves every session.
 */
export class KeepaliveMonitor {
  readonly #sessions = new Map<Http2Session, PingState>();
  readonly #timer: NodeJS.Timeout;
  readonly #timeoutMs: number;
  readonly #onDead: (session: Http2Session) => void;

  constructor(opts: KeepaliveOptions) {
    this.#timeoutMs = opts.timeoutMs ?? KEEPALIVE_TIMEOUT_MS;
    this.#onDead = opts.onDead;
    this.#timer = setInterval(() => this.#tick(), opts.intervalMs ?? KEEPALIVE_INTERVAL_MS);
    this.#timer.unref();
  }

  add(session: Http2Session): void {
    this.#sessions.set(session, { sentAt: 0, outstanding: false });
    // 'close' comes once: a plain listener costs less than a once() wrapper, per session.
    session.on('close', () => this.#sessions.delete(session));
  }

  get size(): number {
    return this.#sessions.size;
  }

  #tick(): void {
    const now = Date.now();
    for (const [session, state] of this.#sessions) {
      if (session.destroyed || session.closed) {
        this.#sessions.delete(session);
        continue;
      }
      if (state.outstanding) {
        if (now - state.sentAt >= this.#timeoutMs) {
          this.#sessions.delete(session);
          this.#onDead(session);
        }
        continue;
      }
      state.outstanding = true;
      state.sentAt = now;
      const ok = session.ping((err) => {
        if (!err) state.outstanding = false;
      });
      if (!ok) state.outstanding = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sessions.clear();
  }
}
