/**
 * Stand-in TLS material for the time before the CA's first answer: a throwaway self-signed
 * certificate without a SPIFFE id, so the TLS objects can be built. The HBONE listener does not
 * open until a real certificate is installed, so no peer ever sees it.
 */
import { webcrypto } from 'node:crypto';
import type { TlsMaterial } from '../tls-source.js';
import { EC_P256_SHA256, loadX509 } from './x509.js';

export async function placeholderMaterial(): Promise<TlsMaterial> {
  const x509 = await loadX509();
  const keys = await webcrypto.subtle.generateKey(EC_P256_SHA256, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=waypoint without a certificate yet',
    keys,
    signingAlgorithm: EC_P256_SHA256,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now),
  });
  const pem = cert.toString('pem');
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certChainPem: `${pem}\n`, keyPem, rootCertPem: `${pem}\n`, identity: undefined, notAfter: new Date(now) };
}
