/**
 * RequestAuthentication at the waypoint (Envoy's jwt_authn filter as Istio configures it): the
 * JWT rules that apply to a request's destination read their token locations; no token passes
 * (the request is unauthenticated); a token must verify against one of the rules for its issuer,
 * else the request gets 401. A verified token's settings then edit the headers that go on:
 * `forwardOriginalToken: false` removes the token's header, `outputPayloadToHeader` and
 * `outputClaimToHeaders` add headers. Key sets live as long as the snapshot whose rules name them:
 * a new snapshot keeps those it still names and closes the rest.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import { claimHeaderValue } from '../../policy/authn/claims.js';
import { extractTokens } from '../../policy/authn/extract.js';
import type { JwtRule, TokenLocation, VerifiedJwt } from '../../policy/authn/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { Destination } from '../tunnel.js';
import type { KeySource } from './jwks.js';
import type { JwtFailure } from './verify.js';

/** Key sets and verification, with `jose` and undici: loaded once a RequestAuthentication exists. */
interface JwtModules {
  jwks: typeof import('./jwks.js');
  verify: typeof import('./verify.js');
}
let loading: Promise<JwtModules> | undefined;
const loadJwtModules = (): Promise<JwtModules> => (loading ??= Promise.all([import('./jwks.js'), import('./verify.js')]).then(([jwks, verify]) => ({ jwks, verify })));

export interface JwtAuthenticatorOptions {
  logger: Logger;
  /** Registers `waypoint_jwks_fetch_failures_total` here. */
  registry?: Registry | undefined;
  /** HTTP client for `jwksUri` fetches (e.g. an undici Agent trusting more CAs). */
  dispatcher?: Dispatcher | undefined;
  /** JWKS refresh interval (default 5 minutes, Envoy's cache duration). */
  refreshMs?: number | undefined;
  /** An unknown key id refetches the JWKS at most this often (default 5 s). */
  cooldownMs?: number | undefined;
  /** Largest JWKS document accepted (default 1 MiB). */
  maxJwksBytes?: number | undefined;
}

/** What authentication made of a request that carried a token. */
export type JwtCheck =
  | { readonly kind: 'verified'; readonly jwt: VerifiedJwt }
  | { readonly kind: 'denied'; readonly failure: JwtFailure; /** `jwt_authn_access_denied{...}` */ readonly details: string };

export interface JwtAuthentication {
  check: JwtCheck;
  /** The headers to carry on (token removed, output headers added). */
  headers: IncomingHttpHeaders;
}

/** What the authenticator reads of a request. */
export interface AuthnRequest {
  headers: IncomingHttpHeaders;
  /** Path and query. */
  target: string;
}

function sourceKey(rule: JwtRule): string {
  return rule.jwks !== undefined ? `inline:${rule.jwks}` : `uri:${rule.jwksUri ?? ''}#${rule.jwksTimeoutMs}`;
}

export class JwtAuthenticator {
  readonly #opts: JwtAuthenticatorOptions;
  readonly #log: Logger;
  readonly #failures: Counter<'jwks_uri'> | undefined;
  #snapshot: ConfigSnapshot | undefined;
  /** The last snapshot given to `prepare`, applied once the modules are loaded. */
  #wanted: ConfigSnapshot | undefined;
  #modules: JwtModules | undefined;
  #sources = new Map<string, KeySource>();

  constructor(opts: JwtAuthenticatorOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'jwt_authn' });
    this.#failures =
      opts.registry === undefined
        ? undefined
        : new Counter({
            name: 'waypoint_jwks_fetch_failures_total',
            help: 'Failed JWKS fetches for RequestAuthentication jwksUri, by URI (the last keys fetched stay in use)',
            labelNames: ['jwks_uri'],
            registers: [opts.registry],
          });
  }

  /**
   * Makes `snap` current: key sets its rules still name are kept, the others closed, new ones
   * created (remote ones start fetching now).
   */
  prepare(snap: ConfigSnapshot): void {
    if (snap === this.#snapshot) return;
    this.#wanted = snap;
    if (this.#modules === undefined) {
      // Nothing to load for a configuration without RequestAuthentication.
      if ((snap.policies?.authentications.length ?? 0) === 0) return;
      loadJwtModules().then(
        (m) => {
          this.#modules = m;
          if (this.#wanted !== undefined) this.prepare(this.#wanted);
        },
        (err: unknown) => this.#log.error({ err }, 'cannot load the JWT modules'),
      );
      return;
    }
    this.#snapshot = snap;
    const next = new Map<string, KeySource>();
    for (const a of snap.policies?.authentications ?? []) {
      for (const rule of a.rules) {
        const key = sourceKey(rule);
        if (next.has(key)) continue;
        const existing = this.#sources.get(key);
        next.set(key, existing ?? this.#create(rule));
      }
    }
    for (const [key, s] of this.#sources) if (!next.has(key)) s.close();
    this.#sources = next;
  }

  #create(rule: JwtRule): KeySource {
    const { inlineKeySource, RemoteKeySource } = (this.#modules as JwtModules).jwks;
    if (rule.jwks !== undefined) return inlineKeySource(rule.jwks);
    return new RemoteKeySource({
      uri: rule.jwksUri ?? '',
      timeoutMs: rule.jwksTimeoutMs,
      refreshMs: this.#opts.refreshMs ?? 5 * 60_000,
      cooldownMs: this.#opts.cooldownMs ?? 5000,
      maxBytes: this.#opts.maxJwksBytes ?? 1 << 20,
      dispatcher: this.#opts.dispatcher,
      logger: this.#log,
      onFailure: (uri) => this.#failures?.inc({ jwks_uri: uri }),
    });
  }

  readonly #keysOf = (rule: JwtRule): KeySource => {
    const key = sourceKey(rule);
    let s = this.#sources.get(key);
    if (s === undefined) {
      s = this.#create(rule);
      this.#sources.set(key, s);
    }
    return s;
  };

  /** The JWT rules for traffic to `dest` in `snap`. */
  static rulesFor(snap: ConfigSnapshot, dest: Destination): readonly JwtRule[] {
    const p = snap.policies;
    if (p === undefined) return [];
    return dest.kind === 'service' ? p.jwtRulesForService(dest.binding.service.hostname) : p.jwtRulesForWorkload();
  }

  /**
   * Authenticates one request: undefined when no rule applies or the request carries no token
   * (then nothing changes), else a promise of the outcome.
   */
  authenticate(snap: ConfigSnapshot, dest: Destination, req: AuthnRequest): Promise<JwtAuthentication> | undefined {
    const rules = JwtAuthenticator.rulesFor(snap, dest);
    if (rules.length === 0) return undefined;
    const tokens = extractTokens(req, rules);
    if (tokens.length === 0) return undefined;
    const first = tokens[0]!;
    const verify = (m: JwtModules): Promise<JwtAuthentication> => {
      this.#modules = m;
      this.prepare(snap);
      return m.verify.verifyToken(first.token, first.rules, this.#keysOf).then((r): JwtAuthentication => {
        if (!r.ok) return { check: { kind: 'denied', failure: r.failure, details: m.verify.failureDetails(r.failure) }, headers: req.headers };
        return { check: { kind: 'verified', jwt: r.jwt }, headers: forwardedHeaders(req.headers, r.rule, first.token, first.location, r.jwt) };
      });
    };
    return this.#modules !== undefined ? verify(this.#modules) : loadJwtModules().then(verify);
  }

  close(): void {
    for (const s of this.#sources.values()) s.close();
    this.#sources.clear();
    this.#snapshot = undefined;
    this.#wanted = undefined;
  }
}

/** The request headers after a verified token: token header removed unless forwarded, outputs set. */
export function forwardedHeaders(headers: IncomingHttpHeaders, rule: JwtRule, token: string, location: TokenLocation, jwt: VerifiedJwt): IncomingHttpHeaders {
  const strip = !rule.forwardOriginalToken && location.kind === 'header';
  if (!strip && rule.outputPayloadToHeader === undefined && rule.outputClaimToHeaders.length === 0) return headers;
  const out: IncomingHttpHeaders = { ...headers };
  if (strip) delete out[location.name];
  if (rule.outputPayloadToHeader !== undefined) out[rule.outputPayloadToHeader] = token.split('.')[1] ?? '';
  for (const { header, claim } of rule.outputClaimToHeaders) {
    const v = claimHeaderValue(jwt.payload, claim);
    if (v !== undefined) out[header] = v;
  }
  return out;
}
