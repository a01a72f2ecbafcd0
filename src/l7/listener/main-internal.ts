import type { ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { vipKey } from '../../config/address.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { TunnelHandler, TunnelRequest, TunnelVerdict } from '../../hbone/server.js';
import { DEFAULT_LIMITS } from '../../config/limits.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
import type { AccessLog } from '../../metrics/access-log.js';
import type { IstioMetrics } from '../../metrics/istio-metrics.js';
import { chainName, classifyDestination } from './classify.js';
import { handleHttpRequest, type HttpProxyDeps } from '../http/proxy.js';
import type { ExtAuthz } from '../ext-authz/custom.js';
import { handleExtendedConnect, handleUpgrade } from '../http/upgrade.js';
import type { HttpExchangeReport } from '../http/exchange.js';
import { InnerH2cServer } from './inner-h2c.js';
import { InnerHttp1Server } from './inner-http1.js';
import { sniffTunnel } from './tunnel-sniffer.js';
import { relayTcp, type TcpRelayDeps } from '../tcp/relay.js';
import { OpenConnections } from '../open-connections.js';
import { ClusterRegistry } from '../cluster/registry.js';
import type { ClusterAccess } from '../cluster/access.js';
import { sourceOf } from './source.js';
import type { Destination, TunnelContext } from '../tunnel.js';
import type { UpstreamConnections } from '../upstream/connections.js';
import { JwtAuthenticator, type JwtAuthenticatorOptions } from '../authn/authenticator.js';

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
  /** Called once per open connection the policy re-check closes, with the denying policy. */
  recheckClosed?: ((policy: string) => void) | undefined;
  /** ext_authz providers for CUSTOM AuthorizationPolicies (src/l7/ext-authz/custom.ts). */
  extAuthz?: ExtAuthz | undefined;
  /** RequestAuthentication: JWKS client, refresh and metrics registry (default: system CAs, no metrics). */
  jwt?: Omit<JwtAuthenticatorOptions, 'logger'> | undefined;
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

/**
 * main_internal: the in-process listener behind connect_terminate. Classifies each tunnel's
 * destination, decides HTTP or TCP (port protocol, else sniffing), and feeds the tunnel straight
 * into the in-process HTTP/1.1 server (inner-http1.ts) or h2c server (inner-h2c.ts), or the TCP
 * relay. No loopback socket hop.
 */
export class MainInternal {
  readonly #opts: MainInternalOptions;
  readonly #log: Logger;
  readonly #http1: InnerHttp1Server;
  readonly #h2c: InnerH2cServer;
  readonly #tcpDeps: TcpRelayDeps;
  readonly #openConnections: OpenConnections;
  /** RequestAuthentication (JWT) for the HTTP requests; its key sets follow the snapshot. */
  readonly authn: JwtAuthenticator;

  constructor(opts: MainInternalOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ listener: 'main_internal' });
    const clusters = opts.clusters ?? new ClusterRegistry({ random: opts.random });
    const random = opts.random ?? Math.random;
    const bodyBufferLimit = opts.maxRequestBufferBytes ?? DEFAULT_LIMITS.maxRequestBufferBytes;
    this.authn = new JwtAuthenticator({ ...opts.jwt, logger: this.#log });
    const deps: HttpProxyDeps = {
      authn: this.authn,
      snapshot: opts.snapshot,
      decide: { random, bodyBufferLimit },
      forward: { upstreams: opts.upstreams, clusters, random },
      bodyBufferLimit,
      accessLog: opts.accessLog,
      logger: this.#log,
      report: opts.metrics === undefined ? undefined : httpReporter(opts.metrics),
      extAuthz: opts.extAuthz,
    };
    const ignoredOnTcp = (provider: string): boolean => opts.extAuthz?.ignoredOnTcp(provider) === true;
    this.#openConnections = new OpenConnections({ logger: this.#log, closed: opts.recheckClosed });
    this.#tcpDeps = { snapshot: opts.snapshot, upstreams: opts.upstreams, clusters, accessLog: opts.accessLog, logger: this.#log, metrics: opts.metrics, ignoredOnTcp, openConnections: this.#openConnections };
    const maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_LIMITS.maxHeaderBytes;
    const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_LIMITS.idleTimeoutMs;
    const upgradeDeps = { ...deps, idleTimeoutMs, openConnections: this.#openConnections };
    this.#http1 = new InnerHttp1Server({
      logger: this.#log,
      maxHeaderBytes,
      headersTimeoutMs: opts.headersTimeoutMs ?? DEFAULT_LIMITS.headersTimeoutMs,
      idleTimeoutMs,
      onRequest: (ctx, req, res) => handleHttpRequest(deps, ctx, 'http1', req, res),
      onUpgrade: (ctx, req, socket, head) => handleUpgrade(upgradeDeps, ctx, req, socket, head),
    });
    this.#h2c = new InnerH2cServer({
      logger: this.#log,
      maxHeaderBytes,
      idleTimeoutMs,
      onRequest: (ctx, req, res) => handleHttpRequest(deps, ctx, 'h2c', req, res),
      onExtendedConnect: (ctx, req, res) => handleExtendedConnect(upgradeDeps, ctx, req, res),
    });
  }

  /** The connect_terminate handler: decide synchronously, then open. */
  readonly handler: TunnelHandler = (req: TunnelRequest): TunnelVerdict => {
    const cls = classifyDestination(this.#opts.snapshot(), req.authority);
    if (!cls.ok) return { ok: false, status: 404, reason: cls.reason };
    const dest = cls.destination;
    return { ok: true, open: (stream) => this.#open(req, dest, stream) };
  };

  /** Dispatches an opened tunnel: TCP relay, or (after sniffing) one of the inner HTTP servers. */
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
      relayTcp(this.#tcpDeps, ctx, stream);
      return;
    }
    // On an HTTP port silence decides nothing: the tunnel waits for its first byte (holding no
    // socket and no codec) up to the headers timeout, then gets the HTTP/1.1 codec's 408.
    const httpPort = dest.mode === 'http';
    const timeoutMs = httpPort ? (this.#opts.headersTimeoutMs ?? DEFAULT_LIMITS.headersTimeoutMs) : (this.#opts.sniffTimeoutMs ?? DEFAULT_LIMITS.sniffTimeoutMs);
    sniffTunnel(stream, httpPort, timeoutMs, this.#log, (result, prefix) => {
      if (result === 'timeout') {
        ctx.chain = chainName(dest, 'http');
        this.#http1.timedOut(this.#socket(ctx, stream, prefix), ctx);
        return;
      }
      // On an HTTP port anything that is not h2c goes to the HTTP/1.1 codec, which answers 400.
      if (result === 'tcp' && dest.mode === 'sniff') {
        ctx.chain = chainName(dest, 'tcp');
        relayTcp(this.#tcpDeps, ctx, stream, prefix);
        return;
      }
      const socket = this.#socket(ctx, stream, prefix);
      ctx.chain = chainName(dest, 'http');
      if (result === 'h2c') this.#h2c.accept(socket, ctx);
      else this.#http1.accept(socket, ctx);
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
   * The policy re-check of open connections, on a snapshot swap: TCP tunnels and upgraded HTTP
   * connections (WebSocket, RFC 8441) `next` denies are closed and logged (`connection closed by
   * policy re-check`). Other HTTP connections need nothing: each request is authorized on the
   * snapshot current when it starts. Returns the policies that closed connections, one entry each.
   */
  recheckOpenConnections(prev: ConfigSnapshot, next: ConfigSnapshot): string[] {
    return this.#openConnections.recheck(prev, next);
  }

  /**
   * Draining: inner HTTP/1.1 connections close after their current response (idle ones now),
   * inner h2c sessions get GOAWAY, so the tunnels under them can finish.
   */
  drain(): void {
    this.#http1.drain();
    this.#h2c.drain();
  }

  close(): void {
    this.#h2c.close();
    this.#http1.close();
    this.authn.close();
  }
}
