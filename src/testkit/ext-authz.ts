/**
 * ext_authz servers for tests and demos, one per wire: `HttpExtAuthzServer` (plain HTTP, as
 * Istio's `envoyExtAuthzHttp` providers are called) and `GrpcExtAuthzServer` (Envoy's
 * `envoy.service.auth.v3.Authorization/Check`). Both record what they were asked and answer per
 * `decide`; the default behaves like Istio's sample ext-authz server: `x-ext-authz: allow` allows
 * (adding `x-ext-authz-check-result: allowed`), anything else denies with 403, that header set to
 * `denied` and a short body; `x-ext-authz-delay-ms: N` delays the answer by N ms.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as GrpcServer, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadExtAuthzService, type CheckRequestMsg, type CheckResponseMsg } from '../l7/ext-authz/proto.js';

/** One check as the server saw it (header names lower case). */
export interface SeenCheck {
  method: string;
  path: string;
  headers: Readonly<Record<string, string>>;
  /** gRPC only: the source principal and address from the attribute context. */
  sourcePrincipal?: string;
  sourceAddress?: string;
}

export interface ExtAuthzAnswer {
  allow: boolean;
  /** Denial status (default 403). */
  status?: number;
  /** Headers of the answer: on allow, for the upstream request (or the client with `downstream`). */
  headers?: Readonly<Record<string, string>>;
  /** gRPC allow: headers for the client's response. */
  downstreamHeaders?: Readonly<Record<string, string>>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
}

export type ExtAuthzDecider = (check: SeenCheck) => ExtAuthzAnswer;

/** Istio's sample ext-authz server's rule (see the module comment). */
export const sampleDecider: ExtAuthzDecider = (check) => {
  const delay = Number(check.headers['x-ext-authz-delay-ms'] ?? 0);
  const delayMs = Number.isFinite(delay) && delay > 0 ? delay : undefined;
  if (check.headers['x-ext-authz'] === 'allow') return { allow: true, headers: { 'x-ext-authz-check-result': 'allowed' }, delayMs };
  return { allow: false, status: 403, headers: { 'x-ext-authz-check-result': 'denied' }, body: 'denied by ext_authz for not found header `x-ext-authz: allow` in the request', delayMs };
};

export interface ExtAuthzServerOptions {
  host: string;
  /** 0 (default): a free port. */
  port?: number;
  decide?: ExtAuthzDecider;
}

const flatten = (headers: IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
};

const later = (ms: number | undefined, fn: () => void): void => {
  if (ms === undefined) fn();
  else setTimeout(fn, ms).unref();
};

export class HttpExtAuthzServer {
  readonly checks: SeenCheck[] = [];
  readonly #server: Server;
  readonly #opts: ExtAuthzServerOptions;

  constructor(opts: ExtAuthzServerOptions) {
    this.#opts = opts;
    const decide = opts.decide ?? sampleDecider;
    this.#server = createServer((req, res) => {
      const check: SeenCheck = { method: req.method ?? '', path: req.url ?? '', headers: flatten(req.headers) };
      this.checks.push(check);
      const answer = decide(check);
      req.resume();
      later(answer.delayMs, () => {
        if (res.destroyed) return;
        const body = answer.allow ? '' : (answer.body ?? '');
        res.writeHead(answer.allow ? 200 : (answer.status ?? 403), { ...answer.headers, ...answer.downstreamHeaders, 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      });
    });
  }

  async listen(): Promise<void> {
    this.#server.listen(this.#opts.port ?? 0, this.#opts.host);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('listening', resolve).once('error', reject);
    });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const headerOptions = (h: Readonly<Record<string, string>> | undefined): Array<{ header: { key: string; value: string } }> =>
  Object.entries(h ?? {}).map(([key, value]) => ({ header: { key, value } }));

/** gRPC code 7 (PERMISSION_DENIED) for a denial, as Envoy's own authorizers answer. */
const PERMISSION_DENIED = 7;

export class GrpcExtAuthzServer {
  readonly checks: SeenCheck[] = [];
  readonly #server = new GrpcServer();
  readonly #opts: ExtAuthzServerOptions;
  #port = 0;

  constructor(opts: ExtAuthzServerOptions) {
    this.#opts = opts;
  }

  async listen(): Promise<void> {
    const decide = this.#opts.decide ?? sampleDecider;
    const service = await loadExtAuthzService();
    this.#server.addService(service.service, {
      check: (call: ServerUnaryCall<CheckRequestMsg, CheckResponseMsg>, cb: sendUnaryData<CheckResponseMsg>) => {
        const a = call.request.attributes;
        const http = a.request.http;
        const check: SeenCheck = { method: http.method, path: http.path, headers: http.headers, sourcePrincipal: a.source.principal, sourceAddress: a.source.address.socketAddress.address };
        this.checks.push(check);
        const answer = decide(check);
        later(answer.delayMs, () =>
          cb(
            null,
            answer.allow
              ? { status: { code: 0 }, okResponse: { headers: headerOptions(answer.headers), responseHeadersToAdd: headerOptions(answer.downstreamHeaders) } }
              : { status: { code: PERMISSION_DENIED }, deniedResponse: { status: { code: answer.status ?? 403 }, headers: headerOptions(answer.headers), body: answer.body ?? '' } },
          ),
        );
      },
    });
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(`${this.#opts.host}:${this.#opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, port) => (err === null ? resolve(port) : reject(err)));
    });
  }

  get port(): number {
    return this.#port;
  }

  close(): Promise<void> {
    this.#server.forceShutdown();
    return Promise.resolve();
  }
}
