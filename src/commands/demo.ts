import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { HboneClientPool } from '../hbone/client-pool.js';
import { loadResourcesFromText } from '../config/load.js';
import { LoopbackMesh, type MeshPod } from '../testkit/mesh.js';
import { Tunnel } from '../testkit/tunnel.js';
import { EXAMPLE, EXAMPLE_CONFIG } from './example.js';
import { stopOnSignals } from './stop-signals.js';

interface PodDoc {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { serviceAccountName?: string; containers?: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> };
  status?: { podIP?: string };
}

/** Where the demo puts things: every address and local port can be moved; defaults unchanged. */
export interface DemoLayout {
  /** Replaces the `127.0` of every address (`127.0.10.1` → `<base>.10.1`). Default `127.0`. */
  base: string;
  /** Added to every port the demo listens on (HBONE, admin, metrics, readiness, tunnels). */
  portOffset: number;
}

/** `--base 127.N` (also `127.N.` or `127.N.0`): the first two octets of every demo address. Pure. */
export function parseDemoBase(text: string): string {
  const m = /^127\.(\d{1,3})(?:\.0?)?\.?$/.exec(text.trim());
  const n = m === null ? NaN : Number(m[1]);
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error(`--base must be 127.N with N 0-255 (the demo's addresses become 127.N.x.y), not ${JSON.stringify(text)}`);
  return `127.${n}`;
}

/** The layout applied to an address of the example (`127.0.x.y`). Pure. */
export function moveAddress(ip: string, layout: DemoLayout): string {
  return ip.replace(/^127\.0\./, `${layout.base}.`);
}

/** The example configuration with every `127.0.x.y` moved to the layout's base. Pure. */
export function moveConfig(text: string, layout: DemoLayout): string {
  return text.replace(/\b127\.0\.(\d{1,3})\.(\d{1,3})\b/g, `${layout.base}.$1.$2`);
}

/** Destination pods of the example: every Pod with a container port named `http`. */
export function examplePods(config: string): MeshPod[] {
  const { resources } = loadResourcesFromText([{ file: EXAMPLE_CONFIG, text: config }]);
  const pods: MeshPod[] = [];
  for (const r of resources) {
    if (r.kind !== 'Pod') continue;
    const doc = r.raw as unknown as PodDoc;
    const ports = (doc.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
    const http = ports.find((p) => p.name === 'http');
    const tcp = ports.find((p) => p.name === 'tcp');
    if (http === undefined || doc.status?.podIP === undefined) continue;
    pods.push({
      name: r.name,
      namespace: r.namespace,
      serviceAccount: doc.spec?.serviceAccountName ?? 'default',
      ip: doc.status.podIP,
      httpPort: http.containerPort,
      tcpPort: tcp?.containerPort,
    });
  }
  return pods;
}

export const TUNNELS = [
  { port: 15080, authority: `${EXAMPLE.vip}:80`, what: 'HTTP/1.1 to Service echo, port 80 (http)' },
  { port: 15081, authority: `${EXAMPLE.vip}:81`, what: 'h2c to Service echo, port 81 (http2)' },
  { port: 15088, authority: `${EXAMPLE.vip}:8080`, what: 'Service echo, port 8080 (sniffed)' },
  { port: 15090, authority: `${EXAMPLE.vip}:9000`, what: 'raw TCP echo on Service echo, port 9000 (tcp)' },
  { port: 15082, authority: '127.0.11.3:8080', what: 'pod echo-v2 directly by pod IP (direct chain)' },
] as const;

export interface DemoTunnel {
  port: number;
  authority: string;
  what: string;
}

/** The layout and its derived addresses: where the tunnels listen and where they lead. Pure. */
export function demoPlan(opts: { base?: string | undefined; portOffset?: number | undefined }): { layout: DemoLayout; local: string; port: (p: number) => number; tunnels: DemoTunnel[] } {
  const layout: DemoLayout = { base: opts.base === undefined ? '127.0' : parseDemoBase(opts.base), portOffset: opts.portOffset ?? 0 };
  const port = (p: number): number => p + layout.portOffset;
  return { layout, local: moveAddress('127.0.0.1', layout), port, tunnels: TUNNELS.map((t) => ({ ...t, port: port(t.port), authority: moveAddress(t.authority, layout) })) };
}

/** Opens the local tunnels (each connection one CONNECT stream to the waypoint); closes them all on a failure. */
export async function openTunnels(tunnels: readonly DemoTunnel[], local: string, to: { host: string; port: number }, expectedIdentity: string, pool: HboneClientPool, logger: Logger): Promise<Tunnel[]> {
  const open: Tunnel[] = [];
  try {
    for (const t of tunnels) {
      const tunnel = new Tunnel({ listen: { host: local, port: t.port }, to, authority: t.authority, expectedIdentity, pool, logger });
      await tunnel.listen();
      open.push(tunnel);
    }
  } catch (err) {
    await Promise.allSettled(open.map((t) => t.close()));
    throw err;
  }
  return open;
}

/** The tunnels and the commands to try, as both demos print them. Pure. */
export function tryThisLines(local: string, port: (p: number) => number, tunnels: readonly DemoTunnel[]): string[] {
  return [
    '  local tunnels (an outbound ztunnel for the client spiffe://.../ns/demo/sa/sleep):',
    ...tunnels.map((t) => `    ${local}:${t.port} -> ${t.authority.padEnd(18)} ${t.what}`),
    '',
    'Try:',
    `  curl -s http://${local}:${port(15080)}/hello                       # JSON from the echo pod that answered`,
    `  curl -s --http2-prior-knowledge http://${local}:${port(15081)}/h2  # h2c end to end`,
    `  curl -s http://${local}:${port(15088)}/sniffed                     # protocol sniffed by the waypoint`,
    `  curl -s http://${local}:${port(15082)}/direct                      # straight to pod echo-v2`,
    `  node -e "const s=require('net').connect(${port(15090)},'${local}',()=>s.end('hello over tcp\\\\n'));s.pipe(process.stdout)"`,
    `  curl -s -o /dev/null -w "%{http_code}\\n" http://${local}:${port(15021)}/healthz/ready  # readiness`,
    `  open http://${local}:${port(15000)}/ui                                # the dashboard`,
    `  npx waypoint inspect routes --admin ${local}:${port(15000)}           # compiled routes`,
    `  npx autocannon -c 16 -d 5 http://${local}:${port(15080)}/          # a first load test`,
    '',
    'Access-log lines (JSON) follow below. Ctrl-C stops the demo.',
    '',
  ];
}

/**
 * Resolves once SIGTERM, SIGINT or SIGHUP has stopped the demo: `close` runs once (bounded by
 * 5 s: a stuck peer must not keep the demo alive), then the process exits. A second signal exits
 * at once.
 */
export function untilStopped(logger: Logger, what: string, close: () => Promise<void>): Promise<void> {
  return stopOnSignals(logger, {
    signals: ['SIGTERM', 'SIGINT', 'SIGHUP'],
    deadlineMs: 5_000,
    onStop: async (signal) => {
      logger.info({ signal }, `demo stopping: ${what}`);
      await close().catch((err: unknown) => logger.error({ err }, 'demo: closing failed'));
      logger.info('demo stopped');
    },
  }).stopped;
}

/** `waypoint demo`: the whole example mesh on loopback, with tunnels for curl. */
export async function demoCommand(logger: Logger, opts: { trustDomain: string; base?: string | undefined; portOffset?: number | undefined }): Promise<void> {
  const { layout, local, port, tunnels: tunnelsToOpen } = demoPlan(opts);
  const config = moveConfig(await readFile(EXAMPLE_CONFIG, 'utf8'), layout);
  const vip = moveAddress(EXAMPLE.vip, layout);
  const mesh = await LoopbackMesh.start({
    trustDomain: opts.trustDomain,
    config,
    pods: examplePods(config),
    waypoint: { ip: moveAddress(EXAMPLE.waypointIp, layout), port: port(EXAMPLE.hbonePort), namespace: EXAMPLE.namespace, name: EXAMPLE.waypointName },
    ztunnelPort: port(EXAMPLE.hbonePort),
    admin: { host: local, port: port(15000) },
    metrics: { host: local, port: port(15020) },
    readiness: { host: local, port: port(15021) },
    logger,
  });
  const client = await mesh.client(EXAMPLE.clientNamespace, EXAMPLE.clientServiceAccount);
  let tunnels: Tunnel[];
  try {
    tunnels = await openTunnels(tunnelsToOpen, local, mesh.hbone, mesh.waypointIdentity, client, logger);
  } catch (err) {
    await mesh.close();
    throw err;
  }
  const lines = [
    '',
    'The example mesh is running on loopback (examples/demo-mesh.yaml):',
    `  waypoint ${EXAMPLE.namespace}/${EXAMPLE.waypointName}  HBONE ${mesh.hbone.host}:${mesh.hbone.port}  identity ${mesh.waypointIdentity}`,
    `  ${mesh.ztunnels.size} echo pods, each behind its own destination ztunnel on :${port(EXAMPLE.hbonePort)}; Service echo at ${vip}`,
    ...tryThisLines(local, port, tunnelsToOpen),
  ];
  process.stderr.write(lines.join('\n'));
  await untilStopped(logger, 'tunnels, waypoint, ztunnels and echo pods', async () => {
    await Promise.allSettled(tunnels.map((t) => t.close()));
    await mesh.close();
  });
}
