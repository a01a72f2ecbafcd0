import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { LoopbackMesh } from '../../src/testkit/mesh.js';
import { eventually } from './log-capture.js';

// For the policy re-check end-to-end tests: a policies file swapped in under a running waypoint,
// and the re-check's metric as the metrics port serves it.

/** Writes `policies.yaml` (renamed into place, so the watcher never reads half of it) and waits for the reload. */
export async function setPolicies(mesh: LoopbackMesh, yaml: string): Promise<void> {
  const before = mesh.waypoint.store.current.version;
  const tmp = join(mesh.dir, 'policies.yaml.tmp');
  await writeFile(tmp, yaml);
  await rename(tmp, join(mesh.configDir, 'policies.yaml'));
  await eventually(() => mesh.waypoint.store.current.version > before, 10_000, 'the configuration reload');
}

/** `waypoint_policy_recheck_closed_total{policy}` on the metrics port (0 when absent). */
export async function recheckClosedCount(mesh: LoopbackMesh, policy: string): Promise<number> {
  const m = mesh.waypoint.admin.addresses.metrics!;
  const res = await request(`http://${m.host}:${m.port}/stats/prometheus`, { headersTimeout: 5000, bodyTimeout: 5000 });
  const line = (await res.body.text()).split('\n').find((l) => l.startsWith(`waypoint_policy_recheck_closed_total{policy="${policy}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}
