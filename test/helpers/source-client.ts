import type { Logger } from 'pino';
import type { TestMesh } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import { TlsSource } from '../../src/hbone/tls-source.js';

/** An HBONE client pool with the identity `ns/sa` issued by the test mesh CA: a source "ztunnel". */
export async function sourceClientPool(ca: TestMesh, namespace: string, serviceAccount: string, logger: Logger): Promise<HboneClientPool> {
  const c = await ca.issue(namespace, serviceAccount);
  return new HboneClientPool({
    tls: new TlsSource({ certChainPem: c.certChainPem, keyPem: c.keyPem, rootCertPem: c.rootCertPem, identity: c.spiffe, notAfter: new Date(Date.now() + 86_400_000) }),
    trustDomains: ['cluster.local'],
    logger,
  });
}
