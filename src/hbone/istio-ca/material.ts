/**
 * The CA's answer turned into the waypoint's TLS material, after the checks that keep a bad
 * answer from replacing a good certificate: the chain parses, the leaf holds our key, it is valid
 * now and names a SPIFFE identity.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { uriSansFromSubjectAltName } from '../spiffe.js';
import type { TlsMaterial } from '../tls-source.js';

export interface IssuedCertificate {
  material: TlsMaterial;
  notBefore: Date;
  /** The leaf's serial number, hex. */
  serial: string;
  /** Things worth a log line that do not make the certificate unusable. */
  warnings: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every PEM certificate in the entries, in order (an entry may hold several). */
export function splitPemCertificates(entries: readonly string[]): string[] {
  return entries.flatMap((e) => e.match(PEM_CERT) ?? []).map((pem) => `${pem}\n`);
}

/**
 * `certChain` is the response's `cert_chain`: the leaf first, the root last. The served chain is
 * the leaf and any intermediates; the trust bundle for peers is `rootBundlePem` (`--ca-root`).
 */
export function issuedCertificate(certChain: readonly string[], keyPem: string, rootBundlePem: string, nowMs: number): IssuedCertificate {
  const pems = splitPemCertificates(certChain);
  if (pems.length === 0) throw new Error('the CA answered with no certificate');
  let certs: X509Certificate[];
  try {
    certs = pems.map((p) => new X509Certificate(p));
  } catch (err) {
    throw new Error(`the CA answered with a certificate that does not parse: ${(err as Error).message}`, { cause: err });
  }
  const leaf = certs[0] as X509Certificate;
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the certificate from the CA is not for the key this waypoint sent');
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (nowMs >= notAfter.getTime()) throw new Error(`the certificate from the CA expired at ${notAfter.toISOString()}`);
  // X.509 times have whole seconds: a certificate issued this instant may start up to 1 s "late".
  if (nowMs + 1_000 < notBefore.getTime()) throw new Error(`the certificate from the CA is not valid before ${notBefore.toISOString()} (clock skew?)`);
  const identity = uriSansFromSubjectAltName(leaf.subjectAltName).find((u) => u.startsWith('spiffe://'));
  if (identity === undefined) throw new Error('the certificate from the CA has no SPIFFE URI SAN');
  const served = pems.length > 1 ? pems.slice(0, -1) : pems;
  const warnings: string[] = [];
  const root = certs.length > 1 ? (certs[certs.length - 1] as X509Certificate) : undefined;
  if (root !== undefined && !bundleHolds(rootBundlePem, root)) warnings.push(`the CA's root (${root.subject.replace(/\n/g, ', ')}) is not in the --ca-root bundle`);
  return {
    material: { certChainPem: served.join(''), keyPem, rootCertPem: rootBundlePem, identity, notAfter },
    notBefore,
    serial: leaf.serialNumber,
    warnings,
  };
}

function bundleHolds(bundlePem: string, cert: X509Certificate): boolean {
  for (const pem of bundlePem.match(PEM_CERT) ?? []) {
    try {
      if (new X509Certificate(pem).fingerprint256 === cert.fingerprint256) return true;
    } catch {
      // A broken entry in the bundle is not ours to judge here.
    }
  }
  return false;
}
