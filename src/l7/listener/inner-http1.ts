import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { markMalformedBody } from '../malformed-body.js';
import type { TunnelContext } from '../tunnel.js';

export interface InnerHttp1Options {
  logger: Logger;
  /** Largest request head accepted (431 above it). */
  maxHeaderBytes: number;
  /** Time a client has to send a whole request head (408 after it); 0: none. */
  headersTimeoutMs: number;
  /** Idle keep-alive time of an inner connection. */
  idleTimeoutMs: number;
  /** Called for every well-formed request. */
  onRequest: (ctx: TunnelContext, req: IncomingMessage, res: ServerResponse) => void;
  /** Called for a well-formed request with `Connection: upgrade`; the socket is then its own. */
  onUpgrade?: (ctx: TunnelContext, req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

/**
 * The in-process HTTP/1.1 server main_internal feeds tunnels to (it never listens). Refuses what
 * RFC 9112 says a server must refuse and Node's parser lets through, answers parse errors once
 * per connection and in order behind pipelined requests, and closes connections while draining.
 */
export class InnerHttp1Server {
  readonly #opts: InnerHttp1Options;
  readonly #log: Logger;
  readonly #server: http.Server;
  readonly #ctx = new WeakMap<object, TunnelContext>();
  /** Exchanges whose response has not finished, by connection. */
  readonly #inflight = new WeakMap<object, Set<{ req: IncomingMessage; res: ServerResponse }>>();
  /** Connections already answered with an error (each is answered and logged once). */
  readonly #refused = new WeakSet<object>();
  #draining = false;

  constructor(opts: InnerHttp1Options) {
    this.#opts = opts;
    this.#log = opts.logger;
    const headersTimeout = opts.headersTimeoutMs;
    this.#server = http.createServer({
      maxHeaderSize: opts.maxHeaderBytes,
      requestTimeout: 0,
      headersTimeout,
      keepAliveTimeout: opts.idleTimeoutMs,
      // How often the head timeout is checked (Node's default, 30 s, would let it run long).
      connectionsCheckingInterval: headersTimeout > 0 ? Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 4))) : 30_000,
      // Checked in requestProblem, so that the refusal is logged like every other bad request.
      requireHostHeader: false,
    });
    // This server never listens: it is fed tunnels. Node tracks connections (the head timeout,
    // closeIdleConnections on drain) only from 'listening' on, so start that tracking now.
    this.#server.emit('listening');
    // A client that half-closes after its request(s) still gets every response; the connection
    // closes after the last one (Node's server otherwise aborts them when the input ends).
    (this.#server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    const onUpgrade = opts.onUpgrade;
    if (onUpgrade !== undefined) this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(onUpgrade, req, socket, head));
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    this.#server.on('clientError', (err: Error & { code?: string }, socket: Socket) => this.#onClientError(err, socket));
    // CONNECT inside a tunnel: no route takes it (Envoy: 404 without a CONNECT route).
    this.#server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      const ctx = this.#ctx.get(socket);
      this.#log.warn({ reason: 'CONNECT method', peer: ctx?.peer.address, authority: ctx?.authorityText, target: req.url }, 'bad HTTP/1.1 request in tunnel: CONNECT is not routed');
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  }

  /** Serves HTTP/1.1 on a tunnel's socket. */
  accept(socket: Duplex, ctx: TunnelContext): void {
    this.#ctx.set(socket, ctx);
    this.#server.emit('connection', socket);
  }

  /**
   * A tunnel that sent no complete request line within the headers timeout (it never reached this
   * server): answered and logged as the server answers a head that times out, 408.
   */
  timedOut(socket: Duplex, ctx: TunnelContext): void {
    this.#ctx.set(socket, ctx);
    socket.on('error', () => undefined);
    this.#onClientError(Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ctx = this.#ctx.get(req.socket);
    if (ctx === undefined) {
      res.destroy();
      return;
    }
    this.#track(req, res);
    const problem = requestProblem(req);
    if (problem !== undefined) {
      this.#log.warn({ reason: problem.reason, peer: ctx.peer.address, authority: ctx.authorityText }, `bad HTTP/1.1 request in tunnel: ${problem.reason}`);
      res.writeHead(problem.status, { 'content-type': 'text/plain', 'content-length': '0', connection: 'close' });
      res.end();
      return;
    }
    // While draining, every response closes its connection (Envoy's drain behaviour).
    if (this.#draining) res.shouldKeepAlive = false;
    this.#opts.onRequest(ctx, req, res);
  }

  #onUpgrade(onUpgrade: NonNullable<InnerHttp1Options['onUpgrade']>, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const ctx = this.#ctx.get(socket);
    if (ctx === undefined) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const problem = requestProblem(req);
    if (problem !== undefined) {
      this.#log.warn({ reason: problem.reason, peer: ctx.peer.address, authority: ctx.authorityText }, `bad HTTP/1.1 request in tunnel: ${problem.reason}`);
      socket.end(`HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status] ?? ''}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    onUpgrade(ctx, req, socket, head);
  }

  /** Remembers an exchange until its response is done (see #onClientError). */
  #track(req: IncomingMessage, res: ServerResponse): void {
    let set = this.#inflight.get(req.socket);
    if (set === undefined) {
      set = new Set();
      this.#inflight.set(req.socket, set);
    }
    const entry = { req, res };
    set.add(entry);
    res.once('close', () => set.delete(entry));
  }

  #onClientError(err: Error & { code?: string }, socket: Duplex): void {
    // The parser stays in its error state: later bytes raise the same error again. Once is enough.
    if (this.#refused.has(socket)) return;
    this.#refused.add(socket);
    const ctx = this.#ctx.get(socket);
    this.#log.warn({ reason: err.code ?? err.message, peer: ctx?.peer.address, authority: ctx?.authorityText }, `bad HTTP/1.1 request in tunnel: ${err.message}`);
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    const reply = (): void => {
      if (socket.destroyed) return;
      socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      socket.once('finish', () => socket.destroy());
    };
    // A bad request pipelined behind complete ones is answered after their responses, in order.
    // If the bad bytes belong to a request still being read (its body), the error is its answer.
    const pending = [...(this.#inflight.get(socket) ?? [])];
    if (pending.length === 0 || pending.some((p) => !p.req.complete)) {
      for (const p of pending) if (!p.req.complete) markMalformedBody(p.req);
      reply();
      return;
    }
    let left = pending.length;
    for (const p of pending) {
      const done = (): void => {
        if (--left === 0) reply();
      };
      if (p.res.writableFinished || p.res.destroyed) done();
      else p.res.once('close', done);
    }
  }

  /** Connections close after their current response; idle ones now. */
  drain(): void {
    this.#draining = true;
    this.#server.closeIdleConnections();
  }

  close(): void {
    this.#server.closeAllConnections();
    // Stops the head-timeout checker (the server itself never listened).
    this.#server.close();
  }
}

/** `reg-name`, IPv4 or bracketed IPv6, and an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). */
const HOST_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

/**
 * What RFC 9112 requires a server to refuse, and what Node's parser lets through: exactly one
 * valid Host (§3.2), an HTTP/1 version, an origin-form or absolute-form target. An absolute-form
 * target is rewritten to origin form with its authority as the Host, as Envoy does (§3.2.2).
 */
export function requestProblem(req: IncomingMessage): { status: number; reason: string } | undefined {
  if (req.httpVersionMajor !== 1) return { status: 400, reason: `unsupported HTTP version ${req.httpVersion}` };
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) return { status: 400, reason: 'more than one Host header' };
  const url = req.url ?? '';
  if (!url.startsWith('/')) {
    if (!/^https?:\/\//i.test(url)) return { status: 404, reason: `request target is not a path: ${url.slice(0, 64)}` };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { status: 400, reason: 'malformed absolute-form request target' };
    }
    if (parsed.username !== '' || parsed.password !== '' || parsed.host === '') return { status: 400, reason: 'malformed absolute-form request target' };
    req.url = `${parsed.pathname}${parsed.search}`;
    req.headers.host = parsed.host;
    return undefined;
  }
  if (hosts === 0) return req.httpVersionMinor >= 1 ? { status: 400, reason: 'missing Host header' } : undefined;
  if (!HOST_RE.test(req.headers.host ?? '')) return { status: 400, reason: 'invalid Host header' };
  return undefined;
}
