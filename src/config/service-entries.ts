/**
 * ServiceEntry (`networking.istio.io/v1`) as services of the mesh model: one service per host, as
 * Istio converts them (`serviceentry/conversion.go`), with the entry's addresses as VIPs, its ports
 * with their protocols, and endpoints by `resolution`:
 * - STATIC: the listed IPs, or the Pods and WorkloadEntries `workloadSelector` picks;
 * - DNS / DNS_ROUND_ROBIN: the listed names (or the host itself), resolved when the waypoint
 *   connects (`src/l7/upstream/dns-cache.ts`);
 * - NONE: the original destination, i.e. the entry's own addresses (a waypoint sees the VIP only).
 * Endpoints that are not mesh workloads are `external`: plain TCP, or TLS per DestinationRule.
 * Pure; `model.ts` binds and indexes the services.
 */
import { canonicalIp } from './address.js';
import { resolvePortProtocol } from './protocol.js';
import type { ServiceEntryResource } from './schemas.js';
import { matchesSelectorMap } from './selector.js';
import type { Endpoint, ServiceInfo, ServicePortInfo, WorkloadInfo } from './types.js';

export interface EntryServices {
  /** One service per host, sharing ports and VIPs. */
  services: ServiceInfo[];
  /** Endpoints of a port (the same for every host of the entry). */
  endpoints(port: ServicePortInfo): Endpoint[];
}

export interface EntryContext {
  namespace: string;
  name: string;
  bound: boolean;
  bindingReason: string;
  /** Mesh workloads by IP: a STATIC endpoint at a workload's IP is that workload. */
  workloadsByIp: ReadonlyMap<string, WorkloadInfo>;
  /** Pods and WorkloadEntries of the entry's namespace (for `workloadSelector`). */
  namespaceWorkloads: readonly WorkloadInfo[];
}

export function serviceEntryServices(se: ServiceEntryResource, ctx: EntryContext): EntryServices {
  const spec = se.spec;
  const ports: ServicePortInfo[] = (spec.ports ?? []).map((p) =>
    Object.freeze({
      name: p.name,
      port: p.number,
      targetPort: p.targetPort ?? p.number,
      appProtocol: p.protocol ?? undefined,
      protocol: resolvePortProtocol({ name: p.name, appProtocol: p.protocol ?? undefined, port: p.number }),
    }),
  );
  const vips = entryVips(spec.addresses ?? []);
  const labels = Object.freeze({ ...se.metadata.labels });
  const selector = spec.workloadSelector?.labels != null ? Object.freeze({ ...spec.workloadSelector.labels }) : undefined;
  const services = spec.hosts.map(
    (host): ServiceInfo =>
      Object.freeze({
        // Istio's telemetry names a ServiceEntry service by its host.
        name: host.toLowerCase(),
        namespace: ctx.namespace,
        hostname: host.toLowerCase(),
        vips: Object.freeze(vips),
        ports: Object.freeze(ports),
        selector,
        labels,
        bound: ctx.bound,
        bindingReason: ctx.bindingReason,
        serviceEntry: ctx.name,
      }),
  );
  const resolution = spec.resolution ?? 'NONE';
  const selected = selector === undefined ? [] : ctx.namespaceWorkloads.filter((w) => w.kind !== 'EndpointSlice' && matchesSelectorMap(selector, w.labels));
  const endpoints = (port: ServicePortInfo): Endpoint[] => {
    const target = typeof port.targetPort === 'number' ? port.targetPort : port.port;
    if (selector !== undefined) {
      return selected.map((w) => Object.freeze({ ip: w.ip, port: w.namedPorts.get(port.name) ?? target, workload: w, ready: w.ready }));
    }
    if (resolution === 'NONE') return vips.map((ip) => Object.freeze({ ip, port: target, workload: undefined, ready: true, external: true }));
    const listed = spec.endpoints ?? [];
    if (resolution === 'STATIC') {
      return listed.flatMap((ep) => {
        const ip = canonicalIp(ep.address ?? '');
        if (ip === undefined) return [];
        const epPort = ep.ports?.[port.name] ?? target;
        const workload = ctx.workloadsByIp.get(ip);
        return [Object.freeze({ ip, port: epPort, workload, ready: workload?.ready ?? true, ...(workload === undefined ? { external: true } : {}) })];
      });
    }
    // DNS: each listed name, or the hosts themselves when none is listed.
    const names = listed.length > 0 ? listed.map((ep) => ({ name: ep.address ?? '', port: ep.ports?.[port.name] ?? target })) : spec.hosts.filter((h) => !h.startsWith('*')).map((h) => ({ name: h, port: target }));
    return names.map(({ name, port: p }) => Object.freeze({ ip: name, hostname: name, port: p, workload: undefined, ready: true, external: true }));
  };
  return { services, endpoints };
}

/** VIPs from `addresses`: IPs as they are; a CIDR's address part (a waypoint matches exact VIPs). */
function entryVips(addresses: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of addresses) {
    const ip = canonicalIp(a.includes('/') ? a.slice(0, a.indexOf('/')) : a);
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** True when the entry is visible to `waypointNamespace` (`exportTo`; default every namespace). */
export function entryExportedTo(exportTo: readonly string[] | null | undefined, entryNamespace: string, waypointNamespace: string): boolean {
  if (exportTo == null || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || e === waypointNamespace || (e === '.' && entryNamespace === waypointNamespace));
}
