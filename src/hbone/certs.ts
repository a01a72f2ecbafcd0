/**
 * Mesh certificates: a self-signed mesh CA and SPIFFE workload certificates in Istio's on-disk layout.
 *
 * Keys come from Node's crypto (RSA 2048, async, native speed); node-forge builds and signs the X.509 structures.
 * Workload certificates follow Istio's shape: empty subject, critical URI SAN `spiffe://<td>/ns/<ns>/sa/<sa>`,
 * usable for both TLS server and client authentication.
 */
import { X509Certificate, createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { parseSpiffeId, spiffeId, uriSansFromSubjectAltName } from './spiffe.js';

export interface MeshCa {
  certPem: string;
  keyPem: string;
  trustDomain: string;
}

export interface WorkloadCert {
  /** Leaf certificate followed by the issuing CA certificate. */
  certChainPem: string;
  keyPem: string;
  rootCertPem: string;
  /** The SPIFFE identity in the leaf's URI SAN, if it has one. */
  spiffe?: string;
}

export interface CreateMeshCaOptions {
  /** Default `cluster.local`. */
  trustDomain?: string;
  /** Default `Waypoint Mesh Root CA`. */
  commonName?: string;
  /** Default 3650. */
  validDays?: number;
}

export interface IssueWorkloadCertOptions {
  /** SPIFFE URI to put in the URI SAN (first). Optional so tests can issue identity-less or odd certificates. */
  spiffe?: string;
  /** Further URI SANs, verbatim (no validation: used for negative tests with non-SPIFFE URIs). */
  uris?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Lifetime when notAfter is not given. Default 1 (Istio's default workload cert TTL is 24h). */
  validDays?: number;
  /** Default: five minutes ago (clock-skew allowance). */
  notBefore?: Date;
  /** Default: notBefore + validDays. */
  notAfter?: Date;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_CA_COMMON_NAME = 'Waypoint Mesh Root CA';

/** Istio workload cert files (as in /var/run/secrets/workload-spiffe-credentials and `istioctl` output). */
export { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE } from './cert-files.js';
import { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE } from './cert-files.js';
/** Istio `cacerts` secret files, plus our small trust-domain sidecar file. */
export const CA_CERT_FILE = 'ca-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const CA_META_FILE = 'ca.json';

const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A new 2048-bit RSA key pair: PKCS#8 PEM plus the forge private key object used for signing. */
async function newRsaKey(): Promise<{ keyPem: string; forgeKey: forge.pki.rsa.PrivateKey }> {
  const keyPem = await new Promise<string>((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (err, _publicKey, privateKey) => (err ? reject(err) : resolve(privateKey)),
    );
  });
  return { keyPem, forgeKey: forge.pki.privateKeyFromPem(keyPem) };
}

/** Random positive serial of 16 bytes whose DER INTEGER encoding is minimal (first byte in 0x01..0x7f). */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function validityFor(validDays: number, notBefore?: Date, notAfter?: Date): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(validDays) || validDays <= 0) throw new Error(`validDays must be positive, got ${validDays}`);
  const from = notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const to = notAfter ?? new Date(from.getTime() + validDays * DAY_MS);
  if (to.getTime() <= from.getTime()) {
    throw new Error(`notAfter (${to.toISOString()}) must be after notBefore (${from.toISOString()})`);
  }
  return { notBefore: from, notAfter: to };
}

function checkTrustDomain(trustDomain: string): void {
  // Reuse the SPIFFE parser's rules for the trust-domain segment.
  if (parseSpiffeId(`spiffe://${trustDomain}/ns/x/sa/x`) === undefined) {
    throw new Error(`invalid trust domain ${JSON.stringify(trustDomain)}`);
  }
}

/** Creates a self-signed mesh root CA (subject `O=<trustDomain>, CN=<commonName>`). */
export async function createMeshCa(opts: CreateMeshCaOptions = {}): Promise<MeshCa> {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  checkTrustDomain(trustDomain);
  const { keyPem, forgeKey } = await newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = randomSerialHex();
  const validity = validityFor(opts.validDays ?? 3650);
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  const name = [
    { shortName: 'O', value: trustDomain },
    { shortName: 'CN', value: opts.commonName ?? DEFAULT_CA_COMMON_NAME },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem, trustDomain };
}

interface ParsedCa {
  certPem: string;
  keyPem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  keyId: string;
}

const parsedCas = new WeakMap<MeshCa, ParsedCa>();

function hasHexSki(ext: unknown): ext is { subjectKeyIdentifier: string } {
  return (
    typeof ext === 'object' &&
    ext !== null &&
    'subjectKeyIdentifier' in ext &&
    typeof ext.subjectKeyIdentifier === 'string'
  );
}

function parseCa(ca: MeshCa): ParsedCa {
  const cached = parsedCas.get(ca);
  if (cached && cached.certPem === ca.certPem && cached.keyPem === ca.keyPem) return cached;
  let cert: forge.pki.Certificate;
  let key: forge.pki.rsa.PrivateKey;
  try {
    cert = forge.pki.certificateFromPem(ca.certPem);
  } catch (err) {
    throw new Error(`mesh CA certificate is not a usable PEM certificate: ${String(err)}`, { cause: err });
  }
  try {
    key = forge.pki.privateKeyFromPem(ca.keyPem);
  } catch (err) {
    throw new Error(`mesh CA key is not a usable PEM RSA private key: ${String(err)}`, { cause: err });
  }
  // The authority key id must equal the CA's own subjectKeyIdentifier (which may come from another tool).
  const ski = cert.getExtension('subjectKeyIdentifier');
  const keyId = hasHexSki(ski)
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : cert.generateSubjectKeyIdentifier().getBytes();
  const parsed: ParsedCa = { certPem: ca.certPem, keyPem: ca.keyPem, cert, key, keyId };
  parsedCas.set(ca, parsed);
  return parsed;
}

/**
 * Issues a leaf certificate signed by the mesh CA, usable as both TLS server and TLS client certificate.
 * With a SAN the subject is empty (as Istio does) and the SAN is critical; a certificate with no SAN at all
 * (negative tests) gets subject `O=<trustDomain>` instead, since an empty subject then would be invalid.
 * The SPIFFE trust domain is not required to equal `ca.trustDomain` (tests may mint cross-domain identities).
 */
export async function issueWorkloadCert(ca: MeshCa, opts: IssueWorkloadCertOptions): Promise<WorkloadCert> {
  if (opts.spiffe !== undefined && parseSpiffeId(opts.spiffe) === undefined) {
    throw new Error(`not an Istio SPIFFE identity: ${JSON.stringify(opts.spiffe)} (use opts.uris for arbitrary URIs)`);
  }
  const validity = validityFor(opts.validDays ?? 1, opts.notBefore, opts.notAfter);
  const parsedCa = parseCa(ca);
  const { keyPem, forgeKey } = await newRsaKey();

  const uris = [...(opts.spiffe !== undefined ? [opts.spiffe] : []), ...(opts.uris ?? [])];
  const altNames = [
    ...uris.map((value) => ({ type: 6, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  cert.setSubject(altNames.length > 0 ? [] : [{ shortName: 'O', value: ca.trustDomain }]);
  cert.setIssuer(parsedCa.cert.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: parsedCa.keyId },
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', critical: true, altNames });
  try {
    cert.setExtensions(extensions);
  } catch (err) {
    throw new Error(`cannot build workload certificate extensions: ${String(err)}`, { cause: err });
  }
  cert.sign(parsedCa.key, forge.md.sha256.create());

  const leafPem = forge.pki.certificateToPem(cert);
  const result: WorkloadCert = {
    certChainPem: leafPem + ensureTrailingNewline(ca.certPem),
    keyPem,
    rootCertPem: ensureTrailingNewline(ca.certPem),
  };
  if (opts.spiffe !== undefined) result.spiffe = opts.spiffe;
  return result;
}

function ensureTrailingNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** The first Istio SPIFFE identity among a PEM certificate's URI SANs (the first certificate if several). */
export function spiffeFromCertPem(certPem: string): string | undefined {
  const x509 = new X509Certificate(certPem);
  return uriSansFromSubjectAltName(x509.subjectAltName).find((uri) => parseSpiffeId(uri) !== undefined);
}

// ---------------------------------------------------------------------------------------------------------------
// Istio on-disk layout

/** Writes atomically (temp file + rename) so a reader never sees a half-written file; mode enforced with chmod. */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function readNamedFile(dir: string, file: string, what: string): Promise<string> {
  const path = join(dir, file);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    const reason = code === 'ENOENT' ? 'file is missing' : err instanceof Error ? err.message : String(err);
    throw new Error(`cannot read ${what} ${file} (${path}): ${reason}`, { cause: err });
  }
}

function requirePem(text: string, label: RegExp, file: string, dir: string, what: string): void {
  if (!label.test(text)) throw new Error(`${join(dir, file)} does not contain a PEM ${what}`);
}

const CERT_PEM = /-----BEGIN CERTIFICATE-----/;
const KEY_PEM = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/;

/** Writes `cert-chain.pem`, `key.pem` (0600) and `root-cert.pem`, creating the directory if needed. */
export async function writeCertDir(dir: string, cert: WorkloadCert): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, KEY_FILE), cert.keyPem, 0o600);
  await writeFileAtomic(join(dir, CERT_CHAIN_FILE), cert.certChainPem, 0o644);
  await writeFileAtomic(join(dir, ROOT_CERT_FILE), cert.rootCertPem, 0o644);
}

/**
 * Reads an Istio workload cert directory. Errors name the missing/unreadable/invalid file. Checks that the key
 * matches the leaf certificate; `spiffe` is the leaf's first SPIFFE URI SAN.
 */
export async function readCertDir(dir: string): Promise<WorkloadCert> {
  const certChainPem = await readNamedFile(dir, CERT_CHAIN_FILE, 'workload certificate chain');
  const keyPem = await readNamedFile(dir, KEY_FILE, 'workload private key');
  const rootCertPem = await readNamedFile(dir, ROOT_CERT_FILE, 'mesh root certificate');
  requirePem(certChainPem, CERT_PEM, CERT_CHAIN_FILE, dir, 'certificate');
  requirePem(keyPem, KEY_PEM, KEY_FILE, dir, 'private key');
  requirePem(rootCertPem, CERT_PEM, ROOT_CERT_FILE, dir, 'certificate');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certChainPem);
  } catch (err) {
    throw new Error(`${join(dir, CERT_CHAIN_FILE)}: cannot parse certificate: ${String(err)}`, { cause: err });
  }
  let keyMatches: boolean;
  try {
    keyMatches = leaf.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new Error(`${join(dir, KEY_FILE)}: cannot parse private key: ${String(err)}`, { cause: err });
  }
  if (!keyMatches) {
    throw new Error(`${join(dir, KEY_FILE)}: private key does not match the leaf certificate in ${CERT_CHAIN_FILE}`);
  }
  const result: WorkloadCert = { certChainPem, keyPem, rootCertPem };
  const spiffe = uriSansFromSubjectAltName(leaf.subjectAltName).find((uri) => parseSpiffeId(uri) !== undefined);
  if (spiffe !== undefined) result.spiffe = spiffe;
  return result;
}

/** Writes `ca-cert.pem`, `ca-key.pem` (0600), `root-cert.pem` (= the CA cert) and `ca.json` (`{trustDomain}`). */
export async function writeCaDir(dir: string, ca: MeshCa): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, CA_KEY_FILE), ca.keyPem, 0o600);
  await writeFileAtomic(join(dir, CA_CERT_FILE), ca.certPem, 0o644);
  await writeFileAtomic(join(dir, ROOT_CERT_FILE), ca.certPem, 0o644);
  await writeFileAtomic(join(dir, CA_META_FILE), `${JSON.stringify({ trustDomain: ca.trustDomain })}\n`, 0o644);
}

/**
 * Reads a CA directory written by {@link writeCaDir} (or an Istio `cacerts`-style one with a self-signed CA). The
 * trust domain comes from `ca.json` if present, otherwise from the CA subject's O attribute.
 */
export async function readCaDir(dir: string): Promise<MeshCa> {
  const certPem = await readNamedFile(dir, CA_CERT_FILE, 'CA certificate');
  const keyPem = await readNamedFile(dir, CA_KEY_FILE, 'CA private key');
  requirePem(certPem, CERT_PEM, CA_CERT_FILE, dir, 'certificate');
  requirePem(keyPem, KEY_PEM, CA_KEY_FILE, dir, 'private key');

  let trustDomain: string | undefined;
  let metaText: string | undefined;
  try {
    metaText = await readFile(join(dir, CA_META_FILE), 'utf8');
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
    if (code !== 'ENOENT') {
      throw new Error(`cannot read CA metadata ${CA_META_FILE} (${join(dir, CA_META_FILE)}): ${String(err)}`, { cause: err });
    }
  }
  if (metaText !== undefined) {
    let meta: unknown;
    try {
      meta = JSON.parse(metaText);
    } catch (err) {
      throw new Error(`${join(dir, CA_META_FILE)}: invalid JSON: ${String(err)}`, { cause: err });
    }
    if (
      typeof meta !== 'object' ||
      meta === null ||
      !('trustDomain' in meta) ||
      typeof meta.trustDomain !== 'string'
    ) {
      throw new Error(`${join(dir, CA_META_FILE)}: expected {"trustDomain": "<string>"}`);
    }
    trustDomain = meta.trustDomain;
  }

  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromPem(certPem);
  } catch (err) {
    throw new Error(`${join(dir, CA_CERT_FILE)}: cannot parse certificate: ${String(err)}`, { cause: err });
  }
  if (trustDomain === undefined) {
    const org: unknown = cert.subject.getField('O');
    const value = typeof org === 'object' && org !== null && 'value' in org ? org.value : undefined;
    if (typeof value !== 'string') {
      throw new Error(
        `${dir}: no ${CA_META_FILE} and the CA subject in ${CA_CERT_FILE} has no O=<trust domain> attribute`,
      );
    }
    trustDomain = value;
  }
  checkTrustDomain(trustDomain);
  try {
    forge.pki.privateKeyFromPem(keyPem);
  } catch (err) {
    throw new Error(`${join(dir, CA_KEY_FILE)}: not a usable RSA private key: ${String(err)}`, { cause: err });
  }
  if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new Error(`${join(dir, CA_KEY_FILE)}: private key does not match ${CA_CERT_FILE}`);
  }
  return { certPem, keyPem, trustDomain };
}

// ---------------------------------------------------------------------------------------------------------------
// Test convenience

export interface TestMesh {
  ca: MeshCa;
  /** Issues a workload cert for `spiffe://<td>/ns/<ns>/sa/<sa>`; `extra` may add SANs or override validity. */
  issue(namespace: string, serviceAccount: string, extra?: Omit<IssueWorkloadCertOptions, 'spiffe'>): Promise<WorkloadCert>;
}

export async function createTestMesh(opts: { trustDomain?: string } = {}): Promise<TestMesh> {
  const ca = await createMeshCa(opts.trustDomain !== undefined ? { trustDomain: opts.trustDomain } : {});
  return {
    ca,
    issue: (namespace, serviceAccount, extra) =>
      issueWorkloadCert(ca, { ...extra, spiffe: spiffeId(ca.trustDomain, namespace, serviceAccount) }),
  };
}
