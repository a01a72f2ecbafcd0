/**
 * Verifies one token against the JWT rules that read it, with `jose`: the issuer picks the rule,
 * then signature (RS256/384/512, PS256, ES256/384, EdDSA), `exp`/`nbf` with Envoy jwt_authn's
 * 60 s clock skew, and the audiences. Failures carry Envoy's status messages, which become the
 * 401 body and the access log's `jwt_authn_access_denied{...}` details.
 */
import { decodeJwt, errors, jwtVerify } from 'jose';
import { requestPrincipal } from '../../policy/authn/claims.js';
import type { JwtRule, VerifiedJwt } from '../../policy/authn/types.js';
import { JwksUnavailable, type KeySource } from './jwks.js';

export const ALGORITHMS: readonly string[] = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA', 'Ed25519']);
/** Envoy jwt_authn's default `clock_skew_seconds`. */
export const CLOCK_SKEW_SECONDS = 60;

/** Envoy's (jwt_verify_lib) status messages for the failures this waypoint reports. */
export const JWT_FAILURES = {
  badFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  unknownIssuer: 'Jwt issuer is not configured',
  expired: 'Jwt is expired',
  notYetValid: 'Jwt not yet valid',
  audience: 'Audiences in Jwt are not allowed',
  noKey: "Jwks doesn't have key to match kid or alg from Jwt",
  badAlg: 'Jwt header [alg] is not supported',
  verification: 'Jwt verification fails',
  fetch: 'Jwks remote fetch is failed',
} as const;
export type JwtFailure = (typeof JWT_FAILURES)[keyof typeof JWT_FAILURES];

export type VerifyResult = { ok: true; jwt: VerifiedJwt; rule: JwtRule } | { ok: false; failure: JwtFailure };

/** Envoy's failure for an error thrown by `jose` (or by a key source). */
export function failureOf(err: unknown): JwtFailure {
  if (err instanceof errors.JWTExpired) return JWT_FAILURES.expired;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return JWT_FAILURES.notYetValid;
    if (err.claim === 'aud') return JWT_FAILURES.audience;
    if (err.claim === 'iss') return JWT_FAILURES.unknownIssuer;
    return JWT_FAILURES.verification;
  }
  if (err instanceof errors.JWKSNoMatchingKey) return JWT_FAILURES.noKey;
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return JWT_FAILURES.badAlg;
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return JWT_FAILURES.badFormat;
  if (err instanceof JwksUnavailable) return JWT_FAILURES.fetch;
  return JWT_FAILURES.verification;
}

/** `jwt_authn_access_denied{Jwt_is_expired}`: Envoy's response code details for a failure. */
export function failureDetails(f: JwtFailure): string {
  return `jwt_authn_access_denied{${f.replaceAll(' ', '_')}}`;
}

/**
 * Verifies `token` with the first of `rules` whose issuer is the token's (an empty rule issuer
 * accepts any); the keys of a rule come from `keysOf`.
 */
export async function verifyToken(token: string, rules: readonly JwtRule[], keysOf: (rule: JwtRule) => KeySource): Promise<VerifyResult> {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch (err) {
    return { ok: false, failure: err instanceof errors.JWTInvalid ? JWT_FAILURES.badFormat : failureOf(err) };
  }
  const candidates = rules.filter((r) => r.issuer === '' || r.issuer === iss);
  if (candidates.length === 0) return { ok: false, failure: JWT_FAILURES.unknownIssuer };
  let failure: JwtFailure = JWT_FAILURES.verification;
  for (const rule of candidates) {
    try {
      const { payload } = await jwtVerify(token, keysOf(rule).getKey, {
        algorithms: [...ALGORITHMS],
        clockTolerance: CLOCK_SKEW_SECONDS,
        ...(rule.issuer === '' ? {} : { issuer: rule.issuer }),
        ...(rule.audiences.length === 0 ? {} : { audience: [...rule.audiences] }),
      });
      const claims = payload as Readonly<Record<string, unknown>>;
      return { ok: true, rule, jwt: Object.freeze({ principal: requestPrincipal(claims), payload: claims }) };
    } catch (err) {
      failure = failureOf(err);
    }
  }
  return { ok: false, failure };
}
