import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type MeshCa,
  type TestMesh,
  type WorkloadCert,
  createMeshCa,
  createTestMesh,
  issueWorkloadCert,
  readCaDir,
  readCertDir,
  spiffeFromCertPem,
  writeCaDir,
  writeCertDir,
} from '../../../src/hbone/certs.js';
import { parseSpiffeId, uriSansFromSubjectAltName } from '../../../src/hbone/spiffe.js';

const DAY = 24 * 60 * 60 * 1000;
const TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------------------------------------------------------
// helpers

function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function firstCert(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

/** A parsed forge extension, narrowed from forge's untyped `any` to a record. */
function extension(pem: string, name: string): Record<string, unknown> {
  const cert = forge.pki.certificateFromPem(pem);
  const list: unknown[] = cert.extensions;
  for (const e of list) {
    if (typeof e === 'object' && e !== null && 'name' in e && e.name === name) return e;
  }
  throw new Error(`extension ${name} not found`);
}

function hasExtension(pem: string, name: string): boolean {
  const list: unknown[] = forge.pki.certificateFromPem(pem).extensions;
  return list.some((e) => typeof e === 'object' && e !== null && 'name' in e && e.name === name);
}

function errorCode(err: Error): string {
  return 'code' in err && typeof err.code === 'string' ? err.code : err.message;
}

type SideResult =
  | { ok: true; authorized: boolean; authorizationError: string | undefined; peerUris: string[] }
  | { ok: false; code: string };

interface HandshakeResult {
  server: SideResult;
  client: SideResult;
}

/**
 * One TLS 1.3 mutual-TLS handshake on 127.0.0.1: the server requests a client cert and verifies it against
 * `serverTrusts`; the client verifies the server against `clientTrusts` (no hostname check: SPIFFE certs have no
 * DNS SAN). Resolves once both sides have either completed or failed.
 *
 * With `rejectUnauthorized: true` a Node TLS server drops a connection whose client cert fails verification
 * silently (no 'secureConnection', and the verify error is not surfaced), so a server-side rejection shows up here
 * as `{ ok: false, code: 'CLOSED' }` (or the `tlsClientError` code if one is emitted first). Pass
 * `serverRejectUnauthorized: false` to observe the verification error in `authorizationError` instead.
 */
async function handshake(opts: {
  serverCert: WorkloadCert;
  clientCert: WorkloadCert | undefined;
  serverTrusts: string;
  clientTrusts: string;
  serverRejectUnauthorized?: boolean;
}): Promise<HandshakeResult> {
  let serverDone!: (r: SideResult) => void;
  let clientDone!: (r: SideResult) => void;
  const serverResult = new Promise<SideResult>((resolve) => (serverDone = resolve));
  const clientResult = new Promise<SideResult>((resolve) => (clientDone = resolve));

  const server = tls.createServer(
    {
      key: opts.serverCert.keyPem,
      cert: opts.serverCert.certChainPem,
      ca: opts.serverTrusts,
      requestCert: true,
      rejectUnauthorized: opts.serverRejectUnauthorized ?? true,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    },
    (socket) => {
      serverDone({
        ok: true,
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.toString(),
        peerUris: uriSansFromSubjectAltName(socket.getPeerCertificate().subjectaltname),
      });
      socket.on('error', () => undefined);
      socket.end();
    },
  );
  server.on('tlsClientError', (err) => serverDone({ ok: false, code: errorCode(err) }));
  // The raw TCP socket closing before any of the above means the server dropped the handshake.
  server.on('connection', (raw: Socket) => raw.on('close', () => serverDone({ ok: false, code: 'CLOSED' })));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    }),
    TIMEOUT_MS,
    'server listen',
  );
  const { port } = server.address() as AddressInfo;

  const client = tls.connect({
    host: '127.0.0.1',
    port,
    ca: opts.clientTrusts,
    ...(opts.clientCert ? { key: opts.clientCert.keyPem, cert: opts.clientCert.certChainPem } : {}),
    checkServerIdentity: () => undefined,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  });
  client.on('secureConnect', () =>
    clientDone({
      ok: true,
      authorized: client.authorized,
      authorizationError: client.authorizationError?.toString(),
      peerUris: uriSansFromSubjectAltName(client.getPeerCertificate().subjectaltname),
    }),
  );
  client.on('error', (err: Error) => clientDone({ ok: false, code: errorCode(err) }));
  client.on('close', () => clientDone({ ok: false, code: 'CLOSED' }));

  try {
    const [serverSide, clientSide] = await withTimeout(
      Promise.all([serverResult, clientResult]),
      TIMEOUT_MS,
      'both TLS handshake sides',
    );
    return { server: serverSide, client: clientSide };
  } finally {
    client.destroy();
    await withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), TIMEOUT_MS, 'server close');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// fixtures

let mesh: TestMesh;
/** Another mesh with a different trust domain. */
let otherMesh: TestMesh;
/** A CA with the very same subject name as `mesh.ca` but a different key. */
let impostorCa: MeshCa;

beforeAll(async () => {
  [mesh, otherMesh, impostorCa] = await Promise.all([
    createTestMesh(),
    createTestMesh({ trustDomain: 'other.example' }),
    createMeshCa(),
  ]);
});

describe('createMeshCa', () => {
  it('is a self-signed CA with the expected subject and extensions', () => {
    const ca = mesh.ca;
    expect(ca.trustDomain).toBe('cluster.local');
    const x = firstCert(ca.certPem);
    expect(x.ca).toBe(true);
    expect(x.subject).toBe('O=cluster.local\nCN=Waypoint Mesh Root CA');
    expect(x.issuer).toBe(x.subject);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(extension(ca.certPem, 'basicConstraints')).toMatchObject({ critical: true, cA: true });
    expect(extension(ca.certPem, 'keyUsage')).toMatchObject({
      critical: true,
      keyCertSign: true,
      cRLSign: true,
      digitalSignature: false,
    });
    expect(extension(ca.certPem, 'subjectKeyIdentifier')).toHaveProperty('subjectKeyIdentifier');
    expect(ca.keyPem).toMatch(/-----BEGIN PRIVATE KEY-----/);
  });

  it('honours trustDomain, commonName and validDays', async () => {
    const before = Date.now();
    const ca = await createMeshCa({ trustDomain: 'corp.example', commonName: 'Corp Root', validDays: 30 });
    const x = firstCert(ca.certPem);
    expect(x.subject).toBe('O=corp.example\nCN=Corp Root');
    const lifetime = Date.parse(x.validTo) - Date.parse(x.validFrom);
    expect(lifetime).toBe(30 * DAY);
    expect(Date.parse(x.validFrom)).toBeLessThanOrEqual(before);
  });

  it('rejects an invalid trust domain', async () => {
    await expect(createMeshCa({ trustDomain: 'bad/domain' })).rejects.toThrow(/invalid trust domain/);
  });
});

describe('issueWorkloadCert', () => {
  it('issues an Istio-shaped leaf usable for server and client auth', async () => {
    const cert = await mesh.issue('default', 'productpage');
    expect(cert.spiffe).toBe('spiffe://cluster.local/ns/default/sa/productpage');
    expect(cert.rootCertPem).toBe(mesh.ca.certPem);
    const chain = cert.certChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(chain).toHaveLength(2);
    const leafPem = chain[0] ?? '';
    const leaf = firstCert(leafPem);
    const root = firstCert(mesh.ca.certPem);
    expect(firstCert(chain[1] ?? '').fingerprint256).toBe(root.fingerprint256);
    expect(leaf.ca).toBe(false);
    expect(leaf.subject).toBeUndefined(); // empty subject, as Istio issues
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/default/sa/productpage');
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(extension(leafPem, 'basicConstraints')).toMatchObject({ critical: true, cA: false });
    expect(extension(leafPem, 'keyUsage')).toMatchObject({
      critical: true,
      digitalSignature: true,
      keyEncipherment: true,
      keyCertSign: false,
    });
    expect(extension(leafPem, 'extKeyUsage')).toMatchObject({ serverAuth: true, clientAuth: true });
    expect(extension(leafPem, 'subjectAltName')).toMatchObject({ critical: true });
    const aki = extension(leafPem, 'authorityKeyIdentifier');
    const ski = extension(mesh.ca.certPem, 'subjectKeyIdentifier');
    expect(forge.util.bytesToHex(String(aki.value)).toLowerCase()).toContain(String(ski.subjectKeyIdentifier));
    expect(spiffeFromCertPem(cert.certChainPem)).toBe(cert.spiffe);
  });

  it('uses random positive serial numbers', async () => {
    const [a, b] = await Promise.all([mesh.issue('ns', 'a'), mesh.issue('ns', 'b')]);
    const serialA = firstCert(a.certChainPem).serialNumber;
    const serialB = firstCert(b.certChainPem).serialNumber;
    expect(serialA).not.toBe(serialB);
    for (const serial of [serialA, serialB]) {
      expect(serial).toMatch(/^[0-9A-F]{32}$/);
      expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
    }
  });

  it('honours notBefore/notAfter and validDays', async () => {
    const notBefore = new Date('2030-01-02T03:04:05Z');
    const notAfter = new Date('2030-01-03T03:04:05Z');
    const fixed = firstCert((await mesh.issue('ns', 'sa', { notBefore, notAfter })).certChainPem);
    expect(new Date(fixed.validFrom).toISOString()).toBe(notBefore.toISOString());
    expect(new Date(fixed.validTo).toISOString()).toBe(notAfter.toISOString());
    const week = firstCert((await mesh.issue('ns', 'sa', { validDays: 7 })).certChainPem);
    expect(Date.parse(week.validTo) - Date.parse(week.validFrom)).toBe(7 * DAY);
  });

  it('adds DNS and IP SANs after the URI', async () => {
    const cert = await mesh.issue('ns', 'sa', { dnsNames: ['svc.ns.svc'], ipAddresses: ['127.0.0.1', '::1'] });
    expect(firstCert(cert.certChainPem).subjectAltName).toBe(
      'URI:spiffe://cluster.local/ns/ns/sa/sa, DNS:svc.ns.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
  });

  it('can issue certs without a URI SAN or with non-SPIFFE URIs (for negative tests)', async () => {
    const none = await issueWorkloadCert(mesh.ca, {});
    expect(none.spiffe).toBeUndefined();
    const noneX = firstCert(none.certChainPem);
    expect(noneX.subjectAltName).toBeUndefined();
    expect(noneX.subject).toBe('O=cluster.local'); // an empty subject needs a SAN
    expect(hasExtension(none.certChainPem, 'subjectAltName')).toBe(false);

    const odd = await issueWorkloadCert(mesh.ca, { uris: ['https://example.com/x', 'spiffe://a,b/ns/x/sa/y'] });
    expect(odd.spiffe).toBeUndefined();
    const uris = uriSansFromSubjectAltName(firstCert(odd.certChainPem).subjectAltName);
    expect(uris).toEqual(['https://example.com/x', 'spiffe://a,b/ns/x/sa/y']);
    expect(spiffeFromCertPem(odd.certChainPem)).toBeUndefined();
  });

  it.each([
    { name: 'a malformed spiffe option', opts: { spiffe: 'spiffe://cluster.local/ns/a' }, error: /not an Istio SPIFFE/ },
    {
      name: 'notAfter before notBefore',
      opts: { notBefore: new Date('2030-01-02Z'), notAfter: new Date('2030-01-01Z') },
      error: /must be after notBefore/,
    },
    { name: 'a non-positive validDays', opts: { validDays: 0 }, error: /validDays must be positive/ },
    { name: 'an invalid IP address', opts: { ipAddresses: ['not-an-ip'] }, error: /extensions/ },
  ])('rejects $name', async ({ opts, error }) => {
    await expect(issueWorkloadCert(mesh.ca, opts)).rejects.toThrow(error);
  });
});

describe('mutual TLS 1.3 with issued certs', () => {
  const past = { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) };
  const future = { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) };

  interface Case {
    name: string;
    server: () => Promise<WorkloadCert>;
    client: () => Promise<WorkloadCert | undefined>;
    check: (r: HandshakeResult) => void;
    /**
     * For server-side rejections: the verification error the server reports when it does not drop the connection
     * (`rejectUnauthorized: false`), checked in a second handshake.
     */
    serverReason?: RegExp;
  }

  const rejectedByServer = (r: HandshakeResult) => {
    // In TLS 1.3 the client finishes its side of the handshake before the server has judged the client cert, so
    // the client may well see a successful handshake followed by a closed/reset connection.
    expect(r.server.ok, `server should reject: ${JSON.stringify(r)}`).toBe(false);
  };
  const rejectedByClient = (codes: RegExp) => (r: HandshakeResult) => {
    expect(r.client.ok, `client should reject: ${JSON.stringify(r)}`).toBe(false);
    if (!r.client.ok) expect(r.client.code, JSON.stringify(r)).toMatch(codes);
    expect(r.server.ok, `server must not complete: ${JSON.stringify(r)}`).toBe(false);
  };
  const UNKNOWN_CA = /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN/;

  const cases: Case[] = [
    {
      name: 'two workloads of the same mesh see each other’s SPIFFE identity',
      server: () => mesh.issue('bookinfo', 'reviews'),
      client: () => mesh.issue('bookinfo', 'productpage'),
      check: (r) => {
        expect(r.server).toEqual({
          ok: true,
          authorized: true,
          authorizationError: undefined,
          peerUris: ['spiffe://cluster.local/ns/bookinfo/sa/productpage'],
        });
        expect(r.client).toEqual({
          ok: true,
          authorized: true,
          authorizationError: undefined,
          peerUris: ['spiffe://cluster.local/ns/bookinfo/sa/reviews'],
        });
      },
    },
    {
      name: 'client cert from a CA of another trust domain is rejected by the server',
      server: () => mesh.issue('ns', 'server'),
      client: () => otherMesh.issue('ns', 'client'),
      check: rejectedByServer,
      serverReason: UNKNOWN_CA,
    },
    {
      name: 'client cert from a same-named CA with another key is rejected by the server',
      server: () => mesh.issue('ns', 'server'),
      client: () => issueWorkloadCert(impostorCa, { spiffe: 'spiffe://cluster.local/ns/ns/sa/client' }),
      check: rejectedByServer,
      serverReason: /CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/,
    },
    {
      name: 'server cert from another CA is rejected by the client',
      server: () => otherMesh.issue('ns', 'server'),
      client: () => mesh.issue('ns', 'client'),
      check: rejectedByClient(UNKNOWN_CA),
    },
    {
      name: 'expired client cert is rejected by the server',
      server: () => mesh.issue('ns', 'server'),
      client: () => mesh.issue('ns', 'client', past),
      check: rejectedByServer,
      serverReason: /^CERT_HAS_EXPIRED$/,
    },
    {
      name: 'expired server cert is rejected by the client',
      server: () => mesh.issue('ns', 'server', past),
      client: () => mesh.issue('ns', 'client'),
      check: rejectedByClient(/^CERT_HAS_EXPIRED$/),
    },
    {
      name: 'not-yet-valid client cert is rejected by the server',
      server: () => mesh.issue('ns', 'server'),
      client: () => mesh.issue('ns', 'client', future),
      check: rejectedByServer,
      serverReason: /^CERT_NOT_YET_VALID$/,
    },
    {
      name: 'not-yet-valid server cert is rejected by the client',
      server: () => mesh.issue('ns', 'server', future),
      client: () => mesh.issue('ns', 'client'),
      check: rejectedByClient(/^CERT_NOT_YET_VALID$/),
    },
    {
      name: 'client without a certificate is rejected by the server',
      server: () => mesh.issue('ns', 'server'),
      client: () => Promise.resolve(undefined),
      check: rejectedByServer,
    },
    {
      name: 'client cert without a URI SAN is authorized but carries no identity',
      server: () => mesh.issue('ns', 'server'),
      client: () => issueWorkloadCert(mesh.ca, { dnsNames: ['client.example'] }),
      check: (r) => expect(r.server).toMatchObject({ ok: true, authorized: true, peerUris: [] }),
    },
    {
      name: 'client cert with a non-SPIFFE URI SAN is authorized; the URI does not parse as an identity',
      server: () => mesh.issue('ns', 'server'),
      client: () => issueWorkloadCert(mesh.ca, { uris: ['https://client.example/id'] }),
      check: (r) => {
        expect(r.server).toMatchObject({ ok: true, authorized: true, peerUris: ['https://client.example/id'] });
        if (r.server.ok) expect(r.server.peerUris.map(parseSpiffeId)).toEqual([undefined]);
      },
    },
  ];

  it.each(cases)('$name', async ({ server, client, check, serverReason }) => {
    const [serverCert, clientCert] = await Promise.all([server(), client()]);
    const trust = { serverTrusts: mesh.ca.certPem, clientTrusts: mesh.ca.certPem };
    check(await handshake({ serverCert, clientCert, ...trust }));
    if (serverReason) {
      const lenient = await handshake({ serverCert, clientCert, ...trust, serverRejectUnauthorized: false });
      expect(lenient.server).toMatchObject({ ok: true, authorized: false });
      if (lenient.server.ok) expect(lenient.server.authorizationError).toMatch(serverReason);
    }
  });
});

describe('Istio certificate directories', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'waypoint-certs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes and reads a workload cert dir (key mode 0600)', async () => {
    const certDir = join(dir, 'workload', 'nested');
    const cert = await mesh.issue('ns', 'sa');
    await writeCertDir(certDir, cert);
    expect((await stat(join(certDir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(certDir, 'cert-chain.pem'), 'utf8')).toBe(cert.certChainPem);
    expect(await readFile(join(certDir, 'root-cert.pem'), 'utf8')).toBe(mesh.ca.certPem);
    expect(await readCertDir(certDir)).toEqual(cert);

    // Rewriting (rotation) keeps the key private even if the old file had looser permissions.
    await writeFile(join(certDir, 'key.pem'), 'x', { mode: 0o644 });
    const rotated = await mesh.issue('ns', 'sa');
    await writeCertDir(certDir, rotated);
    expect((await stat(join(certDir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readCertDir(certDir)).toEqual(rotated);
  });

  it('reads a cert without SPIFFE identity as spiffe undefined', async () => {
    const certDir = join(dir, 'no-identity');
    await writeCertDir(certDir, await issueWorkloadCert(mesh.ca, { uris: ['https://x.example/'] }));
    expect((await readCertDir(certDir)).spiffe).toBeUndefined();
  });

  it.each(['cert-chain.pem', 'key.pem', 'root-cert.pem'])('names the missing file %s', async (file) => {
    const certDir = join(dir, `missing-${file}`);
    await writeCertDir(certDir, await mesh.issue('ns', 'sa'));
    await unlink(join(certDir, file));
    await expect(readCertDir(certDir)).rejects.toThrow(new RegExp(`${file.replace('.', '\\.')}.*file is missing`));
  });

  it.each([
    { name: 'garbage cert chain', file: 'cert-chain.pem', content: 'hello', error: /cert-chain\.pem does not contain a PEM certificate/ },
    { name: 'garbage key', file: 'key.pem', content: 'hello', error: /key\.pem does not contain a PEM private key/ },
    { name: 'garbage root', file: 'root-cert.pem', content: '', error: /root-cert\.pem does not contain a PEM certificate/ },
  ])('rejects a $name naming the file', async ({ file, content, error }) => {
    const certDir = join(dir, `bad-${file}`);
    await writeCertDir(certDir, await mesh.issue('ns', 'sa'));
    await writeFile(join(certDir, file), content);
    await expect(readCertDir(certDir)).rejects.toThrow(error);
  });

  it('rejects a key that does not match the leaf', async () => {
    const certDir = join(dir, 'mismatch');
    const [a, b] = await Promise.all([mesh.issue('ns', 'a'), mesh.issue('ns', 'b')]);
    await writeCertDir(certDir, { ...a, keyPem: b.keyPem });
    await expect(readCertDir(certDir)).rejects.toThrow(/key\.pem: private key does not match/);
  });

  it('writes and reads a CA dir; certs issued by the re-read CA chain to the original root', async () => {
    const caDir = join(dir, 'ca');
    const ca = await createMeshCa({ trustDomain: 'corp.example' });
    await writeCaDir(caDir, ca);
    expect((await stat(join(caDir, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(caDir, 'root-cert.pem'), 'utf8')).toBe(ca.certPem);
    expect(JSON.parse(await readFile(join(caDir, 'ca.json'), 'utf8'))).toEqual({ trustDomain: 'corp.example' });
    const reread = await readCaDir(caDir);
    expect(reread).toEqual(ca);
    const leaf = await issueWorkloadCert(reread, { spiffe: 'spiffe://corp.example/ns/a/sa/b' });
    expect(firstCert(leaf.certChainPem).verify(firstCert(ca.certPem).publicKey)).toBe(true);

    // Without ca.json the trust domain comes from the subject's O.
    await unlink(join(caDir, 'ca.json'));
    expect((await readCaDir(caDir)).trustDomain).toBe('corp.example');
  });

  it.each([
    { name: 'missing ca-key.pem', mutate: (d: string) => unlink(join(d, 'ca-key.pem')), error: /ca-key\.pem.*file is missing/ },
    { name: 'missing ca-cert.pem', mutate: (d: string) => unlink(join(d, 'ca-cert.pem')), error: /ca-cert\.pem.*file is missing/ },
    { name: 'invalid ca.json', mutate: (d: string) => writeFile(join(d, 'ca.json'), '{'), error: /ca\.json: invalid JSON/ },
    { name: 'ca.json without trustDomain', mutate: (d: string) => writeFile(join(d, 'ca.json'), '{}'), error: /ca\.json: expected/ },
    {
      name: 'ca-key.pem of another CA',
      mutate: (d: string) => writeFile(join(d, 'ca-key.pem'), impostorCa.keyPem),
      error: /ca-key\.pem: private key does not match/,
    },
  ])('readCaDir rejects $name', async ({ name, mutate, error }) => {
    const caDir = join(dir, `ca-${name.replace(/\W+/g, '-')}`);
    await writeCaDir(caDir, mesh.ca);
    await mutate(caDir);
    await expect(readCaDir(caDir)).rejects.toThrow(error);
  });
});
