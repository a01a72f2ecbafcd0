import { EventEmitter } from 'node:events';

/**
 * A cheap cancellation signal for the request path: an EventEmitter with `aborted` and an
 * 'abort' event, which undici accepts as a request `signal`. AbortController costs an
 * EventTarget and a DOMException per abort, paid on every request.
 */
export class Cancellation extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }

  /** A child that is cancelled with this one, and can also be cancelled on its own. */
  child(): { signal: Cancellation; unlink: () => void } {
    const c = new Cancellation();
    if (this.aborted) {
      c.aborted = true;
      return { signal: c, unlink: noop };
    }
    const onAbort = (): void => c.abort();
    this.once('abort', onAbort);
    return { signal: c, unlink: () => this.off('abort', onAbort) };
  }
}

function noop(): void {}
