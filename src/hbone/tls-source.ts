import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE } from './cert-files.js';
import { uriSansFromSubjectAltName } from './spiffe.js';


export interface TlsMaterial {
  certChainPem: string;
  keyPem: string;
  rootCertPem: string;
  /** The SPIFFE id of the leaf certificate (first URI SAN), when it has one. */
  identity: string | undefined;
  /** Leaf validity end, for readiness and logs. */
  notAfter: Date;
}

/** Reads and checks one certificate directory. Errors name the file. */
export async function readTlsMaterial(dir: string): Promise<TlsMaterial> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${join(dir, file)}: ${(err as Error).message}`);
    }
  };
  const [certChainPem, keyPem, rootCertPem] = await Promise.all([
    read(CERT_CHAIN_FILE),
    read(KEY_FILE),
    read(ROOT_CERT_FILE),
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certChainPem);
  } catch (err) {
    throw new Error(`${join(dir, CERT_CHAIN_FILE)} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    new X509Certificate(rootCertPem);
  } catch (err) {
    throw new Error(`${join(dir, ROOT_CERT_FILE)} is not a PEM certificate: ${(err as Error).message}`);
  }
  const identity = uriSansFromSubjectAltName(leaf.subjectAltName).find((u) => u.startsWith('spiffe://'));
  return { certChainPem, keyPem, rootCertPem, identity, notAfter: new Date(leaf.validTo) };
}

/**
 * The waypoint's current certificate, re-read when the files change (kubelet and istio-agent
 * replace them in place or swap a symlinked directory). A bad replacement is reported and the
 * last good material is kept.
 */
export class TlsSource extends EventEmitter {
  #current: TlsMaterial;
  #dir: string | undefined;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;

  constructor(initial: TlsMaterial, dir?: string) {
    super();
    this.#current = initial;
    this.#dir = dir;
  }

  static async fromDir(dir: string): Promise<TlsSource> {
    return new TlsSource(await readTlsMaterial(dir), dir);
  }

  get current(): TlsMaterial {
    return this.#current;
  }

  /**
   * Installs new material (a renewed certificate from a CA, a replacement read from files): new
   * handshakes use it from now on; open sessions are not touched. Emits 'update'.
   */
  install(material: TlsMaterial): void {
    this.#current = material;
    this.emit('update', material);
  }

  /** Starts watching the directory; emits 'update' (TlsMaterial) or 'rejected' (Error). */
  watch(): void {
    if (this.#dir === undefined || this.#watcher !== undefined) return;
    const dir = this.#dir;
    this.#watcher = watch(dir, { persistent: false }, () => {
      if (this.#debounce !== undefined) this.#debounce.refresh();
      else
        this.#debounce = setTimeout(() => {
          this.#debounce = undefined;
          readTlsMaterial(dir).then(
            (m) => {
              if (m.certChainPem === this.#current.certChainPem && m.keyPem === this.#current.keyPem && m.rootCertPem === this.#current.rootCertPem) return;
              this.install(m);
            },
            (err: Error) => this.emit('rejected', err),
          );
        }, 200);
    });
    this.#watcher.on('error', (err) => this.emit('rejected', err));
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    this.#debounce = undefined;
  }
}
