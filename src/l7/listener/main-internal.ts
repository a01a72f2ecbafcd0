import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { vipKey } from '../../config/address.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { TunnelHandler, TunnelRequest, TunnelVerdict } from '../../hbone/server.js';
import { DEFAULT_LIMITS } from '../../config/limits.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
import type { AccessLog } from '../../metrics/access-log.js';
import type { IstioMetrics } from '../../metrics/istio-metrics.js';
import { chainName, classifyDestination, type Destination } from './classify.js';
import { handleHttpRequest, type HttpProxyDeps } from '../http/proxy.js';
import type { HttpExchangeReport } from '../http/exchange.js';
import { SNIFF_LIMIT, sniffProtocol, type SniffResult } from './sniff.js';
import { relayTcp, type TcpRelayDeps } from '../tcp/relay.js';
import { ClusterRegistry } from '../cluster/registry.js';
import type { ClusterAccess } from '../cluster/access.js';
import { sourceOf } from './source.js';
import type { TunnelContext } from './tunnel-context.js';
import type { UpstreamConnections } from '../upstream/connections.js';

export interface MainInternalOptions {
  snapshot: () => ConfigSnapshot;
  upstreams: UpstreamConnections;
  accessLog: AccessLog;
  logger: Logger;
  /** How long a sniffed tunnel may stay silent before it is treated as opaque TCP. */
  sniffTimeoutMs?: number;
  /** Largest HTTP/1.1 request head accepted inside a tunnel (431 above it). */
  maxHeaderBytes?: number;
  /** Idle time after which an inner HTTP connection is closed. */
  idleTimeoutMs?: number;
  /** Time an HTTP/1.1 client has to send a whole request head (408 after it). */
  headersTimeoutMs?: number;
  /** Largest request body buffered so that it can be retried or mirrored. */
  maxRequestBufferBytes?: number;
  /** Endpoint choice, limits and outlier detection per cluster (default: plain round robin). */
  clusters?: ClusterAccess;
  /** Random source for weights, faults and mirrors (tests pass a seeded one). */
  random?: () => number;
  /** Istio standard metrics; absent in tests that do not look at them. */
  metrics?: IstioMetrics;
}

/** Turns a finished exchange into an `istio_requests_total` & co. observation. */
function httpReporter(metrics: IstioMetrics): (r: HttpExchangeReport) => void {
  return (r) =>
    metrics.recordHttp({
      sourceWorkload: r.tunnel.sourceWorkload,
      sourcePrincipal: r.tunnel.peer.identity,
      destinationWorkload: r.endpointWorkload,
      destinationService: r.service,
      requestContentType: r.requestContentType,
      responseCode: r.rec.response_code,
      responseTrailers: r.grpcStatus === undefined ? undefined : { 'grpc-status': r.grpcStatus },
      responseFlags: r.rec.response_flags,
      durationMs: r.rec.duration_ms,
      requestBytes: r.requestBytes,
      responseBytes: r.responseBytes,
    });
}

const DEFAULT_SNIFF_TIMEOUT_MS = DEFAULT_LIMITS.sniffTimeoutMs;
const DEFAULT_MAX_HEADER_BYTES = DEFAULT_LIMITS.maxHeaderBytes;
const DEFAULT_IDLE_TIMEOUT_MS = DEFAULT_LIMITS.idleTimeoutMs;

/**
 * main_internal: the in-process listener behind connect_terminate. Classifies each tunnel's
 * destination, decides HTTP or TCP (port protocol, else sniffing), and feeds the tunnel straight
 * into an in-process HTTP/1.1 or h2c server, or the TCP relay. No loopback socket hop.
 */
export class MainInternal {
  readonly #opts: MainInternalOptions;
  readonly #log: Logger;
  readonly #http1: http.Server;
  readonly #h2c: http2.Http2Server;
  readonly #ctx = new WeakMap<object, TunnelContext>();
  #pendingH2Ctx: TunnelContext | undefined;
  readonly #deps: HttpProxyDeps;
  readonly #tcpDeps: TcpRelayDeps;
  readonly #h2Sessions = new Set<Http2Session>();
  /** Inner HTTP/1.1 exchanges whose response has not finished, by connection. */
  readonly #inflight = new WeakMap<object, Set<{ req: IncomingMessage; res: ServerResponse }>>();
  /** Inner HTTP/1.1 connections already answered with an error (each is answered and logged once). */
  readonly #refused = new WeakSet<object>();
  #draining = false;

  constructor(opts: MainInternalOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ listener: 'main_internal' });
    const clusters = opts.clusters ?? new ClusterRegistry({ random: opts.random });
    const random = opts.random ?? Math.random;
    const bodyBufferLimit = opts.maxRequestBufferBytes ?? DEFAULT_LIMITS.maxRequestBufferBytes;
    this.#deps = {
      snapshot: opts.snapshot,
      decide: { random, bodyBufferLimit },
      forward: { upstreams: opts.upstreams, clusters, random },
      bodyBufferLimit,
      accessLog: opts.accessLog,
      logger: this.#log,
      report: opts.metrics === undefined ? undefined : httpReporter(opts.metrics),
    };
    this.#tcpDeps = { snapshot: opts.snapshot, upstreams: opts.upstreams, clusters, accessLog: opts.accessLog, logger: this.#log, metrics: opts.metrics };
    const idle = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;

    const headersTimeout = opts.headersTimeoutMs ?? DEFAULT_LIMITS.headersTimeoutMs;
    const maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.#http1 = http.createServer({
      maxHeaderSize: maxHeaderBytes,
      requestTimeout: 0,
      headersTimeout,
      keepAliveTimeout: idle,
      // How often the head timeout is checked (Node's default, 30 s, would let it run long).
      connectionsCheckingInterval: headersTimeout > 0 ? Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 4))) : 30_000,
      // Checked in #requestProblem, so that the refusal is logged like every other bad request.
      requireHostHeader: false,
    });
    // This server never listens: it is fed tunnels. Node tracks connections (the head timeout,
    // closeIdleConnections on drain) only from 'listening' on, so start that tracking now.
    this.#http1.emit('listening');
    this.#http1.on('request', (req: IncomingMessage, res: ServerResponse) => {
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
      handleHttpRequest(this.#deps, ctx, 'http1', req, res);
    });
    this.#http1.on('clientError', (err: Error & { code?: string }, socket: Socket) => this.#onClientError(err, socket));
    // CONNECT inside a tunnel: no route takes it (Envoy: 404 without a CONNECT route).
    this.#http1.on('connect', (req: IncomingMessage, socket: Duplex) => {
      const ctx = this.#ctx.get(socket);
      this.#log.warn({ reason: 'CONNECT method', peer: ctx?.peer.address, authority: ctx?.authorityText, target: req.url }, 'bad HTTP/1.1 request in tunnel: CONNECT is not routed');
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });

    this.#h2c = http2.createServer({
      settings: { maxConcurrentStreams: 100, initialWindowSize: 1024 * 1024, enablePush: false, maxHeaderListSize: maxHeaderBytes },
      maxSessionMemory: 32,
    });
    this.#h2c.on('session', (session: Http2Session) => {
      const ctx = this.#pendingH2Ctx;
      if (ctx !== undefined) this.#ctx.set(session, ctx);
      this.#h2Sessions.add(session);
      // Idle = no open stream for `idle` ms. Not session.setTimeout(): Node 20 never clears that
      // timer when the session is destroyed (closeSession marks it destroyed first, and
      // setTimeout(0) then returns early), so every closed session stayed reachable from the
      // timer list until the timeout fired (an hour by default): a leak under connection churn.
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
        this.#h2Sessions.delete(session);
        if (timer !== undefined) clearTimeout(timer);
      });
      arm();
      session.on('error', (err) => this.#log.debug({ err: err.message }, 'inner h2c session error'));
      if (this.#draining) session.close();
    });
    this.#h2c.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const ctx = this.#ctx.get(req.stream.session as Http2Session);
      if (ctx === undefined) {
        res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      // SETTINGS_MAX_HEADER_LIST_SIZE is advisory; nghttp2 does not hold a peer to it.
      let headerBytes = 0;
      for (const f of req.rawHeaders) headerBytes += f.length;
      if (headerBytes > maxHeaderBytes) {
        this.#log.warn({ reason: 'header list too large', bytes: headerBytes, max: maxHeaderBytes, peer: ctx.peer.address, authority: ctx.authorityText }, `bad HTTP/2 request in tunnel: header list of ${headerBytes} bytes above ${maxHeaderBytes}`);
        res.writeHead(431, { 'content-type': 'text/plain', 'content-length': '0' });
        res.end();
        return;
      }
      handleHttpRequest(this.#deps, ctx, 'h2c', req, res);
    });
  }

  /** The connect_terminate handler: decide synchronously, then open. */
  readonly handler: TunnelHandler = (req: TunnelRequest): TunnelVerdict => {
    const cls = classifyDestination(this.#opts.snapshot(), req.authority);
    if (!cls.ok) return { ok: false, status: 404, reason: cls.reason };
    const dest = cls.destination;
    return { ok: true, open: (stream) => this.#open(req, dest, stream) };
  };

  #open(req: TunnelRequest, dest: Destination, stream: ServerHttp2Stream): void {
    const source = sourceOf(this.#opts.snapshot(), req.peer);
    const ctx: TunnelContext = {
      peer: req.peer,
      sourceWorkload: source.workload,
      sourceNamespace: source.namespace,
      authority: req.authority,
      authorityText: req.authorityText,
      key: vipKey(req.authority.ip, req.authority.port),
      destination: dest,
      chain: '',
    };
    if (dest.mode === 'tcp') {
      ctx.chain = chainName(dest, 'tcp');
      relayTcp(this.#tcpDeps, ctx, this.#socket(ctx, stream));
      return;
    }
    this.#sniff(stream, dest.mode === 'http', (result, prefix) => {
      const socket = this.#socket(ctx, stream, prefix);
      // On an HTTP port anything that is not h2c goes to the HTTP/1.1 codec, which answers 400.
      if (result === 'tcp' && dest.mode === 'sniff') {
        ctx.chain = chainName(dest, 'tcp');
        relayTcp(this.#tcpDeps, ctx, socket);
        return;
      }
      ctx.chain = chainName(dest, 'http');
      this.#ctx.set(socket, ctx);
      if (result !== 'h2c') {
        this.#http1.emit('connection', socket);
      } else {
        this.#pendingH2Ctx = ctx;
        try {
          this.#h2c.emit('connection', socket);
        } finally {
          this.#pendingH2Ctx = undefined;
        }
      }
    });
  }

  #socket(ctx: TunnelContext, stream: ServerHttp2Stream, prefix?: Buffer): StreamSocket {
    return new StreamSocket(
      stream,
      { remoteAddress: ctx.peer.address, remotePort: ctx.peer.port, localAddress: ctx.authority.ip, localPort: ctx.authority.port },
      prefix,
    );
  }

  /**
   * Reads the first bytes of a tunnel until the protocol is certain. On an HTTP port only HTTP/1.1
   * vs h2c is decided; on an unknown port, silence for the sniff timeout means opaque TCP.
   */
  #sniff(stream: ServerHttp2Stream, httpPort: boolean, done: (result: Exclude<SniffResult, 'need-more'>, prefix: Buffer) => void): void {
    let buf: Buffer = Buffer.alloc(0);
    let finished = false;
    const finish = (result: Exclude<SniffResult, 'need-more'>): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      stream.pause();
      done(result, buf);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = sniffProtocol(buf);
      if (r !== 'need-more') finish(r);
      else if (buf.length >= SNIFF_LIMIT) finish('tcp');
    };
    const onEnd = (): void => {
      const r = sniffProtocol(buf);
      finish(r === 'need-more' ? (httpPort ? 'http1' : 'tcp') : r);
    };
    const onClose = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#log.debug('tunnel closed before its protocol was known');
    };
    const timer = setTimeout(() => finish(httpPort ? 'http1' : 'tcp'), this.#opts.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS);
    timer.unref();
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onClose);
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

  #onClientError(err: Error & { code?: string }, socket: Socket): void {
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

  /**
   * Draining: inner HTTP/1.1 connections close after their current response (idle ones now),
   * inner h2c sessions get GOAWAY, so the tunnels under them can finish.
   */
  drain(): void {
    this.#draining = true;
    this.#http1.closeIdleConnections();
    for (const s of this.#h2Sessions) if (!s.closed) s.close();
  }

  close(): void {
    for (const s of this.#h2Sessions) s.destroy();
    this.#http1.closeAllConnections();
    // Stops the head-timeout checker (the server itself never listened).
    this.#http1.close();
  }
}

/** `reg-name`, IPv4 or bracketed IPv6, and an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). */
const HOST_RE = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

/**
 * What RFC 9112 requires a server to refuse, and what Node's parser lets through: exactly one
 * valid Host (§3.2), an HTTP/1 version, an origin-form or absolute-form target. An absolute-form
 * target is rewritten to origin form with its authority as the Host, as Envoy does (§3.2.2).
 */
function requestProblem(req: IncomingMessage): { status: number; reason: string } | undefined {
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
