/**
 * `waypoint demo --kube`: the example mesh on loopback through the in-cluster path. The test kit's
 * fake Kubernetes API server (enforcing `deploy/rbac.yaml`) holds the example's objects, the fake
 * Istio CA signs the waypoint's certificate, and the waypoint itself runs as a child process,
 * `waypoint run --kubeconfig …` in Kubernetes mode with a kubeconfig, token file and mesh root
 * written to a temporary directory, beside the example's echo pods and their ztunnels. A signal
 * stops the waypoint first, then everything else the demo started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadResourcesFromText } from '../config/load.js';
import { HboneClientPool } from '../hbone/client-pool.js';
import { createMeshCa, issueWorkloadCert, type MeshCa } from '../hbone/certs.js';
import { TlsSource } from '../hbone/tls-source.js';
import { FakeIstioCa } from '../testkit/fake-istio-ca.js';
import { FakeKubeApi } from '../testkit/fake-kube-api.js';
import { servePod } from '../testkit/pod.js';
import type { Tunnel } from '../testkit/tunnel.js';
import { demoPlan, examplePods, moveAddress, moveConfig, openTunnels, tryThisLines, untilStopped } from './demo.js';
import { EXAMPLE, EXAMPLE_CONFIG } from './example.js';

export interface KubeDemoOptions {
  trustDomain: string;
  base?: string | undefined;
  portOffset?: number | undefined;
  /** Passed on to the waypoint process. */
  logLevel?: string | undefined;
}

/** The example's objects as the API server would hold them: pods running, Ready and in ambient. Pure. */
export function clusterObjects(config: string): Array<Record<string, unknown>> {
  const { resources } = loadResourcesFromText([{ file: EXAMPLE_CONFIG, text: config }]);
  return resources.map((r) => {
    const obj = structuredClone(r.raw) as Record<string, unknown>;
    if (r.kind !== 'Pod') return obj;
    const meta = (obj['metadata'] ?? {}) as Record<string, unknown>;
    const status = (obj['status'] ?? {}) as Record<string, unknown>;
    const ip = typeof status['podIP'] === 'string' ? status['podIP'] : undefined;
    // ztunnel marks the pods it captures; Kubernetes mode dials only those over HBONE.
    meta['annotations'] = { ...(meta['annotations'] as Record<string, string> | undefined), 'ambient.istio.io/redirection': 'enabled' };
    obj['metadata'] = meta;
    obj['status'] = { phase: 'Running', ...status, ...(ip !== undefined ? { podIPs: [{ ip }] } : {}), conditions: [{ type: 'Ready', status: 'True' }] };
    return obj;
  });
}

/** Where the fakes listen: beside the example's addresses, moved with them. */
const API_IP = '127.0.30.1';
const CA_IP = '127.0.30.2';
const TOKEN = 'demo-waypoint-token';

interface Started {
  close(): Promise<void>;
}

export async function kubeDemoCommand(logger: Logger, opts: KubeDemoOptions): Promise<void> {
  const { layout, local, port, tunnels: tunnelsToOpen } = demoPlan(opts);
  const config = moveConfig(await readFile(EXAMPLE_CONFIG, 'utf8'), layout);
  const dir = await mkdtemp(path.join(tmpdir(), 'waypoint-demo-kube-'));
  const started: Started[] = [];
  let waypoint: ChildProcess | undefined;
  const closeAll = async (): Promise<void> => {
    await stopProcess(waypoint);
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ca = await createMeshCa({ trustDomain: opts.trustDomain });
    const identity = `spiffe://${opts.trustDomain}/ns/${EXAMPLE.namespace}/sa/${EXAMPLE.waypointName}`;
    const api = await FakeKubeApi.start({ host: moveAddress(API_IP, layout), port: port(6443) });
    started.push(api);
    for (const obj of clusterObjects(config)) api.apply(obj);
    const istioCa = new FakeIstioCa({ host: moveAddress(CA_IP, layout), port: port(15012), ca, tokens: { [TOKEN]: identity } });
    await istioCa.start();
    started.push(istioCa);
    const pods = await startPods(config, ca, opts.trustDomain, port(EXAMPLE.hbonePort));
    started.push(...pods);

    const files = { kubeconfig: path.join(dir, 'kubeconfig'), token: path.join(dir, 'istio-token'), root: path.join(dir, 'root-cert.pem'), labels: path.join(dir, 'labels') };
    await api.writeKubeconfig(files.kubeconfig);
    await writeFile(files.token, `${TOKEN}\n`);
    await writeFile(files.root, ca.certPem);
    await writeFile(files.labels, `gateway.networking.k8s.io/gateway-name="${EXAMPLE.waypointName}"\n`);
    const hbone = { host: moveAddress(EXAMPLE.waypointIp, layout), port: port(EXAMPLE.hbonePort) };
    const args = [
      'run',
      '--kubeconfig', files.kubeconfig,
      '--namespace', EXAMPLE.namespace,
      '--service-account', EXAMPLE.waypointName,
      '--pod-labels', files.labels,
      '--ca-address', istioCa.address,
      '--ca-root', files.root,
      '--token-path', files.token,
      '--trust-domain', opts.trustDomain,
      '--hbone', `${hbone.host}:${hbone.port}`,
      '--admin', `${local}:${port(15000)}`,
      '--metrics', `${local}:${port(15020)}`,
      '--readiness', `${local}:${port(15021)}`,
      '--upstream-hbone-port', String(port(EXAMPLE.hbonePort)),
      '--access-log', 'stdout',
      '--drain-ms', '1000',
      ...(opts.logLevel !== undefined ? ['--log-level', opts.logLevel] : []),
    ];
    waypoint = startWaypoint(args, logger);
    await waitReady(`http://${local}:${port(15021)}/healthz/ready`, waypoint, 60_000);

    const client = await sourceClient(ca, opts.trustDomain, logger);
    started.push({ close: () => client.close() });
    const tunnels: Tunnel[] = await openTunnels(tunnelsToOpen, local, hbone, identity, client, logger);
    started.push(...tunnels);
    const lines = [
      '',
      'The example mesh is running on loopback through the in-cluster path (examples/demo-mesh.yaml):',
      `  fake Kubernetes API ${api.url}, deploy/rbac.yaml enforced; kubeconfig ${files.kubeconfig}`,
      `  fake Istio CA ${istioCa.address}; token ${files.token}, mesh root ${files.root}`,
      `  waypoint ${EXAMPLE.namespace}/${EXAMPLE.waypointName} (pid ${String(waypoint.pid)}): waypoint ${args.slice(0, 3).join(' ')} … in Kubernetes mode, HBONE ${hbone.host}:${hbone.port}, identity ${identity} from the CA`,
      `  ${pods.length} echo pods, each behind its own destination ztunnel on :${port(EXAMPLE.hbonePort)}; Service echo at ${moveAddress(EXAMPLE.vip, layout)}`,
      ...tryThisLines(local, port, tunnelsToOpen),
    ];
    process.stderr.write(lines.join('\n'));
  } catch (err) {
    await closeAll();
    throw err;
  }
  const running = waypoint;
  running.once('exit', (code, signal) => {
    if (process.exitCode !== undefined) return;
    logger.error({ code, signal }, 'demo: the waypoint process exited; stopping');
    process.exitCode = 1;
    process.kill(process.pid, 'SIGTERM');
  });
  await untilStopped(logger, 'waypoint process, fake API server, fake CA, ztunnels and echo pods', async () => {
    process.exitCode ??= 0;
    await closeAll();
  });
}

/** The example's echo pods, each behind its own ztunnel, with certificates from the mesh CA. */
async function startPods(config: string, ca: MeshCa, trustDomain: string, ztunnelPort: number): Promise<Started[]> {
  const served: Started[] = [];
  try {
    for (const pod of examplePods(config)) {
      const tls = await issueWorkloadCert(ca, { spiffe: `spiffe://${trustDomain}/ns/${pod.namespace}/sa/${pod.serviceAccount}` });
      served.push(await servePod({ ...pod, tls, ztunnelPort }));
    }
  } catch (err) {
    await Promise.allSettled(served.map((s) => s.close()));
    throw err;
  }
  return served;
}

/** The demo's client (`demo/sleep`) as its outbound ztunnel presents it. */
async function sourceClient(ca: MeshCa, trustDomain: string, logger: Logger): Promise<HboneClientPool> {
  const spiffe = `spiffe://${trustDomain}/ns/${EXAMPLE.clientNamespace}/sa/${EXAMPLE.clientServiceAccount}`;
  const c = await issueWorkloadCert(ca, { spiffe });
  return new HboneClientPool({ tls: new TlsSource({ certChainPem: c.certChainPem, keyPem: c.keyPem, rootCertPem: c.rootCertPem, identity: spiffe, notAfter: new Date(Date.now() + 86_400_000) }), trustDomains: [trustDomain], logger });
}

/** `waypoint ARGS` as a child of this process (the same CLI), its output on ours. */
function startWaypoint(args: string[], logger: Logger): ChildProcess {
  const env = { ...process.env };
  // The demo decides the waypoint's configuration: none of the caller's may leak in.
  for (const k of ['WAYPOINT_CONFIG', 'WAYPOINT_CERTS', 'WAYPOINT_MESH_CONFIG', 'KUBECONFIG', 'KUBERNETES_SERVICE_HOST']) delete env[k];
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  logger.info({ pid: child.pid, args: args.slice(0, 3) }, 'demo: waypoint process started');
  return child;
}

/** Polls readiness until 200 (bounded); fails if the process exits first. */
async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the waypoint process exited (${String(child.exitCode ?? child.signalCode)}) before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).trim()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the waypoint was not ready within ${timeoutMs} ms (${url}: ${last})`);
}

/** SIGTERM, then SIGKILL if it has not exited within 4 s. */
async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 4_000);
  await exited;
  clearTimeout(timer);
}
