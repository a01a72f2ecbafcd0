import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { formatProblem } from '../config/problems.js';
import type { ConfigProblem } from '../config/types.js';
import { TlsSource } from '../hbone/tls-source.js';
import { Waypoint } from '../waypoint.js';
import { parseHostPort, type HostPort } from './address.js';
import { createDevCerts, EXAMPLE, EXAMPLE_CONFIG } from './example.js';
import { runPrimary, runWorker } from './workers.js';
import { installSafetyNet } from './safety-net.js';
import type { WaypointLimits } from '../config/limits.js';
import type { Registry } from 'prom-client';
import type { KubernetesConfigSource } from '../config/kube/source.js';

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
  /** Let the admin listener bind a non-loopback address (logged as a warning). */
  adminAllowRemote?: boolean | undefined;
}

/** `waypoint run`: serve until SIGTERM/SIGINT, then drain and exit. */
export async function runCommand(flags: RunFlags, logger: Logger): Promise<void> {
  installSafetyNet(logger);
  const kube = kubernetesMode(flags);
  if (kube !== undefined && flags.config.length > 0) throw new Error('--config and --kubeconfig were both given; the configuration comes from one source');
  if (kube !== undefined && flags.certs === undefined) throw new Error('Kubernetes mode needs --certs (the certificate directory) for now');
  if (kube !== undefined && flags.workers > 1) throw new Error('--workers > 1 is not supported with the Kubernetes API as the source');
  const example = kube === undefined && flags.config.length === 0 && flags.certs === undefined;
  if (!example && kube === undefined && flags.config.length === 0) throw new Error('--certs was given without --config; give both, or neither to serve the built-in example');
  if (!example && flags.certs === undefined) throw new Error('--config was given without --certs; give the directory holding cert-chain.pem, key.pem and root-cert.pem');

  let certDir = flags.certs;
  let clientDir: string | undefined;
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

  const base = {
      configPaths: example ? [EXAMPLE_CONFIG] : flags.config,
      namespace: example ? EXAMPLE.namespace : flags.namespace,
      name: example ? EXAMPLE.waypointName : flags.name,
      trustDomain: flags.trustDomain,
      clusterId: flags.clusterId,
      rootNamespace: flags.rootNamespace,
      hbone,
      admin,
      metrics,
      readiness,
      upstreamHbonePort: flags.upstreamHbonePort,
      drainMs: flags.drainMs,
      limits: flags.limits,
      statsIntervalMs: flags.statsIntervalMs,
      adminAllowRemote: flags.adminAllowRemote === true,
  };
  if (flags.workers > 1 || cluster.isWorker) {
    if (cluster.isWorker) {
      await runWorker({ ...base, tls: await TlsSource.fromDir(certDir as string), logger: logger.child({ worker: cluster.worker?.id }) });
      return;
    }
    process.env.WAYPOINT_WORKER_CERTS = certDir;
    if (example) printExampleHelp(hbone, clientDir);
    try {
      await runPrimary({ ...base, tls: await TlsSource.fromDir(certDir as string), logger, certDir: certDir as string, workers: flags.workers }, logger);
    } catch (err) {
      printProblems(err);
      throw err;
    }
    return;
  }
  let waypoint: Waypoint;
  try {
    const source = kube === undefined ? undefined : await kubernetesSource(kube, logger);
    waypoint = await Waypoint.start({
      ...base,
      tls: await TlsSource.fromDir(certDir as string),
      logger,
      ...(source !== undefined ? { source, failClosedPolicies: true, registerMetrics: (r: Registry) => source.registerMetrics(r) } : {}),
    });
  } catch (err) {
    printProblems(err);
    throw err;
  }
  if (example) printExampleHelp(hbone, clientDir);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, drainMs: flags.drainMs }, 'draining');
      waypoint
        .drain()
        .then(() => waypoint.close())
        .finally(() => {
          resolve();
          // Anything still holding the event loop (a peer that never closes) must not keep us.
          setTimeout(() => process.exit(0), 200).unref();
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * The Kubernetes API is the source with `--kubeconfig` (or `KUBECONFIG`), or in a pod
 * (`KUBERNETES_SERVICE_HOST` set) when no `--config` is given: the kubeconfig file, or `in-cluster`.
 */
function kubernetesMode(flags: RunFlags): string | undefined {
  if (flags.kubeconfig !== undefined && flags.kubeconfig !== '') return flags.kubeconfig;
  if (flags.config.length === 0 && process.env.KUBERNETES_SERVICE_HOST !== undefined && process.env.KUBERNETES_SERVICE_HOST !== '') return IN_CLUSTER;
  return undefined;
}

const IN_CLUSTER = 'in-cluster';

async function kubernetesSource(kube: string, logger: Logger): Promise<KubernetesConfigSource> {
  const { KubeApiClient } = await import('../config/kube/api-client.js');
  const { KubernetesConfigSource } = await import('../config/kube/source.js');
  const client = kube === IN_CLUSTER ? KubeApiClient.inCluster() : KubeApiClient.fromFile(kube);
  return new KubernetesConfigSource({ client, logger });
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
