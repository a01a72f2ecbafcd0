/** Signing keys, JWKS documents and tokens for RequestAuthentication tests (all made with jose). */
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface TestSigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(kid: string, alg: string): Promise<TestSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export function jwks(...keys: TestSigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.jwk) };
}

/** A token signed by `key`; `iat` now and `exp` in an hour unless the payload says otherwise. */
export async function token(key: TestSigningKey, payload: JWTPayload, opts: { kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + 3600, ...payload }).setProtectedHeader({ alg: key.alg, kid: opts.kid ?? key.kid, typ: 'JWT' }).sign(key.privateKey);
}
