/**
 * Checks an operator wants to hear about at start and after each reload, none of which stops the
 * waypoint: the certificate's identity against the Gateway's service account, a waypoint with
 * nothing bound to it, and annotations or labels Istio no longer reads. Pure: snapshot and
 * identity in, warnings out.
 */
import type { ConfigSnapshot } from '../snapshot/types.js';

/** Istio's override of a Gateway's ServiceAccount (istiod's deployment controller). */
export const GATEWAY_SERVICE_ACCOUNT_ANNOTATION = 'gateway.istio.io/service-account';

export interface StartupWarning {
  /** A stable key, so the same warning is logged once, not at every reload. */
  key: string;
  message: string;
  /** `Kind namespace/name` of the resource concerned, when there is one. */
  resource?: string;
  file?: string;
}

interface Obsolete {
  key: string;
  where: 'annotations' | 'labels';
  kinds: readonly string[];
  advice: string;
}

/**
 * Waypoint annotations and labels Istio once read and no longer does, or reads from the other
 * metadata map (pkg/config/constants in Istio: `istio.io/use-waypoint` and
 * `istio.io/waypoint-for` are labels).
 */
const OBSOLETE: readonly Obsolete[] = [
  {
    key: 'istio.io/for-service-account',
    where: 'annotations',
    kinds: ['Gateway'],
    advice: 'Istio no longer reads it (removed in 1.22); bind workloads with the label istio.io/use-waypoint on the Service, Pod or Namespace, and set istio.io/waypoint-for on the Gateway',
  },
  {
    key: 'istio.io/for-service-account',
    where: 'labels',
    kinds: ['Gateway'],
    advice: 'Istio no longer reads it (removed in 1.22); bind workloads with the label istio.io/use-waypoint on the Service, Pod or Namespace',
  },
  {
    key: 'istio.io/use-waypoint',
    where: 'annotations',
    kinds: ['Service', 'Pod', 'Namespace', 'ServiceEntry', 'WorkloadEntry'],
    advice: 'Istio reads istio.io/use-waypoint as a label, not an annotation: this binds nothing',
  },
  {
    key: 'istio.io/use-waypoint-namespace',
    where: 'annotations',
    kinds: ['Service', 'Pod', 'Namespace', 'ServiceEntry', 'WorkloadEntry'],
    advice: 'Istio reads istio.io/use-waypoint-namespace as a label, not an annotation: this has no effect',
  },
  {
    key: 'istio.io/waypoint-for',
    where: 'annotations',
    kinds: ['Gateway'],
    advice: 'Istio reads istio.io/waypoint-for as a label, not an annotation: the Gateway takes the default (service)',
  },
];

interface Metadata {
  annotations?: Record<string, unknown>;
  labels?: Record<string, unknown>;
}

function metadataOf(raw: Readonly<Record<string, unknown>>): Metadata {
  const m = raw['metadata'];
  return typeof m === 'object' && m !== null ? m : {};
}

/** The ServiceAccount istiod runs the waypoint Deployment as: the Gateway's name, or the annotation. */
export function expectedServiceAccount(snapshot: ConfigSnapshot): { namespace: string; serviceAccount: string; from: string } {
  const { namespace, name } = snapshot.waypoint;
  const gateway = snapshot.resources.find((r) => r.kind === 'Gateway' && r.namespace === namespace && r.name === name);
  const override = gateway === undefined ? undefined : metadataOf(gateway.raw).annotations?.[GATEWAY_SERVICE_ACCOUNT_ANNOTATION];
  if (typeof override === 'string' && override !== '') return { namespace, serviceAccount: override, from: `annotation ${GATEWAY_SERVICE_ACCOUNT_ANNOTATION} on Gateway ${namespace}/${name}` };
  return { namespace, serviceAccount: name, from: `Gateway ${namespace}/${name}` };
}

/** Every warning for this snapshot and certificate identity. */
export function startupWarnings(snapshot: ConfigSnapshot, identity: string | undefined): StartupWarning[] {
  const out: StartupWarning[] = [];
  const { namespace, name, trustDomain } = snapshot.waypoint;
  const expected = expectedServiceAccount(snapshot);
  const want = `spiffe://${trustDomain}/ns/${expected.namespace}/sa/${expected.serviceAccount}`;
  if (identity === undefined) {
    out.push({ key: 'identity:none', message: `the certificate has no SPIFFE identity; istiod would give this waypoint ${want} (${expected.from})` });
  } else if (identity !== want) {
    out.push({
      key: `identity:${identity}:${want}`,
      message: `the certificate's identity ${identity} is not the waypoint's service account ${want} (${expected.from}); policies and peers that expect the waypoint's identity will not match`,
    });
  }
  if (snapshot.byVip.size === 0 && snapshot.boundWorkloads.size === 0) {
    out.push({
      key: `unbound:${namespace}/${name}`,
      message: `nothing is bound to waypoint ${namespace}/${name} (waypoint-for: ${snapshot.waypoint.waypointFor}): label a Service, Pod or Namespace with istio.io/use-waypoint=${name}`,
    });
  }
  for (const r of snapshot.resources) {
    const meta = metadataOf(r.raw);
    for (const o of OBSOLETE) {
      if (!o.kinds.includes(r.kind)) continue;
      const map = meta[o.where];
      if (map === undefined || !(o.key in map)) continue;
      const resource = `${r.kind} ${r.namespace === '' ? '' : `${r.namespace}/`}${r.name}`;
      out.push({ key: `obsolete:${resource}:${o.where}:${o.key}`, resource, file: r.file, message: `${resource} (${r.file}) has the ${o.where === 'annotations' ? 'annotation' : 'label'} ${o.key}: ${o.advice}` });
    }
  }
  return out;
}
