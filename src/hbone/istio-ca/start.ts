/**
 * Certificates from Istio's CA for a starting waypoint: the gRPC client and the manager that
 * keeps the certificate current. `src/commands/run.ts` loads this module only when it needs it.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { IstioCaClient } from './ca-client.js';
import { CertificateManager } from './certificate-manager.js';
import { parsePodLabels } from './identity.js';

export interface IstioCertificatesOptions {
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  identity: string;
  caAddress: string;
  caRoot: string;
  tokenPath: string;
  clusterId: string;
  ttlSeconds: number;
  logger: Logger;
}

/** Starts asking the CA; the manager's `tls` and `ready` go to `Waypoint.start`. */
export function startIstioCertificates(o: IstioCertificatesOptions): Promise<CertificateManager> {
  const ca = new IstioCaClient({ address: o.caAddress, rootCertPath: o.caRoot, tokenPath: o.tokenPath, clusterId: o.clusterId });
  o.logger.info({ ca: o.caAddress, identity: o.identity, ttlSeconds: o.ttlSeconds, caRoot: o.caRoot, tokenPath: o.tokenPath, clusterId: o.clusterId }, "certificates from Istio's CA");
  return CertificateManager.start({ identity: o.identity, ca, ttlSeconds: o.ttlSeconds, logger: o.logger, rootCertPath: o.caRoot });
}

/** The downward-API labels file, or undefined when there is none (outside a pod). */
export async function readPodLabels(path: string, logger: Logger): Promise<Map<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    logger.debug({ path, err: (err as Error).message }, 'no pod labels file');
    return undefined;
  }
  const { labels, skipped } = parsePodLabels(text);
  if (skipped.length > 0) logger.warn({ path, skipped }, 'pod labels file: lines skipped');
  return labels;
}
