import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { readFile } from 'node:fs/promises';
import { parseMeshConfig, type MeshConfig } from '../config/mesh-config.js';
import { formatProblem } from '../config/problems.js';
import type { ConfigProblem } from '../config/types.js';
import { TlsSource } from '../hbone/tls-source.js';
import { Waypoint } from '../waypoint.js';
import { parseAccessLogTarget } from '../metrics/access-log.js';
import { parseHostPort, type HostPort } from './address.js';
import { createDevCerts, EXAMPLE, EXAMPLE_CONFIG } from './example.js';
import { runPrimary, runWorker } from './workers.js';
import { installSafetyNet } from './safety-net.js';
import type { WaypointLimits } from '../config/limits.js';
import type { Registry } from 'prom-client';
import type { KubernetesConfigSource } from '../config/kube/source.js';
import type { CertificateSource } from '../waypoint.js';
import { resolveIdentity, type WaypointIdentity } from '../hbone/istio-ca/identity.js';
import { handleReloadSignal, planSignalReload, type SignalReloadPlan } from './reload-signal.js';
import { stopOnSignals } from './stop-signals.js';
import { decideRunMode, type RunMode, DEFAULT_CA_ROOT, DEFAULT_POD_LABELS, DEFAULT_TOKEN_PATH, resolveCaSettings } from './run-mode.js';

export interface RunFlags {
  config: string[];
  /** A kubeconfig file: the Kubernetes API is the configuration source. */
  kubeconfig?: string | undefined;
  certs?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
  trustDomain: string;
  clusterId: string;
  rootNamespace: string;
  hbone?: string | undefined;
  admin: string;
  metrics?: string | undefined;
  readiness?: string | undefined;
  upstreamHbonePort: number;
  workers: number;
  drainMs: number;
  /** Resource limits given on the command line; the rest take their defaults. */
  limits?: Partial<WaypointLimits> | undefined;
  /** Log a `stats` line this often (0: never). */
  statsIntervalMs?: number | undefined;
  /** `--access-log`: stdout, a file path or off; undefined when not given. */
  accessLog?: string | undefined;
  /** Let the admin listener bind a non-loopback address (logged as a warning). */
  adminAllowRemote?: boolean | undefined;
  /** Istio's mesh config YAML (the `mesh` key of the `istio` ConfigMap): ext_authz providers. */
  meshConfig?: string | undefined;
  serviceAccount?: string | undefined;
  /** Downward-API pod labels file (the Gateway name when `--name` is not given). */
  podLabels?: string | undefined;
  /** Istio's CA; each undefined when not given (then istiod's variables, then the defaults). */
  caAddress?: string | undefined;
  caRoot?: string | undefined;
  tokenPath?: string | undefined;
  certTtl?: string | undefined;
  /** Options given as a flag or WAYPOINT_<FLAG> rather than left at their default (`trustDomain`, `clusterId`). */
  explicit?: ReadonlySet<string> | undefined;
  /** Started as `proxy waypoint` with istiod's template args. */
  proxy?: { domain?: string | undefined; serviceCluster?: string | undefined } | undefined;
}

/** `waypoint run`: serve until SIGTERM/SIGINT, then drain and exit. */
export async function runCommand(flags: RunFlags, logger: Logger): Promise<void> {
  installSafetyNet(logger);
  const env = process.env;
  const mode = decideRunMode({ config: flags.config, certs: flags.certs, kubeconfig: flags.kubeconfig, caAddressGiven: flags.caAddress !== undefined, proxy: flags.proxy !== undefined, env });
  const example = mode.config === 'example';
  const explicit = flags.explicit ?? new Set<string>();
  if (mode.config === 'files' && flags.kubeconfig !== undefined) throw new Error('--config and --kubeconfig were both given; the configuration comes from one source');
  if (mode.config === 'kubernetes' && flags.workers > 1) throw new Error('--workers above 1 is not supported with the Kubernetes API as the source; scale with more pods');

  // In a cluster (the Kubernetes API, Istio's CA) the waypoint's identity comes from the pod.
  let identity: WaypointIdentity | undefined;
  let clusterId = flags.clusterId;
  if (mode.config === 'kubernetes' || mode.certs === 'istio-ca') {
    const { readPodLabels } = await import('../hbone/istio-ca/start.js');
    identity = resolveIdentity({
      namespace: flags.namespace,
      serviceAccount: flags.serviceAccount,
      name: flags.name,
      trustDomain: explicit.has('trustDomain') ? flags.trustDomain : undefined,
      env,
      podLabels: await readPodLabels(flags.podLabels ?? DEFAULT_POD_LABELS, logger),
      domain: flags.proxy?.domain,
      serviceCluster: flags.proxy?.serviceCluster,
    });
    clusterId = explicit.has('clusterId') ? flags.clusterId : (env.ISTIO_META_CLUSTER_ID ?? '').trim() || flags.clusterId;
    logger.info({ namespace: identity.namespace, serviceAccount: identity.serviceAccount, name: identity.name, trustDomain: identity.trustDomain, from: identity.from, config: mode.config, certificates: mode.certs }, 'waypoint identity');
  }

  // In Kubernetes mode Istio's mesh config is the `istio` ConfigMap of the root namespace, unless --mesh-config is given.
  if (mode.config === 'kubernetes' && flags.meshConfig !== undefined) logger.info({ meshConfig: flags.meshConfig, ignored: `${flags.rootNamespace}/istio` }, 'mesh config from --mesh-config: the istio ConfigMap is ignored');
  const source = mode.config === 'kubernetes' ? await kubernetesSource(flags.kubeconfig ?? IN_CLUSTER, logger, flags.meshConfig === undefined ? flags.rootNamespace : undefined) : undefined;
  let certDir = flags.certs;
  let clientDir: string | undefined;
  let certificates: CertificateSource | undefined;
  let caTls: TlsSource | undefined;
  if (mode.certs === 'istio-ca') {
    if (flags.workers > 1) throw new Error("--workers above 1 needs --certs; with certificates from Istio's CA, scale with more pods");
    const ca = resolveCaSettings({ caAddress: flags.caAddress, clusterId: explicit.has('clusterId') ? flags.clusterId : undefined, certTtl: flags.certTtl, env });
    const { startIstioCertificates } = await import('../hbone/istio-ca/start.js');
    const manager = await startIstioCertificates({
      identity: (identity as WaypointIdentity).spiffe,
      caAddress: ca.caAddress,
      caRoot: flags.caRoot ?? DEFAULT_CA_ROOT,
      tokenPath: flags.tokenPath ?? DEFAULT_TOKEN_PATH,
      clusterId: ca.clusterId,
      ttlSeconds: ca.certTtlSeconds,
      logger,
    });
    certificates = manager;
    caTls = manager.tls;
  }
  // Workers use the certificates their primary made (dev certificates are made once).
  const inherited = cluster.isWorker ? process.env.WAYPOINT_WORKER_CERTS : undefined;
  if (inherited !== undefined) certDir = inherited;
  else if (example) {
    const dev = await createDevCerts(flags.trustDomain);
    certDir = dev.waypointDir;
    clientDir = dev.clientDir;
  }
  // The built-in example is loopback-only; a real deployment listens on every interface.
  const listen = (flag: string | undefined, exampleDefault: string, realDefault: string, what: string): HostPort =>
    parseHostPort(flag ?? (example ? exampleDefault : realDefault), what);
  const hbone = listen(flags.hbone, `${EXAMPLE.waypointIp}:${EXAMPLE.hbonePort}`, '0.0.0.0:15008', '--hbone');
  const admin = parseHostPort(flags.admin, '--admin');
  const metrics = listen(flags.metrics, '127.0.0.1:15020', '0.0.0.0:15020', '--metrics');
  const readiness = listen(flags.readiness, '127.0.0.1:15021', '0.0.0.0:15021', '--readiness');

  const meshConfig = flags.meshConfig === undefined ? undefined : await readMeshConfig(flags.meshConfig);
  const base = {
      configPaths: example ? [EXAMPLE_CONFIG] : flags.config,
      source,
      namespace: example ? EXAMPLE.namespace : identity?.namespace ?? flags.namespace,
      name: example ? EXAMPLE.waypointName : identity?.name ?? flags.name,
      trustDomain: identity?.trustDomain ?? flags.trustDomain,
      clusterId,
      rootNamespace: flags.rootNamespace,
      hbone,
      admin,
      metrics,
      readiness,
      upstreamHbonePort: flags.upstreamHbonePort,
      drainMs: flags.drainMs,
      limits: flags.limits,
      statsIntervalMs: flags.statsIntervalMs,
      // --access-log first, then Istio's meshConfig.accessLogFile, else off (Istio's default).
      accessLog: parseAccessLogTarget(flags.accessLog ?? meshConfig?.accessLogFile ?? 'off'),
      adminAllowRemote: flags.adminAllowRemote === true,
      meshConfig,
  };
  if (flags.workers > 1 || cluster.isWorker) {
    if (cluster.isWorker) {
      await runWorker({ ...base, tls: await TlsSource.fromDir(certDir as string), logger: logger.child({ worker: cluster.worker?.id }) });
      return;
    }
    process.env.WAYPOINT_WORKER_CERTS = certDir;
    if (example) printExampleHelp(hbone, clientDir);
    try {
      await runPrimary({ ...base, tls: await TlsSource.fromDir(certDir as string), logger, certDir: certDir as string, workers: flags.workers, reloadPlan: signalReloadPlan(mode) }, logger);
    } catch (err) {
      printProblems(err);
      throw err;
    }
    return;
  }
  let waypoint: Waypoint;
  const tls = caTls ?? (await TlsSource.fromDir(certDir as string));
  try {
    waypoint = await Waypoint.start({
      ...base,
      tls,
      certificates,
      logger,
      ...(source !== undefined ? { source, failClosedPolicies: true, ambientDetection: 'kubernetes' as const, registerMetrics: (r: Registry) => source.registerMetrics(r) } : {}),
    });
  } catch (err) {
    certificates?.close();
    printProblems(err);
    throw err;
  }
  if (example) printExampleHelp(hbone, clientDir);
  handleReloadSignal({ plan: signalReloadPlan(mode), store: waypoint.store, tls, logger });
  const { stopped, stop } = stopOnSignals(logger, {
    signals: ['SIGTERM', 'SIGINT'],
    onStop: async (signal) => {
      logger.info({ signal, drainMs: flags.drainMs }, 'draining');
      await waypoint.drain();
      await waypoint.close();
    },
  });
  // With certificates from the CA the HBONE listener opens later; if it cannot, stop.
  waypoint.serving.catch((err: Error) => {
    logger.fatal({ err: err.message }, 'cannot open the HBONE listener: exiting');
    process.exitCode = 1;
    stop('hbone-listen-failed');
  });
  await stopped;
}

/**
 * The Kubernetes API is the source with `--kubeconfig` (or `KUBECONFIG`), or in a pod
 * (`KUBERNETES_SERVICE_HOST` set) when no `--config` is given: the kubeconfig file, or `in-cluster`.
 */
/** The kubeconfig path that stands for the pod's own service-account credentials. */
const IN_CLUSTER = 'in-cluster';

/** `meshNamespace`: follow the `istio` ConfigMap of that namespace (Istio's root namespace). */
async function kubernetesSource(kube: string, logger: Logger, meshNamespace: string | undefined): Promise<KubernetesConfigSource> {
  const { KubeApiClient } = await import('../config/kube/api-client.js');
  const { KubernetesConfigSource } = await import('../config/kube/source.js');
  const client = kube === IN_CLUSTER ? KubeApiClient.inCluster() : KubeApiClient.fromFile(kube);
  const meshConfigMap = meshNamespace === undefined ? undefined : new (await import('../config/kube/mesh-config-map.js')).MeshConfigMap({ namespace: meshNamespace, logger });
  return new KubernetesConfigSource({ client, logger, meshConfigMap });
}

/** What SIGHUP re-reads: files only (Kubernetes API objects and Istio CA certificates follow on their own). */
function signalReloadPlan(mode: RunMode): SignalReloadPlan {
  return planSignalReload(mode.config === 'kubernetes' ? 'kubernetes' : 'files', mode.certs === 'istio-ca' ? 'istio-ca' : 'files');
}

function printProblems(err: unknown): void {
  const problems = (err as { problems?: ConfigProblem[] }).problems;
  if (problems !== undefined) for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
}

function printExampleHelp(hbone: HostPort, clientDir: string | undefined): void {
  process.stderr.write(
    [
      '',
      'Serving the built-in example mesh (examples/demo-mesh.yaml) with fresh development certificates.',
      `Its echo pods are not running here; \`waypoint demo\` (npm start) starts them too.`,
      'Send traffic through it as the example client would:',
      `  npx waypoint tunnel --listen 127.0.0.1:15080 --to ${hbone.host}:${hbone.port} --authority ${EXAMPLE.vip}:80 --certs ${clientDir ?? '<client certs>'}`,
      '  curl -s http://127.0.0.1:15080/hello',
      '',
    ].join('\n'),
  );
}

/** Reads `--mesh-config` at start-up; a bad file stops the start with every error. */
async function readMeshConfig(file: string): Promise<MeshConfig> {
  const result = parseMeshConfig(await readFile(file, 'utf8'));
  if (!result.ok) throw new Error(`--mesh-config ${file}: ${result.errors.join('; ')}`);
  return result.config;
}
