import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { Client } from 'undici';
import type { HboneClientPool } from '../hbone/client-pool.js';
import { StreamSocket } from '../hbone/stream-socket.js';

export interface HboneDestination {
  /** The HBONE server (waypoint) to dial. */
  host: string;
  port: number;
  /** CONNECT authority: what the app dialled (VIP:port or podIP:port). */
  authority: string;
  /** Identity the HBONE server must present. */
  expectedIdentity?: string | undefined;
  /** Extra CONNECT headers, such as ztunnel's `forwarded: for="<srcIP:port>"`. */
  connectHeaders?: Readonly<Record<string, string>> | undefined;
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * HTTP clients that speak through HBONE, as an app behind a source ztunnel would: HTTP/1.1
 * (undici, keep-alive) and h2c (prior knowledge), each inner connection one CONNECT stream.
 */
export class HboneHttpClient {
  readonly #pool: HboneClientPool;
  readonly #dest: HboneDestination;
  #client: Client | undefined;
  readonly #sessions: ClientHttp2Session[] = [];
  /** Tunnels opened so far (one per inner connection). */
  tunnelsOpened = 0;

  constructor(pool: HboneClientPool, dest: HboneDestination) {
    this.#pool = pool;
    this.#dest = dest;
  }

  /** Opens a raw tunnel, as a socket. */
  async tunnel(): Promise<StreamSocket> {
    const stream: ClientHttp2Stream = await this.#pool.connect({
      address: this.#dest.host,
      port: this.#dest.port,
      authority: this.#dest.authority,
      expectedIdentity: this.#dest.expectedIdentity,
      ...(this.#dest.connectHeaders !== undefined ? { headers: this.#dest.connectHeaders } : {}),
    });
    this.tunnelsOpened++;
    return new StreamSocket(stream, { remoteAddress: this.#dest.host, remotePort: this.#dest.port, localAddress: '127.0.0.1', localPort: 0 });
  }

  /** The keep-alive HTTP/1.1 client. */
  get http1(): Client {
    if (this.#client === undefined) {
      this.#client = new Client(`http://${this.#dest.authority}`, {
        pipelining: 1,
        connect: (_o, cb) => {
          this.tunnel().then(
            (s) => cb(null, s as unknown as Socket),
            (err: Error) => cb(err, null),
          );
        },
      });
    }
    return this.#client;
  }

  /** One HTTP/1.1 request, body read whole. */
  async request(opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<SimpleResponse> {
    const res = await this.http1.request({
      method: opts.method ?? 'GET',
      path: opts.path ?? '/',
      headers: opts.headers,
      body: opts.body ?? null,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body };
  }

  /** A new h2c session over its own tunnel. */
  async h2c(): Promise<ClientHttp2Session> {
    const socket = await this.tunnel();
    const session = http2.connect(`http://${this.#dest.authority}`, { createConnection: () => socket });
    session.on('error', () => undefined);
    this.#sessions.push(session);
    return session;
  }

  async close(): Promise<void> {
    for (const s of this.#sessions) s.destroy();
    if (this.#client !== undefined) await this.#client.destroy();
  }
}

/** One h2c request on a session, body read whole. */
export function h2Request(
  session: ClientHttp2Session,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<SimpleResponse & { trailers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ':method': opts.method ?? 'GET', ':path': opts.path ?? '/', ...opts.headers },
      { endStream: opts.body === undefined },
    );
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let trailers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    stream.on('trailers', (t: Record<string, string | string[] | undefined>) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, headers, trailers, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    stream.on('close', () => {
      if (status === 0) reject(new Error(`stream closed without a response (code ${stream.rstCode})`));
    });
    if (opts.body !== undefined) stream.end(opts.body);
  });
}
