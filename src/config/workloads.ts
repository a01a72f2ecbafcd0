/**
 * Workloads from Pods, WorkloadEntries and the EndpointSlice endpoints no Pod or WorkloadEntry
 * accounts for: their IPs, identity, telemetry names and named ports.
 */
import { canonicalIp } from './address.js';
import type { EndpointSliceResource, PodResource, WorkloadEntryResource } from './schemas.js';
import type { Labels } from './selector.js';
import type { LoadedResource, WorkloadInfo } from './types.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** A workload with what the snapshot needs beyond `WorkloadInfo`. */
export interface BuiltWorkload {
  info: WorkloadInfo;
  /** Every IP of the workload, primary first (dual-stack Pods have two). */
  ips: string[];
  /** The labels `istio.io/use-waypoint` is read from (the object's `metadata.labels`). */
  bindingLabels: Labels;
}

export function spiffeIdentity(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

const CRON_JOB_NAME = /^(.+)-\d{8,10}$/;

type OwnerRef = { kind: string; name: string; controller?: boolean | null | undefined };

/**
 * The workload (deployment-ish) name of a Pod, after Istio's `GetDeployMetaFromPod`: the
 * controller owner's name, with a ReplicaSet's template hash stripped (its Deployment) and a
 * CronJob's timestamp stripped from a Job; the pod's own name when it has no owner.
 */
export function podWorkloadName(podName: string, labels: Labels, owners: readonly OwnerRef[]): string {
  const owner = owners.find((o) => o.controller === true) ?? owners[0];
  if (owner === undefined || owner.name === '') return podName;
  if (owner.kind === 'ReplicaSet') {
    for (const hashLabel of ['pod-template-hash', 'rollouts-pod-template-hash']) {
      const hash = labels[hashLabel];
      if (hash !== undefined && hash !== '' && owner.name.endsWith(`-${hash}`)) {
        return owner.name.slice(0, -(hash.length + 1));
      }
    }
    const dash = owner.name.lastIndexOf('-');
    return dash > 0 ? owner.name.slice(0, dash) : owner.name;
  }
  if (owner.kind === 'ReplicationController' && labels['deploymentconfig']) return labels['deploymentconfig'];
  if (owner.kind === 'Job') return CRON_JOB_NAME.exec(owner.name)?.[1] ?? owner.name;
  return owner.name;
}

/** `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`, else the workload name. */
export function canonicalService(labels: Labels, workloadName: string): string {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? workloadName;
}

/** `service.istio.io/canonical-revision`, else `app.kubernetes.io/version`, else `version`, else `latest`. */
export function canonicalRevision(labels: Labels): string {
  return labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels['version'] ?? 'latest';
}

/**
 * A Pod is ready unless it has terminated, is being deleted, or its Ready condition is "False". A
 * Pod without conditions counts as ready (hand-written configuration rarely has a status).
 */
export function isPodReady(pod: PodResource): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') return false;
  const deleting = pod.metadata['deletionTimestamp'];
  if (typeof deleting === 'string' && deleting !== '') return false;
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status !== 'False';
}

/** The conditions of an EndpointSlice endpoint, as the API carries them (each may be absent). */
export interface EndpointConditions {
  ready?: boolean | null | undefined;
  serving?: boolean | null | undefined;
  terminating?: boolean | null | undefined;
}

/**
 * Whether an EndpointSlice endpoint takes new requests. An absent `ready` means ready (the API's
 * rule for unknown state); a terminating endpoint takes none, even while it is still `serving`
 * (it only finishes what it has, as Istio drains such endpoints).
 */
export function isEndpointReady(conditions: EndpointConditions | null | undefined): boolean {
  if (conditions === null || conditions === undefined) return true;
  if (conditions.terminating === true) return false;
  return conditions.ready !== false;
}

function uniqueIps(candidates: ReadonlyArray<string | null | undefined>): string[] {
  const out: string[] = [];
  for (const c of candidates) {
    const ip = c ? canonicalIp(c) : undefined;
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** What a Pod or a WorkloadEntry says about its workload; `buildWorkload` derives the rest. */
interface WorkloadFacts {
  kind: 'Pod' | 'WorkloadEntry';
  resource: LoadedResource;
  /** Every IP, primary first; at least one. */
  ips: string[];
  /** The labels Service selectors match. */
  labels: Labels;
  /** The labels `istio.io/use-waypoint` is read from. */
  bindingLabels: Labels;
  serviceAccount: string;
  workloadName: string;
  ready: boolean;
  namedPorts: ReadonlyMap<string, number>;
}

/** The one place a Pod's or WorkloadEntry's `WorkloadInfo` is put together. */
function buildWorkload(f: WorkloadFacts, trustDomain: string): BuiltWorkload {
  const r = f.resource;
  const info: WorkloadInfo = {
    uid: `${f.kind}/${r.namespace}/${r.name}`,
    kind: f.kind,
    name: r.name,
    namespace: r.namespace,
    ip: f.ips[0] as string,
    labels: f.labels,
    serviceAccount: f.serviceAccount,
    identity: spiffeIdentity(trustDomain, r.namespace, f.serviceAccount),
    workloadName: f.workloadName,
    canonicalService: canonicalService(f.labels, f.workloadName),
    canonicalRevision: canonicalRevision(f.labels),
    ready: f.ready,
    namedPorts: f.namedPorts,
  };
  return { info, ips: f.ips, bindingLabels: f.bindingLabels };
}

/**
 * Built Pod workloads by document: a source that follows changes hands the same frozen documents
 * to every compile, so the 10,000 Pods of a cluster are not rebuilt for each EndpointSlice change.
 */
const podCache = new WeakMap<object, { trustDomain: string; resource: LoadedResource; built: BuiltWorkload | undefined }>();

/** A Pod's workload; undefined while the Pod has no IP. */
export function podWorkload(r: LoadedResource, pod: PodResource, trustDomain: string): BuiltWorkload | undefined {
  const cacheable = Object.isFrozen(r.raw);
  const cached = cacheable ? podCache.get(r.raw) : undefined;
  if (cached !== undefined && cached.trustDomain === trustDomain && cached.resource === r) return cached.built;
  const built = buildPodWorkload(r, pod, trustDomain);
  if (cacheable) podCache.set(r.raw, { trustDomain, resource: r, built });
  return built;
}

function buildPodWorkload(r: LoadedResource, pod: PodResource, trustDomain: string): BuiltWorkload | undefined {
  const ips = uniqueIps([pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)]);
  if (ips.length === 0) return undefined;
  const labels: Labels = Object.freeze({ ...pod.metadata.labels });
  const namedPorts = new Map<string, number>();
  for (const container of pod.spec?.containers ?? []) {
    for (const port of container.ports ?? []) {
      if (port.name && !namedPorts.has(port.name)) namedPorts.set(port.name, port.containerPort);
    }
  }
  return buildWorkload(
    {
      kind: 'Pod',
      resource: r,
      ips,
      labels,
      bindingLabels: labels,
      serviceAccount: pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default',
      workloadName: podWorkloadName(r.name, labels, pod.metadata.ownerReferences ?? []),
      ready: isPodReady(pod),
      namedPorts,
    },
    trustDomain,
  );
}

/**
 * A WorkloadEntry's workload. Its labels are `spec.labels` over `metadata.labels` (what a Service
 * selector matches); binding reads `metadata.labels`, as Istio does. Its `spec.ports` map a port
 * name to a number and serve named `targetPort`s.
 */
export function workloadEntryWorkload(r: LoadedResource, we: WorkloadEntryResource, trustDomain: string): BuiltWorkload | undefined {
  const ip = canonicalIp(we.spec.address);
  if (ip === undefined) return undefined;
  const labels: Labels = Object.freeze({ ...we.metadata.labels, ...we.spec.labels });
  return buildWorkload(
    {
      kind: 'WorkloadEntry',
      resource: r,
      ips: [ip],
      labels,
      bindingLabels: Object.freeze({ ...we.metadata.labels }),
      serviceAccount: we.spec.serviceAccount ?? 'default',
      workloadName: labels['service.istio.io/workload-name'] ?? r.name,
      ready: true,
      namedPorts: new Map(Object.entries(we.spec.ports ?? {})),
    },
    trustDomain,
  );
}

/**
 * Workloads for the endpoints of an EndpointSlice whose IP nothing else has claimed (`claim(ip)`
 * returns false for an IP already taken by a Pod, a WorkloadEntry or an earlier endpoint). Nothing
 * is known about them beyond the slice: no labels, no service account (so no identity).
 */
export function endpointSliceWorkloads(
  r: LoadedResource,
  slice: EndpointSliceResource,
  claim: (ip: string) => boolean,
): BuiltWorkload[] {
  if (slice.addressType === 'FQDN') return [];
  const serviceName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  const namedPorts = new Map<string, number>();
  for (const p of slice.ports ?? []) if (p.name && p.port) namedPorts.set(p.name, p.port);
  const out: BuiltWorkload[] = [];
  (slice.endpoints ?? []).forEach((ep, index) => {
    const ip = canonicalIp(ep.addresses[0] ?? '');
    if (ip === undefined || !claim(ip)) return;
    const name = ep.targetRef?.name ?? serviceName ?? r.name;
    const labels: Labels = Object.freeze({});
    const info: WorkloadInfo = {
      uid: `EndpointSlice/${r.namespace}/${r.name}/${index}`,
      kind: 'EndpointSlice',
      name,
      namespace: r.namespace,
      ip,
      labels,
      serviceAccount: '',
      identity: undefined,
      workloadName: name,
      canonicalService: serviceName ?? name,
      canonicalRevision: 'latest',
      ready: isEndpointReady(ep.conditions),
      namedPorts,
    };
    out.push({ info, ips: [ip], bindingLabels: labels });
  });
  return out;
}
