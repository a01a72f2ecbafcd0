import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { createMeshCa, issueWorkloadCert, writeCertDir, type MeshCa, type WorkloadCert } from '../hbone/certs.js';
import { HboneClientPool } from '../hbone/client-pool.js';
import { spiffeId } from '../hbone/spiffe.js';
import { TlsSource, type TlsMaterial } from '../hbone/tls-source.js';
import { Waypoint } from '../waypoint.js';
import type { ListenAddress } from '../admin/servers.js';
import { EchoApp } from './echo-app.js';
import { FakeZtunnel, type ZtunnelBehaviour } from './fake-ztunnel.js';

export interface MeshPod {
  name: string;
  namespace: string;
  serviceAccount: string;
  /** Loopback pod IP (127.x.y.z). */
  ip: string;
  /** Echo app HTTP/1.1 + h2c port. */
  httpPort: number;
  /** Echo app raw TCP port. */
  tcpPort?: number;
  behaviour?: ZtunnelBehaviour;
  /** Serve the ztunnel with this identity instead of the pod's own (wrong-identity tests). */
  presentIdentity?: string;
}

export interface LoopbackMeshOptions {
  trustDomain?: string;
  /** Kubernetes YAML for the waypoint (written to a temporary config directory). */
  config: string;
  waypoint: { ip: string; port?: number; namespace: string; name: string; serviceAccount?: string };
  pods: MeshPod[];
  /** Port every destination ztunnel listens on; 0 picks a free one. */
  ztunnelPort?: number;
  logger?: Logger;
  admin?: ListenAddress;
  metrics?: ListenAddress;
  readiness?: ListenAddress;
}

/** The whole mesh on loopback: CA, destination ztunnels with echo pods, the waypoint. */
export class LoopbackMesh {
  readonly ca: MeshCa;
  readonly dir: string;
  readonly waypoint: Waypoint;
  readonly ztunnels: ReadonlyMap<string, FakeZtunnel>;
  readonly apps: readonly EchoApp[];
  readonly trustDomain: string;
  readonly waypointIdentity: string;
  readonly #clients: HboneClientPool[] = [];
  readonly #logger: Logger;

  private constructor(init: {
    ca: MeshCa;
    dir: string;
    waypoint: Waypoint;
    ztunnels: Map<string, FakeZtunnel>;
    apps: EchoApp[];
    trustDomain: string;
    waypointIdentity: string;
    logger: Logger;
  }) {
    this.ca = init.ca;
    this.dir = init.dir;
    this.waypoint = init.waypoint;
    this.ztunnels = init.ztunnels;
    this.apps = init.apps;
    this.trustDomain = init.trustDomain;
    this.waypointIdentity = init.waypointIdentity;
    this.#logger = init.logger;
  }

  static async start(opts: LoopbackMeshOptions): Promise<LoopbackMesh> {
    const trustDomain = opts.trustDomain ?? 'cluster.local';
    const logger = opts.logger ?? pino({ level: 'silent' });
    const dir = await mkdtemp(join(tmpdir(), 'waypoint-mesh-'));
    const ca = await createMeshCa({ trustDomain });
    const started: Array<{ close(): Promise<void> }> = [];
    try {
      const ztunnels = new Map<string, FakeZtunnel>();
      const apps: EchoApp[] = [];
      let ztunnelPort = opts.ztunnelPort ?? 0;
      for (const pod of opts.pods) {
        const cert = await issueWorkloadCert(ca, { spiffe: pod.presentIdentity ?? spiffeId(trustDomain, pod.namespace, pod.serviceAccount) });
        const zt = new FakeZtunnel({ host: pod.ip, port: ztunnelPort, tls: cert, behaviour: pod.behaviour });
        ztunnelPort = await zt.listen();
        started.push(zt);
        ztunnels.set(pod.ip, zt);
        const app = new EchoApp({
          host: pod.ip,
          httpPort: pod.httpPort,
          tcpPort: pod.tcpPort,
          pod: pod.name,
          namespace: pod.namespace,
          peerIdentity: (port) => zt.peerForLocalPort(port),
        });
        await app.listen();
        started.push(app);
        apps.push(app);
      }
      const waypointIdentity = spiffeId(trustDomain, opts.waypoint.namespace, opts.waypoint.serviceAccount ?? opts.waypoint.name);
      const wpCert = await issueWorkloadCert(ca, { spiffe: waypointIdentity });
      const certDir = join(dir, 'waypoint-certs');
      await writeCertDir(certDir, wpCert);
      const configDir = join(dir, 'config');
      await mkdir(configDir, { recursive: true });
      await writeFile(join(configDir, 'mesh.yaml'), opts.config);
      const tls = await TlsSource.fromDir(certDir);
      const waypoint = await Waypoint.start({
        configPaths: [configDir],
        tls,
        logger,
        namespace: opts.waypoint.namespace,
        name: opts.waypoint.name,
        trustDomain,
        clusterId: 'Kubernetes',
        hbone: { host: opts.waypoint.ip, port: opts.waypoint.port ?? 0 },
        admin: opts.admin,
        metrics: opts.metrics,
        readiness: opts.readiness,
        upstreamHbonePort: ztunnelPort,
        watch: true,
      });
      return new LoopbackMesh({ ca, dir, waypoint, ztunnels, apps, trustDomain, waypointIdentity, logger });
    } catch (err) {
      await Promise.allSettled(started.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Issues a workload certificate from the mesh CA. */
  issue(namespace: string, serviceAccount: string): Promise<WorkloadCert> {
    return issueWorkloadCert(this.ca, { spiffe: spiffeId(this.trustDomain, namespace, serviceAccount) });
  }

  /** An HBONE client with a source workload's identity (a "source ztunnel"), closed with the mesh. */
  async client(namespace = 'default', serviceAccount = 'sleep', cert?: WorkloadCert, localAddress?: string): Promise<HboneClientPool> {
    const c = cert ?? (await this.issue(namespace, serviceAccount));
    const material: TlsMaterial = {
      certChainPem: c.certChainPem,
      keyPem: c.keyPem,
      rootCertPem: c.rootCertPem,
      identity: c.spiffe,
      notAfter: new Date(Date.now() + 86_400_000),
    };
    const pool = new HboneClientPool({ tls: new TlsSource(material), trustDomains: [this.trustDomain], logger: this.#logger, ...(localAddress === undefined ? {} : { localAddress }) });
    this.#clients.push(pool);
    return pool;
  }

  /** Writes a client certificate directory (for `waypoint tunnel --certs`). */
  async writeClientCerts(dir: string, namespace = 'default', serviceAccount = 'sleep'): Promise<void> {
    await writeCertDir(dir, await this.issue(namespace, serviceAccount));
  }

  get hbone(): { host: string; port: number } {
    return { host: this.waypoint.hboneAddress.address, port: this.waypoint.hboneAddress.port };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.close()));
    await this.waypoint.close();
    await Promise.allSettled([...this.ztunnels.values()].map((z) => z.close()));
    await Promise.allSettled(this.apps.map((a) => a.close()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
