/**
 * RequestAuthentication as the data path reads it: compiled JWT rules (one per `jwtRules` entry)
 * and the verified token that AuthorizationPolicy evaluates (`requestPrincipals`,
 * `request.auth.*`).
 */

/** Where a token is read from (Envoy jwt_authn `from_headers` / `from_params` / `from_cookies`). */
export type TokenLocation =
  | { readonly kind: 'header'; /** lower case */ readonly name: string; readonly prefix: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

/** One `jwtRules` entry of one RequestAuthentication. */
export interface JwtRule {
  /** `namespace/name#index`, for logs. */
  readonly id: string;
  readonly issuer: string;
  /** Accepted `aud` values; empty means the audience is not checked. */
  readonly audiences: readonly string[];
  /** Inline JWKS (JSON text), when given. */
  readonly jwks: string | undefined;
  /** JWKS URL, when given and no inline JWKS is. */
  readonly jwksUri: string | undefined;
  /** How long a JWKS fetch may take (`timeout`). */
  readonly jwksTimeoutMs: number;
  readonly locations: readonly TokenLocation[];
  readonly forwardOriginalToken: boolean;
  readonly outputPayloadToHeader: string | undefined;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
}

/** A token that passed verification: what AuthorizationPolicy sees. */
export interface VerifiedJwt {
  /** `<iss>/<sub>`. */
  readonly principal: string;
  /** The JWT payload (claims). */
  readonly payload: Readonly<Record<string, unknown>>;
}
