/**
 * Key sets for JWT verification: an inline `jwks`, or a `jwksUri` fetched over HTTPS with the
 * rule's timeout, kept in memory, refreshed on an interval and when a token names a key id the
 * set does not have. A failed fetch keeps the last good keys, is logged, and counted
 * (`waypoint_jwks_fetch_failures_total`). Verification itself is `jose`'s (verify.ts).
 */
import type { Logger } from 'pino';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { request, type Dispatcher } from 'undici';

/** Where verify.ts gets a token's key. */
export interface KeySource {
  readonly getKey: JWTVerifyGetKey;
  close(): void;
}

/** The JWKS could not be fetched and no earlier copy exists (Envoy: `Jwks remote fetch is failed`). */
export class JwksUnavailable extends Error {}

export function inlineKeySource(jwks: string): KeySource {
  const keys = createLocalJWKSet(JSON.parse(jwks) as JSONWebKeySet);
  return { getKey: keys, close: () => undefined };
}

export interface RemoteJwksOptions {
  uri: string;
  timeoutMs: number;
  /** Refetch this often (Envoy's JWKS cache duration defaults to 5 minutes). */
  refreshMs: number;
  /** An unknown key id refetches at most this often. */
  cooldownMs: number;
  /** Largest JWKS document accepted. */
  maxBytes: number;
  /** HTTP client for the fetch (trusted CAs); default: undici's global dispatcher (system CAs). */
  dispatcher?: Dispatcher | undefined;
  logger: Logger;
  onFailure: (uri: string) => void;
}

/** Fetches one JWKS document: bounded size, timeout, 2xx only. */
async function fetchJwks(opts: RemoteJwksOptions): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const res = await request(opts.uri, { method: 'GET', signal, headers: { accept: 'application/json' }, ...(opts.dispatcher === undefined ? {} : { dispatcher: opts.dispatcher }) });
  if (res.statusCode < 200 || res.statusCode > 299) {
    res.body.resume();
    throw new Error(`HTTP status ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > opts.maxBytes) {
      res.body.destroy();
      throw new Error(`JWKS larger than ${opts.maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) throw new Error('not a JSON Web Key Set (no "keys" list)');
  return doc as JSONWebKeySet;
}

export class RemoteKeySource implements KeySource {
  readonly #opts: RemoteJwksOptions;
  #keys: JWTVerifyGetKey | undefined;
  #inFlight: Promise<void> | undefined;
  #lastAttempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: RemoteJwksOptions) {
    this.#opts = opts;
    this.#timer = setInterval(() => void this.refresh(), opts.refreshMs);
    this.#timer.unref();
    void this.refresh();
  }

  get uri(): string {
    return this.#opts.uri;
  }

  /** True once a fetch has succeeded. */
  get hasKeys(): boolean {
    return this.#keys !== undefined;
  }

  /** Fetches now (one fetch at a time); a failure keeps the keys there are. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#inFlight !== undefined) return this.#inFlight;
    this.#lastAttempt = Date.now();
    const log = this.#opts.logger;
    this.#inFlight = fetchJwks(this.#opts)
      .then((doc) => {
        this.#keys = createLocalJWKSet(doc);
        log.debug({ jwksUri: this.#opts.uri, keys: doc.keys.length }, 'JWKS fetched');
      })
      .catch((err: unknown) => {
        this.#opts.onFailure(this.#opts.uri);
        log.warn(
          { jwksUri: this.#opts.uri, err: err instanceof Error ? err.message : String(err), keptKeys: this.#keys !== undefined },
          this.#keys !== undefined ? 'JWKS fetch failed; keeping the last keys fetched' : 'JWKS fetch failed; tokens for this issuer are rejected until it succeeds',
        );
      })
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (this.#keys === undefined) await (this.#inFlight ?? this.refresh());
    const keys = this.#keys;
    if (keys === undefined) throw new JwksUnavailable(`JWKS ${this.#opts.uri} could not be fetched`);
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - this.#lastAttempt < this.#opts.cooldownMs) throw err;
      // A key id the set does not have: the issuer may have rotated its keys.
      await this.refresh();
      return (this.#keys ?? keys)(header, token);
    }
  };

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
