/**
 * `waypoint proxy waypoint …`: the entry istiod's waypoint template uses for Envoy's image
 * (`proxy waypoint --domain <ns>.svc.cluster.local --serviceCluster <sa>.<ns> --proxyLogLevel
 * warning --proxyComponentLogLevel misc:error --log_output_level default:info`). It serves as
 * `waypoint run` in Kubernetes mode; what maps onto this process (the log level, the namespace
 * and service account as fallbacks) is used, the rest is noted and ignored.
 */
import { istioLogLevel } from './run-mode.js';

export interface ProxyArgs {
  /** `waypoint` is the only type served. */
  type: string;
  domain?: string | undefined;
  serviceCluster?: string | undefined;
  proxyLogLevel?: string | undefined;
  proxyComponentLogLevel?: string | undefined;
  logOutputLevel?: string | undefined;
  /** Arguments not known here (other pilot-agent flags). */
  unknown: readonly string[];
}

export interface ProxyPlan {
  logLevel: string;
  /** One line each for what is ignored or mapped, logged at start. */
  notes: string[];
}

/**
 * The log level (`--log-level` when given, else the `default` scope of `--log_output_level`,
 * else `fallback`) and the notes. Throws for a proxy type other than `waypoint`.
 */
export function proxyPlan(args: ProxyArgs, explicitLogLevel: string | undefined, fallback: string): ProxyPlan {
  if (args.type !== 'waypoint') throw new Error(`proxy type ${JSON.stringify(args.type)} is not served: only \`proxy waypoint\` (istiod's waypoint template)`);
  const notes: string[] = [];
  const mapped = istioLogLevel(args.logOutputLevel);
  let logLevel = fallback;
  if (explicitLogLevel !== undefined) {
    logLevel = explicitLogLevel;
    if (args.logOutputLevel !== undefined) notes.push(`--log_output_level ${args.logOutputLevel}: ignored, --log-level ${explicitLogLevel} was given`);
  } else if (mapped !== undefined) {
    logLevel = mapped;
    notes.push(`--log_output_level ${args.logOutputLevel}: log level ${mapped}`);
  } else if (args.logOutputLevel !== undefined) notes.push(`--log_output_level ${args.logOutputLevel}: no level for the default scope; log level ${fallback}`);
  if (args.proxyLogLevel !== undefined) notes.push(`--proxyLogLevel ${args.proxyLogLevel}: ignored (Envoy's own log level; use --log_output_level or --log-level)`);
  if (args.proxyComponentLogLevel !== undefined) notes.push(`--proxyComponentLogLevel ${args.proxyComponentLogLevel}: ignored (Envoy component loggers)`);
  if (args.domain !== undefined) notes.push(`--domain ${args.domain}: the namespace when POD_NAMESPACE and --namespace are not set`);
  if (args.serviceCluster !== undefined) notes.push(`--serviceCluster ${args.serviceCluster}: the service account when SERVICE_ACCOUNT and --service-account are not set`);
  if (args.unknown.length > 0) notes.push(`ignored arguments: ${args.unknown.join(' ')}`);
  return { logLevel, notes };
}
