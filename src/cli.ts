#!/usr/bin/env node
/**
 * The `waypoint` command: argument parsing and wiring only. Every flag also reads an environment
 * variable, shown in `--help`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parsePort } from './commands/address.js';
import { DEFAULT_LIMITS, type WaypointLimits } from './config/limits.js';
import { DEFAULT_CA_ROOT, DEFAULT_POD_LABELS, DEFAULT_TOKEN_PATH } from './commands/run-mode.js';
import type { RunFlags } from './commands/run.js';
// Commands are loaded when used, so `run` does not pay for the certificate issuer (node-forge)
// or the demo's test kit.
import { createLogger } from './logger.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}-${max}`);
    return n;
  };
}

function portArg(v: string): number {
  try {
    return parsePort(v, 'port');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Config paths from repeated flags, or the comma-separated WAYPOINT_CONFIG. */
const configPaths = (v: string[] | undefined): string[] => (v ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');

const program = new Command('waypoint')
  .description('A pure-TypeScript waypoint proxy for Istio ambient mesh: HBONE in, L7 routing and policy, HBONE out.')
  .showHelpAfterError()
  .configureHelp({ sortOptions: false });

const trustDomain = (): Option => new Option('--trust-domain <td>', 'mesh trust domain').env('WAYPOINT_TRUST_DOMAIN').default('cluster.local');
const rootNamespace = (): Option => new Option('--root-namespace <ns>', "Istio's root namespace (mesh-wide AuthorizationPolicies)").env('WAYPOINT_ROOT_NAMESPACE').default('istio-system');
const logLevel = (): Option => new Option('--log-level <level>', 'log level').env('WAYPOINT_LOG_LEVEL').choices(LEVELS).default('info');

/** The resource limits `run` takes as flags (README "Limits"); each also reads WAYPOINT_<FLAG>. */
const LIMIT_FLAGS: ReadonlyArray<{ key: keyof WaypointLimits; flag: string; help: string; min: number; max: number }> = [
  { key: 'maxSessions', flag: 'max-sessions', help: 'HBONE sessions at once; more are refused after the handshake', min: 1, max: 1_000_000 },
  { key: 'maxStreamsPerSession', flag: 'max-streams-per-session', help: 'CONNECT streams per HBONE session (SETTINGS_MAX_CONCURRENT_STREAMS)', min: 1, max: 2_147_483_647 },
  { key: 'maxHeaderBytes', flag: 'max-header-bytes', help: 'largest HTTP request head inside a tunnel (431 above)', min: 1024, max: 16 * 1024 * 1024 },
  { key: 'maxRequestBufferBytes', flag: 'max-request-buffer-bytes', help: 'largest request body buffered for retries and mirrors (larger ones stream, unretried)', min: 0, max: 1024 * 1024 * 1024 },
  { key: 'streamWindowBytes', flag: 'stream-window-bytes', help: 'HBONE per-stream receive window', min: 65_535, max: 2_147_483_647 },
  { key: 'connectionWindowBytes', flag: 'connection-window-bytes', help: 'HBONE per-session receive window', min: 65_535, max: 2_147_483_647 },
  { key: 'headersTimeoutMs', flag: 'headers-timeout-ms', help: 'time to send a whole HTTP/1.1 request head (408 after; 0: none)', min: 0, max: 86_400_000 },
  { key: 'idleTimeoutMs', flag: 'idle-timeout-ms', help: 'idle time before an inner HTTP connection is closed (0: never)', min: 0, max: 86_400_000 },
  { key: 'sniffTimeoutMs', flag: 'sniff-timeout-ms', help: 'silence after which a tunnel on a port without a protocol is TCP', min: 1, max: 3_600_000 },
  { key: 'sessionIdleTimeoutMs', flag: 'session-idle-timeout-ms', help: 'idle time before an HBONE session without streams gets GOAWAY (0: never)', min: 0, max: 86_400_000 },
  { key: 'handshakeTimeoutMs', flag: 'handshake-timeout-ms', help: 'time to complete the TLS handshake on the HBONE port', min: 1, max: 3_600_000 },
  { key: 'upstreamIdleTimeoutMs', flag: 'upstream-idle-timeout-ms', help: 'idle time before a pooled upstream HTTP/1.1 connection is closed', min: 1, max: 86_400_000 },
  { key: 'upstreamSessionIdleTimeoutMs', flag: 'upstream-session-idle-timeout-ms', help: 'idle time before a pooled upstream HBONE session without tunnels is closed', min: 1, max: 86_400_000 },
];

const runCmd = program
  .command('run')
  .description('serve as a waypoint (with no --config and no --certs: the built-in example mesh with development certificates)')
  .addOption(new Option('--config <path>', 'configuration file or directory; repeatable (env: comma-separated)').argParser(collect).env('WAYPOINT_CONFIG'))
  .addOption(new Option('--certs <dir>', 'certificate directory: cert-chain.pem, key.pem, root-cert.pem').env('WAYPOINT_CERTS'))
  .addOption(new Option('--kubeconfig <file>', 'the Kubernetes API as the configuration source (env also KUBECONFIG; in a pod without --config: in-cluster credentials)').env('WAYPOINT_KUBECONFIG'))
  .addOption(new Option('--namespace <ns>', "this waypoint's namespace (default: the istio-waypoint Gateway in the config)").env('WAYPOINT_NAMESPACE'))
  .addOption(new Option('--name <name>', "this waypoint's Gateway name").env('WAYPOINT_NAME'))
  .addOption(trustDomain())
  .addOption(new Option('--cluster-id <id>', 'cluster id for telemetry').env('WAYPOINT_CLUSTER_ID').default('Kubernetes'))
  .addOption(rootNamespace())
  .addOption(new Option('--hbone <host:port>', 'HBONE listener (connect_terminate) [default: 0.0.0.0:15008]').env('WAYPOINT_HBONE'))
  .addOption(new Option('--admin <host:port>', 'admin listener: config_dump, logging, drain').env('WAYPOINT_ADMIN').default('127.0.0.1:15000'))
  .addOption(new Option('--admin-allow-remote', 'let --admin bind a non-loopback address (its POST endpoints are unauthenticated); refused otherwise').env('WAYPOINT_ADMIN_ALLOW_REMOTE'))
  .addOption(new Option('--mesh-config <file>', "Istio's mesh config YAML (the istio ConfigMap's mesh key): extensionProviders for CUSTOM policies [Kubernetes mode: the istio ConfigMap of --root-namespace]").env('WAYPOINT_MESH_CONFIG'))
  .addOption(new Option('--metrics <host:port>', 'metrics listener: /stats/prometheus [default: 0.0.0.0:15020]').env('WAYPOINT_METRICS'))
  .addOption(new Option('--readiness <host:port>', 'readiness listener: /healthz/ready [default: 0.0.0.0:15021]').env('WAYPOINT_READINESS'))
  .addOption(new Option('--upstream-hbone-port <port>', 'HBONE port of destination ztunnels').env('WAYPOINT_UPSTREAM_HBONE_PORT').argParser(portArg).default(15008))
  .addOption(new Option('--workers <n>', 'worker processes').env('WAYPOINT_WORKERS').argParser(intArg(1, 256)).default(1))
  .addOption(new Option('--drain-ms <ms>', 'drain period on SIGTERM').env('WAYPOINT_DRAIN_MS').argParser(intArg(0, 3_600_000)).default(5000))
  .addOption(new Option('--access-log <where>', 'access log: stdout, a file path, or off (a Telemetry resource overrides it) [default: off, as in Istio]').env('WAYPOINT_ACCESS_LOG'));
for (const l of LIMIT_FLAGS) {
  runCmd.addOption(new Option(`--${l.flag} <n>`, l.help).env(`WAYPOINT_${l.flag.toUpperCase().replace(/-/g, '_')}`).argParser(intArg(l.min, l.max)).default(DEFAULT_LIMITS[l.key]));
}
// In a cluster: identity from the pod, certificates from Istio's CA (istiod's variables in brackets
// apply when neither the flag nor its WAYPOINT_ variable is given).
runCmd
  .addOption(new Option('--service-account <sa>', "this waypoint's service account [SERVICE_ACCOUNT]").env('WAYPOINT_SERVICE_ACCOUNT'))
  .addOption(new Option('--pod-labels <file>', 'downward-API pod labels: the Gateway name when --name is not given').env('WAYPOINT_POD_LABELS').default(DEFAULT_POD_LABELS))
  .addOption(new Option('--ca-address <host:port>', "Istio's CA; given: certificates from it [CA_ADDR, else istiod.istio-system.svc:15012]").env('WAYPOINT_CA_ADDRESS'))
  .addOption(new Option('--ca-root <file>', "mesh root: verifies the CA and HBONE peers").env('WAYPOINT_CA_ROOT').default(DEFAULT_CA_ROOT))
  .addOption(new Option('--token-path <file>', 'service-account token for the CA (audience istio-ca), read on every request').env('WAYPOINT_TOKEN_PATH').default(DEFAULT_TOKEN_PATH))
  .addOption(new Option('--cert-ttl <duration>', 'requested certificate lifetime: 24h, 12h, 90s [SECRET_TTL, else 24h]').env('WAYPOINT_CERT_TTL'));
runCmd
  .addOption(new Option('--stats-interval-ms <ms>', 'log a "stats" line (memory, handles, sessions, streams) this often; 0: never').env('WAYPOINT_STATS_INTERVAL_MS').argParser(intArg(0, 86_400_000)).default(0))
  .addOption(logLevel())
  .action(async (o: RunOptions) => {
    const { runCommand } = await import('./commands/run.js');
    await runCommand(runFlags(o, runCmd), createLogger(o.logLevel));
  });

type RunOptions = { config?: string[]; certs?: string; namespace?: string; name?: string; trustDomain: string; clusterId: string; rootNamespace: string; hbone?: string; admin: string; adminAllowRemote?: boolean; meshConfig?: string; metrics?: string; readiness?: string; upstreamHbonePort: number; workers: number; drainMs: number; statsIntervalMs: number; logLevel: string; serviceAccount?: string; podLabels: string; caAddress?: string; caRoot: string; tokenPath: string; certTtl?: string; kubeconfig?: string; accessLog?: string } & WaypointLimits;

/** Given as a flag or its WAYPOINT_ variable (not left at the default). */
const explicitOptions = (cmd: Command, keys: readonly string[]): Set<string> => new Set(keys.filter((k) => ['cli', 'env'].includes(cmd.getOptionValueSource(k) ?? '')));

function runFlags(o: RunOptions, cmd: Command): RunFlags {
  const limits: Partial<WaypointLimits> = {};
  for (const l of LIMIT_FLAGS) limits[l.key] = o[l.key];
  // A boolean flag from the environment is on whenever the variable is set; honour "false"/"0".
  const fromEnv = cmd.getOptionValueSource('adminAllowRemote') === 'env';
  const adminAllowRemote = o.adminAllowRemote === true && !(fromEnv && /^(0|false|no|off)?$/i.test(process.env.WAYPOINT_ADMIN_ALLOW_REMOTE ?? ''));
  const config = configPaths(o.config);
  // The generic KUBECONFIG (first file of its list) counts only when no --config is given.
  const envKubeconfig = config.length === 0 ? process.env.KUBECONFIG?.split(':')[0] : undefined;
  const kubeconfig = o.kubeconfig ?? (envKubeconfig !== '' ? envKubeconfig : undefined);
  return { ...o, adminAllowRemote, config, kubeconfig, limits, explicit: explicitOptions(cmd, ['trustDomain', 'clusterId', 'logLevel']) };
}

// istiod's waypoint template starts the container with `proxy waypoint --domain … --serviceCluster …`:
// the same server as `run`, in Kubernetes mode, with every `run` flag and WAYPOINT_ variable.
const proxyCmd = program
  .command('proxy')
  .description("istiod's waypoint template entry (`proxy waypoint --domain … --serviceCluster …`): `run` in Kubernetes mode")
  .argument('<type>', 'proxy type: waypoint')
  .addOption(new Option('--domain <domain>', '<ns>.svc.<cluster domain>: the namespace when POD_NAMESPACE is not set'))
  .addOption(new Option('--serviceCluster <name>', '<sa>.<ns>: the service account when SERVICE_ACCOUNT is not set'))
  .addOption(new Option('--proxyLogLevel <level>', "Envoy's log level (ignored, noted)"))
  .addOption(new Option('--proxyComponentLogLevel <levels>', "Envoy's component log levels (ignored, noted)"))
  .addOption(new Option('--log_output_level <levels>', 'scope:level,…: the default scope sets the log level unless --log-level is given'))
  .allowUnknownOption()
  .allowExcessArguments();
for (const opt of runCmd.options) proxyCmd.addOption(opt);
proxyCmd.action(async (type: string, o: RunOptions & { domain?: string; serviceCluster?: string; proxyLogLevel?: string; proxyComponentLogLevel?: string; log_output_level?: string }, cmd: Command) => {
  const [{ runCommand }, { proxyPlan }] = await Promise.all([import('./commands/run.js'), import('./commands/proxy.js')]);
  const flags = runFlags(o, cmd);
  const plan = proxyPlan(
    { type, domain: o.domain, serviceCluster: o.serviceCluster, proxyLogLevel: o.proxyLogLevel, proxyComponentLogLevel: o.proxyComponentLogLevel, logOutputLevel: o.log_output_level, unknown: cmd.args.slice(1) },
    flags.explicit?.has('logLevel') === true ? o.logLevel : undefined,
    o.logLevel,
  );
  const logger = createLogger(plan.logLevel);
  for (const note of plan.notes) logger.info({ note }, 'proxy waypoint: istiod template argument');
  await runCommand({ ...flags, proxy: { domain: o.domain, serviceCluster: o.serviceCluster } }, logger);
});

const certs = program.command('certs').description('mesh CA and workload certificates in Istio\'s layout');
certs
  .command('ca')
  .description('create a mesh root CA in DIR')
  .requiredOption('--out <dir>', 'output directory')
  .addOption(trustDomain())
  .addOption(new Option('--days <n>', 'validity in days').argParser(intArg(1, 36500)).default(3650))
  .action(async (o: { out: string; trustDomain: string; days: number }) => {
    const { certsCaCommand } = await import('./commands/certs.js');
    process.stdout.write(`${await certsCaCommand(o)}\n`);
  });
certs
  .command('issue')
  .description('issue a workload certificate (URI SAN spiffe://<td>/ns/<ns>/sa/<sa>), usable as TLS server and client')
  .requiredOption('--ca <dir>', 'CA directory made by `waypoint certs ca`')
  .requiredOption('--out <dir>', 'output directory: cert-chain.pem, key.pem, root-cert.pem')
  .option('--spiffe <uri>', 'the full SPIFFE id')
  .option('--namespace <ns>', 'namespace (with --service-account)')
  .option('--service-account <sa>', 'service account (with --namespace)')
  .addOption(new Option('--days <n>', 'validity in days').argParser(intArg(1, 36500)).default(30))
  .action(async (o: { ca: string; out: string; spiffe?: string; namespace?: string; serviceAccount?: string; days: number }) => {
    const { certsIssueCommand } = await import('./commands/certs.js');
    process.stdout.write(`${await certsIssueCommand(o)}\n`);
  });

program
  .command('validate')
  .description('check configuration: exit 0, or 1 with one line per problem (warnings never fail)')
  .addOption(new Option('--config <path>', 'configuration file or directory; repeatable').argParser(collect).env('WAYPOINT_CONFIG'))
  .addOption(new Option('--namespace <ns>', "the waypoint's namespace").env('WAYPOINT_NAMESPACE'))
  .addOption(new Option('--name <name>', "the waypoint's Gateway name").env('WAYPOINT_NAME'))
  .addOption(trustDomain())
  .addOption(rootNamespace())
  .action(async (o: { config?: string[]; namespace?: string; name?: string; trustDomain: string; rootNamespace: string }) => {
    const { validateCommand } = await import('./commands/validate.js');
    process.exitCode = await validateCommand({ ...o, config: configPaths(o.config) });
  });

program
  .command('tunnel')
  .description('a local outbound ztunnel: each TCP connection on --listen becomes one CONNECT stream to --to')
  .addOption(new Option('--listen <host:port>', 'local TCP listener').env('WAYPOINT_TUNNEL_LISTEN').makeOptionMandatory())
  .addOption(new Option('--to <host:port>', 'HBONE server to dial (the waypoint)').env('WAYPOINT_TUNNEL_TO').makeOptionMandatory())
  .addOption(new Option('--authority <ip:port>', 'CONNECT authority: the destination as the app dialled it').env('WAYPOINT_TUNNEL_AUTHORITY').makeOptionMandatory())
  .addOption(new Option('--certs <dir>', "the client workload's certificate directory").env('WAYPOINT_CERTS').makeOptionMandatory())
  .addOption(new Option('--expect-identity <spiffe>', 'SPIFFE id the HBONE server must present (default: any in the trust domain)').env('WAYPOINT_TUNNEL_EXPECT_IDENTITY'))
  .addOption(logLevel())
  .action(async (o: { listen: string; to: string; authority: string; certs: string; expectIdentity?: string; logLevel: string }) => {
    const { tunnelCommand } = await import('./commands/tunnel.js');
    await tunnelCommand(o, createLogger(o.logLevel));
  });

program
  .command('demo')
  .description('the whole example mesh on loopback: echo pods behind destination ztunnels, the waypoint, tunnels; prints curl commands')
  .addOption(trustDomain())
  .addOption(new Option('--base <127.N>', 'move every demo address from 127.0.x.y to 127.N.x.y, so the demo runs beside other loopback services').env('WAYPOINT_DEMO_BASE'))
  .addOption(new Option('--port-offset <n>', 'add n to every port the demo listens on (HBONE, admin, metrics, readiness, tunnels)').env('WAYPOINT_DEMO_PORT_OFFSET').argParser(intArg(0, 40_000)).default(0))
  .addOption(new Option('--kube', 'through the in-cluster path: a fake Kubernetes API server (deploy/rbac.yaml enforced) and a fake Istio CA on loopback, the waypoint as `waypoint run --kubeconfig …` in Kubernetes mode').env('WAYPOINT_DEMO_KUBE'))
  .addOption(logLevel())
  .action(async (o: { trustDomain: string; logLevel: string; base?: string; portOffset: number; kube?: boolean }) => {
    if (o.kube === true) {
      const { kubeDemoCommand } = await import('./commands/demo-kube.js');
      await kubeDemoCommand(createLogger(o.logLevel), o);
      return;
    }
    const { demoCommand } = await import('./commands/demo.js');
    await demoCommand(createLogger(o.logLevel), o);
  });

program
  .command('inspect')
  .description('ask a running waypoint what it serves, like istioctl proxy-config: listeners, routes, clusters, authz, explain, config')
  .argument('<what>', 'listeners | routes | clusters | authz | explain | config')
  .addOption(new Option('--admin <host:port>', "the waypoint's admin listener").env('WAYPOINT_ADMIN').default('127.0.0.1:15000'))
  .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
  .option('--service <host>', 'explain: the Service hostname (leave out for workload-addressed traffic)')
  .option('--principal <id>', 'explain: source identity, spiffe://td/ns/NS/sa/SA or td/ns/NS/sa/SA')
  .option('--ip <ip>', 'explain: source IP')
  .addOption(new Option('--port <port>', 'explain: destination (service) port').argParser(portArg))
  .option('--method <method>', 'explain: HTTP method')
  .option('--path <path>', 'explain: HTTP path')
  .option('--host <host>', 'explain: HTTP Host')
  .option('--header <name:value>', 'explain: a request header; repeatable', collect)
  .option('--tcp', 'explain: as a TCP connection (no HTTP attributes)')
  .action(async (what: string, o: { admin: string; output: 'table' | 'json' | 'yaml'; service?: string; principal?: string; ip?: string; port?: number; method?: string; path?: string; host?: string; header?: string[]; tcp?: boolean }) => {
    const { inspectCommand, INSPECT_TOPICS } = await import('./commands/inspect.js');
    const topic = INSPECT_TOPICS.find((t) => t === what);
    if (topic === undefined) throw new InvalidArgumentError(`unknown topic ${JSON.stringify(what)}; one of ${INSPECT_TOPICS.join(', ')}`);
    const out = await inspectCommand(topic, o);
    (out.code === 0 ? process.stdout : process.stderr).write(out.text);
    process.exitCode = out.code;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as Error & { problems?: unknown };
  process.stderr.write(`waypoint: ${e.message}\n`);
  process.exitCode = 1;
});
