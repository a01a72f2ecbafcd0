import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
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
  /** Leaf validity start (filled in by `checkTlsMaterial`). */
  notBefore?: Date | undefined;
}

/** How errors name the three parts: file paths when read from a directory. */
export interface TlsMaterialNames {
  certChain: string;
  key: string;
  root: string;
}

/** Names for material that did not come from files (for example issued by a CA). */
export const INSTALLED_MATERIAL_NAMES: TlsMaterialNames = { certChain: 'the certificate chain', key: 'the private key', root: 'the root certificates' };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseCertificates(pem: string, name: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`${name} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`${name}: certificate ${i + 1} is not a valid PEM certificate: ${(err as Error).message}`, { cause: err });
    }
  });
}

/**
 * Checks that the material can serve: the chain parses, each certificate is signed by the next,
 * the last one is (or is signed by) a certificate of the root bundle, and the private key belongs
 * to the leaf. Validity dates are not checked here: an expired certificate is a readiness
 * condition (`validityProblem`), not a reason to refuse files that will be replaced. Returns the
 * material with identity and validity taken from the leaf; throws an Error naming the part.
 */
export function checkTlsMaterial(m: Pick<TlsMaterial, 'certChainPem' | 'keyPem' | 'rootCertPem'>, names: TlsMaterialNames = INSTALLED_MATERIAL_NAMES): TlsMaterial {
  const chain = parseCertificates(m.certChainPem, names.certChain);
  const roots = parseCertificates(m.rootCertPem, names.root);
  const leaf = chain[0]!;
  for (let i = 0; i + 1 < chain.length; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new Error(`${names.certChain}: certificate ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) is not signed by certificate ${i + 2} of the chain`);
    }
  }
  const last = chain[chain.length - 1]!;
  const anchored = roots.some((r) => r.fingerprint256 === last.fingerprint256 || (last.checkIssued(r) && last.verify(r.publicKey)));
  if (!anchored) {
    throw new Error(`${names.certChain} does not verify against ${names.root}: the chain ends at issuer "${last.issuer.replace(/\n/g, ', ')}", which is not among the ${roots.length} root certificate(s)`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(m.keyPem);
  } catch (err) {
    throw new Error(`${names.key} is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) throw new Error(`${names.key} does not match the certificate in ${names.certChain}`);
  const identity = uriSansFromSubjectAltName(leaf.subjectAltName).find((u) => u.startsWith('spiffe://'));
  return { certChainPem: m.certChainPem, keyPem: m.keyPem, rootCertPem: m.rootCertPem, identity, notAfter: new Date(leaf.validTo), notBefore: new Date(leaf.validFrom) };
}

/** Why the leaf cannot be presented at `now` (expired, not yet valid), or undefined when it can. Pure. */
export function validityProblem(m: Pick<TlsMaterial, 'notAfter' | 'notBefore' | 'identity'>, now: Date): string | undefined {
  const who = m.identity ?? 'the waypoint certificate';
  if (now.getTime() > m.notAfter.getTime()) return `certificate ${who} expired at ${m.notAfter.toISOString()}`;
  if (m.notBefore !== undefined && now.getTime() < m.notBefore.getTime()) return `certificate ${who} is not valid before ${m.notBefore.toISOString()}`;
  return undefined;
}

/** Reads and checks one certificate directory (`checkTlsMaterial`). Errors name the file. */
export async function readTlsMaterial(dir: string): Promise<TlsMaterial> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${join(dir, file)}: ${(err as Error).message}`, { cause: err });
    }
  };
  const [certChainPem, keyPem, rootCertPem] = await Promise.all([
    read(CERT_CHAIN_FILE),
    read(KEY_FILE),
    read(ROOT_CERT_FILE),
  ]);
  return checkTlsMaterial({ certChainPem, keyPem, rootCertPem }, { certChain: join(dir, CERT_CHAIN_FILE), key: join(dir, KEY_FILE), root: join(dir, ROOT_CERT_FILE) });
}

/**
 * The waypoint's current certificate, re-read when the files change (kubelet and istio-agent
 * replace them in place or swap a symlinked directory). A bad replacement (see `checkTlsMaterial`)
 * is reported as 'rejected' and the last good material is kept. The constructor trusts its
 * argument (test kits build material by hand); `fromDir`, `install` and reloads check it.
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
   * Installs new material (a renewed certificate from a CA, a replacement read from files) after
   * checking it (`checkTlsMaterial`; errors name the parts by `names`): new handshakes use it from
   * now on; open sessions are not touched. Emits 'update'. Throws, keeping the current material,
   * when the chain does not verify against its roots or the key does not match.
   */
  install(material: Pick<TlsMaterial, 'certChainPem' | 'keyPem' | 'rootCertPem'>, names: TlsMaterialNames = INSTALLED_MATERIAL_NAMES): TlsMaterial {
    const checked = checkTlsMaterial(material, names);
    this.#current = checked;
    this.emit('update', checked);
    return checked;
  }

  /**
   * Re-reads the directory now (a file change, or SIGHUP): installs material that differs from
   * the current one; a bad set is reported as 'rejected' and the current material kept.
   * `not-files`: this source was not read from a directory (Istio's CA, a test kit).
   */
  async reload(): Promise<'updated' | 'unchanged' | 'rejected' | 'not-files'> {
    const dir = this.#dir;
    if (dir === undefined) return 'not-files';
    try {
      const m = await readTlsMaterial(dir);
      if (m.certChainPem === this.#current.certChainPem && m.keyPem === this.#current.keyPem && m.rootCertPem === this.#current.rootCertPem) return 'unchanged';
      this.install(m, { certChain: join(dir, CERT_CHAIN_FILE), key: join(dir, KEY_FILE), root: join(dir, ROOT_CERT_FILE) });
      return 'updated';
    } catch (err) {
      this.emit('rejected', err instanceof Error ? err : new Error(String(err)));
      return 'rejected';
    }
  }

  /** Starts watching the directory; emits 'update' (TlsMaterial) or 'rejected' (Error). */
  watch(): void {
    if (this.#dir === undefined || this.#watcher !== undefined) return;
    this.#watcher = watch(this.#dir, { persistent: false }, () => {
      if (this.#debounce !== undefined) this.#debounce.refresh();
      else
        this.#debounce = setTimeout(() => {
          this.#debounce = undefined;
          void this.reload();
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
