import http2, { type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseAuthority } from '../hbone/authority.js';
import { uriSansFromSubjectAltName } from '../hbone/spiffe.js';
import type { TlsMaterial } from '../hbone/tls-source.js';

/** How the fake destination ztunnel answers a CONNECT. */
export type ZtunnelBehaviour =
  | 'forward' // connect to the authority and relay, as ztunnel does
  | 'refuse' // answer 503 (as ztunnel does when the app port is closed)
  | 'deny' // answer 401 (as ztunnel does on an AuthorizationPolicy deny)
  | 'reset' // reset the stream without answering
  | 'hang'; // never answer

export interface FakeZtunnelOptions {
  /** Loopback address standing in for the pod IP. */
  host: string;
  port?: number;
  /** The destination's certificate (the pod's identity) and the mesh root. */
  tls: Pick<TlsMaterial, 'certChainPem' | 'keyPem' | 'rootCertPem'>;
  behaviour?: ZtunnelBehaviour;
  /** SETTINGS_MAX_CONCURRENT_STREAMS to advertise (ztunnel: 200). */
  maxConcurrentStreams?: number;
  /**
   * Tear tunnels down exactly as ztunnel does, for leak checks: a reset from the waypoint
   * (RST_STREAM with an error code) destroys the app connection at once, and the app closing ends
   * the tunnel (half-closes are passed on). Default: lenient, the app connection is destroyed only
   * when the tunnel closes before its input ended, and a failed app connection fails the tunnel.
   */
  strict?: boolean;
}

export interface ConnectRecord {
  authority: string;
  peerIdentity: string;
  peerAddress: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A destination ztunnel for tests and the demo: terminates HBONE (mTLS 1.3, h2, CONNECT), then
 * dials the authority over plain TCP and relays, answering 200 only once that connection is up.
 * It remembers which HBONE peer identity is behind each relayed connection, so an echo app can
 * report who the waypoint was. It counts the tunnels open now and the resets it received, so a test
 * can see that the waypoint released an upstream tunnel.
 */
export class FakeZtunnel {
  readonly #server: Http2SecureServer;
  readonly #opts: FakeZtunnelOptions;
  /** Local port of each relayed app connection → the HBONE peer identity. */
  readonly #peerByPort = new Map<number, string>();
  readonly #tunnels = new Set<ServerHttp2Stream>();
  readonly connects: ConnectRecord[] = [];
  behaviour: ZtunnelBehaviour;
  port = 0;
  /** HBONE sessions accepted so far. */
  sessions = 0;
  /** Tunnels the waypoint reset (RST_STREAM with an error code), so far. */
  resets = 0;

  /** Tunnels open now. */
  get open(): number {
    return this.#tunnels.size;
  }

  constructor(opts: FakeZtunnelOptions) {
    this.#opts = opts;
    this.behaviour = opts.behaviour ?? 'forward';
    this.#server = http2.createSecureServer({
      cert: opts.tls.certChainPem,
      key: opts.tls.keyPem,
      ca: opts.tls.rootCertPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
      settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 200, initialWindowSize: 4 * 1024 * 1024 },
    });
    this.#server.on('session', (s) => {
      this.sessions++;
      try {
        s.setLocalWindowSize(16 * 1024 * 1024);
      } catch {
        // closed already
      }
      s.on('error', () => undefined);
    });
    this.#server.on('stream', (stream, headers) => this.#onStream(stream, headers));
  }

  /** The HBONE peer identity behind an app connection from this local port, if any. */
  peerForLocalPort(port: number): string | undefined {
    return this.#peerByPort.get(port);
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port ?? 15008, this.#opts.host, () => resolve());
    });
    const a = this.#server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    return this.port;
  }

  #onStream(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peerIdentity = uriSansFromSubjectAltName(socket?.getPeerCertificate().subjectaltname)[0] ?? '';
    const authority = headers[':authority'] ?? '';
    this.connects.push({ authority, peerIdentity, peerAddress: socket?.remoteAddress ?? '', headers: { ...headers } });
    if (headers[':method'] !== 'CONNECT') {
      stream.respond({ ':status': 400 }, { endStream: true });
      return;
    }
    const parsed = parseAuthority(authority);
    if (!parsed.ok || parsed.authority.ip !== this.#opts.host) {
      // ztunnel: the authority IP must be the address that was dialled.
      stream.respond({ ':status': 400 }, { endStream: true });
      return;
    }
    switch (this.behaviour) {
      case 'refuse':
        stream.respond({ ':status': 503 }, { endStream: true });
        return;
      case 'deny':
        stream.respond({ ':status': 401 }, { endStream: true });
        return;
      case 'reset':
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      case 'hang':
        // Never answers; a waypoint that gives up cancels the CONNECT (counted as a reset).
        stream.once('close', () => {
          if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) this.resets++;
        });
        return;
      case 'forward':
        break;
    }
    this.#relay(stream, parsed.authority.ip, parsed.authority.port, peerIdentity);
  }

  /** Dials the app and relays; answers 200 once the app connection is up. */
  #relay(stream: ServerHttp2Stream, ip: string, port: number, peerIdentity: string): void {
    const strict = this.#opts.strict === true;
    this.#tunnels.add(stream);
    const app = net.connect({ host: ip, port, localAddress: this.#opts.host, noDelay: true, allowHalfOpen: strict });
    app.on('error', () => {
      if (strict) return; // the 'close' handler below answers
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ':status': 503 }, { endStream: true });
      else stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
    });
    stream.once('close', () => {
      this.#tunnels.delete(stream);
      const reset = stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
      if (reset) this.resets++;
      if (app.destroyed) return;
      if (strict) {
        if (reset) app.destroy();
        else app.end();
      } else if (!stream.readableEnded) app.destroy();
    });
    app.once('connect', () => {
      const local = app.localPort ?? 0;
      this.#peerByPort.set(local, peerIdentity);
      app.once('close', () => this.#peerByPort.delete(local));
      if (stream.destroyed) {
        app.destroy();
        return;
      }
      stream.respond({ ':status': 200 });
      stream.pipe(app);
      app.pipe(stream);
    });
    if (strict) {
      app.once('close', (hadError) => {
        if (stream.destroyed) return;
        if (!stream.headersSent) stream.respond({ ':status': 503 }, { endStream: true });
        else if (hadError) stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
      });
    }
  }

  async close(): Promise<void> {
    for (const s of this.#tunnels) s.destroy();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      // Sessions keep the server open; end them.
      setImmediate(() => this.#server.emit('close'));
    });
  }
}
