/**
 * `@peculiar/x509` (CSRs, and the test CA's signing), loaded on first use so that a waypoint
 * with certificates from files never loads it. It needs `reflect-metadata` first and a WebCrypto
 * provider.
 */
import { webcrypto } from 'node:crypto';

export type X509Module = typeof import('@peculiar/x509');

let loading: Promise<X509Module> | undefined;

export function loadX509(): Promise<X509Module> {
  loading ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto);
    return x509;
  })();
  return loading;
}

/** The WebCrypto parameters of the workload key: EC P-256 with SHA-256, as ztunnel uses. */
export const EC_P256_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
