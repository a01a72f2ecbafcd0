/**
 * The HTTP ext_authz client (Istio's `envoyExtAuthzHttp`, Envoy's ext_authz `http_service`): the
 * request's method, `pathPrefix` + its path, its Host, `content-length: 0`, the Authorization
 * header and `includeRequestHeadersInCheck`, plus `includeAdditionalHeadersInCheck`. A 200
 * allows; a 5xx or no answer is an error; any other status denies with the authorizer's status,
 * body and headers (`headersToDownstreamOnDeny`, all of them when the list is empty).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Agent } from 'undici';
import type { HttpExtAuthzProvider } from '../../config/mesh-config.js';
import { nameMatcher, NOT_COPIED, type NameMatcher } from './header-match.js';
import type { CheckInput, CheckOutcome, CheckTarget, ExtAuthzClient, HeaderList } from './types.js';

/** Largest authorizer response body kept (the rest is dropped); a denial body is short text. */
export const MAX_AUTHZ_BODY_BYTES = 64 * 1024;

/** Hop-by-hop request headers, never forwarded to the authorizer. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'proxy-connection', 'host', 'content-length']);

/** undici, loaded with the first check: a waypoint without HTTP providers never loads it (idle memory). */
let loading: Promise<typeof import('undici')> | undefined;
const loadUndici = (): Promise<typeof import('undici')> => (loading ??= import('undici'));

export class HttpExtAuthzClient implements ExtAuthzClient {
  readonly #provider: HttpExtAuthzProvider;
  /** Made with the first check. */
  #agent: Agent | undefined;
  #closed = false;
  readonly #sent: NameMatcher;
  readonly #upstream: NameMatcher;
  readonly #downstreamAllow: NameMatcher;
  readonly #downstreamDeny: NameMatcher;

  constructor(provider: HttpExtAuthzProvider) {
    this.#provider = provider;
    this.#sent = nameMatcher(['authorization', ...provider.includeRequestHeadersInCheck]);
    this.#upstream = nameMatcher(provider.headersToUpstreamOnAllow);
    this.#downstreamAllow = nameMatcher(provider.headersToDownstreamOnAllow);
    this.#downstreamDeny = provider.headersToDownstreamOnDeny.length === 0 ? () => true : nameMatcher(provider.headersToDownstreamOnDeny);
  }

  /** The check request's headers: the allowed ones of the request, then the provider's additions. */
  checkHeaders(input: CheckInput): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(input.headers)) {
      if (value === undefined || name.startsWith(':') || HOP_BY_HOP.has(name) || !this.#sent(name)) continue;
      out[name] = Array.isArray(value) ? value.join(',') : value;
    }
    Object.assign(out, this.#provider.includeAdditionalHeadersInCheck);
    out.host = input.host;
    out['content-length'] = '0';
    return out;
  }

  async check(target: CheckTarget, input: CheckInput, timeoutMs: number): Promise<CheckOutcome> {
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const { Agent, request } = await loadUndici();
      if (this.#closed) return { kind: 'error', reason: 'ext_authz client closed' };
      this.#agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 64 });
      const res = await request(`http://${host}:${target.port}${this.#provider.pathPrefix}${input.path}`, {
        method: input.method as 'GET',
        headers: this.checkHeaders(input),
        dispatcher: this.#agent,
        signal,
      });
      const body = await readBounded(res.body);
      const status = res.statusCode;
      if (status >= 500) return { kind: 'error', reason: `authorizer answered ${status}` };
      if (status === 200) {
        return {
          kind: 'allow',
          upstreamHeaders: pick(res.headers, this.#upstream),
          removeUpstreamHeaders: [],
          downstreamHeaders: pick(res.headers, this.#downstreamAllow),
        };
      }
      return { kind: 'deny', status, body, headers: pick(res.headers, this.#downstreamDeny) };
    } catch (err) {
      const e = err as Error;
      return { kind: 'error', reason: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : e.message };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#agent?.close();
  }
}

function pick(headers: IncomingHttpHeaders, wanted: NameMatcher): HeaderList {
  const out: Array<readonly [string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_COPIED.has(name) || !wanted(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, v]);
  }
  return out;
}

/** The body as text, at most `MAX_AUTHZ_BODY_BYTES` of it. */
async function readBounded(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const room = MAX_AUTHZ_BODY_BYTES - size;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    size += Math.min(chunk.length, room);
    if (size >= MAX_AUTHZ_BODY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}
