import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageFile } from '../config/files.js';
import { spiffeId } from '../hbone/spiffe.js';

/** The example mesh shipped in the package (examples/demo-mesh.yaml), found above this module. */
export const EXAMPLE_CONFIG = findPackageFile(join('examples', 'demo-mesh.yaml'), import.meta.url) ?? fileURLToPath(new URL('../../../examples/demo-mesh.yaml', import.meta.url));

/** Loopback layout of the example mesh. */
export const EXAMPLE = {
  namespace: 'demo',
  waypointName: 'waypoint',
  waypointIp: '127.0.10.1',
  hbonePort: 15008,
  clientNamespace: 'demo',
  clientServiceAccount: 'sleep',
  vip: '127.0.20.1',
} as const;

export interface DevCerts {
  dir: string;
  caDir: string;
  waypointDir: string;
  clientDir: string;
}

/** A fresh development CA plus certificates for the waypoint and the example client. */
export async function createDevCerts(trustDomain: string): Promise<DevCerts> {
  const { createMeshCa, issueWorkloadCert, writeCaDir, writeCertDir } = await import('../hbone/certs.js');
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-dev-certs-'));
  const ca = await createMeshCa({ trustDomain });
  const caDir = join(dir, 'ca');
  const waypointDir = join(dir, 'waypoint');
  const clientDir = join(dir, 'client');
  await writeCaDir(caDir, ca);
  await writeCertDir(waypointDir, await issueWorkloadCert(ca, { spiffe: spiffeId(trustDomain, EXAMPLE.namespace, EXAMPLE.waypointName), validDays: 30 }));
  await writeCertDir(clientDir, await issueWorkloadCert(ca, { spiffe: spiffeId(trustDomain, EXAMPLE.clientNamespace, EXAMPLE.clientServiceAccount), validDays: 30 }));
  return { dir, caDir, waypointDir, clientDir };
}
