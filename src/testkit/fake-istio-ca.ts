/**
 * A stand-in for istiod's certificate service (`istio.v1.auth.IstioCertificateService`) for
 * tests and the demo: gRPC over TLS on a loopback address, a bearer token checked against a set
 * of accepted tokens (each standing for the identity a TokenReview would return), the cluster id
 * checked, and the CSR's key signed by the test mesh CA for the token's identity, whatever the
 * CSR asks for, as istiod does.
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { issueWorkloadCert, type MeshCa } from '../hbone/certs.js';
import { loadCaService, type IstioCertificateRequest, type IstioCertificateResponse } from '../hbone/istio-ca/proto.js';
import { loadX509 } from '../hbone/istio-ca/x509.js';

export interface FakeIstioCaOptions {
  /** Loopback address to listen on. */
  host: string;
  /** Default 0 (any); a restart keeps the port it got first. */
  port?: number;
  /** Signs the certificates; its certificate is the root clients verify the CA's TLS with. */
  ca: MeshCa;
  /** Accepted bearer tokens → the SPIFFE identity each proves. */
  tokens: Record<string, string>;
  /** Expected `clusterid` metadata. Default `Kubernetes`. */
  clusterId?: string;
  /** Lifetime of issued certificates in seconds; default: what the request asks (at most 90 days). */
  lifetimeSeconds?: number;
}

export interface IssuedRecord {
  identity: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  requestedSeconds: number;
}

const MAX_LIFETIME_S = 90 * 24 * 3600;
const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

export class FakeIstioCa {
  readonly #opts: FakeIstioCaOptions;
  readonly tokens: Map<string, string>;
  clusterId: string;
  lifetimeSeconds: number | undefined;
  /** Calls received, accepted or not. */
  calls = 0;
  /** Calls refused (bad token, wrong cluster id, bad CSR). */
  refused = 0;
  lastToken: string | undefined;
  lastClusterId: string | undefined;
  readonly issued: IssuedRecord[] = [];
  port: number;
  #server: Server | undefined;
  #tlsPem: { cert: string; key: string } | undefined;

  constructor(opts: FakeIstioCaOptions) {
    this.#opts = opts;
    this.tokens = new Map(Object.entries(opts.tokens));
    this.clusterId = opts.clusterId ?? 'Kubernetes';
    this.lifetimeSeconds = opts.lifetimeSeconds;
    this.port = opts.port ?? 0;
  }

  /** `host:port` for `--ca-address`. */
  get address(): string {
    return `${this.#opts.host}:${this.port}`;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Starts serving (again); the first start picks the port, later ones reuse it. */
  async start(): Promise<void> {
    if (this.#server !== undefined) return;
    const [grpc, { definition }] = await Promise.all([import('@grpc/grpc-js'), loadCaService()]);
    // The CA's own serving certificate names istiod's DNS name and the loopback address.
    if (this.#tlsPem === undefined) {
      const c = await issueWorkloadCert(this.#opts.ca, {
        spiffe: 'spiffe://cluster.local/ns/istio-system/sa/istiod',
        dnsNames: ['istiod.istio-system.svc'],
        ipAddresses: [this.#opts.host],
        validDays: 1,
      });
      this.#tlsPem = { cert: c.certChainPem, key: c.keyPem };
    }
    const tlsPem: { cert: string; key: string } = this.#tlsPem;
    const server = new grpc.Server();
    server.addService(definition, {
      CreateCertificate: (call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, cb: sendUnaryData<IstioCertificateResponse>) => {
        this.#handle(call).then(
          (res) => cb(null, res),
          (err: Error & { code?: number }) => {
            this.refused++;
            cb({ code: err.code ?? grpc.status.INTERNAL, details: err.message, name: 'Error', message: err.message });
          },
        );
      },
    });
    const creds = grpc.ServerCredentials.createSsl(Buffer.from(this.#opts.ca.certPem), [{ cert_chain: Buffer.from(tlsPem.cert), private_key: Buffer.from(tlsPem.key) }], false);
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`${this.#opts.host}:${this.port}`, creds, (err, port) => (err ? reject(err) : resolve(port))));
    this.#server = server;
  }

  /** Stops serving; open calls are cut. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    server?.forceShutdown();
  }

  close(): Promise<void> {
    return this.stop();
  }

  async #handle(call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>): Promise<IstioCertificateResponse> {
    const grpc = await import('@grpc/grpc-js');
    this.calls++;
    const auth = call.metadata.get('authorization')[0];
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    const clusterId = call.metadata.get('clusterid')[0];
    this.lastToken = token;
    this.lastClusterId = typeof clusterId === 'string' ? clusterId : undefined;
    const identity = token === undefined ? undefined : this.tokens.get(token);
    if (identity === undefined) throw Object.assign(new Error('authenticate failure: token not accepted'), { code: grpc.status.UNAUTHENTICATED });
    if (this.lastClusterId !== this.clusterId) {
      throw Object.assign(new Error(`authenticate failure: cluster id ${String(this.lastClusterId)} is not ${this.clusterId}`), { code: grpc.status.UNAUTHENTICATED });
    }
    const requested = Number(call.request.validityDuration);
    const lifetime = this.lifetimeSeconds ?? Math.min(requested > 0 ? requested : 86_400, MAX_LIFETIME_S);
    let signed: SignedCertificate;
    try {
      signed = await signCsr(this.#opts.ca, call.request.csr, identity, lifetime);
    } catch (err) {
      throw Object.assign(err as Error, { code: grpc.status.INVALID_ARGUMENT });
    }
    this.issued.push({ identity, serial: signed.serial, notBefore: signed.notBefore, notAfter: signed.notAfter, requestedSeconds: requested });
    return { certChain: signed.certChain };
  }
}

export interface SignedCertificate {
  /** Leaf first, root last, as istiod answers. */
  certChain: string[];
  /** Upper-case hex, as `X509Certificate.serialNumber` shows it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Signs the CSR's public key with the mesh CA for `identity` (a critical URI SAN, empty
 * subject), valid from now (whole seconds) for `lifetimeSeconds`. Throws if the CSR does not
 * parse or its signature does not verify.
 */
export async function signCsr(ca: MeshCa, csrPem: string, identity: string, lifetimeSeconds: number): Promise<SignedCertificate> {
  const x509 = await loadX509();
  let csr: InstanceType<typeof x509.Pkcs10CertificateRequest>;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new Error(`CSR does not parse: ${(err as Error).message}`, { cause: err });
  }
  if (!(await csr.verify())) throw new Error('CSR signature does not verify');
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' }), RSA_SHA256, false, ['sign']);
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + lifetimeSeconds * 1000);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: `01${randomBytes(15).toString('hex')}`,
    subject: '',
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: csr.publicKey,
    signingKey,
    signingAlgorithm: RSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }], true),
      ...(ski !== null ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : []),
    ],
  });
  return { certChain: [leaf.toString('pem'), ca.certPem], serial: leaf.serialNumber.toUpperCase(), notBefore, notAfter };
}
