import { createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyAndCsr } from '../../../../src/hbone/istio-ca/csr.js';
import { loadX509 } from '../../../../src/hbone/istio-ca/x509.js';

describe('createKeyAndCsr', () => {
  it("builds ztunnel's CSR: EC P-256, SHA-256, empty subject, one critical URI SAN, signed by the key", async () => {
    const id = 'spiffe://cluster.local/ns/shop/sa/waypoint';
    const { keyPem, csrPem } = await createKeyAndCsr(id);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const x509 = await loadX509();
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('');
    expect(csr.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
    expect(san?.critical).toBe(true);
    expect((san as InstanceType<typeof x509.SubjectAlternativeNameExtension>).names.toJSON()).toEqual([{ type: 'url', value: id }]);
  });

  it('makes a new key every time', async () => {
    const a = await createKeyAndCsr('spiffe://cluster.local/ns/a/sa/b');
    const b = await createKeyAndCsr('spiffe://cluster.local/ns/a/sa/b');
    expect(a.keyPem).not.toBe(b.keyPem);
  });
});
