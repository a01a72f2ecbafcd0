/**
 * The waypoint's certificate from Istio's CA, kept current: the first one asked for at start,
 * each renewed at half its lifetime with a new key, failures retried with backoff (capped at
 * 150 s). A renewal goes to the running waypoint through `TlsSource.install`: new HBONE
 * handshakes use it, open sessions carry on. The old certificate serves until it expires; from
 * then on `problem()` says so (readiness turns 503).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { TlsSource, type TlsMaterial } from '../tls-source.js';
import type { CaAnswer } from './ca-client.js';
import { createKeyAndCsr, type KeyAndCsr } from './csr.js';
import { issuedCertificate } from './material.js';
import { placeholderMaterial } from './placeholder.js';
import { renewalDelayMs, retryDelayMs } from './schedule.js';

/** What the manager needs of a CA (`IstioCaClient`, or a stand-in in unit tests). */
export interface CertificateAuthority {
  readonly address: string;
  createCertificate(csrPem: string, validitySeconds: number): Promise<CaAnswer>;
  readRoot(): Promise<string>;
  close(): void;
}

export interface CertificateManagerOptions {
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`: the identity put in the CSR. */
  identity: string;
  ca: CertificateAuthority;
  /** Requested lifetime (`validity_duration`). */
  ttlSeconds: number;
  logger: Logger;
  /** The trust bundle file to follow (`--ca-root`); changes are installed as the new HBONE roots. */
  rootCertPath?: string | undefined;
  now?: () => number;
  random?: () => number;
  createKeyAndCsr?: (identity: string) => Promise<KeyAndCsr>;
}

/** The certificate now held. */
export interface HeldCertificate {
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export class CertificateManager {
  /** The waypoint's TLS material; holds a placeholder until the first certificate. */
  readonly tls: TlsSource;
  /** Resolves once the first certificate is installed. */
  readonly ready: Promise<void>;
  readonly #opts: CertificateManagerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #resolveReady!: () => void;
  #held: HeldCertificate | undefined;
  #lastError: string | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #rootWatcher: FSWatcher | undefined;
  #rootDebounce: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  /** Certificates installed so far (the first and every renewal). */
  issued = 0;

  private constructor(opts: CertificateManagerOptions, placeholder: TlsMaterial) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'istio-ca' });
    this.#now = opts.now ?? Date.now;
    this.tls = new TlsSource(placeholder);
    this.ready = new Promise((resolve) => (this.#resolveReady = resolve));
  }

  /** Creates the manager and sends the first request (it does not wait for the answer: see `ready`). */
  static async start(opts: CertificateManagerOptions): Promise<CertificateManager> {
    const m = new CertificateManager(opts, await placeholderMaterial());
    m.#watchRoot();
    void m.renewNow();
    return m;
  }

  get held(): HeldCertificate | undefined {
    return this.#held;
  }

  /** The last failed request's reason, cleared by a success. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Why no valid certificate is served now (none yet, or expired), else undefined. */
  problem(): string | undefined {
    const held = this.#held;
    if (held === undefined) return `no certificate yet from the CA at ${this.#opts.ca.address}: ${this.#lastError ?? 'first request in progress'}`;
    if (this.#now() >= held.notAfter.getTime()) {
      return `certificate expired at ${held.notAfter.toISOString()}; renewal from ${this.#opts.ca.address} failing: ${this.#lastError ?? 'in progress'}`;
    }
    return undefined;
  }

  /** Asks the CA now (unless a request is on its way); the schedule continues from its outcome. */
  renewNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#inFlight ??= this.#request();
    return this.#inFlight;
  }

  /** One request; clears `#inFlight` itself before anyone awaiting `ready` or the request resumes. */
  async #request(): Promise<void> {
    this.#clearTimer();
    let installed: boolean;
    try {
      installed = await this.#attempt();
    } finally {
      this.#inFlight = undefined;
    }
    if (installed) this.#resolveReady();
  }

  /** True when a new certificate was installed. */
  async #attempt(): Promise<boolean> {
    try {
      const { keyPem, csrPem } = await (this.#opts.createKeyAndCsr ?? createKeyAndCsr)(this.#opts.identity);
      const answer = await this.#opts.ca.createCertificate(csrPem, this.#opts.ttlSeconds);
      const issued = issuedCertificate(answer.certChain, keyPem, answer.rootBundlePem, this.#now());
      if (this.#closed) return false;
      for (const w of issued.warnings) this.#log.warn({ ca: this.#opts.ca.address }, w);
      if (issued.material.identity !== this.#opts.identity) {
        this.#log.warn({ asked: this.#opts.identity, issued: issued.material.identity }, 'the CA issued another identity than the one asked for (it issues what the token proves)');
      }
      this.tls.install(issued.material);
      this.#held = { serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.material.notAfter };
      this.#lastError = undefined;
      this.#failures = 0;
      this.issued++;
      const delay = renewalDelayMs(this.#now(), issued.notBefore, issued.material.notAfter, this.#opts.random);
      this.#log.info(
        { identity: issued.material.identity, serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.material.notAfter, renewInMs: delay },
        this.issued === 1 ? 'certificate issued by the CA' : 'certificate renewed by the CA',
      );
      this.#schedule(delay);
      this.#armExpiry();
      return true;
    } catch (err) {
      if (this.#closed) return false;
      this.#lastError = (err as Error).message;
      this.#failures++;
      const delay = retryDelayMs(this.#failures, this.#opts.random);
      const held = this.#held;
      this.#log.warn(
        { ca: this.#opts.ca.address, err: this.#lastError, attempt: this.#failures, retryInMs: delay, heldUntil: held?.notAfter },
        held === undefined ? 'certificate request failed; no certificate yet' : 'certificate renewal failed; still serving the current certificate until it expires',
      );
      this.#schedule(delay);
      return false;
    }
  }

  #schedule(delayMs: number): void {
    this.#clearTimer();
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.renewNow(), delayMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A log line when the held certificate runs out with nothing to replace it. */
  #armExpiry(): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    const held = this.#held;
    if (held === undefined) return;
    this.#expiryTimer = setTimeout(() => {
      if (this.#held === held) this.#log.error({ notAfter: held.notAfter, ca: this.#opts.ca.address, err: this.#lastError }, 'certificate expired and not renewed: not ready until the CA answers');
    }, Math.max(0, held.notAfter.getTime() - this.#now()));
    this.#expiryTimer.unref();
  }

  /** Follows `--ca-root`: a changed bundle becomes the HBONE trust roots (the CA channel follows on its next call). */
  #watchRoot(): void {
    const path = this.#opts.rootCertPath;
    if (path === undefined) return;
    try {
      // The directory, not the file: kubelet swaps ConfigMap volumes through a `..data` symlink.
      this.#rootWatcher = watch(dirname(path), { persistent: false }, (_event, name) => {
        if (name !== null && name !== basename(path) && !name.startsWith('..')) return;
        if (this.#rootDebounce !== undefined) this.#rootDebounce.refresh();
        else
          this.#rootDebounce = setTimeout(() => {
            this.#rootDebounce = undefined;
            void this.#reloadRoot();
          }, 200);
      });
      this.#rootWatcher.on('error', (err) => this.#log.warn({ path, err: err.message }, 'cannot follow the CA root file'));
    } catch (err) {
      this.#log.warn({ path, err: (err as Error).message }, 'cannot follow the CA root file');
    }
  }

  async #reloadRoot(): Promise<void> {
    let root: string;
    try {
      root = await this.#opts.ca.readRoot();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'CA root changed but cannot be read; keeping the current roots');
      return;
    }
    const current = this.tls.current;
    if (this.#closed || this.#held === undefined || root === current.rootCertPem) return;
    this.tls.install({ ...current, rootCertPem: root });
    this.#log.info({ path: this.#opts.rootCertPath }, 'CA root bundle changed: new HBONE handshakes verify peers with it');
  }

  close(): void {
    this.#closed = true;
    this.#clearTimer();
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    if (this.#rootDebounce !== undefined) clearTimeout(this.#rootDebounce);
    this.#rootWatcher?.close();
    this.#opts.ca.close();
    this.tls.close();
  }
}
