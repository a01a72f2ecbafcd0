/**
 * Builds the benchmark mesh on loopback: certificates, configuration directories, and the
 * processes (backends, waypoints, one `waypoint tunnel` per mode), each waited for.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMeshCa, issueWorkloadCert, writeCertDir, type WorkloadCert } from '../src/hbone/certs.js';
import { spiffeId } from '../src/hbone/spiffe.js';
import {
  baseConfig,
  CLIENT_IP,
  CLIENT_SA,
  loadedConfig,
  NAMESPACE,
  POD_COUNT,
  POD_SA,
  podCertDir,
  WAYPOINT_IPS,
  WAYPOINT_NAME,
  WAYPOINT_PORTS,
  type WaypointKey,
} from './config.js';
import { spawnBackends, spawnCli, spawnCliWith, waitForLine, waitForPort, waitForReady, type Child } from './processes.js';

export interface WaypointSpec {
  key: WaypointKey;
  config: 'base' | 'loaded';
  workers: number;
}

export interface TunnelSpec {
  key: string;
  /** The waypoint to dial, or none: straight to the destination pod's ztunnel (baseline). */
  waypoint: WaypointKey | undefined;
  /** Destination pod ztunnel when `waypoint` is undefined. */
  podIp?: string;
  authority: string;
  port: number;
}

export interface Mesh {
  dir: string;
  clientCert: WorkloadCert;
  backends: Child;
  /** Waypoints that started; a refusal (e.g. `--workers 2` unsupported) is in `refused`. */
  waypoints: Map<WaypointKey, Child>;
  refused: Map<WaypointKey, string>;
  /** Every tunnel process started, by key; see `tunnelsReady`. */
  tunnels: Map<string, Child>;
}

const TD = 'cluster.local';

async function writeCerts(dir: string): Promise<WorkloadCert> {
  const ca = await createMeshCa({ trustDomain: TD });
  const issue = (sa: string): Promise<WorkloadCert> => issueWorkloadCert(ca, { spiffe: spiffeId(TD, NAMESPACE, sa) });
  const [waypoint, client, ...pods] = await Promise.all([issue(WAYPOINT_NAME), issue(CLIENT_SA), ...Array.from({ length: POD_COUNT }, () => issue(POD_SA))]);
  await writeCertDir(join(dir, 'waypoint'), waypoint);
  await writeCertDir(join(dir, 'client'), client);
  await Promise.all(pods.map((p, i) => writeCertDir(podCertDir(join(dir, 'pods'), i), p)));
  return client;
}

/** Starts `waypoint run` for `w` with the files `writeMeshFiles` wrote, with extra Node options. */
export function startWaypoint(dir: string, w: WaypointSpec, nodeArgs: string[] = []): Child {
  const ip = WAYPOINT_IPS[w.key];
  return spawnCliWith(`waypoint-${w.key}`, [
    'run',
    ...['--config', join(dir, `config-${w.config}`), '--certs', join(dir, 'waypoint')],
    ...['--namespace', NAMESPACE, '--name', WAYPOINT_NAME],
    ...['--hbone', `${ip}:${WAYPOINT_PORTS.hbone}`, '--admin', `${ip}:${WAYPOINT_PORTS.admin}`],
    ...['--metrics', `${ip}:${WAYPOINT_PORTS.metrics}`, '--readiness', `${ip}:${WAYPOINT_PORTS.readiness}`],
    ...['--workers', String(w.workers), '--drain-ms', '0', '--log-level', 'warn'],
    // BENCH_WAYPOINT_ARGS (e.g. "--access-log stdout") adds waypoint flags: logging on vs off.
    ...(process.env.BENCH_WAYPOINT_ARGS ?? '').split(' ').filter((a) => a !== ''),
  ], nodeArgs);
}

/**
 * Writes the certificates (`waypoint/`, `client/`, `pods/`) and both configurations
 * (`config-base/`, `config-loaded/`) under `dir`; returns the client's certificate.
 */
export async function writeMeshFiles(dir: string): Promise<WorkloadCert> {
  const clientCert = await writeCerts(dir);
  for (const [name, yaml] of [
    ['base', baseConfig()],
    ['loaded', loadedConfig()],
  ] as const) {
    await mkdir(join(dir, `config-${name}`), { recursive: true });
    await writeFile(join(dir, `config-${name}`, 'mesh.yaml'), yaml);
  }
  return clientCert;
}

function startTunnel(dir: string, t: TunnelSpec): Child {
  const to = t.waypoint === undefined ? `${t.podIp ?? ''}:15008` : `${WAYPOINT_IPS[t.waypoint]}:${WAYPOINT_PORTS.hbone}`;
  return spawnCli(`tunnel-${t.key}`, [
    'tunnel',
    ...['--listen', `${CLIENT_IP}:${t.port}`, '--to', to, '--authority', t.authority],
    ...['--certs', join(dir, 'client'), '--log-level', 'warn'],
  ]);
}

/**
 * Writes certificates and configuration, starts the backends, the waypoints and the tunnels
 * (which dial nothing until a client connects) and waits for the waypoints; a waypoint that exits
 * before readiness is recorded in `refused`, not thrown.
 */
export async function startMesh(dir: string, waypoints: WaypointSpec[], tunnels: TunnelSpec[], log: (s: string) => void): Promise<Mesh> {
  log('certificates and configuration');
  const clientCert = await writeMeshFiles(dir);
  log(`starting the backends, ${waypoints.length} waypoints and ${tunnels.length} tunnels`);
  const backends = spawnBackends(join(dir, 'pods'));
  const started = waypoints.map((w) => ({ w, child: startWaypoint(dir, w) }));
  const ts = new Map(tunnels.map((t) => [t.key, startTunnel(dir, t)]));
  await waitForLine(backends, 'ready');
  const ws = new Map<WaypointKey, Child>();
  const refused = new Map<WaypointKey, string>();
  await Promise.all(
    started.map(async ({ w, child }) => {
      try {
        await waitForReady(child, WAYPOINT_IPS[w.key], WAYPOINT_PORTS.readiness);
        ws.set(w.key, child);
      } catch (err) {
        if (child.alive) throw err;
        // `waypoint run` prints each configuration problem on its own line, then `waypoint: <why>`.
        const lines = child.output.split('\n').filter((l) => l.startsWith('waypoint:') || l.startsWith('error:'));
        refused.set(w.key, lines.length > 0 ? lines.slice(-4).join('; ') : (err as Error).message);
      }
    }),
  );
  return { dir, clientCert, backends, waypoints: ws, refused, tunnels: ts };
}

/**
 * Waits for the tunnels whose waypoint runs (connecting once to each, which opens its HBONE
 * session) and stops the others; returns the usable ones.
 */
export async function tunnelsReady(mesh: Mesh, specs: TunnelSpec[]): Promise<Map<string, Child>> {
  const ready = new Map<string, Child>();
  await Promise.all(
    specs.map(async (t) => {
      const child = mesh.tunnels.get(t.key);
      if (child === undefined) return;
      if (t.waypoint !== undefined && !mesh.waypoints.has(t.waypoint)) return child.stop();
      await waitForPort(child, CLIENT_IP, t.port);
      ready.set(t.key, child);
    }),
  );
  return ready;
}
