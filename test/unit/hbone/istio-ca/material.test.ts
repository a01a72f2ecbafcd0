import { beforeAll, describe, expect, it } from 'vitest';
import { createMeshCa, createTestMesh, issueWorkloadCert, type MeshCa, type TestMesh, type WorkloadCert } from '../../../../src/hbone/certs.js';
import { issuedCertificate, splitPemCertificates } from '../../../../src/hbone/istio-ca/material.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';
let mesh: TestMesh;
let otherCa: MeshCa;
let good: WorkloadCert;
let other: WorkloadCert;
let expired: WorkloadCert;
let future: WorkloadCert;
let noSpiffe: WorkloadCert;
const NOW = Date.now();

beforeAll(async () => {
  mesh = await createTestMesh();
  otherCa = await createMeshCa({ commonName: 'Another root' });
  good = await mesh.issue('shop', 'waypoint');
  other = await mesh.issue('shop', 'waypoint');
  expired = await mesh.issue('shop', 'waypoint', { notBefore: new Date(NOW - 7_200_000), notAfter: new Date(NOW - 3_600_000) });
  future = await mesh.issue('shop', 'waypoint', { notBefore: new Date(NOW + 3_600_000), notAfter: new Date(NOW + 7_200_000) });
  noSpiffe = await issueWorkloadCert(mesh.ca, { dnsNames: ['waypoint.shop'] });
}, 30_000);

const leafOf = (c: WorkloadCert): string => splitPemCertificates([c.certChainPem])[0] as string;

describe('issuedCertificate', () => {
  it('serves the leaf without the root and trusts the --ca-root bundle', () => {
    const r = issuedCertificate([leafOf(good), mesh.ca.certPem], good.keyPem, mesh.ca.certPem, NOW);
    expect(r.material.identity).toBe(ID);
    expect(splitPemCertificates([r.material.certChainPem])).toHaveLength(1);
    expect(r.material.rootCertPem).toBe(mesh.ca.certPem);
    expect(r.material.keyPem).toBe(good.keyPem);
    expect(r.serial).toMatch(/^[0-9A-F]+$/);
    expect(r.notBefore.getTime()).toBeLessThan(r.material.notAfter.getTime());
    expect(r.warnings).toEqual([]);
  });

  it('keeps intermediates: leaf + intermediate served, root dropped', () => {
    const r = issuedCertificate([leafOf(good), otherCa.certPem, mesh.ca.certPem], good.keyPem, mesh.ca.certPem, NOW);
    expect(splitPemCertificates([r.material.certChainPem])).toHaveLength(2);
  });

  it('accepts several certificates in one entry', () => {
    const r = issuedCertificate([`${leafOf(good)}${mesh.ca.certPem}`], good.keyPem, mesh.ca.certPem, NOW);
    expect(r.material.identity).toBe(ID);
  });

  it('warns when the chain ends in a root the bundle does not hold', () => {
    const r = issuedCertificate([leafOf(good), otherCa.certPem], good.keyPem, mesh.ca.certPem, NOW);
    expect(r.warnings.join()).toContain('is not in the --ca-root bundle');
  });

  it.each<[string, () => string[], () => string, RegExp]>([
    ['an empty chain', () => [], () => good.keyPem, /no certificate/],
    ['text that is no PEM', () => ['hello'], () => good.keyPem, /no certificate/],
    ['a broken PEM body', () => ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'], () => good.keyPem, /does not parse/],
    ['a certificate for another key', () => [leafOf(other), mesh.ca.certPem], () => good.keyPem, /not for the key/],
    ['an expired certificate', () => [leafOf(expired), mesh.ca.certPem], () => expired.keyPem, /expired at/],
    ['a certificate not valid yet', () => [leafOf(future), mesh.ca.certPem], () => future.keyPem, /not valid before/],
    ['a certificate without a SPIFFE id', () => [leafOf(noSpiffe), mesh.ca.certPem], () => noSpiffe.keyPem, /no SPIFFE URI SAN/],
  ])('refuses %s', (_name, chain, key, message) => {
    expect(() => issuedCertificate(chain(), key(), mesh.ca.certPem, NOW)).toThrow(message);
  });
});
