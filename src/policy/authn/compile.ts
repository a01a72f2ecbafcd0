/**
 * `jwtRules` of a RequestAuthentication compiled into `JwtRule`s (where the token is read, what is
 * checked, what is forwarded). Which RequestAuthentications apply where is decided with the
 * AuthorizationPolicy attachment rules in `src/policy/compile.ts`.
 */
import { jwksTimeoutMs, type RequestAuthenticationDoc } from '../schema.js';
import { tokenLocations } from './extract.js';
import type { JwtRule } from './types.js';

/** Istio's default `jwtRules[].timeout`. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5000;

type JwtRuleSpec = NonNullable<NonNullable<NonNullable<RequestAuthenticationDoc['spec']>['jwtRules']>[number]>;

export function compileJwtRule(id: string, spec: JwtRuleSpec): JwtRule {
  const jwks = spec.jwks ?? '';
  const uri = spec.jwksUri ?? '';
  return Object.freeze({
    id,
    issuer: spec.issuer ?? '',
    audiences: Object.freeze([...(spec.audiences ?? [])]),
    jwks: jwks === '' ? undefined : jwks,
    jwksUri: jwks === '' && uri !== '' ? uri : undefined,
    jwksTimeoutMs: jwksTimeoutMs(spec.timeout ?? '') ?? DEFAULT_JWKS_TIMEOUT_MS,
    locations: tokenLocations(spec),
    forwardOriginalToken: spec.forwardOriginalToken ?? false,
    outputPayloadToHeader: (spec.outputPayloadToHeader ?? '') === '' ? undefined : spec.outputPayloadToHeader!.toLowerCase(),
    outputClaimToHeaders: Object.freeze((spec.outputClaimToHeaders ?? []).map((o) => Object.freeze({ header: o.header.toLowerCase(), claim: o.claim }))),
  });
}

/** The rules of one RequestAuthentication, in order. */
export function compileJwtRules(namespace: string, name: string, doc: RequestAuthenticationDoc): JwtRule[] {
  return (doc.spec?.jwtRules ?? []).map((r, i) => compileJwtRule(`${namespace}/${name}#${i}`, r));
}
