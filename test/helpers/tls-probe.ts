import type { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { WorkloadCert } from '../../src/hbone/certs.js';

/** The certificate an HBONE listener presents to a new handshake (mTLS with `client`, h2, bounded). */
export function presentedCertificate(host: string, port: number, client: Pick<WorkloadCert, 'certChainPem' | 'keyPem' | 'rootCertPem'>): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, cert: client.certChainPem, key: client.keyPem, ca: client.rootCertPem, ALPNProtocols: ['h2'], rejectUnauthorized: false, timeout: 5000 });
    s.once('secureConnect', () => {
      const cert = s.getPeerX509Certificate();
      s.destroy();
      if (cert === undefined) reject(new Error('no certificate presented'));
      else resolve(cert);
    });
    s.once('timeout', () => s.destroy(new Error('TLS handshake timed out')));
    s.once('error', reject);
  });
}
