/**
 * The gRPC client for `istio.v1.auth.IstioCertificateService/CreateCertificate`, as ztunnel
 * calls it: TLS verified with the mesh root (`--ca-root`), the channel rebuilt when that file
 * changes, and per-call metadata `authorization: Bearer <token>` (the token file read again on
 * every call, as kubelet rotates it) and `clusterid`.
 */
import { readFile } from 'node:fs/promises';
import type { Client, Metadata, ServiceError } from '@grpc/grpc-js';
import { loadCaService, type IstioCertificateRequest, type IstioCertificateResponse } from './proto.js';

export interface IstioCaClientOptions {
  /** `host:port` of the CA (istiod 15012). */
  address: string;
  /** PEM trust bundle to verify the CA with; also the mesh root for HBONE peers. */
  rootCertPath: string;
  /** Projected service-account token for audience `istio-ca`. */
  tokenPath: string;
  clusterId: string;
  /** Deadline of one call. Default 10 s. */
  callTimeoutMs?: number | undefined;
}

export interface CaAnswer {
  /** `cert_chain`: leaf first, root last. */
  certChain: string[];
  /** The trust bundle the call was verified with (the content of `--ca-root` at that time). */
  rootBundlePem: string;
}

type CreateCertificate = (req: IstioCertificateRequest, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: IstioCertificateResponse) => void) => void;

export class IstioCaClient {
  readonly #opts: IstioCaClientOptions;
  #client: Client | undefined;
  #root: string | undefined;

  constructor(opts: IstioCaClientOptions) {
    this.#opts = opts;
  }

  get address(): string {
    return this.#opts.address;
  }

  /** The trust bundle as it is on disk now; throws naming the file. */
  async readRoot(): Promise<string> {
    let pem: string;
    try {
      pem = await readFile(this.#opts.rootCertPath, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the CA root ${this.#opts.rootCertPath}: ${(err as Error).message}`, { cause: err });
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${this.#opts.rootCertPath} holds no PEM certificate`);
    return pem;
  }

  async #readToken(): Promise<string> {
    let token: string;
    try {
      token = (await readFile(this.#opts.tokenPath, 'utf8')).trim();
    } catch (err) {
      throw new Error(`cannot read the token ${this.#opts.tokenPath}: ${(err as Error).message}`, { cause: err });
    }
    if (token === '') throw new Error(`the token file ${this.#opts.tokenPath} is empty`);
    return token;
  }

  /** A client on a channel verified with `root`; a new one when the root changed. */
  async #channel(root: string): Promise<Client> {
    if (this.#client !== undefined && root === this.#root) return this.#client;
    const [{ client: Ctor }, grpc] = await Promise.all([loadCaService(), import('@grpc/grpc-js')]);
    this.#client?.close();
    this.#root = root;
    this.#client = new Ctor(this.#opts.address, grpc.credentials.createSsl(Buffer.from(root)), {
      // Fail a call quickly when the CA is down; the caller owns the retry schedule.
      'grpc.initial_reconnect_backoff_ms': 1_000,
      'grpc.max_reconnect_backoff_ms': 10_000,
    });
    return this.#client;
  }

  /** Asks for a certificate for the CSR, valid `validitySeconds`; errors name the CA and the gRPC status. */
  async createCertificate(csrPem: string, validitySeconds: number): Promise<CaAnswer> {
    const [root, token, grpc] = await Promise.all([this.readRoot(), this.#readToken(), import('@grpc/grpc-js')]);
    const client = await this.#channel(root);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    md.set('clusterid', this.#opts.clusterId);
    const call = (client as unknown as { CreateCertificate: CreateCertificate }).CreateCertificate.bind(client);
    const deadline = new Date(Date.now() + (this.#opts.callTimeoutMs ?? 10_000));
    const res = await new Promise<IstioCertificateResponse>((resolve, reject) => {
      call({ csr: csrPem, validityDuration: String(validitySeconds) }, md, { deadline }, (err, out) => {
        if (err !== null) reject(new Error(`CA ${this.#opts.address}: ${grpc.status[err.code] ?? err.code} ${err.details}`));
        else if (out === undefined) reject(new Error(`CA ${this.#opts.address}: empty answer`));
        else resolve(out);
      });
    });
    return { certChain: res.certChain, rootBundlePem: root };
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
    this.#root = undefined;
  }
}
