/**
 * The gRPC ext_authz client (Istio's `envoyExtAuthzGrpc`): Envoy's
 * `envoy.service.auth.v3.Authorization/Check` over plaintext HTTP/2. Status code 0 allows (with
 * the OK response's upstream and downstream headers); any other code denies with the denied
 * response's status (403 when absent), headers and body; a failed call is an error.
 */
import type { Client, ServiceError } from '@grpc/grpc-js';
import type { CheckInput, CheckOutcome, CheckTarget, ExtAuthzClient, HeaderList } from './types.js';
import { loadExtAuthzService, type CheckRequestMsg, type CheckResponseMsg, type HeaderValueOptionMsg } from './proto.js';

type CheckFn = (req: CheckRequestMsg, options: { deadline: number }, cb: (err: ServiceError | null, res?: CheckResponseMsg) => void) => void;

/** The gRPC `Check` request for one HTTP request: every header (pseudo ones included), as Envoy sends them. */
export function checkRequest(input: CheckInput): CheckRequestMsg {
  const headers: Record<string, string> = { ':authority': input.host, ':method': input.method, ':path': input.path, ':scheme': input.scheme };
  for (const [name, value] of Object.entries(input.headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const length = Number(input.headers['content-length'] ?? Number.NaN);
  return {
    attributes: {
      source: { address: { socketAddress: { address: input.source.address, portValue: input.source.port } }, principal: input.source.principal },
      destination: { address: { socketAddress: { address: input.destination.address, portValue: input.destination.port } }, principal: '' },
      request: {
        http: {
          id: input.requestId,
          method: input.method,
          headers,
          path: input.path,
          host: input.host,
          scheme: input.scheme,
          protocol: input.protocol,
          size: Number.isInteger(length) && length >= 0 ? length : -1,
        },
      },
    },
  };
}

function headerList(options: readonly HeaderValueOptionMsg[] | undefined): HeaderList {
  const out: Array<readonly [string, string]> = [];
  for (const o of options ?? []) if (o.header?.key) out.push([o.header.key.toLowerCase(), o.header.value]);
  return out;
}

/** The outcome a `Check` answer stands for. */
export function outcomeOf(res: CheckResponseMsg | undefined): CheckOutcome {
  if (res === undefined) return { kind: 'error', reason: 'empty Check response' };
  if ((res.status?.code ?? 0) === 0) {
    const ok = res.okResponse;
    return { kind: 'allow', upstreamHeaders: headerList(ok?.headers), removeUpstreamHeaders: ok?.headersToRemove ?? [], downstreamHeaders: headerList(ok?.responseHeadersToAdd) };
  }
  const denied = res.deniedResponse;
  const code = denied?.status?.code ?? 0;
  return { kind: 'deny', status: code >= 200 && code <= 599 ? code : 403, body: denied?.body ?? '', headers: headerList(denied?.headers) };
}

export class GrpcExtAuthzClient implements ExtAuthzClient {
  readonly #clients = new Map<string, Client>();

  async #client(target: CheckTarget): Promise<Client> {
    const address = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    let client = this.#clients.get(address);
    if (client === undefined) {
      // gRPC is loaded with the first check, not with the waypoint (idle memory).
      const [Ctor, { credentials }] = await Promise.all([loadExtAuthzService(), import('@grpc/grpc-js')]);
      client = this.#clients.get(address) ?? new Ctor(address, credentials.createInsecure());
      this.#clients.set(address, client);
    }
    return client;
  }

  async check(target: CheckTarget, input: CheckInput, timeoutMs: number): Promise<CheckOutcome> {
    try {
      const client = await this.#client(target);
      const check = (client as unknown as { check: CheckFn }).check.bind(client);
      return await new Promise<CheckOutcome>((resolve) => {
        check(checkRequest(input), { deadline: Date.now() + timeoutMs }, (err, res) => {
          resolve(err !== null ? { kind: 'error', reason: err.details || err.message } : outcomeOf(res));
        });
      });
    } catch (err) {
      return { kind: 'error', reason: (err as Error).message };
    }
  }

  close(): Promise<void> {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    return Promise.resolve();
  }
}
