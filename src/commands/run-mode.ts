/**
 * What `waypoint run` (and `waypoint proxy waypoint`) serves, decided from the flags and the
 * environment before anything starts. Pure: the caller passes the flags and `process.env`.
 */
import { durationSeconds } from '../hbone/istio-ca/duration.js';

export type ConfigMode = 'example' | 'files' | 'kubernetes';
export type CertMode = 'dev' | 'files' | 'istio-ca';

export interface ModeInputs {
  config: readonly string[];
  certs?: string | undefined;
  kubeconfig?: string | undefined;
  /** `--ca-address` given on the command line or as WAYPOINT_CA_ADDRESS / CA_ADDR. */
  caAddressGiven: boolean;
  /** Started as istiod's template starts Envoy (`proxy waypoint`). */
  proxy: boolean;
  env: Readonly<Record<string, string | undefined>>;
}

export interface RunMode {
  config: ConfigMode;
  certs: CertMode;
}

/**
 * Configuration: `--config` files; else the Kubernetes API with `--kubeconfig`, in a pod
 * (`KUBERNETES_SERVICE_HOST`) or under `proxy waypoint`; else the built-in example.
 * Certificates: `--certs`; else Istio's CA in Kubernetes mode, in a pod, under `proxy waypoint`
 * or with `--ca-address`; else
 * development certificates for the example.
 */
export function decideRunMode(i: ModeInputs): RunMode {
  const inPod = (i.env.KUBERNETES_SERVICE_HOST ?? '') !== '';
  const config: ConfigMode = i.config.length > 0 ? 'files' : i.kubeconfig !== undefined || i.proxy || inPod ? 'kubernetes' : 'example';
  if (config === 'example') {
    if (i.certs !== undefined) throw new Error('--certs was given without --config; give both, or neither to serve the built-in example');
    if (i.caAddressGiven) throw new Error('--ca-address was given without a configuration; give --config or --kubeconfig');
    return { config, certs: 'dev' };
  }
  if (i.certs !== undefined) return { config, certs: 'files' };
  if (config === 'kubernetes' || i.proxy || inPod || i.caAddressGiven) return { config, certs: 'istio-ca' };
  throw new Error("--config was given without --certs; give the directory holding cert-chain.pem, key.pem and root-cert.pem, or --ca-address for Istio's CA");
}

export const DEFAULT_CA_ADDRESS = 'istiod.istio-system.svc:15012';
/** Where istiod's waypoint template mounts the mesh root, the CA token and the pod labels. */
export const DEFAULT_CA_ROOT = '/var/run/secrets/istio/root-cert.pem';
export const DEFAULT_TOKEN_PATH = '/var/run/secrets/tokens/istio-token';
export const DEFAULT_POD_LABELS = '/etc/istio/pod/labels';
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
export const DEFAULT_CERT_TTL = '24h';

export interface CaSettingsInputs {
  /** Values given as flags or WAYPOINT_<FLAG> (undefined: not given). */
  caAddress?: string | undefined;
  clusterId?: string | undefined;
  certTtl?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

export interface CaSettings {
  caAddress: string;
  clusterId: string;
  certTtlSeconds: number;
}

const set = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);

/** Flag, else the variable istiod's template sets (CA_ADDR, ISTIO_META_CLUSTER_ID, SECRET_TTL), else the default. */
export function resolveCaSettings(i: CaSettingsInputs): CaSettings {
  const ttl = set(i.certTtl) ?? set(i.env.SECRET_TTL) ?? DEFAULT_CERT_TTL;
  let certTtlSeconds: number;
  try {
    certTtlSeconds = durationSeconds(ttl);
  } catch (err) {
    throw new Error(`--cert-ttl: ${(err as Error).message}`, { cause: err });
  }
  return {
    caAddress: set(i.caAddress) ?? set(i.env.CA_ADDR) ?? DEFAULT_CA_ADDRESS,
    clusterId: set(i.clusterId) ?? set(i.env.ISTIO_META_CLUSTER_ID) ?? DEFAULT_CLUSTER_ID,
    certTtlSeconds,
  };
}

/** Istio's log levels (`--log_output_level default:info`) as pino levels. */
const ISTIO_LEVELS: Readonly<Record<string, string>> = { none: 'silent', fatal: 'fatal', error: 'error', warn: 'warn', warning: 'warn', info: 'info', debug: 'debug', trace: 'trace' };

/**
 * The level of the `default` scope in `--log_output_level` (`scope:level,scope:level`; a bare
 * level applies to every scope), as a pino level; undefined when it names none we know.
 */
export function istioLogLevel(logOutputLevel: string | undefined): string | undefined {
  if (logOutputLevel === undefined) return undefined;
  let level: string | undefined;
  for (const part of logOutputLevel.split(',')) {
    const [scope, value] = part.includes(':') ? part.split(':', 2) : ['default', part];
    if (scope?.trim() === 'default' && value !== undefined) level = ISTIO_LEVELS[value.trim().toLowerCase()];
  }
  return level;
}
