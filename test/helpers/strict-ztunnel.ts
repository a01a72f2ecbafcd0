/**
 * A destination ztunnel that tears tunnels down as ztunnel does, for leak checks: when the
 * waypoint resets a tunnel (RST_STREAM), the app connection behind it is destroyed at once; when
 * the app closes, the tunnel ends. It counts open tunnels and the resets it received, so a test
 * can see that the waypoint released an upstream tunnel. (The test kit's FakeZtunnel keeps the
 * app connection open when a reset arrives on a tunnel whose input was still flowing.)
 */
import http2, { type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import { parseAuthority } from '../../src/hbone/authority.js';
import type { WorkloadCert } from '../../src/hbone/certs.js';

export class StrictZtunnel {
  readonly #server: Http2SecureServer;
  readonly #host: string;
  readonly #port: number;
  readonly #streams = new Set<ServerHttp2Stream>();
  /** Tunnels open now. */
  get open(): number {
    return this.#streams.size;
  }
  /** Tunnels the waypoint reset (RST_STREAM with an error code), so far. */
  resets = 0;
  port = 0;

  constructor(opts: { host: string; port: number; tls: WorkloadCert }) {
    this.#host = opts.host;
    this.#port = opts.port;
    this.#server = http2.createSecureServer({
      cert: opts.tls.certChainPem,
      key: opts.tls.keyPem,
      ca: opts.tls.rootCertPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['h2'],
      settings: { maxConcurrentStreams: 200, initialWindowSize: 4 * 1024 * 1024 },
    });
    this.#server.on('session', (s) => s.on('error', () => undefined));
    this.#server.on('stream', (stream, headers) => this.#onStream(stream, headers));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.#host, () => resolve());
    });
    const a = this.#server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    return this.port;
  }

  #onStream(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const parsed = parseAuthority(headers[':authority']);
    if (headers[':method'] !== 'CONNECT' || !parsed.ok || parsed.authority.ip !== this.#host) {
      stream.respond({ ':status': 400 }, { endStream: true });
      return;
    }
    this.#streams.add(stream);
    const app = net.connect({ host: parsed.authority.ip, port: parsed.authority.port, localAddress: this.#host, allowHalfOpen: true });
    app.on('error', () => undefined);
    stream.once('close', () => {
      this.#streams.delete(stream);
      const code = stream.rstCode;
      if (code !== undefined && code !== http2.constants.NGHTTP2_NO_ERROR) {
        this.resets++;
        app.destroy();
      } else if (!app.destroyed) app.end();
    });
    app.once('connect', () => {
      if (stream.destroyed) {
        app.destroy();
        return;
      }
      stream.respond({ ':status': 200 });
      stream.pipe(app);
      app.pipe(stream);
    });
    app.once('close', (hadError) => {
      if (stream.destroyed) return;
      if (!stream.headersSent) stream.respond({ ':status': 503 }, { endStream: true });
      else if (hadError) stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
    });
  }

  async close(): Promise<void> {
    for (const s of this.#streams) s.destroy();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      setImmediate(() => this.#server.emit('close'));
    });
  }
}
