/**
 * The workload key and its certificate signing request, in ztunnel's shape: EC P-256, SHA-256,
 * an empty subject and the SPIFFE id as the only, critical, URI SAN. istiod issues the identity
 * its token proves whatever the CSR says, but checks the CSR's signature.
 */
import { webcrypto } from 'node:crypto';
import { EC_P256_SHA256, loadX509 } from './x509.js';

export interface KeyAndCsr {
  /** PKCS#8 PEM of the new private key. */
  keyPem: string;
  /** PKCS#10 PEM. */
  csrPem: string;
}

export async function createKeyAndCsr(spiffe: string): Promise<KeyAndCsr> {
  const x509 = await loadX509();
  const keys = await webcrypto.subtle.generateKey(EC_P256_SHA256, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: EC_P256_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffe }], true)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

