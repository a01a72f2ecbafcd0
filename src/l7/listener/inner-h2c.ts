import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { TunnelContext } from '../tunnel.js';

export interface InnerH2cOptions {
  logger: Logger;
  /** Largest header list accepted (431 above it). */
  maxHeaderBytes: number;
  /** Time without an open stream after which a session is closed; 0: never. */
  idleTimeoutMs: number;
  /** Called for every request within the header limit. */
  onRequest: (ctx: TunnelContext, req: Http2ServerRequest, res: Http2ServerResponse) => void;
  /**
   * Called for an extended CONNECT (RFC 8441, `:protocol`) within the header limit; when set,
   * SETTINGS_ENABLE_CONNECT_PROTOCOL is sent. Absent, nghttp2 refuses `:protocol` (RST_STREAM).
   */
  onExtendedConnect?: (ctx: TunnelContext, req: Http2ServerRequest, res: Http2ServerResponse) => void;
}

/**
 * The in-process h2c server main_internal feeds tunnels to (prior-knowledge HTTP/2, one session
 * per tunnel). Closes sessions idle for `idleTimeoutMs`, holds peers to the header-list limit,
 * and sends GOAWAY while draining.
 */
export class InnerH2cServer {
  readonly #opts: InnerH2cOptions;
  readonly #log: Logger;
  readonly #server: http2.Http2Server;
  readonly #ctx = new WeakMap<Http2Session, TunnelContext>();
  readonly #sessions = new Set<Http2Session>();
  /** The context of the tunnel being accepted: Node creates its session synchronously. */
  #accepting: TunnelContext | undefined;
  #draining = false;

  constructor(opts: InnerH2cOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#server = http2.createServer({
      settings: {
        maxConcurrentStreams: 100,
        initialWindowSize: 1024 * 1024,
        enablePush: false,
        maxHeaderListSize: opts.maxHeaderBytes,
        enableConnectProtocol: opts.onExtendedConnect !== undefined,
      },
      maxSessionMemory: 32,
    });
    this.#server.on('session', (session: Http2Session) => this.#onSession(session));
    this.#server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.#onRequest(req, res, opts.onRequest));
    // Node's compatibility layer hands every CONNECT here (405 when nobody listens).
    this.#server.on('connect', (req: Http2ServerRequest, res: Http2ServerResponse) => this.#onConnect(req, res));
  }

  /** Serves h2c on a tunnel's socket (the preface is already in its first bytes). */
  accept(socket: Duplex, ctx: TunnelContext): void {
    this.#accepting = ctx;
    try {
      this.#server.emit('connection', socket);
    } finally {
      this.#accepting = undefined;
    }
  }

  #onSession(session: Http2Session): void {
    const ctx = this.#accepting;
    if (ctx !== undefined) this.#ctx.set(session, ctx);
    this.#sessions.add(session);
    this.#closeWhenIdle(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', (err) => this.#log.debug({ err: err.message }, 'inner h2c session error'));
    if (this.#draining) session.close();
  }

  /**
   * Idle = no open stream for `idleTimeoutMs`. Not session.setTimeout(): Node 20 never clears that
   * timer when the session is destroyed (closeSession marks it destroyed first, and setTimeout(0)
   * then returns early), so every closed session stayed reachable from the timer list until the
   * timeout fired (an hour by default): a leak under connection churn.
   */
  #closeWhenIdle(session: Http2Session): void {
    const idle = this.#opts.idleTimeoutMs;
    let streams = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (idle <= 0) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (streams === 0 && !session.closed) session.close();
      }, idle);
      timer.unref();
    };
    session.on('stream', (stream: ServerHttp2Stream) => {
      streams++;
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      stream.once('close', () => {
        if (--streams === 0 && !session.closed) arm();
      });
    });
    session.once('close', () => {
      if (timer !== undefined) clearTimeout(timer);
    });
    arm();
  }

  #onConnect(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const handler = this.#opts.onExtendedConnect;
    if (handler !== undefined && req.headers[':protocol'] !== undefined) {
      this.#onRequest(req, res, handler);
      return;
    }
    // A plain CONNECT inside a tunnel: what Node answers when no one handles it.
    res.writeHead(405, { 'content-length': '0' });
    res.end();
  }

  #onRequest(req: Http2ServerRequest, res: Http2ServerResponse, handle: InnerH2cOptions['onRequest']): void {
    const ctx = this.#ctx.get(req.stream.session as Http2Session);
    if (ctx === undefined) {
      res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // SETTINGS_MAX_HEADER_LIST_SIZE is advisory; nghttp2 does not hold a peer to it.
    const max = this.#opts.maxHeaderBytes;
    let headerBytes = 0;
    for (const f of req.rawHeaders) headerBytes += f.length;
    if (headerBytes > max) {
      this.#log.warn({ reason: 'header list too large', bytes: headerBytes, max, peer: ctx.peer.address, authority: ctx.authorityText }, `bad HTTP/2 request in tunnel: header list of ${headerBytes} bytes above ${max}`);
      res.writeHead(431, { 'content-type': 'text/plain', 'content-length': '0' });
      res.end();
      return;
    }
    handle(ctx, req, res);
  }

  /** GOAWAY to every session, so that the tunnels under them can finish. */
  drain(): void {
    this.#draining = true;
    for (const s of this.#sessions) if (!s.closed) s.close();
  }

  close(): void {
    for (const s of this.#sessions) s.destroy();
  }
}
