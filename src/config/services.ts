/**
 * Service ports, VIPs and endpoints. A Service with a selector takes the Pods and WorkloadEntries
 * of its namespace whose labels match; a Service without one takes the EndpointSlices labelled
 * `kubernetes.io/service-name=<name>`. A named `targetPort` is resolved per endpoint, and an
 * endpoint without that named port is left out, as Istio does.
 */
import { canonicalIp } from './address.js';
import { resolvePortProtocol } from './protocol.js';
import type { EndpointSliceResource, ServiceResource } from './schemas.js';
import type { Endpoint, LoadedResource, ServicePortInfo, WorkloadInfo } from './types.js';
import { isEndpointReady } from './workloads.js';

export const CLUSTER_DOMAIN = 'cluster.local';

export interface ParsedSlice {
  resource: LoadedResource;
  value: EndpointSliceResource;
}

export function serviceHostname(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** The Service's VIPs in canonical form: `clusterIPs`, plus `clusterIP` if missing from it. */
export function serviceVips(svc: ServiceResource): string[] {
  const out: string[] = [];
  for (const text of [...(svc.spec.clusterIPs ?? []), svc.spec.clusterIP ?? '']) {
    const ip = canonicalIp(text);
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** TCP ports with their protocol resolved. UDP and SCTP ports are left out: a waypoint skips them. */
export function servicePorts(svc: ServiceResource): ServicePortInfo[] {
  const out: ServicePortInfo[] = [];
  for (const p of svc.spec.ports ?? []) {
    if (p.protocol === 'UDP' || p.protocol === 'SCTP') continue;
    const name = p.name ?? '';
    const appProtocol = p.appProtocol ?? undefined;
    out.push(
      Object.freeze({
        name,
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        appProtocol,
        protocol: resolvePortProtocol({ name, appProtocol, port: p.port }),
      }),
    );
  }
  return out;
}

/** Endpoints of `port` on selected workloads; workloads lacking a named target port are skipped. */
export function selectorEndpoints(port: ServicePortInfo, workloads: readonly WorkloadInfo[]): Endpoint[] {
  const out: Endpoint[] = [];
  for (const w of workloads) {
    const target = typeof port.targetPort === 'number' ? port.targetPort : w.namedPorts.get(port.targetPort);
    if (target === undefined) continue;
    out.push({ ip: w.ip, port: target, workload: w, ready: w.ready });
  }
  return dedupe(out);
}

/**
 * Endpoints of `port` from EndpointSlices, matching the slice port by the service port's name. An
 * endpoint is ready when its conditions say so (`isEndpointReady`) and its Pod, if known, is.
 */
export function sliceEndpoints(
  port: ServicePortInfo,
  slices: readonly ParsedSlice[],
  workloadsByIp: ReadonlyMap<string, WorkloadInfo>,
): Endpoint[] {
  const out: Endpoint[] = [];
  for (const { value: slice } of slices) {
    if (slice.addressType === 'FQDN') continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === port.name);
    const target = slicePort?.port ?? undefined;
    if (target === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      const ip = canonicalIp(ep.addresses[0] ?? '');
      if (ip === undefined) continue;
      const workload = workloadsByIp.get(ip);
      // The slice's conditions, and the Pod's own Ready condition when the Pod is known.
      const ready = isEndpointReady(ep.conditions) && (workload?.kind !== 'Pod' || workload.ready);
      out.push({ ip, port: target, workload, ready });
    }
  }
  return dedupe(out);
}

/** One endpoint per `ip:port`, a ready one preferred. */
function dedupe(endpoints: Endpoint[]): Endpoint[] {
  const byKey = new Map<string, Endpoint>();
  for (const ep of endpoints) {
    const key = `${ep.ip}|${ep.port}`;
    const prev = byKey.get(key);
    if (prev === undefined || (!prev.ready && ep.ready)) byKey.set(key, ep);
  }
  return [...byKey.values()].map((ep) => Object.freeze(ep));
}
