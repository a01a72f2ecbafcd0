import http2, { type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { parseAuthority, type Authority } from './authority.js';
import { KeepaliveMonitor } from './keepalive.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import {
  MAX_FRAME_SIZE,
  MAX_HEADER_LIST_SIZE,
  MAX_SESSION_MEMORY_MB,
  PREMATURE_RESET_MIN_LIFETIME_MS,
  PREMATURE_RESET_TOTAL_STREAMS,
  TLS_CIPHERS,
  TLS_ECDH_CURVES,
} from './settings.js';
import { parseBaggage, parseForwardedFor, type ForwardedFor } from './forwarded.js';
import { closedLocally, closeLocally } from './stream-socket.js';
import { inTrustDomain, uriSansFromSubjectAltName } from './spiffe.js';
import { validityProblem, type TlsMaterial, type TlsSource } from './tls-source.js';

/** How long a session aborted for rapid reset lingers after its GOAWAY before the socket is destroyed. */
const RAPID_RESET_LINGER_MS = 500;

/** Who is at the other end of an HBONE session. */
export interface PeerInfo {
  /** The client certificate's SPIFFE id: the source workload's identity. */
  identity: string;
  address: string;
  port: number;
  localAddress: string;
  localPort: number;
  /** Per CONNECT: the source workload's address as ztunnel saw it (`forwarded: for="<ip:port>"`). */
  forwardedFor?: ForwardedFor | undefined;
  /** Per CONNECT: what ztunnel's `baggage` says about the source workload (`k8s.namespace.name`, …). */
  baggage?: ReadonlyMap<string, string> | undefined;
}

/** The session's peer, with what this CONNECT's `forwarded` and `baggage` headers add. */
export function streamPeer(peer: PeerInfo, headers: IncomingHttpHeaders): PeerInfo {
  if (headers.forwarded === undefined && headers.baggage === undefined) return peer;
  return { ...peer, forwardedFor: parseForwardedFor(headers.forwarded), baggage: parseBaggage(headers.baggage) };
}

/** One CONNECT stream, waiting for a verdict. */
export interface TunnelRequest {
  readonly stream: ServerHttp2Stream;
  readonly authority: Authority;
  readonly authorityText: string;
  readonly headers: IncomingHttpHeaders;
  readonly peer: PeerInfo;
}

/** Decides what to do with a tunnel. Refusals are answered and logged by the server. */
export type TunnelHandler = (req: TunnelRequest) => TunnelVerdict;
export type TunnelVerdict =
  | { ok: true; /** Called after `:status 200` was sent. */ open(stream: ServerHttp2Stream): void }
  | { ok: false; status: number; reason: string };

export interface HboneServerOptions {
  host: string;
  port: number;
  tls: TlsSource;
  /** Accepted client trust domains (URI SAN prefix `spiffe://<td>/`). */
  trustDomains: readonly string[];
  logger: Logger;
  handler: TunnelHandler;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams beyond it are refused (REFUSED_STREAM). */
  maxConcurrentStreams?: number;
  /** Maximum simultaneous HBONE sessions; more are refused after the handshake, with a log line. */
  maxSessions?: number;
  /** PING every this often (default 10 s, `KEEPALIVE_INTERVAL_MS`). */
  keepaliveIntervalMs?: number;
  /** A session whose PING is unanswered this long is dropped (default 20 s, `KEEPALIVE_TIMEOUT_MS`). */
  keepaliveTimeoutMs?: number;
  /** Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindowBytes?: number;
  /** Per-session receive window. */
  connectionWindowBytes?: number;
  /** A session without streams for this long is closed with GOAWAY. */
  sessionIdleTimeoutMs?: number;
  /** A client that has not finished the TLS handshake after this long is dropped (and logged). */
  handshakeTimeoutMs?: number;
}

/** Per-session bookkeeping: open streams and the idle timer that runs while there are none. */
interface SessionState {
  streams: number;
  idle: NodeJS.Timeout | undefined;
  /** Streams closed so far, and how many of them the peer reset prematurely. */
  closedStreams: number;
  prematureResets: number;
  /** Closed for abuse: no more bookkeeping. */
  aborted: boolean;
}

/** Session errors a well-behaved peer does not cause: logged at warn with the reason. */
const HOSTILE_SESSION_ERRORS = new Set(['ERR_HTTP2_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES', 'ERR_HTTP2_INVALID_SETTING_VALUE']);

/**
 * The HBONE listener's TLS and ALPN options besides its certificates (also the reference server of
 * bench/session-memory.ts, so that both hold the same per-connection TLS state).
 */
export const HBONE_SERVER_TLS: http2.SecureServerOptions = {
  requestCert: true,
  // Verified in #onSession instead, so a refused client is logged with its reason (OpenSSL
  // drops it silently otherwise). The chain is still checked against the mesh root.
  rejectUnauthorized: false,
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: TLS_CIPHERS,
  ecdhCurve: TLS_ECDH_CURVES,
  ALPNProtocols: ['h2'],
  allowHTTP1: false,
};

function tlsOptions(m: TlsMaterial) {
  return {
    cert: m.certChainPem,
    key: m.keyPem,
    ca: m.rootCertPem,
  };
}

/**
 * connect_terminate: the waypoint's HBONE listener. mTLS 1.3 with ALPN h2, a client certificate
 * from the mesh root and trust domain, and one HTTP/2 CONNECT stream per tunnelled connection.
 */
export class HboneServer {
  readonly #opts: HboneServerOptions;
  readonly #server: Http2SecureServer;
  readonly #peers = new WeakMap<Http2Session, PeerInfo>();
  readonly #sessions = new Set<Http2Session>();
  readonly #state = new WeakMap<Http2Session, SessionState>();
  #streams = 0;
  readonly #keepalive: KeepaliveMonitor;
  readonly #log: Logger;
  #draining = false;

  constructor(opts: HboneServerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ listener: 'connect_terminate' });
    this.#server = http2.createSecureServer({
      ...tlsOptions(opts.tls.current),
      ...HBONE_SERVER_TLS,
      handshakeTimeout: opts.handshakeTimeoutMs ?? DEFAULT_LIMITS.handshakeTimeoutMs,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      settings: {
        maxConcurrentStreams: opts.maxConcurrentStreams ?? DEFAULT_LIMITS.maxStreamsPerSession,
        initialWindowSize: opts.streamWindowBytes ?? DEFAULT_LIMITS.streamWindowBytes,
        maxFrameSize: MAX_FRAME_SIZE,
        maxHeaderListSize: MAX_HEADER_LIST_SIZE,
        enablePush: false,
      },
    });
    this.#keepalive = new KeepaliveMonitor({
      intervalMs: opts.keepaliveIntervalMs,
      timeoutMs: opts.keepaliveTimeoutMs,
      onDead: (s) => {
        this.#log.info({ peer: this.#peers.get(s)?.address }, 'HBONE session dropped: keepalive PING unanswered');
        s.destroy();
      },
    });
    // Never present an expired (or not yet valid) certificate: while the one held cannot be used
    // (the CA down past its expiry), every new connection is closed before the handshake; open
    // sessions are left alone. Readiness says why (src/admin/certificate-readiness.ts).
    let refusing: string | undefined;
    this.#server.prependListener('connection', (socket: Socket) => {
      const problem = validityProblem(opts.tls.current, new Date());
      if (problem !== refusing) {
        if (problem !== undefined) this.#log.error({ reason: problem }, `HBONE handshakes refused: ${problem}`);
        else this.#log.info('HBONE handshakes accepted again: the certificate is valid');
        refusing = problem;
      }
      if (problem !== undefined) socket.destroy();
    });
    this.#server.on('session', (session) => this.#onSession(session));
    this.#server.on('stream', (stream, headers) => this.#onStream(stream, headers));
    this.#server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      this.#log.warn({ peer: socket.remoteAddress, reason: err.code ?? err.message }, `HBONE handshake refused: ${err.message}`);
    });
    this.#server.on('unknownProtocol', (socket: TLSSocket) => {
      this.#log.warn({ peer: socket.remoteAddress, alpn: socket.alpnProtocol }, 'HBONE connection refused: ALPN h2 not negotiated');
      socket.destroy();
    });
    this.#server.on('sessionError', (err: Error) => this.#log.debug({ err: err.message }, 'HBONE session error'));
    opts.tls.on('update', (m: TlsMaterial) => {
      this.#server.setSecureContext({ ...tlsOptions(m), ciphers: TLS_CIPHERS, ecdhCurve: TLS_ECDH_CURVES, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
      this.#log.info({ identity: m.identity, notAfter: m.notAfter }, 'certificate reloaded');
    });
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#server.off('error', onError);
        const a = this.#server.address();
        if (a === null || typeof a === 'string') reject(new Error('HBONE listener has no address'));
        else resolve({ address: a.address, port: a.port });
      });
    });
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** CONNECT streams open now, over every session. */
  get streamCount(): number {
    return this.#streams;
  }

  /** The TLS client's SPIFFE identity, or why it may not use this listener. */
  #peerIdentity(socket: TLSSocket): { identity: string } | { problem: string } {
    if (socket.destroyed) return { problem: 'connection closed during handshake' };
    if (!socket.authorized) return { problem: `client certificate not verified: ${String(socket.authorizationError ?? 'no certificate')}` };
    const uris = uriSansFromSubjectAltName(socket.getPeerCertificate().subjectaltname);
    const spiffe = uris.find((u) => u.startsWith('spiffe://'));
    if (spiffe === undefined) return { problem: 'client certificate has no SPIFFE URI SAN' };
    if (!this.#opts.trustDomains.some((td) => inTrustDomain(spiffe, td))) {
      return { problem: `client identity ${spiffe} is outside trust domain ${this.#opts.trustDomains.join(',')}` };
    }
    return { identity: spiffe };
  }

  #onSession(session: Http2Session): void {
    const socket = session.socket as TLSSocket;
    const who = this.#peerIdentity(socket);
    if ('problem' in who) {
      this.#log.warn({ peer: socket.remoteAddress, reason: who.problem }, `HBONE connection refused: ${who.problem}`);
      session.destroy();
      return;
    }
    const max = this.#opts.maxSessions ?? DEFAULT_LIMITS.maxSessions;
    if (this.#sessions.size >= max) {
      this.#log.warn({ peer: socket.remoteAddress, max }, 'HBONE connection refused: session limit reached');
      session.destroy();
      return;
    }
    this.#peers.set(session, {
      identity: who.identity,
      address: normaliseAddress(socket.remoteAddress),
      port: socket.remotePort ?? 0,
      localAddress: normaliseAddress(socket.localAddress),
      localPort: socket.localPort ?? 0,
    });
    this.#sessions.add(session);
    const state: SessionState = { streams: 0, idle: undefined, closedStreams: 0, prematureResets: 0, aborted: false };
    this.#state.set(session, state);
    this.#armIdle(session, state);
    // 'close' comes once: a plain listener costs less than a once() wrapper, per session.
    session.on('close', () => {
      this.#sessions.delete(session);
      if (state.idle !== undefined) clearTimeout(state.idle);
    });
    session.on('error', (err: Error & { code?: string }) => {
      const peer = this.#peers.get(session);
      if (HOSTILE_SESSION_ERRORS.has(err.code ?? '')) {
        this.#log.warn({ peer: peer?.address, identity: peer?.identity, reason: err.code, err: err.message }, `HBONE session closed: ${err.message}`);
      } else this.#log.debug({ peer: peer?.address, err: err.message }, 'HBONE session error');
    });
    try {
      session.setLocalWindowSize(this.#opts.connectionWindowBytes ?? DEFAULT_LIMITS.connectionWindowBytes);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'could not raise connection window');
    }
    this.#keepalive.add(session);
    if (this.#draining) session.close();
  }

  /** Envoy's rule: half of the first 500 streams, or half of all streams after those. */
  #tooManyPrematureResets(state: SessionState): boolean {
    const limit = PREMATURE_RESET_TOTAL_STREAMS;
    if (state.closedStreams < limit) return state.prematureResets * 2 >= limit;
    return state.prematureResets * 2 >= state.closedStreams;
  }

  /** Closes the session once it has had no stream for the idle timeout. */
  #armIdle(session: Http2Session, state: SessionState): void {
    const ms = this.#opts.sessionIdleTimeoutMs ?? DEFAULT_LIMITS.sessionIdleTimeoutMs;
    if (ms <= 0) return;
    state.idle = setTimeout(() => {
      state.idle = undefined;
      if (state.streams > 0 || session.closed || session.destroyed) return;
      this.#log.info({ peer: this.#peers.get(session)?.address, idleMs: ms }, 'HBONE session closed: idle');
      session.close();
    }, ms);
    state.idle.unref();
  }

  /** Shared by every stream (no closure per stream). */
  readonly #onStreamError = (err: Error): void => this.#log.debug({ err: err.message }, 'HBONE stream error');

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', this.#onStreamError);
    const session = stream.session as Http2Session;
    const peer = this.#peers.get(session);
    const state = this.#state.get(session);
    if (peer === undefined || state === undefined) {
      closeLocally(stream, http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    state.streams++;
    this.#streams++;
    if (state.idle !== undefined) {
      clearTimeout(state.idle);
      state.idle = undefined;
    }
    const opened = Date.now();
    // 'close' comes once (a plain listener: no once() wrapper per stream). `stream.aborted`: the
    // stream closed while our side was still open (a reset, not a finished exchange).
    stream.on('close', () => {
      this.#streams--;
      state.streams--;
      state.closedStreams++;
      const code = stream.rstCode;
      // Premature: reset by the peer (not by us) with an error code, before our side ended, within
      // the minimum lifetime. RST_STREAM(NO_ERROR) is HBONE's clean close and never counts.
      const premature = stream.aborted && code !== undefined && code !== http2.constants.NGHTTP2_NO_ERROR && !closedLocally(stream) && Date.now() - opened < PREMATURE_RESET_MIN_LIFETIME_MS;
      if (premature) {
        state.prematureResets++;
        if (!state.aborted && this.#tooManyPrematureResets(state)) {
          state.aborted = true;
          this.#log.warn(
            { peer: peer.address, identity: peer.identity, reason: 'too_many_premature_resets', streams: state.closedStreams, resets: state.prematureResets },
            'HBONE session closed: too many streams reset by the peer (rapid reset)',
          );
          // Send GOAWAY, then give it time to leave before the socket goes: destroying at once
          // while the peer still floods makes the kernel answer with a reset that can overtake
          // the GOAWAY, and the peer never learns why.
          session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
          session.close();
          setTimeout(() => {
            if (!session.destroyed) session.destroy();
          }, RAPID_RESET_LINGER_MS).unref();
          return;
        }
      }
      if (state.streams === 0 && !session.closed && !state.aborted) this.#armIdle(session, state);
    });
    const method = headers[':method'];
    const authorityText = headers[':authority'];
    const refuse = (status: number, reason: string): void => {
      this.#log.warn({ peer: peer.address, identity: peer.identity, authority: authorityText, method, status, reason }, `CONNECT refused: ${reason}`);
      if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': status }, { endStream: true });
    };
    if (method !== 'CONNECT') {
      refuse(405, `method ${String(method)} is not CONNECT`);
      return;
    }
    if (headers[':path'] !== undefined || headers[':scheme'] !== undefined || headers[':protocol'] !== undefined) {
      refuse(400, 'CONNECT with :path/:scheme/:protocol (extended CONNECT) is not HBONE');
      return;
    }
    if (this.#draining) {
      refuse(503, 'waypoint is draining');
      return;
    }
    const parsed = parseAuthority(typeof authorityText === 'string' ? authorityText : undefined);
    if (!parsed.ok) {
      refuse(400, parsed.reason);
      return;
    }
    let verdict: TunnelVerdict;
    try {
      verdict = this.#opts.handler({ stream, authority: parsed.authority, authorityText: authorityText as string, headers, peer: streamPeer(peer, headers) });
    } catch (err) {
      this.#log.error({ err }, 'tunnel handler failed');
      refuse(500, 'internal error');
      return;
    }
    if (!verdict.ok) {
      refuse(verdict.status, verdict.reason);
      return;
    }
    stream.respond({ ':status': 200 }, { endStream: false });
    verdict.open(stream);
  }

  /** Stops accepting, sends GOAWAY to every session; resolves when all sessions closed or after graceMs. */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    this.#server.close();
    for (const s of this.#sessions) {
      if (!s.closed) s.close();
    }
    if (this.#sessions.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, graceMs);
      const poll = setInterval(() => {
        if (this.#sessions.size === 0) done();
      }, 50);
      function done(): void {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      }
    });
  }

  /** Closes everything now. */
  async close(): Promise<void> {
    this.#draining = true;
    this.#keepalive.close();
    for (const s of this.#sessions) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function normaliseAddress(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
