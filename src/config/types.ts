
/**
 * The compiled, immutable configuration snapshot the data path reads.
 *
 * A snapshot is built once from a set of loaded resources (see `snapshot.ts`) and never mutated;
 * a reload builds a new one and swaps a single reference, so a request never sees half a
 * configuration.
 */

/** Protocol of a Service port, resolved the way Istio does (appProtocol, then port-name prefix). */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'unknown';

/** Which traffic a waypoint takes (`istio.io/waypoint-for` on the Gateway). */
export type WaypointFor = 'service' | 'workload' | 'all' | 'none';

/** A problem found while loading or compiling configuration. */
export interface ConfigProblem {
  severity: 'error' | 'warning';
  /** The file the resource came from, as given by the operator. */
  file: string;
  kind?: string;
  namespace?: string;
  name?: string;
  /** Dotted path of the offending field, e.g. `spec.ports[0].port`. */
  field?: string;
  message: string;
  /**
   * For an error: only this resource was left out and the rest of the configuration still
   * applies (an invalid route). Other errors reject the whole configuration.
   */
  resourceSkipped?: boolean;
}

/** A resource as read from disk, before compilation. */
export interface LoadedResource {
  file: string;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** The document as parsed (validated against its kind's schema). */
  raw: Readonly<Record<string, unknown>>;
}

export interface WorkloadInfo {
  /** `Pod/ns/name`, `WorkloadEntry/ns/name` or `EndpointSlice/ns/name/index`. */
  uid: string;
  kind: 'Pod' | 'WorkloadEntry' | 'EndpointSlice';
  name: string;
  namespace: string;
  /** Canonical textual IP (IPv6 compressed, lower case). */
  ip: string;
  labels: Readonly<Record<string, string>>;
  serviceAccount: string;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`; undefined when the service account is not known. */
  identity: string | undefined;
  /** Workload (deployment-ish) name used in telemetry. */
  workloadName: string;
  canonicalService: string;
  canonicalRevision: string;
  ready: boolean;
  /** Named container ports (for `targetPort` by name). */
  namedPorts: ReadonlyMap<string, number>;
  /**
   * False for a Pod outside the ambient data plane (`src/config/dataplane.ts`): reached by plain
   * TCP at its IP, not over HBONE. Absent means HBONE.
   */
  hbone?: boolean;
}

export interface ServicePortInfo {
  name: string;
  port: number;
  /** Number, or a port name resolved per endpoint. */
  targetPort: number | string;
  appProtocol: string | undefined;
  protocol: PortProtocol;
}

export interface Endpoint {
  ip: string;
  /** The resolved target port on the endpoint. */
  port: number;
  /** The workload behind the endpoint, when known. */
  workload: WorkloadInfo | undefined;
  ready: boolean;
  /**
   * Set for endpoints outside the mesh (ServiceEntry endpoints): reached by plain TCP, or TLS when
   * a DestinationRule asks for it, never HBONE.
   */
  external?: boolean;
  /**
   * A DNS name the waypoint resolves when it connects (ServiceEntry `resolution: DNS`); `ip` then
   * holds the same name.
   */
  hostname?: string;
}

export interface ServiceInfo {
  name: string;
  namespace: string;
  /** `<name>.<namespace>.svc.cluster.local` */
  hostname: string;
  vips: readonly string[];
  ports: readonly ServicePortInfo[];
  selector: Readonly<Record<string, string>> | undefined;
  labels: Readonly<Record<string, string>>;
  /** True when this Service's traffic is bound to this waypoint. */
  bound: boolean;
  /** Human-readable reason for the binding decision (shown by config_dump and validate). */
  bindingReason: string;
  /** Set for a service made from a ServiceEntry (`service-entries.ts`): the entry's name. */
  serviceEntry?: string;
}

/** A bound Service VIP and port: what `main_internal` dispatches a VIP authority to. */
export interface VipBinding {
  service: ServiceInfo;
  port: ServicePortInfo;
  /** All endpoints with the target port resolved, ready or not. */
  endpoints: readonly Endpoint[];
}

export interface WaypointIdentity {
  namespace: string;
  name: string;
  trustDomain: string;
  clusterId: string;
  waypointFor: WaypointFor;
  /** True when a Gateway resource for this waypoint was found in the configuration. */
  gatewayFound: boolean;
}

/** The mesh as the configuration describes it, from this waypoint's point of view (`model.ts`). */
export interface MeshModel {
  waypoint: WaypointIdentity;
  services: readonly ServiceInfo[];
  /** Services made from ServiceEntries, one per host (`service-entries.ts`). */
  serviceEntries?: readonly ServiceInfo[];
  workloads: readonly WorkloadInfo[];
  /** Key: `vipKey(ip, port)`. Only Services bound to this waypoint. */
  byVip: ReadonlyMap<string, VipBinding>;
  /**
   * Every Service port, bound or not, by `hostPortKey(hostname, port)`: route backends may be
   * Services that are not themselves bound to this waypoint.
   */
  byHostPort: ReadonlyMap<string, VipBinding>;
  /** IPs that are a VIP of a bound Service (for "VIP with unknown port" diagnostics). */
  boundVipIps: ReadonlySet<string>;
  /** Workload IPs whose workload-addressed traffic is bound to this waypoint. */
  boundWorkloads: ReadonlyMap<string, WorkloadInfo>;
  /** Every known workload by IP (telemetry: source and destination lookups). */
  workloadsByIp: ReadonlyMap<string, WorkloadInfo>;
}
