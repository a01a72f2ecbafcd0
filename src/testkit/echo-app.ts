import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net from 'node:net';
import { H2_PREFACE } from '../l7/listener/sniff.js';

export interface EchoAppOptions {
  /** Loopback address standing in for the pod IP. */
  host: string;
  /** HTTP/1.1 and h2c (prior knowledge) on one port. */
  httpPort: number;
  /** Raw TCP echo port (half-close aware); omit for none. */
  tcpPort?: number;
  pod: string;
  namespace: string;
  /** Who the HBONE peer was for a connection from this remote port (from the fake ztunnel). */
  peerIdentity?: (remotePort: number) => string | undefined;
}

/** What the echo app answers, as JSON. */
export interface EchoReply {
  pod: string;
  namespace: string;
  method: string;
  path: string;
  host: string;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  headers: Record<string, string | string[] | undefined>;
  /** The HBONE identity that reached this pod's ztunnel (the waypoint's). */
  peerIdentity: string;
  bodyBytes: number;
  bodySha256: string;
  /** Index of this request on its TCP connection (1 = first): shows keep-alive reuse. */
  connectionRequest: number;
  connectionId: number;
}

/**
 * An echo workload for tests and the demo. Every HTTP request is answered with JSON describing
 * what arrived. Query options: `status=N` sets the status, `size=N` appends N bytes of filler
 * (`x`) in a `filler` field, `delay=MS` waits before answering, `raw=N` answers N bytes of plain
 * text instead of JSON.
 */
export class EchoApp {
  readonly #opts: EchoAppOptions;
  readonly #http: net.Server;
  readonly #tcp: net.Server | undefined;
  readonly #h1 = http.createServer();
  readonly #h2 = http2.createServer();
  readonly #sockets = new Set<net.Socket>();
  #connections = 0;
  readonly #perConnection = new WeakMap<object, { id: number; count: number }>();

  constructor(opts: EchoAppOptions) {
    this.#opts = opts;
    this.#h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.#answer(req, res, req.socket));
    this.#h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.#answer(req, res, req.stream.session?.socket));
    this.#http = net.createServer({ noDelay: true }, (socket) => {
      this.#track(socket);
      this.#perConnection.set(socket, { id: ++this.#connections, count: 0 });
      socket.once('readable', () => {
        const head = socket.read(Math.min(socket.readableLength, H2_PREFACE.length)) as Buffer | null;
        if (head === null) return;
        socket.unshift(head);
        if (head.length >= 3 && head.subarray(0, 3).toString() === 'PRI') this.#h2.emit('connection', socket);
        else this.#h1.emit('connection', socket);
      });
    });
    if (opts.tcpPort !== undefined) {
      this.#tcp = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        this.#track(socket);
        socket.on('error', () => undefined);
        socket.pipe(socket);
      });
    }
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  async listen(): Promise<void> {
    const listen = (server: net.Server, port: number): Promise<void> =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.#opts.host, () => resolve());
      });
    await listen(this.#http, this.#opts.httpPort);
    if (this.#tcp !== undefined && this.#opts.tcpPort !== undefined) await listen(this.#tcp, this.#opts.tcpPort);
  }

  #answer(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, socket: net.Socket | undefined): void {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://echo');
      const ct = req.headers['content-type'];
      if (typeof ct === 'string' && ct.startsWith('application/grpc')) {
        // A gRPC-shaped answer: one empty message, status in trailers (x-echo-grpc-status picks it).
        const status = String(req.headers['x-echo-grpc-status'] ?? '0');
        res.writeHead(200, { 'content-type': 'application/grpc', 'x-echo-pod': this.#opts.pod });
        res.addTrailers({ 'grpc-status': status, 'grpc-message': status === '0' ? 'OK' : 'echo error' });
        res.end(Buffer.from([0, 0, 0, 0, 0]));
        return;
      }
      const rawSize = url.searchParams.get('raw');
      if (rawSize !== null) {
        // A fixed-size plain body (benchmarks): no JSON work on the backend.
        const body = filler(Math.min(Number(rawSize) || 0, 64 * 1024 * 1024));
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-echo-pod': this.#opts.pod });
        res.end(body);
        return;
      }
      const conn = socket === undefined ? undefined : this.#perConnection.get(socket);
      if (conn !== undefined) conn.count++;
      const h2 = req.httpVersionMajor === 2;
      const reply: EchoReply & { filler?: string } = {
        pod: this.#opts.pod,
        namespace: this.#opts.namespace,
        method: req.method ?? '',
        path: req.url ?? '',
        host: String((h2 ? req.headers[':authority'] : req.headers.host) ?? ''),
        protocol: h2 ? 'HTTP/2' : 'HTTP/1.1',
        headers: { ...req.headers },
        peerIdentity: (socket?.remotePort !== undefined ? this.#opts.peerIdentity?.(socket.remotePort) : undefined) ?? '',
        bodyBytes: bytes,
        bodySha256: hash.digest('hex'),
        connectionRequest: conn?.count ?? 0,
        connectionId: conn?.id ?? 0,
      };
      const size = Number(url.searchParams.get('size') ?? 0);
      if (size > 0) reply.filler = 'x'.repeat(Math.min(size, 64 * 1024 * 1024));
      const status = Number(url.searchParams.get('status') ?? 200);
      const body = Buffer.from(JSON.stringify(reply));
      const send = (): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, 'x-echo-pod': this.#opts.pod });
        res.end(body);
      };
      const delay = Number(url.searchParams.get('delay') ?? 0);
      if (delay > 0) setTimeout(send, Math.min(delay, 60_000));
      else send();
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const close = (server: net.Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));
    await Promise.all([close(this.#http), this.#tcp === undefined ? Promise.resolve() : close(this.#tcp)]);
  }
}

const fillers = new Map<number, Buffer>();
/** Cached filler bodies, so a benchmark backend does not allocate per request. */
function filler(n: number): Buffer {
  let b = fillers.get(n);
  if (b === undefined) {
    b = Buffer.alloc(n, 'x');
    if (fillers.size < 16) fillers.set(n, b);
  }
  return b;
}
