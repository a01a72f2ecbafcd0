import http2, { type IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { HboneConnectError } from '../../hbone/client-pool.js';
import type { Pool } from 'undici';
import type { Cancellation } from './cancellation.js';
import type { WireProtocol } from './protocol.js';
import type { UpstreamEndpoint, UpstreamConnections } from './connections.js';

/** Headers as sent upstream: lower-case names, repeated headers as arrays. */
export type HeaderMap = Record<string, string | string[]>;

/** One request as sent upstream. `body` is a Buffer when it may be replayed (retries). */
export interface UpstreamRequest {
  method: string;
  path: string;
  authority: string;
  headers: HeaderMap;
  body: Buffer | Readable | null;
}

/** Why an attempt produced no response, in Envoy's retry-on vocabulary. */
export type AttemptFailure = 'connect-failure' | 'refused-stream' | 'reset' | 'timeout' | 'cancelled';

export type AttemptResult =
  | {
      ok: true;
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: Readable;
      /** Registers a listener for response trailers (h2c); called before the body ends. */
      onTrailers(cb: (trailers: IncomingHttpHeaders) => void): void;
      /** Stops the upstream exchange (the client went away or a timeout fired). */
      abort(): void;
    }
  | { ok: false; failure: AttemptFailure; error: Error };

/** Classifies an error from the upstream side before response headers. */
export function classifyUpstreamError(err: Error & { code?: string }, timedOut: boolean): AttemptFailure {
  if (timedOut) return 'timeout';
  if (err instanceof HboneConnectError) return err.refusedStream ? 'refused-stream' : 'connect-failure';
  if (err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED') return 'cancelled';
  return 'reset';
}

/**
 * Sends one attempt to one endpoint and resolves when response headers arrive or the attempt
 * fails. `timeoutMs` bounds the wait for response headers (a per-try timeout); the caller owns
 * the overall deadline through `signal`.
 */
export function sendAttempt(
  upstreams: UpstreamConnections,
  ep: UpstreamEndpoint,
  protocol: WireProtocol,
  req: UpstreamRequest,
  opts: { signal: Cancellation; timeoutMs?: number | undefined },
): Promise<AttemptResult> {
  return protocol === 'http1' ? attemptHttp1(upstreams, ep, req, opts) : attemptH2c(upstreams, ep, req, opts);
}

function attemptHttp1(upstreams: UpstreamConnections, ep: UpstreamEndpoint, req: UpstreamRequest, opts: { signal: Cancellation; timeoutMs?: number | undefined }): Promise<AttemptResult> {
  // Without a per-try timeout the caller's signal is enough: no controller, no listener (both
  // cost on every request).
  let signal = opts.signal;
  let timedOut = false;
  let stopTimer: () => void = noop;
  let unlink: () => void = noop;
  if (opts.timeoutMs !== undefined) {
    const child = opts.signal.child();
    const timer = setTimeout(() => {
      timedOut = true;
      child.signal.abort();
    }, opts.timeoutMs);
    signal = child.signal;
    stopTimer = () => clearTimeout(timer);
    unlink = child.unlink;
  }
  req.headers.host = req.authority;
  const pool = upstreams.http1(ep);
  const send = (p: Pool): ReturnType<Pool['request']> => p.request({ method: req.method, path: req.path, headers: req.headers, body: req.body, signal });
  // undici acts on an abort only once the request has a connection: while the tunnel is still
  // opening, the abort (per-try or route timeout, client gone) must end the attempt itself and
  // cancel the CONNECT (UpstreamConnections.awaitHttp1).
  const endWait = upstreams.awaitHttp1(ep);
  let onAbort: () => void = noop;
  const sent = pool instanceof Promise ? pool.then(send) : send(pool);
  // One promise settled by whichever comes first (cheaper than Promise.race over two).
  const first = new Promise<Awaited<typeof sent>>((resolve, reject) => {
    onAbort = () => reject(Object.assign(new Error('request aborted before the upstream connection was open'), { name: 'AbortError' }));
    if (signal.aborted) onAbort();
    else signal.once('abort', onAbort);
    sent.then(resolve, reject);
  });
  return first.then(
    (up): AttemptResult => {
      signal.off('abort', onAbort);
      endWait(false);
      // The per-try timeout covers the wait for headers; the caller's abort still reaches the body.
      stopTimer();
      up.body.once('close', unlink);
      return {
        ok: true,
        status: up.statusCode,
        headers: up.headers,
        body: up.body,
        onTrailers: noop,
        // Discard a response that will not be relayed (a retried 503): read and drop a small
        // body so the connection stays reusable, close it otherwise; never an unhandled error.
        abort: () => void up.body.dump({ limit: 64 * 1024 }).catch(noop),
      };
    },
    (err: Error & { code?: string }): AttemptResult => {
      signal.off('abort', onAbort);
      endWait(signal.aborted);
      // A response that arrives after the abort is dropped (undici aborts it on its connection).
      sent.then((up) => void up.body.dump({ limit: 0 }).catch(noop), noop);
      stopTimer();
      unlink();
      return { ok: false, failure: opts.signal.aborted && !timedOut ? 'cancelled' : classifyUpstreamError(err, timedOut), error: err };
    },
  );
}

function noop(): void {}

function attemptH2c(upstreams: UpstreamConnections, ep: UpstreamEndpoint, req: UpstreamRequest, opts: { signal: Cancellation; timeoutMs?: number | undefined }): Promise<AttemptResult> {
  return upstreams.h2c(ep).then(
    (session) =>
      new Promise<AttemptResult>((resolve) => {
        let settled = false;
        let timedOut = false;
        let stream: http2.ClientHttp2Stream;
        const hasBody = req.body !== null;
        try {
          stream = session.request(
            { ...req.headers, ':method': req.method, ':path': req.path, ':scheme': 'http', ':authority': req.authority },
            { endStream: !hasBody },
          );
        } catch (err) {
          resolve({ ok: false, failure: 'reset', error: err as Error });
          return;
        }
        const cancel = (): void => {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        };
        const onOuterAbort = (): void => {
          cancel();
          settle({ ok: false, failure: 'cancelled', error: new Error('cancelled') });
        };
        opts.signal.once('abort', onOuterAbort);
        const timer =
          opts.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                timedOut = true;
                cancel();
                settle({ ok: false, failure: 'timeout', error: new Error(`no response headers within ${opts.timeoutMs} ms`) });
              }, opts.timeoutMs);
        function settle(r: AttemptResult): void {
          if (settled) return;
          settled = true;
          if (timer !== undefined) clearTimeout(timer);
          if (!r.ok) opts.signal.off('abort', onOuterAbort);
          resolve(r);
        }
        stream.on('error', () => undefined);
        const body = req.body;
        if (Buffer.isBuffer(body)) stream.end(body);
        else if (body !== null) {
          body.pipe(stream);
          body.once('error', cancel);
        }
        stream.once('response', (h: IncomingHttpHeaders) => {
          const status = Number(h[':status']);
          stream.once('close', () => opts.signal.off('abort', onOuterAbort));
          settle({ ok: true, status, headers: h, body: stream, onTrailers: (cb) => stream.once('trailers', cb), abort: cancel });
        });
        stream.once('close', () => {
          const code = stream.rstCode;
          const failure: AttemptFailure = timedOut ? 'timeout' : code === http2.constants.NGHTTP2_REFUSED_STREAM ? 'refused-stream' : 'reset';
          settle({ ok: false, failure, error: new Error(`upstream stream closed before headers (code ${code ?? 'none'})`) });
        });
      }),
    (err: Error & { code?: string }): AttemptResult => ({ ok: false, failure: classifyUpstreamError(err, false), error: err }),
  );
}
