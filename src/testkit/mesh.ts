import type { MeshConfig } from '../config/mesh-config.js';
import type { DnsResolve } from '../l7/upstream/dns-cache.js';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { createMeshCa, issueWorkloadCert, writeCertDir, type MeshCa, type WorkloadCert } from '../hbone/certs.js';
import { HboneClientPool } from '../hbone/client-pool.js';
import { spiffeId } from '../hbone/spiffe.js';
import { TlsSource, type TlsMaterial } from '../hbone/tls-source.js';
import type { WaypointLimits } from '../config/limits.js';
import { Waypoint, type WaypointOptions } from '../waypoint.js';
import type { AccessLogTarget } from '../metrics/access-log.js';
import type { ListenAddress } from '../admin/servers.js';
import type { EchoApp } from './echo-app.js';
import type { FakeZtunnel, ZtunnelBehaviour } from './fake-ztunnel.js';
import { HboneHttpClient } from './hbone-http-client.js';
import { captureLogs, type LogLine } from './log-capture.js';
import { podManifest } from './pod-manifest.js';
import { servePod } from './pod.js';

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
  /** Tear tunnels down exactly as ztunnel does (see `FakeZtunnelOptions.strict`). */
  strictZtunnel?: boolean;
  /** Run the echo app on the pod's ports (default); false: the test serves the pod itself. */
  echo?: boolean;
  /** Pod labels, for the Pod resource `podResources` writes. */
  labels?: Record<string, string>;
  /** Named container ports of that Pod resource; default `http` and, when set, `tcp`. */
  containerPorts?: Record<string, number>;
}

export interface LoopbackMeshOptions {
  trustDomain?: string;
  /** Kubernetes YAML for the waypoint (written to a temporary config directory). */
  config: string;
  /** More YAML documents (each starting with `---`), appended to `config`. */
  extraConfig?: string;
  /** Also write a Pod resource for every pod (labels, named ports, pod IP) after the config. */
  podResources?: boolean;
  waypoint: { ip: string; port?: number; namespace: string; name: string; serviceAccount?: string };
  pods: MeshPod[];
  /** Port every destination ztunnel listens on; 0 picks a free one. */
  ztunnelPort?: number;
  /** Where the waypoint and the source clients log; default: nowhere, or `captureLogs`. */
  logger?: Logger;
  /** Keep the log lines in memory (`LoopbackMesh.logs`) at this level; ignored with `logger`. */
  captureLogs?: string;
  /**
   * Where the waypoint's access log goes; default: through `logger` (or the captured lines) when
   * one is given, so tests and the demo see `msg: "access"` lines, else off.
   */
  accessLog?: AccessLogTarget;
  /** More servers on pod addresses (test backends): started first, closed with the mesh. */
  backends?: ReadonlyArray<{ listen(): Promise<unknown>; close(): Promise<void> }>;
  /** Waypoint resource limits; each one left out takes its default. */
  limits?: Partial<WaypointLimits>;
  /** Reload when the config directory changes (default true). */
  watch?: boolean;
  admin?: ListenAddress;
  metrics?: ListenAddress;
  readiness?: ListenAddress;
  /** Istio's mesh config (ext_authz providers for CUSTOM policies). */
  meshConfig?: MeshConfig;
  /** RequestAuthentication JWKS fetches (CAs to trust, refresh timings). */
  jwks?: WaypointOptions['jwks'];
  /** Resolves ServiceEntry DNS endpoints instead of the system resolver. */
  dnsResolve?: DnsResolve;
}

/** The Pod resource `podResources` writes for a mesh pod. */
export function meshPodManifest(pod: MeshPod): string {
  const ports = pod.containerPorts ?? { http: pod.httpPort, ...(pod.tcpPort === undefined ? {} : { tcp: pod.tcpPort }) };
  return podManifest({ name: pod.name, namespace: pod.namespace, serviceAccount: pod.serviceAccount, ip: pod.ip, labels: pod.labels, containerPorts: ports });
}

interface MeshParts {
  ca: MeshCa;
  dir: string;
  waypoint: Waypoint;
  ztunnels: Map<string, FakeZtunnel>;
  ztunnelsByPod: Map<string, FakeZtunnel>;
  apps: EchoApp[];
  backends: ReadonlyArray<{ close(): Promise<void> }>;
  trustDomain: string;
  waypointIdentity: string;
  logger: Logger;
  logs: LogLine[];
}

/**
 * The whole mesh on loopback: a CA, a destination ztunnel per pod (with the pod's echo app
 * behind it), the waypoint with its configuration directory, and source clients.
 */
export class LoopbackMesh {
  readonly ca: MeshCa;
  /** Temporary directory holding `config/` and `waypoint-certs/`; removed on close. */
  readonly dir: string;
  readonly waypoint: Waypoint;
  /** Destination ztunnels by pod IP. */
  readonly ztunnels: ReadonlyMap<string, FakeZtunnel>;
  readonly apps: readonly EchoApp[];
  readonly trustDomain: string;
  readonly waypointIdentity: string;
  /** Log lines kept with the `captureLogs` option (empty otherwise). */
  readonly logs: readonly LogLine[];
  readonly #ztunnelsByPod: ReadonlyMap<string, FakeZtunnel>;
  readonly #backends: ReadonlyArray<{ close(): Promise<void> }>;
  readonly #clients: HboneClientPool[] = [];
  readonly #logger: Logger;

  private constructor(init: MeshParts) {
    this.#backends = init.backends;
    this.ca = init.ca;
    this.dir = init.dir;
    this.waypoint = init.waypoint;
    this.ztunnels = init.ztunnels;
    this.#ztunnelsByPod = init.ztunnelsByPod;
    this.apps = init.apps;
    this.trustDomain = init.trustDomain;
    this.waypointIdentity = init.waypointIdentity;
    this.logs = init.logs;
    this.#logger = init.logger;
  }

  static async start(opts: LoopbackMeshOptions): Promise<LoopbackMesh> {
    const trustDomain = opts.trustDomain ?? 'cluster.local';
    const captured = opts.logger === undefined && opts.captureLogs !== undefined ? captureLogs(opts.captureLogs) : undefined;
    const logger = opts.logger ?? captured?.logger ?? pino({ level: 'silent' });
    const dir = await mkdtemp(join(tmpdir(), 'waypoint-mesh-'));
    const ca = await createMeshCa({ trustDomain });
    const started: Array<{ close(): Promise<void> }> = [];
    try {
      for (const backend of opts.backends ?? []) {
        await backend.listen();
        started.push(backend);
      }
      const ztunnels = new Map<string, FakeZtunnel>();
      const ztunnelsByPod = new Map<string, FakeZtunnel>();
      const apps: EchoApp[] = [];
      let ztunnelPort = opts.ztunnelPort ?? 0;
      for (const pod of opts.pods) {
        const cert = await issueWorkloadCert(ca, { spiffe: pod.presentIdentity ?? spiffeId(trustDomain, pod.namespace, pod.serviceAccount) });
        const served = await servePod({ ...pod, tls: cert, ztunnelPort });
        ztunnelPort = served.ztunnel.port;
        started.push(served.ztunnel);
        ztunnels.set(pod.ip, served.ztunnel);
        ztunnelsByPod.set(pod.name, served.ztunnel);
        if (served.app === undefined) continue;
        started.push(served.app);
        apps.push(served.app);
      }
      const waypointIdentity = spiffeId(trustDomain, opts.waypoint.namespace, opts.waypoint.serviceAccount ?? opts.waypoint.name);
      const wpCert = await issueWorkloadCert(ca, { spiffe: waypointIdentity });
      const certDir = join(dir, 'waypoint-certs');
      await writeCertDir(certDir, wpCert);
      const configDir = join(dir, 'config');
      await mkdir(configDir, { recursive: true });
      const podResources = opts.podResources === true ? opts.pods.map(meshPodManifest).join('') : '';
      await writeFile(join(configDir, 'mesh.yaml'), `${opts.config}${opts.extraConfig ?? ''}${podResources}`);
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
        watch: opts.watch ?? true,
        limits: opts.limits,
        meshConfig: opts.meshConfig,
        jwks: opts.jwks,
        dnsResolve: opts.dnsResolve,
        accessLog: opts.accessLog ?? (opts.logger !== undefined || captured !== undefined ? { kind: 'logger', logger } : undefined),
      });
      return new LoopbackMesh({ ca, dir, waypoint, ztunnels, ztunnelsByPod, apps, backends: opts.backends ?? [], trustDomain, waypointIdentity, logger, logs: captured?.lines ?? [] });
    } catch (err) {
      await Promise.allSettled(started.map((s) => s.close()));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The waypoint's watched configuration directory. */
  get configDir(): string {
    return join(this.dir, 'config');
  }

  /** The waypoint's certificate directory (for `waypoint run --certs`). */
  get certDir(): string {
    return join(this.dir, 'waypoint-certs');
  }

  /** The destination ztunnel in front of a pod, by pod name. */
  ztunnelOf(podName: string): FakeZtunnel {
    const zt = this.#ztunnelsByPod.get(podName);
    if (zt === undefined) throw new Error(`no pod ${podName} in the mesh`);
    return zt;
  }

  /** Issues a workload certificate from the mesh CA. */
  issue(namespace = 'default', serviceAccount = 'sleep'): Promise<WorkloadCert> {
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

  /** HTTP through the waypoint to `authority` over a source client's tunnels. */
  via(pool: HboneClientPool, authority: string): HboneHttpClient {
    return new HboneHttpClient(pool, { ...this.hbone, authority, expectedIdentity: this.waypointIdentity });
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
    await Promise.allSettled(this.#backends.map((b) => b.close()));
    await rm(this.dir, { recursive: true, force: true });
  }
}
