/**
 * Who this waypoint is in the cluster: namespace, service account, Gateway name and trust
 * domain, from flags, the pod's environment (istiod's waypoint template) and the downward-API
 * pod labels. Pure: the caller reads the environment and the labels file.
 */
import { spiffeId } from '../spiffe.js';

/** The pod label istiod puts on a waypoint's pods, naming their Gateway. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface IdentityInputs {
  /** Given on the command line or as WAYPOINT_<FLAG> (undefined: not given). */
  namespace?: string | undefined;
  serviceAccount?: string | undefined;
  name?: string | undefined;
  trustDomain?: string | undefined;
  /** The pod's environment: POD_NAMESPACE, SERVICE_ACCOUNT, TRUST_DOMAIN. */
  env: Readonly<Record<string, string | undefined>>;
  /** Downward-API pod labels, when the file was there. */
  podLabels?: ReadonlyMap<string, string> | undefined;
  /** istiod's template args: `--domain <ns>.svc.<cluster domain>`, `--serviceCluster <sa>.<ns>`. */
  domain?: string | undefined;
  serviceCluster?: string | undefined;
}

export interface WaypointIdentity {
  namespace: string;
  serviceAccount: string;
  /** The Gateway this waypoint serves. */
  name: string;
  trustDomain: string;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`: the identity asked of the CA. */
  spiffe: string;
  /** Where each value came from, for the start-up log. */
  from: { namespace: string; serviceAccount: string; name: string; trustDomain: string };
}

const given = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

/** The first candidate that is set, with its origin. */
function pick(candidates: ReadonlyArray<readonly [string | undefined, string]>): { value: string; from: string } | undefined {
  for (const [value, from] of candidates) if (given(value)) return { value: value.trim(), from };
  return undefined;
}

/** `<ns>.svc.<cluster domain>` → `<ns>`. */
function namespaceFromDomain(domain: string | undefined): string | undefined {
  if (!given(domain)) return undefined;
  const i = domain.indexOf('.svc.');
  return i > 0 ? domain.slice(0, i) : undefined;
}

/** `<sa>.<ns>` → `<sa>` (only when it ends with the namespace). */
function serviceAccountFromCluster(serviceCluster: string | undefined, namespace: string): string | undefined {
  if (!given(serviceCluster)) return undefined;
  const suffix = `.${namespace}`;
  return serviceCluster.endsWith(suffix) && serviceCluster.length > suffix.length ? serviceCluster.slice(0, -suffix.length) : undefined;
}

/** Resolves the identity; throws naming the flag and the variable when one cannot be found. */
export function resolveIdentity(input: IdentityInputs): WaypointIdentity {
  const ns = pick([
    [input.namespace, '--namespace'],
    [input.env.POD_NAMESPACE, 'POD_NAMESPACE'],
    [namespaceFromDomain(input.domain), '--domain'],
  ]);
  if (ns === undefined) throw new Error('no namespace: give --namespace (WAYPOINT_NAMESPACE) or set POD_NAMESPACE');
  const sa = pick([
    [input.serviceAccount, '--service-account'],
    [input.env.SERVICE_ACCOUNT, 'SERVICE_ACCOUNT'],
    [serviceAccountFromCluster(input.serviceCluster, ns.value), '--serviceCluster'],
  ]);
  if (sa === undefined) throw new Error('no service account: give --service-account (WAYPOINT_SERVICE_ACCOUNT) or set SERVICE_ACCOUNT');
  const name = pick([
    [input.name, '--name'],
    [input.podLabels?.get(GATEWAY_NAME_LABEL), `pod label ${GATEWAY_NAME_LABEL}`],
    [sa.value, 'service account'],
  ]) as { value: string; from: string };
  const td = pick([
    [input.trustDomain, '--trust-domain'],
    [input.env.TRUST_DOMAIN, 'TRUST_DOMAIN'],
    [DEFAULT_TRUST_DOMAIN, 'default'],
  ]) as { value: string; from: string };
  return {
    namespace: ns.value,
    serviceAccount: sa.value,
    name: name.value,
    trustDomain: td.value,
    spiffe: spiffeId(td.value, ns.value, sa.value),
    from: { namespace: ns.from, serviceAccount: sa.from, name: name.from, trustDomain: td.from },
  };
}

export interface PodLabels {
  labels: Map<string, string>;
  /** Lines that were not `key="value"`, with their number. */
  skipped: string[];
}

/**
 * The downward-API labels file: one `key="value"` a line, the value a quoted string (Go's
 * `strconv.Quote`, so `\"`, `\\` and `\n` escapes). Malformed lines are skipped and listed.
 */
export function parsePodLabels(text: string): PodLabels {
  const labels = new Map<string, string>();
  const skipped: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    const value = eq > 0 ? unquote(line.slice(eq + 1)) : undefined;
    if (key === '' || /\s/.test(key) || value === undefined) skipped.push(`line ${i + 1}: ${JSON.stringify(raw)}`);
    else labels.set(key, value);
  });
  return { labels, skipped };
}

function unquote(quoted: string): string | undefined {
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return undefined;
  try {
    const v: unknown = JSON.parse(quoted);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
