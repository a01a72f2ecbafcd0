/**
 * The hardening test mesh on loopback, under 127.48: like LoopbackMesh, but the waypoint takes
 * resource limits, and every pod also runs a FaultApp (port 8090) beside its echo app.
 *
 * - waypoint `default/waypoint` at 127.48.0.10 (port chosen by the kernel)
 * - pods 127.48.1.(16·slot + k): each test file takes its own slot, so files running in parallel
 *   never bind the same address and port
 * - Services (VIPs are only CONNECT authorities, never bound, so files can share them):
 *   echo 127.48.10.1 → echo-1, echo-2: 80 http, 81 http2, 8081 sniffed, 9000 tcp;
 *   refuse .3 (ztunnel answers 503), imposter .4 (ztunnel shows another identity),
 *   deny .5 (ztunnel answers 401), reset .6 (ztunnel resets the CONNECT),
 *   hang .7 (ztunnel never answers; VirtualService timeout 1 s),
 *   fault .8 → fault-1's FaultApp: 80 http, 8081 sniffed (behind a StrictZtunnel, which
 *   counts the tunnels the waypoint holds and releases),
 *   fault-timeout .9 → the same, VirtualService timeout 1 s
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createMeshCa, issueWorkloadCert, writeCertDir, type MeshCa, type WorkloadCert } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { WaypointLimits } from '../../src/config/limits.js';
import { spiffeId } from '../../src/hbone/spiffe.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { EchoApp } from '../../src/testkit/echo-app.js';
import { FakeZtunnel, type ZtunnelBehaviour } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { Waypoint } from '../../src/waypoint.js';
import { FaultApp } from './fault-app.js';
import { StrictZtunnel } from './strict-ztunnel.js';

export const WAYPOINT_IP = '127.48.0.10';
export const VIP = {
  echo: '127.48.10.1',
  refuse: '127.48.10.3',
  imposter: '127.48.10.4',
  deny: '127.48.10.5',
  reset: '127.48.10.6',
  hang: '127.48.10.7',
  fault: '127.48.10.8',
  faultTimeout: '127.48.10.9',
} as const;

interface PodSpec {
  name: string;
  app: string;
  sa: string;
  behaviour: ZtunnelBehaviour;
  presentIdentity?: string;
}

const PODS: PodSpec[] = [
  { name: 'echo-1', app: 'echo', sa: 'echo', behaviour: 'forward' },
  { name: 'echo-2', app: 'echo', sa: 'echo', behaviour: 'forward' },
  { name: 'refuse-1', app: 'refuse', sa: 'refuse', behaviour: 'refuse' },
  { name: 'imposter-1', app: 'imposter', sa: 'imposter', behaviour: 'forward', presentIdentity: 'spiffe://cluster.local/ns/default/sa/someone-else' },
  { name: 'deny-1', app: 'deny', sa: 'deny', behaviour: 'deny' },
  { name: 'reset-1', app: 'reset', sa: 'reset', behaviour: 'reset' },
  { name: 'hang-1', app: 'hang', sa: 'hang', behaviour: 'hang' },
  { name: 'fault-1', app: 'fault', sa: 'fault', behaviour: 'forward' },
];

export function podIp(slot: number, index: number): string {
  return `127.48.1.${slot * 16 + index + 1}`;
}

function config(slot: number, extra: string): string {
  const pods = PODS.map(
    (p, i) => `---
apiVersion: v1
kind: Pod
metadata: { name: ${p.name}, namespace: default, labels: { app: ${p.app} } }
spec:
  serviceAccountName: ${p.sa}
  containers: [{ name: app, image: echo, ports: [{ name: http, containerPort: 8080 }, { name: tcp, containerPort: 9000 }] }]
status: { phase: Running, podIP: ${podIp(slot, i)} }
`,
  ).join('');
  const svc = (name: string, vip: string, app: string, ports: string): string => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: ${app} }
  ports:
${ports}`;
  const echoPorts = `    - { name: http, port: 80, targetPort: 8080, appProtocol: http }
    - { name: http2-echo, port: 81, targetPort: 8080 }
    - { name: echo, port: 8081, targetPort: 8080 }
    - { name: tcp-echo, port: 9000, targetPort: 9000 }
`;
  const faultPorts = `    - { name: http, port: 80, targetPort: 8090, appProtocol: http }
    - { name: sniffed, port: 8081, targetPort: 8090 }
`;
  const timeoutVs = (name: string, host: string): string => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: default }
spec:
  hosts: [${host}.default.svc.cluster.local]
  http:
    - timeout: 1s
      route: [{ destination: { host: ${host}.default.svc.cluster.local } }]
`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default, labels: { istio.io/waypoint-for: all } }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
${svc('echo', VIP.echo, 'echo', echoPorts)}${svc('refuse', VIP.refuse, 'refuse', echoPorts)}${svc('imposter', VIP.imposter, 'imposter', echoPorts)}${svc('deny', VIP.deny, 'deny', echoPorts)}${svc('reset', VIP.reset, 'reset', echoPorts)}${svc('hang', VIP.hang, 'hang', echoPorts)}${svc('fault', VIP.fault, 'fault', faultPorts)}${svc('fault-timeout', VIP.faultTimeout, 'fault', faultPorts)}${timeoutVs('hang-timeout', 'hang')}${timeoutVs('fault-timeout', 'fault-timeout')}${pods}${extra}`;
}

export interface HardeningMeshOptions {
  /** 0-14: which block of pod addresses this file uses. */
  slot: number;
  logger: Logger;
  limits?: Partial<WaypointLimits>;
  /** More YAML documents (starting with `---`). */
  extraConfig?: string;
}

export class HardeningMesh {
  readonly ca: MeshCa;
  readonly dir: string;
  readonly waypoint: Waypoint;
  readonly ztunnels: ReadonlyMap<string, FakeZtunnel>;
  readonly fault: FaultApp;
  /** fault-1's destination ztunnel. */
  readonly faultZtunnel: StrictZtunnel;
  readonly waypointIdentity: string;
  readonly #closers: Array<() => Promise<void>>;
  readonly #clients: HboneClientPool[] = [];
  readonly #logger: Logger;

  private constructor(init: {
    ca: MeshCa;
    dir: string;
    waypoint: Waypoint;
    ztunnels: Map<string, FakeZtunnel>;
    fault: FaultApp;
    faultZtunnel: StrictZtunnel;
    closers: Array<() => Promise<void>>;
    logger: Logger;
    waypointIdentity: string;
  }) {
    this.ca = init.ca;
    this.dir = init.dir;
    this.waypoint = init.waypoint;
    this.ztunnels = init.ztunnels;
    this.fault = init.fault;
    this.faultZtunnel = init.faultZtunnel;
    this.#closers = init.closers;
    this.#logger = init.logger;
    this.waypointIdentity = init.waypointIdentity;
  }

  static async start(opts: HardeningMeshOptions): Promise<HardeningMesh> {
    const dir = await mkdtemp(join(tmpdir(), 'waypoint-hardening-'));
    const ca = await createMeshCa({ trustDomain: 'cluster.local' });
    const closers: Array<() => Promise<void>> = [];
    try {
      const ztunnels = new Map<string, FakeZtunnel>();
      let ztPort = 0;
      let fault: FaultApp | undefined;
      let faultZtunnel: StrictZtunnel | undefined;
      for (const [i, p] of PODS.entries()) {
        const ip = podIp(opts.slot, i);
        const cert = await issueWorkloadCert(ca, { spiffe: p.presentIdentity ?? spiffeId('cluster.local', 'default', p.sa) });
        if (p.app === 'fault') {
          const strict = new StrictZtunnel({ host: ip, port: ztPort, tls: cert });
          await strict.listen();
          closers.push(() => strict.close());
          faultZtunnel = strict;
          const f = new FaultApp(ip, 8090);
          await f.listen();
          closers.push(() => f.close());
          fault = f;
          continue;
        }
        const zt = new FakeZtunnel({ host: ip, port: ztPort, tls: cert, behaviour: p.behaviour });
        ztPort = await zt.listen();
        closers.push(() => zt.close());
        ztunnels.set(p.name, zt);
        const echo = new EchoApp({ host: ip, httpPort: 8080, tcpPort: 9000, pod: p.name, namespace: 'default', peerIdentity: (port) => zt.peerForLocalPort(port) });
        await echo.listen();
        closers.push(() => echo.close());
      }
      const waypointIdentity = spiffeId('cluster.local', 'default', 'waypoint');
      await writeCertDir(join(dir, 'certs'), await issueWorkloadCert(ca, { spiffe: waypointIdentity }));
      await mkdir(join(dir, 'config'), { recursive: true });
      await writeFile(join(dir, 'config', 'mesh.yaml'), config(opts.slot, opts.extraConfig ?? ''));
      const waypoint = await Waypoint.start({
        configPaths: [join(dir, 'config')],
        tls: await TlsSource.fromDir(join(dir, 'certs')),
        logger: opts.logger,
        namespace: 'default',
        name: 'waypoint',
        trustDomain: 'cluster.local',
        clusterId: 'Kubernetes',
        hbone: { host: WAYPOINT_IP, port: 0 },
        upstreamHbonePort: ztPort,
        watch: false,
        limits: opts.limits,
      });
      return new HardeningMesh({ ca, dir, waypoint, ztunnels, fault: fault!, faultZtunnel: faultZtunnel!, closers, logger: opts.logger, waypointIdentity });
    } catch (err) {
      await Promise.allSettled(closers.map((c) => c()));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get hbone(): { host: string; port: number } {
    return { host: this.waypoint.hboneAddress.address, port: this.waypoint.hboneAddress.port };
  }

  issue(namespace = 'default', serviceAccount = 'sleep'): Promise<WorkloadCert> {
    return issueWorkloadCert(this.ca, { spiffe: spiffeId('cluster.local', namespace, serviceAccount) });
  }

  /** A source ztunnel for `ns/sa`, closed with the mesh. */
  async client(namespace = 'default', serviceAccount = 'sleep'): Promise<HboneClientPool> {
    const c = await this.issue(namespace, serviceAccount);
    const pool = new HboneClientPool({
      tls: new TlsSource({ certChainPem: c.certChainPem, keyPem: c.keyPem, rootCertPem: c.rootCertPem, identity: c.spiffe ?? '', notAfter: new Date(Date.now() + 86_400_000) }),
      trustDomains: ['cluster.local'],
      logger: this.#logger,
    });
    this.#clients.push(pool);
    return pool;
  }

  via(pool: HboneClientPool, authority: string): HboneHttpClient {
    return new HboneHttpClient(pool, { ...this.hbone, authority, expectedIdentity: this.waypointIdentity });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.close()));
    await this.waypoint.close();
    await Promise.allSettled(this.#closers.map((c) => c()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
