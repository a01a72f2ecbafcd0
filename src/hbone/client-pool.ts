import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { KeepaliveMonitor } from './keepalive.js';
import {
  CLIENT_MAX_STREAMS_PER_SESSION,
  CONNECT_TIMEOUT_MS,
  CONNECTION_WINDOW,
  MAX_FRAME_SIZE,
  MAX_SESSION_MEMORY_MB,
  POOL_IDLE_TIMEOUT_MS,
  STREAM_WINDOW,
  TLS_CIPHERS,
  TLS_ECDH_CURVES,
} from './settings.js';
import { inTrustDomain, uriSansFromSubjectAltName } from './spiffe.js';
import type { TlsSource } from './tls-source.js';

export type HboneConnectErrorCode =
  | 'HBONE_CONNECT_REFUSED' // the peer answered the CONNECT with a status other than 200
  | 'HBONE_CONNECT_FAILED' // TCP, TLS or HTTP/2 failure before the tunnel opened
  | 'HBONE_CONNECT_TIMEOUT'
  | 'HBONE_IDENTITY_MISMATCH' // the peer's certificate is not the identity we expected
  | 'HBONE_POOL_CLOSED';

/** Why an upstream tunnel could not be opened. All of these are Envoy's `UF`. */
export class HboneConnectError extends Error {
  readonly code: HboneConnectErrorCode;
  readonly status: number | undefined;
  /** The peer refused the stream (REFUSED_STREAM): nothing was processed, a retry is safe. */
  readonly refusedStream: boolean;
  constructor(code: HboneConnectErrorCode, message: string, opts?: { status?: number; cause?: unknown; refusedStream?: boolean }) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HboneConnectError';
    this.code = code;
    this.status = opts?.status;
    this.refusedStream = opts?.refusedStream ?? false;
  }
}

export interface HboneTarget {
  /** The destination ztunnel (pod IP) to dial. */
  address: string;
  /** Its HBONE port, normally 15008. */
  port: number;
  /** CONNECT `:authority`, `podIP:targetPort`. */
  authority: string;
  /** The SPIFFE id the destination must present, when known (ztunnel pins it). */
  expectedIdentity?: string | undefined;
  /** Extra CONNECT request headers (e.g. baggage); none by default, as Istio sends. */
  headers?: Readonly<Record<string, string>>;
}

export interface HboneClientPoolOptions {
  tls: TlsSource;
  trustDomains: readonly string[];
  logger: Logger;
  maxStreamsPerSession?: number;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Source address for new sessions (tests that simulate another client pod). */
  localAddress?: string;
  /** PING every this often (default 10 s, `KEEPALIVE_INTERVAL_MS`). */
  keepaliveIntervalMs?: number;
  /** A session whose PING is unanswered this long is dropped (default 20 s, `KEEPALIVE_TIMEOUT_MS`). */
  keepaliveTimeoutMs?: number;
}

interface PooledSession {
  key: string;
  session: ClientHttp2Session;
  ready: Promise<void>;
  connected: boolean;
  usable: boolean;
  /** Streams open or being opened on this session. */
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * connect_originate: pooled HBONE client sessions to destination ztunnels. One TLS 1.3 + HTTP/2
 * session per (address, port, expected identity) carries up to min(100, the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS) tunnels; another session opens when all are full or draining.
 */
export class HboneClientPool {
  readonly #opts: HboneClientPoolOptions;
  readonly #pools = new Map<string, PooledSession[]>();
  /** Last SETTINGS_MAX_CONCURRENT_STREAMS a peer (pool key) announced. */
  readonly #peerLimits = new Map<string, number>();
  readonly #keepalive: KeepaliveMonitor;
  readonly #log: Logger;
  #closed = false;

  constructor(opts: HboneClientPoolOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ listener: 'connect_originate' });
    this.#keepalive = new KeepaliveMonitor({
      intervalMs: opts.keepaliveIntervalMs,
      timeoutMs: opts.keepaliveTimeoutMs,
      onDead: (s) => {
        this.#log.info('upstream HBONE session dropped: keepalive PING unanswered');
        s.destroy();
      },
    });
  }

  /** Sessions open now, for admin views and tests. */
  get sessionCount(): number {
    let n = 0;
    for (const list of this.#pools.values()) n += list.length;
    return n;
  }

  /** Opens one tunnel; resolves once the peer answered `:status 200`. */
  async connect(target: HboneTarget, signal?: AbortSignal): Promise<ClientHttp2Stream> {
    if (this.#closed) throw new HboneConnectError('HBONE_POOL_CLOSED', 'HBONE client pool is closed');
    const entry = this.#acquire(target);
    try {
      await entry.ready;
    } catch (err) {
      this.#release(entry);
      throw err;
    }
    try {
      return await this.#openStream(entry, target, signal);
    } catch (err) {
      // REFUSED_STREAM means the peer did not process the stream: safe to try once more.
      if (!(err instanceof HboneConnectError) || !err.refusedStream) throw err;
      const retry = this.#acquire(target);
      try {
        await retry.ready;
      } catch (e) {
        this.#release(retry);
        throw e;
      }
      return await this.#openStream(retry, target, signal);
    }
  }

  #key(t: HboneTarget): string {
    return `${t.address}|${t.port}|${t.expectedIdentity ?? ''}`;
  }

  #limit(e: PooledSession): number {
    const max = this.#opts.maxStreamsPerSession ?? CLIENT_MAX_STREAMS_PER_SESSION;
    // Until a session has the peer's SETTINGS, assume what its siblings were told.
    const peer = e.connected ? e.session.remoteSettings.maxConcurrentStreams : this.#peerLimits.get(e.key);
    return peer === undefined ? max : Math.min(max, peer);
  }

  #acquire(target: HboneTarget): PooledSession {
    const key = this.#key(target);
    let list = this.#pools.get(key);
    if (list === undefined) {
      list = [];
      this.#pools.set(key, list);
    }
    for (const e of list) {
      if (e.usable && e.active < this.#limit(e)) {
        e.active++;
        if (e.idleTimer !== undefined) {
          clearTimeout(e.idleTimer);
          e.idleTimer = undefined;
        }
        return e;
      }
    }
    const e = this.#dial(key, target);
    e.active++;
    list.push(e);
    return e;
  }

  #release(e: PooledSession): void {
    e.active--;
    if (e.active > 0 || !e.usable) return;
    const idleMs = this.#opts.idleTimeoutMs ?? POOL_IDLE_TIMEOUT_MS;
    e.idleTimer = setTimeout(() => {
      if (e.active === 0) this.#retire(e, true);
    }, idleMs);
    e.idleTimer.unref();
  }

  #retire(e: PooledSession, close: boolean): void {
    e.usable = false;
    const list = this.#pools.get(e.key);
    if (list !== undefined) {
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#pools.delete(e.key);
    }
    if (e.idleTimer !== undefined) clearTimeout(e.idleTimer);
    if (close && !e.session.closed) e.session.close();
  }

  #dial(key: string, target: HboneTarget): PooledSession {
    const m = this.#opts.tls.current;
    const expected = target.expectedIdentity;
    const trustDomains = this.#opts.trustDomains;
    const host = target.address.includes(':') ? `[${target.address}]` : target.address;
    let identityError: HboneConnectError | undefined;
    const session = http2.connect(`https://${host}:${target.port}`, {
      ca: m.rootCertPem,
      cert: m.certChainPem,
      key: m.keyPem,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ciphers: TLS_CIPHERS,
      ecdhCurve: TLS_ECDH_CURVES,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
      // ztunnel ignores DNS SANs and SNI; the identity is the URI SAN.
      servername: '',
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const uris = uriSansFromSubjectAltName(cert.subjectaltname);
        if (expected !== undefined) {
          if (!uris.includes(expected)) {
            identityError = new HboneConnectError(
              'HBONE_IDENTITY_MISMATCH',
              `destination ${target.address}:${target.port} presented ${uris.join(',') || 'no URI SAN'}, expected ${expected}`,
            );
            return identityError;
          }
          return undefined;
        }
        if (!uris.some((u) => trustDomains.some((td) => inTrustDomain(u, td)))) {
          identityError = new HboneConnectError(
            'HBONE_IDENTITY_MISMATCH',
            `destination ${target.address}:${target.port} presented ${uris.join(',') || 'no URI SAN'}, outside trust domain ${trustDomains.join(',')}`,
          );
          return identityError;
        }
        return undefined;
      },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      ...(this.#opts.localAddress === undefined ? {} : { localAddress: this.#opts.localAddress }),
      settings: {
        enablePush: false,
        initialWindowSize: STREAM_WINDOW,
        maxFrameSize: MAX_FRAME_SIZE,
      },
    });
    const entry: PooledSession = { key, session, ready: Promise.resolve(), connected: false, usable: true, active: 0, idleTimer: undefined };
    entry.ready = new Promise<void>((resolve, reject) => {
      const timeoutMs = this.#opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
      const timer = setTimeout(() => {
        fail(new HboneConnectError('HBONE_CONNECT_TIMEOUT', `HBONE connect to ${host}:${target.port} timed out after ${timeoutMs} ms`));
        session.destroy();
      }, timeoutMs);
      const fail = (err: HboneConnectError): void => {
        clearTimeout(timer);
        this.#retire(entry, false);
        reject(err);
      };
      session.once('connect', () => {
        clearTimeout(timer);
        entry.connected = true;
        this.#peerLimits.set(key, session.remoteSettings.maxConcurrentStreams ?? CLIENT_MAX_STREAMS_PER_SESSION);
        try {
          session.setLocalWindowSize(CONNECTION_WINDOW);
        } catch {
          // the session closed under us; the next request will see it
        }
        resolve();
      });
      session.once('error', (err: Error & { code?: string }) => {
        if (!entry.connected) {
          fail(identityError ?? new HboneConnectError('HBONE_CONNECT_FAILED', `HBONE connect to ${host}:${target.port} failed: ${err.code ?? err.message}`, { cause: err }));
        }
      });
    });
    // Avoid unhandled rejections when nobody awaits (every acquirer awaits it).
    entry.ready.catch(() => undefined);
    session.on('error', (err: Error) => this.#log.debug({ err: err.message, peer: target.address }, 'upstream HBONE session error'));
    session.on('goaway', () => {
      entry.usable = false;
      this.#retire(entry, false);
    });
    session.once('close', () => {
      entry.usable = false;
      this.#retire(entry, false);
    });
    this.#keepalive.add(session);
    session.unref();
    return entry;
  }

  #openStream(e: PooledSession, target: HboneTarget, signal?: AbortSignal): Promise<ClientHttp2Stream> {
    return new Promise<ClientHttp2Stream>((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = e.session.request({ ':method': 'CONNECT', ':authority': target.authority, ...target.headers }, { endStream: false, signal });
      } catch (err) {
        this.#release(e);
        reject(new HboneConnectError('HBONE_CONNECT_FAILED', `CONNECT ${target.authority} could not be sent: ${(err as Error).message}`, { cause: err }));
        return;
      }
      let settled = false;
      const timeoutMs = this.#opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
      const timer = setTimeout(() => {
        settle(new HboneConnectError('HBONE_CONNECT_TIMEOUT', `CONNECT ${target.authority} via ${target.address}:${target.port}: no response in ${timeoutMs} ms`));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      const settle = (err: HboneConnectError | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve(stream);
        else reject(err);
      };
      const refused = (): boolean => stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
      stream.once('close', () => {
        this.#release(e);
        settle(new HboneConnectError('HBONE_CONNECT_FAILED', `CONNECT ${target.authority} via ${target.address}:${target.port}: stream closed before a response (code ${stream.rstCode ?? 'none'})`, { refusedStream: refused() }));
      });
      stream.on('error', (err: Error) => {
        settle(new HboneConnectError('HBONE_CONNECT_FAILED', `CONNECT ${target.authority} via ${target.address}:${target.port}: ${err.message}`, { cause: err, refusedStream: refused() }));
      });
      stream.once('response', (headers) => {
        const status = Number(headers[':status']);
        if (status === 200) {
          settle(undefined);
          return;
        }
        settle(new HboneConnectError('HBONE_CONNECT_REFUSED', `CONNECT ${target.authority} via ${target.address}:${target.port} refused with status ${status}`, { status }));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#keepalive.close();
    const all: ClientHttp2Session[] = [];
    for (const list of this.#pools.values()) for (const e of list) all.push(e.session);
    this.#pools.clear();
    await Promise.all(
      all.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.closed || s.destroyed) return resolve();
            const t = setTimeout(() => {
              s.destroy();
              resolve();
            }, 1000);
            s.close(() => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }
}
