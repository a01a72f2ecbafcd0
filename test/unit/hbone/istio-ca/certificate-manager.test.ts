import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCa, createTestMesh, type MeshCa, type TestMesh } from '../../../../src/hbone/certs.js';
import type { CaAnswer } from '../../../../src/hbone/istio-ca/ca-client.js';
import { CertificateManager, type CertificateAuthority } from '../../../../src/hbone/istio-ca/certificate-manager.js';
import { signCsr } from '../../../../src/testkit/fake-istio-ca.js';
import { captureLogs, eventually } from '../../../helpers/log-capture.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/waypoint';
let mesh: TestMesh;
let otherCa: MeshCa;

beforeAll(async () => {
  mesh = await createTestMesh();
  otherCa = await createMeshCa({ commonName: 'Another root' });
}, 30_000);

/** A CA in memory: signs with the test mesh CA, or fails as told. */
class MemoryCa implements CertificateAuthority {
  readonly address = 'memory-ca:15012';
  fail: string | undefined;
  lifetimeSeconds = 3600;
  root: string;
  calls: Array<{ validitySeconds: number }> = [];
  answer: ((csr: string) => Promise<string[]>) | undefined;
  constructor(root: string) {
    this.root = root;
  }
  async createCertificate(csrPem: string, validitySeconds: number): Promise<CaAnswer> {
    this.calls.push({ validitySeconds });
    if (this.fail !== undefined) throw new Error(this.fail);
    const certChain = this.answer !== undefined ? await this.answer(csrPem) : (await signCsr(mesh.ca, csrPem, ID, this.lifetimeSeconds)).certChain;
    return { certChain, rootBundlePem: this.root };
  }
  async readRoot(): Promise<string> {
    return this.root;
  }
  close(): void {}
}

const managers: CertificateManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.close();
});

async function start(ca: MemoryCa, extra: { now?: () => number; rootCertPath?: string } = {}): Promise<{ m: CertificateManager; lines: ReturnType<typeof captureLogs>['lines'] }> {
  const { logger, lines } = captureLogs('debug');
  const m = await CertificateManager.start({ identity: ID, ca, ttlSeconds: 3600, logger, random: () => 0.5, ...extra });
  managers.push(m);
  return { m, lines };
}

describe('CertificateManager', () => {
  it('installs the first certificate: ready resolves, the identity is served, nothing is wrong', async () => {
    const ca = new MemoryCa(mesh.ca.certPem);
    const { m, lines } = await start(ca);
    await m.ready;
    expect(m.tls.current.identity).toBe(ID);
    expect(m.tls.current.rootCertPem).toBe(mesh.ca.certPem);
    expect(m.problem()).toBeUndefined();
    expect(ca.calls).toEqual([{ validitySeconds: 3600 }]);
    const issued = lines.find((l) => l.msg === 'certificate issued by the CA');
    expect(issued).toMatchObject({ identity: ID, serial: m.held?.serial });
    // Half of one hour, no jitter with random 0.5, give or take the second it took.
    expect(issued?.renewInMs as number).toBeGreaterThan(1_700_000);
    expect(issued?.renewInMs as number).toBeLessThanOrEqual(1_800_000);
  });

  it('before the first certificate: not ready, with the CA error as the reason; ready once the CA answers', async () => {
    const ca = new MemoryCa(mesh.ca.certPem);
    ca.fail = 'CA memory-ca:15012: UNAVAILABLE connect ECONNREFUSED';
    const { m, lines } = await start(ca);
    await eventually(() => m.lastError !== undefined, 5_000, 'a failed request');
    expect(m.problem()).toBe('no certificate yet from the CA at memory-ca:15012: CA memory-ca:15012: UNAVAILABLE connect ECONNREFUSED');
    expect(lines.find((l) => l.msg === 'certificate request failed; no certificate yet')).toMatchObject({ attempt: 1, retryInMs: 1_000 });
    ca.fail = undefined;
    await m.renewNow();
    await m.ready;
    expect(m.problem()).toBeUndefined();
  });

  it('a failed renewal keeps the old certificate; past its end the problem says expired and why', async () => {
    const ca = new MemoryCa(mesh.ca.certPem);
    let now = Date.now();
    const { m } = await start(ca, { now: () => now });
    await m.ready;
    const first = m.tls.current;
    ca.fail = 'CA memory-ca:15012: UNAUTHENTICATED token not accepted';
    await m.renewNow();
    expect(m.tls.current).toBe(first);
    expect(m.problem()).toBeUndefined();
    now = first.notAfter.getTime();
    expect(m.problem()).toBe(`certificate expired at ${first.notAfter.toISOString()}; renewal from memory-ca:15012 failing: CA memory-ca:15012: UNAUTHENTICATED token not accepted`);
  });

  it('a renewal installs a new certificate and key', async () => {
    const ca = new MemoryCa(mesh.ca.certPem);
    const { m } = await start(ca);
    await m.ready;
    const first = { serial: m.held?.serial, key: m.tls.current.keyPem };
    const updates: string[] = [];
    m.tls.on('update', (u: { keyPem: string }) => updates.push(u.keyPem));
    await m.renewNow();
    expect(m.held?.serial).not.toBe(first.serial);
    expect(m.tls.current.keyPem).not.toBe(first.key);
    expect(updates).toEqual([m.tls.current.keyPem]);
    expect(m.issued).toBe(2);
  });

  it.each<[string, (csr: string) => Promise<string[]>, RegExp]>([
    ['a certificate for another key', async () => (await mesh.issue('shop', 'waypoint')).certChainPem.split(/(?<=-----END CERTIFICATE-----\n)/), /not for the key/],
    ['an expired certificate', async (csr) => (await signCsr(mesh.ca, csr, ID, 0)).certChain, /expired at/],
    ['no certificate at all', async () => [], /no certificate/],
  ])('refuses %s and keeps serving the old one', async (_name, answer, message) => {
    const ca = new MemoryCa(mesh.ca.certPem);
    const { m } = await start(ca);
    await m.ready;
    const before = m.tls.current;
    ca.answer = answer;
    await m.renewNow();
    expect(m.tls.current).toBe(before);
    expect(m.lastError).toMatch(message);
  });

  it('a changed --ca-root file becomes the HBONE trust bundle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ca-root-'));
    try {
      const path = join(dir, 'root-cert.pem');
      await writeFile(path, mesh.ca.certPem);
      const ca = new MemoryCa(mesh.ca.certPem);
      const { m, lines } = await start(ca, { rootCertPath: path });
      await m.ready;
      const bundle = mesh.ca.certPem + otherCa.certPem;
      ca.root = bundle;
      // Replaced as kubelet does: a new file renamed over the old.
      await writeFile(join(dir, 'new.pem'), bundle);
      await rename(join(dir, 'new.pem'), path);
      await eventually(() => m.tls.current.rootCertPem === bundle, 5_000, 'the new bundle installed');
      expect(m.tls.current.identity).toBe(ID);
      expect(lines.some((l) => l.msg.startsWith('CA root bundle changed'))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('close stops the schedule: no request after it', async () => {
    const ca = new MemoryCa(mesh.ca.certPem);
    ca.fail = 'down';
    const { m } = await start(ca);
    await eventually(() => m.lastError !== undefined, 5_000, 'a failed request');
    m.close();
    const calls = ca.calls.length;
    await m.renewNow();
    expect(ca.calls.length).toBe(calls);
  });
});
