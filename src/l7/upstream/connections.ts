import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import type { Pool } from 'undici';
import type * as UndiciModule from 'undici';
import { formatAuthority } from '../../hbone/authority.js';
import type { HboneClientPool } from '../../hbone/client-pool.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
import { connectDirect, type DirectRoute } from './direct.js';
import { DnsCache } from './dns-cache.js';

/** An endpoint as the upstream side needs it: where to tunnel and whom to expect there. */
export interface UpstreamEndpoint {
  ip: string;
  /** Target port inside the destination pod. */
  port: number;
  /** Pinned SPIFFE id of the destination workload, when the configuration knows it. */
  identity: string | undefined;
  /** Set for a destination outside the mesh: dialled directly, not through an HBONE tunnel. */
  direct?: DirectRoute | undefined;
}

export interface UpstreamConnectionsOptions {
  pool: HboneClientPool;
  /** HBONE port of destination ztunnels (15008). */
  hbonePort: number;
  logger: Logger;
  /** Idle keep-alive for inner HTTP/1.1 connections. */
  keepAliveTimeoutMs?: number;
  /** Inner HTTP/1.1 connections per endpoint at most (default 1024). */
  maxConnectionsPerEndpoint?: number;
  /** Resolves ServiceEntry DNS endpoints (default: the system resolver). */
  dns?: DnsCache | undefined;
}

/**
 * Per HTTP/1.1 pool: the CONNECTs opening a connection for it (a set made on the first one, not
 * on every request), and the attempts waiting on it.
 */
interface Opening {
  connects: Set<AbortController> | undefined;
  waiting: number;
}

/** Settings for inner h2c sessions (one tunnel each); HBONE already carries flow control. */
const INNER_H2_SETTINGS = { enablePush: false, initialWindowSize: 1024 * 1024 };

/**
 * Upstream connections over HBONE tunnels: keep-alive HTTP/1.1 clients (undici) and h2c sessions
 * per endpoint, plus raw tunnels for TCP. Each inner connection is one CONNECT stream on a pooled
 * HBONE session.
 */
export class UpstreamConnections {
  readonly #opts: UpstreamConnectionsOptions;
  readonly #http1 = new Map<string, Pool>();
  readonly #h2c = new Map<string, Promise<ClientHttp2Session>>();
  readonly #dns: DnsCache;
  /** Per HTTP/1.1 pool: the CONNECTs opening a connection for it, and the attempts waiting on it. */
  readonly #opening = new Map<string, Opening>();
  /** The last endpoint keyed: `http1` and `awaitHttp1` are called with the same one per attempt. */
  #lastEp: UpstreamEndpoint | undefined;
  #lastKey = '';
  #closed = false;

  constructor(opts: UpstreamConnectionsOptions) {
    this.#opts = opts;
    this.#dns = opts.dns ?? new DnsCache();
  }

  #key(ep: UpstreamEndpoint): string {
    if (ep === this.#lastEp) return this.#lastKey;
    const d = ep.direct;
    const direct = d === undefined ? '' : `|direct|${d.tls === undefined ? 'tcp' : `tls:${d.tls.sni ?? ''}:${d.tls.caFile ?? ''}:${String(d.tls.insecureSkipVerify)}`}`;
    const key = `${formatAuthority(ep.ip, ep.port)}|${ep.identity ?? ''}${direct}`;
    this.#lastEp = ep;
    this.#lastKey = key;
    return key;
  }

  /** Dials an endpoint outside the mesh (plain TCP or originated TLS); see `direct.ts`. */
  direct(ep: UpstreamEndpoint & { direct: DirectRoute }, signal?: AbortSignal): Promise<Socket> {
    return connectDirect(this.#dns, ep.ip, ep.port, ep.direct, signal);
  }

  /** A socket for an inner protocol client: a direct connection, or a tunnel wrapped as a socket. */
  #open(ep: UpstreamEndpoint, alpn: string, signal?: AbortSignal): Promise<Socket | StreamSocket> {
    const d = ep.direct;
    if (d !== undefined) return this.direct({ ...ep, direct: d.tls === undefined ? d : { ...d, tls: { ...d.tls, alpn: [alpn] } } }, signal);
    return this.tunnel(ep, signal).then((stream) => this.#socketFor(ep, stream));
  }

  /** Opens one raw tunnel to the endpoint (resolves after the CONNECT's 200). */
  tunnel(ep: UpstreamEndpoint, signal?: AbortSignal): Promise<ClientHttp2Stream> {
    return this.#opts.pool.connect(
      { address: ep.ip, port: this.#opts.hbonePort, authority: formatAuthority(ep.ip, ep.port), expectedIdentity: ep.identity },
      signal,
    );
  }

  /** Wraps a tunnel stream as a socket for inner protocol clients. */
  #socketFor(ep: UpstreamEndpoint, stream: ClientHttp2Stream): StreamSocket {
    const s = stream.session?.socket;
    return new StreamSocket(stream, {
      remoteAddress: ep.ip,
      remotePort: ep.port,
      localAddress: s?.localAddress ?? '',
      localPort: s?.localPort ?? 0,
    });
  }

  /**
   * The keep-alive HTTP/1.1 connections to an endpoint: a pool (one request at a time per
   * connection, as HTTP/1.1 without pipelining allows), each connection one tunnel.
   */
  http1(ep: UpstreamEndpoint): Pool | Promise<Pool> {
    const key = this.#key(ep);
    const client = this.#http1.get(key);
    if (client !== undefined && !client.closed && !client.destroyed) return client;
    // undici is loaded on first use: a waypoint that never proxies HTTP/1.1 never pays its memory.
    if (undici === undefined) return loadUndici().then(() => this.http1(ep));
    return this.#newPool(key, ep, undici.Pool);
  }

  #openingFor(key: string): Opening {
    let o = this.#opening.get(key);
    if (o === undefined) {
      o = { connects: undefined, waiting: 0 };
      this.#opening.set(key, o);
    }
    return o;
  }

  /**
   * Marks one attempt as waiting on the endpoint's HTTP/1.1 pool. The returned function ends the
   * wait; with `abandoned` (the attempt timed out or was cancelled before its headers) and no
   * other attempt waiting, the CONNECTs still opening for that pool are cancelled, so a tunnel
   * that is never answered does not outlive the route timeout (undici's connect hook gets no
   * request signal, and undici acts on an abort only once a connection exists).
   */
  awaitHttp1(ep: UpstreamEndpoint): (abandoned: boolean) => void {
    const key = this.#key(ep);
    const o = this.#openingFor(key);
    o.waiting++;
    let done = false;
    return (abandoned) => {
      if (done) return;
      done = true;
      o.waiting--;
      if (abandoned && o.waiting === 0 && o.connects !== undefined) for (const c of o.connects) c.abort(new Error('no request waits for this connection any more'));
      if (o.waiting === 0 && (o.connects?.size ?? 0) === 0 && this.#opening.get(key) === o) this.#opening.delete(key);
    };
  }

  #newPool(key: string, ep: UpstreamEndpoint, PoolClass: typeof Pool): Pool {
    const host = ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip;
    const client = new PoolClass(`http://${host}:${ep.port}`, {
      connections: this.#opts.maxConnectionsPerEndpoint ?? 1024,
      pipelining: 1,
      keepAliveTimeout: this.#opts.keepAliveTimeoutMs ?? 60_000,
      keepAliveMaxTimeout: 600_000,
      // Istio routes have no timeout unless configured (route timeouts arrive with routing).
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: (_opts, cb) => {
        const o = this.#openingFor(key);
        const cancel = new AbortController();
        (o.connects ??= new Set()).add(cancel);
        const settled = (): void => {
          o.connects?.delete(cancel);
          if (o.waiting === 0 && (o.connects?.size ?? 0) === 0 && this.#opening.get(key) === o) this.#opening.delete(key);
        };
        this.#open(ep, 'http/1.1', cancel.signal).then(
          // undici drives any Duplex that behaves like a socket; it types the callback as net.Socket.
          (socket) => {
            settled();
            cb(null, socket as unknown as Socket);
          },
          (err: Error) => {
            settled();
            cb(err, null);
          },
        );
      },
    });
    this.#http1.set(key, client);
    return client;
  }

  /** The h2c session for an endpoint, opened on first use and replaced once it closes or drains. */
  h2c(ep: UpstreamEndpoint): Promise<ClientHttp2Session> {
    const key = this.#key(ep);
    const existing = this.#h2c.get(key);
    if (existing !== undefined) return existing;
    const opening = this.#open(ep, 'h2').then((socket) => {
      const host = ep.ip.includes(':') ? `[${ep.ip}]` : ep.ip;
      const session = http2.connect(`http://${host}:${ep.port}`, {
        createConnection: () => socket,
        settings: INNER_H2_SETTINGS,
      });
      const forget = (): void => {
        if (this.#h2c.get(key) === opening) this.#h2c.delete(key);
      };
      session.on('error', (err: Error) => this.#opts.logger.debug({ err: err.message, upstream: key }, 'inner h2c session error'));
      session.once('goaway', forget);
      session.once('close', forget);
      return session;
    });
    opening.catch(() => {
      if (this.#h2c.get(key) === opening) this.#h2c.delete(key);
    });
    this.#h2c.set(key, opening);
    return opening;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing: Promise<unknown>[] = [];
    for (const c of this.#http1.values()) closing.push(c.destroy().catch(() => undefined));
    for (const p of this.#h2c.values()) {
      closing.push(
        p.then(
          (s) => s.destroy(),
          () => undefined,
        ),
      );
    }
    this.#http1.clear();
    this.#h2c.clear();
    await Promise.all(closing);
  }
}

let undici: typeof UndiciModule | undefined;
let loading: Promise<void> | undefined;
function loadUndici(): Promise<void> {
  loading ??= import('undici').then((m) => {
    undici = m;
  });
  return loading;
}
