import net from 'node:net';
import type { Logger } from 'pino';
import type { HboneClientPool } from '../hbone/client-pool.js';
import { StreamSocket } from '../hbone/stream-socket.js';

export interface TunnelOptions {
  /** Local TCP listener, e.g. 127.0.0.1:15080. */
  listen: { host: string; port: number };
  /** The waypoint (or any HBONE server) to dial. */
  to: { host: string; port: number };
  /** CONNECT `:authority`: the destination as an app would dial it (VIP:port or podIP:port). */
  authority: string;
  /** The identity the HBONE server must present (the waypoint's), when known. */
  expectedIdentity?: string | undefined;
  pool: HboneClientPool;
  logger: Logger;
}

/**
 * A local "outbound ztunnel": every TCP connection accepted on `listen` becomes one CONNECT stream
 * over pooled HBONE sessions to `to`, relayed byte for byte with half-close. Lets curl,
 * autocannon or any client send traffic through a waypoint.
 */
export class Tunnel {
  readonly #opts: TunnelOptions;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  address = { host: '', port: 0 };

  constructor(opts: TunnelOptions) {
    this.#opts = opts;
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => this.#accept(c));
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.listen.port, this.#opts.listen.host, () => resolve());
    });
    const a = this.#server.address();
    if (a !== null && typeof a === 'object') this.address = { host: a.address, port: a.port };
    return this.address;
  }

  #accept(client: net.Socket): void {
    this.#sockets.add(client);
    client.once('close', () => this.#sockets.delete(client));
    client.on('error', () => undefined);
    client.pause();
    const { to, authority, expectedIdentity, pool, logger } = this.#opts;
    pool.connect({ address: to.host, port: to.port, authority, expectedIdentity }).then(
      (stream) => {
        if (client.destroyed) {
          stream.close();
          return;
        }
        const up = new StreamSocket(stream, { remoteAddress: to.host, remotePort: to.port, localAddress: client.remoteAddress ?? '', localPort: client.remotePort ?? 0 });
        up.on('error', () => client.destroy());
        client.once('close', () => {
          if (!client.readableEnded) up.destroy();
        });
        up.once('close', () => {
          if (!up.readableEnded) client.destroy();
          else if (client.writableFinished) client.destroy();
          else client.once('finish', () => client.destroy());
        });
        client.pipe(up);
        up.pipe(client);
        client.resume();
      },
      (err: Error) => {
        logger.warn({ err: err.message, authority }, 'tunnel: CONNECT failed');
        client.destroy();
      },
    );
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
