import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { loadResources } from '../config/load.js';
import { LoopbackMesh, type MeshPod } from '../testkit/mesh.js';
import { Tunnel } from '../testkit/tunnel.js';
import { EXAMPLE, EXAMPLE_CONFIG } from './example.js';

interface PodDoc {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { serviceAccountName?: string; containers?: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> };
  status?: { podIP?: string };
}

/** Destination pods of the example: every Pod with a container port named `http`. */
async function examplePods(): Promise<MeshPod[]> {
  const { resources } = await loadResources([EXAMPLE_CONFIG]);
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

const TUNNELS = [
  { port: 15080, authority: `${EXAMPLE.vip}:80`, what: 'HTTP/1.1 to Service echo, port 80 (http)' },
  { port: 15081, authority: `${EXAMPLE.vip}:81`, what: 'h2c to Service echo, port 81 (http2)' },
  { port: 15088, authority: `${EXAMPLE.vip}:8080`, what: 'Service echo, port 8080 (sniffed)' },
  { port: 15090, authority: `${EXAMPLE.vip}:9000`, what: 'raw TCP echo on Service echo, port 9000 (tcp)' },
  { port: 15082, authority: '127.0.11.3:8080', what: 'pod echo-v2 directly by pod IP (direct chain)' },
] as const;

/** `waypoint demo`: the whole example mesh on loopback, with tunnels for curl. */
export async function demoCommand(logger: Logger, opts: { trustDomain: string }): Promise<void> {
  const config = await readFile(EXAMPLE_CONFIG, 'utf8');
  const mesh = await LoopbackMesh.start({
    trustDomain: opts.trustDomain,
    config,
    pods: await examplePods(),
    waypoint: { ip: EXAMPLE.waypointIp, port: EXAMPLE.hbonePort, namespace: EXAMPLE.namespace, name: EXAMPLE.waypointName },
    ztunnelPort: EXAMPLE.hbonePort,
    admin: { host: '127.0.0.1', port: 15000 },
    metrics: { host: '127.0.0.1', port: 15020 },
    readiness: { host: '127.0.0.1', port: 15021 },
    logger,
  });
  const client = await mesh.client(EXAMPLE.clientNamespace, EXAMPLE.clientServiceAccount);
  const tunnels: Tunnel[] = [];
  try {
    for (const t of TUNNELS) {
      const tunnel = new Tunnel({
        listen: { host: '127.0.0.1', port: t.port },
        to: mesh.hbone,
        authority: t.authority,
        expectedIdentity: mesh.waypointIdentity,
        pool: client,
        logger,
      });
      await tunnel.listen();
      tunnels.push(tunnel);
    }
  } catch (err) {
    await Promise.allSettled(tunnels.map((t) => t.close()));
    await mesh.close();
    throw err;
  }
  const lines = [
    '',
    'The example mesh is running on loopback (examples/demo-mesh.yaml):',
    `  waypoint ${EXAMPLE.namespace}/${EXAMPLE.waypointName}  HBONE ${mesh.hbone.host}:${mesh.hbone.port}  identity ${mesh.waypointIdentity}`,
    `  ${mesh.ztunnels.size} echo pods, each behind its own destination ztunnel on :${EXAMPLE.hbonePort}`,
    '  local tunnels (an outbound ztunnel for the client spiffe://.../ns/demo/sa/sleep):',
    ...TUNNELS.map((t) => `    127.0.0.1:${t.port} -> ${t.authority.padEnd(16)} ${t.what}`),
    '',
    'Try:',
    '  curl -s http://127.0.0.1:15080/hello                       # JSON from the echo pod that answered',
    '  curl -s --http2-prior-knowledge http://127.0.0.1:15081/h2  # h2c end to end',
    '  curl -s http://127.0.0.1:15088/sniffed                     # protocol sniffed by the waypoint',
    '  curl -s http://127.0.0.1:15082/direct                      # straight to pod echo-v2',
    `  node -e "const s=require('net').connect(15090,'127.0.0.1',()=>s.end('hello over tcp\\\\n'));s.pipe(process.stdout)"`,
    '  curl -s -o /dev/null -w "%{http_code}\\n" http://127.0.0.1:15021/healthz/ready  # readiness',
    '  curl -s http://127.0.0.1:15000/config_dump | head -40      # what the waypoint loaded',
    '  npx autocannon -c 16 -d 5 http://127.0.0.1:15080/          # a first load test',
    '',
    'Access-log lines (JSON) follow below. Ctrl-C stops the demo.',
    '',
  ];
  process.stderr.write(lines.join('\n'));
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void Promise.allSettled(tunnels.map((t) => t.close()))
        .then(() => mesh.close())
        .finally(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
