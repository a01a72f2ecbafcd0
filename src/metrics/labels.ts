/**
 * The `istio_*` metric labels, derived exactly as the Envoy waypoint (`istio.stats`, reporter
 * `SERVER_GATEWAY`) derives them. Pure functions plus a small identity-keyed cache;
 * no I/O, no timers.
 *
 * Every label object is built with its keys in Envoy's emission order: the Prometheus text
 * writer prints a series' labels in the key order of the object it was first recorded with.
 */
import type { ServiceInfo, WorkloadInfo } from '../config/types.js';

/** Labels 1–20: reporter, source_*, destination_* (shared by HTTP and TCP metrics). */
export const PEER_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
] as const;

/** The 25 labels of `istio_requests_total` and the three HTTP histograms, in emission order. */
export const HTTP_LABEL_NAMES = [
  ...PEER_LABEL_NAMES,
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

/** The 23 labels of the `istio_tcp_*` counters, in emission order (no response_code, grpc_response_status). */
export const TCP_LABEL_NAMES = [...PEER_LABEL_NAMES, 'request_protocol', 'response_flags', 'connection_security_policy'] as const;

export type PeerLabelName = (typeof PEER_LABEL_NAMES)[number];
export type HttpLabelName = (typeof HTTP_LABEL_NAMES)[number];
export type TcpLabelName = (typeof TCP_LABEL_NAMES)[number];
export type PeerLabels = Readonly<Record<PeerLabelName, string>>;
export type HttpLabels = Readonly<Record<HttpLabelName, string>>;
export type TcpLabels = Readonly<Record<TcpLabelName, string>>;

export type SourceLabelName = Extract<PeerLabelName, `source_${string}`>;
export type DestinationLabelName = Extract<PeerLabelName, `destination_${string}`>;
/** Labels 2–9. */
export type SourceLabels = Readonly<Record<SourceLabelName, string>>;
/** Labels 10–20 (destination workload and destination Service, interleaved as Envoy emits them). */
export type DestinationLabels = Readonly<Record<DestinationLabelName, string>>;

export const REPORTER = 'waypoint';
export const UNKNOWN = 'unknown';
export const LATEST = 'latest';

export type RequestProtocol = 'http' | 'grpc' | 'tcp';
export type ConnectionSecurityPolicy = 'mutual_tls' | 'none';

/** What the telemetry of one request or connection is keyed on. */
export interface PeerInput {
  /** The HBONE peer's workload, found by the peer (source pod) IP in `workloadsByIp`. */
  sourceWorkload: WorkloadInfo | undefined;
  /** The HBONE peer certificate's URI SAN (`spiffe://…`); undefined or `''` without one. */
  sourcePrincipal: string | undefined;
  /** The workload behind the chosen endpoint (`workloadsByIp` of the endpoint IP); undefined when none or unknown. */
  destinationWorkload: WorkloadInfo | undefined;
  /** The Service of the upstream cluster; undefined for workload-addressed (`encap`) traffic. */
  destinationService: ServiceInfo | undefined;
}

function orDefault(value: string | undefined, fallback: string): string {
  return value !== undefined && value !== '' ? value : fallback;
}

/**
 * The `<ns>` of a principal's `/ns/<ns>/` segment (Envoy `getNamespace`): from the first `/ns/` up
 * to the next `/` or the end; undefined when there is none or it is empty.
 */
export function principalNamespace(principal: string | undefined): string | undefined {
  if (principal === undefined) return undefined;
  const at = principal.indexOf('/ns/');
  if (at < 0) return undefined;
  const begin = at + 4;
  const end = principal.indexOf('/', begin);
  const ns = end < 0 ? principal.slice(begin) : principal.slice(begin, end);
  return ns === '' ? undefined : ns;
}

/**
 * Labels 2–9 from the downstream peer. WDS mapping: app = canonical name, version = canonical
 * revision, cluster = the workload's cluster (every configured workload is in `clusterId`).
 * Namespace: the principal's `/ns/` segment first, then the workload's namespace.
 */
export function sourceLabels(workload: WorkloadInfo | undefined, principal: string | undefined, clusterId: string): SourceLabels {
  const peerPrincipal = principal !== undefined && principal !== '' ? principal : undefined;
  return {
    source_workload: orDefault(workload?.workloadName, UNKNOWN),
    source_canonical_service: orDefault(workload?.canonicalService, UNKNOWN),
    source_canonical_revision: orDefault(workload?.canonicalRevision, LATEST),
    source_workload_namespace: principalNamespace(peerPrincipal) ?? orDefault(workload?.namespace, UNKNOWN),
    source_principal: peerPrincipal ?? UNKNOWN,
    source_app: orDefault(workload?.canonicalService, UNKNOWN),
    source_version: orDefault(workload?.canonicalRevision, UNKNOWN),
    source_cluster: workload === undefined ? UNKNOWN : orDefault(clusterId, UNKNOWN),
  };
}

/**
 * Labels 10–20 from the chosen endpoint's workload and the cluster's Service. The principal is the
 * workload's configured identity (WDS), never the upstream TLS peer. No Host-header fallback:
 * without a Service (`encap`, pod-IP traffic) the three `destination_service*` labels are `unknown`.
 */
export function destinationLabels(workload: WorkloadInfo | undefined, service: ServiceInfo | undefined, clusterId: string): DestinationLabels {
  const host = service?.hostname !== undefined && service.hostname !== '' ? service.hostname : undefined;
  let serviceName = UNKNOWN;
  if (service !== undefined) {
    if (service.name !== '') serviceName = service.name;
    else if (host !== undefined) serviceName = orDefault(host.split('.', 1)[0], UNKNOWN);
  }
  return {
    destination_workload: orDefault(workload?.workloadName, UNKNOWN),
    destination_workload_namespace: orDefault(workload?.namespace, UNKNOWN),
    destination_principal: orDefault(workload?.identity, UNKNOWN),
    destination_app: orDefault(workload?.canonicalService, UNKNOWN),
    destination_version: orDefault(workload?.canonicalRevision, UNKNOWN),
    destination_service: host ?? UNKNOWN,
    destination_canonical_service: orDefault(workload?.canonicalService, UNKNOWN),
    destination_canonical_revision: orDefault(workload?.canonicalRevision, UNKNOWN),
    destination_service_name: serviceName,
    destination_service_namespace: orDefault(service?.namespace, UNKNOWN),
    destination_cluster: workload === undefined ? UNKNOWN : orDefault(clusterId, UNKNOWN),
  };
}

/** Labels 1–20, in order. */
export function peerLabels(input: PeerInput, clusterId: string): PeerLabels {
  return {
    reporter: REPORTER,
    ...sourceLabels(input.sourceWorkload, input.sourcePrincipal, clusterId),
    ...destinationLabels(input.destinationWorkload, input.destinationService, clusterId),
  };
}

/**
 * `mutual_tls` when both the peer and the local principal are non-empty (Envoy). The waypoint's own
 * certificate always serves an HBONE connection, so this reduces to "the peer presented a SPIFFE
 * identity".
 */
export function connectionSecurityPolicy(peerPrincipal: string | undefined): ConnectionSecurityPolicy {
  return peerPrincipal !== undefined && peerPrincipal !== '' ? 'mutual_tls' : 'none';
}

/**
 * Envoy's `Grpc::Common::hasGrpcContentType`: exactly `application/grpc` or `application/grpc+…`
 * (case-sensitive). `application/grpc-web` and `application/grpc; …` are not gRPC.
 */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith('application/grpc')) return false;
  return contentType.length === 16 || contentType.charCodeAt(16) === 0x2b; /* '+' */
}

/** `grpc` for a gRPC request content type, else `http`. (TCP metrics use `tcp`.) */
export function requestProtocol(contentType: string | undefined): 'http' | 'grpc' {
  return isGrpcContentType(contentType) ? 'grpc' : 'http';
}

/** `response_code`: the HTTP status, `0` when no response was sent. */
export function responseCodeLabel(status: number | undefined): string {
  return status === undefined || !Number.isFinite(status) || status <= 0 ? '0' : String(Math.trunc(status));
}

/** A header bag as Node hands them out (incoming, outgoing, HTTP/2, trailers); names lower case. */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | number | undefined>>;

const GRPC_MAX_KNOWN_STATUS = 16;
const GRPC_INVALID_CODE = -1;

function headerValue(bag: HeaderBag | undefined, name: string): string | undefined {
  const v = bag?.[name];
  if (v === undefined) return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  return v[0];
}

/** Envoy `getGrpcStatus(headers)`: absent/empty → undefined; not a number or > 16 → -1. */
function parseGrpcStatus(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const trimmed = value.trim();
  if (!/^\+?[0-9]+$/.test(trimmed)) return GRPC_INVALID_CODE;
  const n = Number(trimmed);
  return n > GRPC_MAX_KNOWN_STATUS ? GRPC_INVALID_CODE : n;
}

/** Envoy `Grpc::Utility::httpToGrpcStatus` (grpc/doc/http-grpc-status-mapping.md). */
export function httpToGrpcStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/**
 * `grpc_response_status` (Envoy `Grpc::Common::getGrpcStatus(trailers, headers, info)`): `""` for
 * a non-gRPC request; else `grpc-status` from the trailers, then from the headers (trailers-only
 * responses), then mapped from the HTTP status when a response was sent; `""` when there was no
 * response at all.
 */
export function grpcResponseStatus(
  grpc: boolean,
  responseCode: number | undefined,
  responseHeaders: HeaderBag | undefined,
  responseTrailers: HeaderBag | undefined,
): string {
  if (!grpc) return '';
  const status =
    parseGrpcStatus(headerValue(responseTrailers, 'grpc-status')) ??
    parseGrpcStatus(headerValue(responseHeaders, 'grpc-status')) ??
    (responseCode !== undefined && responseCode > 0 ? httpToGrpcStatus(responseCode) : undefined);
  return status === undefined ? '' : String(status);
}

/** The 25 HTTP labels, in order. */
export function httpLabels(
  peer: PeerLabels,
  r: { protocol: 'http' | 'grpc'; responseCode: string; grpcResponseStatus: string; responseFlags: string; connectionSecurityPolicy: string },
): HttpLabels {
  return {
    ...peer,
    request_protocol: r.protocol,
    response_code: r.responseCode,
    grpc_response_status: r.grpcResponseStatus,
    response_flags: r.responseFlags,
    connection_security_policy: r.connectionSecurityPolicy,
  };
}

/** The 23 TCP labels, in order. */
export function tcpLabels(peer: PeerLabels, r: { responseFlags: string; connectionSecurityPolicy: string }): TcpLabels {
  return {
    ...peer,
    request_protocol: 'tcp',
    response_flags: r.responseFlags,
    connection_security_policy: r.connectionSecurityPolicy,
  };
}

/**
 * What a workload contributes to labels; two workloads with the same key yield identical label
 * values (e.g. two pods of one Deployment), so series are retained by key, not by pod.
 */
export function workloadTelemetryKey(w: WorkloadInfo): string {
  return `${w.namespace}\u0000${w.workloadName}\u0000${w.canonicalService}\u0000${w.canonicalRevision}\u0000${w.identity ?? ''}`;
}

/** One cached (source workload, principal, destination workload, service) combination. */
export interface PeerLabelSet {
  readonly labels: PeerLabels;
  /** The 20 label values joined: identifies the label prefix by value. */
  readonly key: string;
  readonly connectionSecurityPolicy: ConnectionSecurityPolicy;
  /** `workloadTelemetryKey` of the source / destination workload; undefined when unknown. */
  readonly sourceKey: string | undefined;
  readonly destinationKey: string | undefined;
  /** The destination Service hostname; undefined without a Service. */
  readonly serviceHost: string | undefined;
}

const NONE: object = Object.freeze({});

/**
 * Caches the label prefix per (source workload, principal, destination workload, Service), keyed
 * by object identity: snapshots are immutable, a reload brings new objects and the old entries are
 * garbage-collected with them. `extend` attaches per-entry state for the caller (series maps).
 */
export class PeerLabelCache<E> {
  readonly #clusterId: string;
  readonly #extend: (peer: PeerLabelSet) => E;
  #bySource = new WeakMap<object, Map<string, WeakMap<object, WeakMap<object, E>>>>();

  constructor(clusterId: string, extend: (peer: PeerLabelSet) => E) {
    this.#clusterId = clusterId;
    this.#extend = extend;
  }

  get(input: PeerInput): E {
    const src: object = input.sourceWorkload ?? NONE;
    const principal = input.sourcePrincipal ?? '';
    const dst: object = input.destinationWorkload ?? NONE;
    const svc: object = input.destinationService ?? NONE;
    let byPrincipal = this.#bySource.get(src);
    if (byPrincipal === undefined) this.#bySource.set(src, (byPrincipal = new Map<string, WeakMap<object, WeakMap<object, E>>>()));
    let byDestination = byPrincipal.get(principal);
    if (byDestination === undefined) byPrincipal.set(principal, (byDestination = new WeakMap()));
    let byService = byDestination.get(dst);
    if (byService === undefined) byDestination.set(dst, (byService = new WeakMap()));
    let entry = byService.get(svc);
    if (entry === undefined) {
      entry = this.#extend(buildPeerLabelSet(input, this.#clusterId));
      byService.set(svc, entry);
    }
    return entry;
  }

  /** Forget every entry (after series removal, so stale per-entry state is not reused). */
  clear(): void {
    this.#bySource = new WeakMap();
  }
}

/** Builds a `PeerLabelSet` (uncached). */
export function buildPeerLabelSet(input: PeerInput, clusterId: string): PeerLabelSet {
  const labels = Object.freeze(peerLabels(input, clusterId));
  const host = input.destinationService?.hostname;
  return {
    labels,
    key: PEER_LABEL_NAMES.map((n) => labels[n]).join('\u0001'),
    connectionSecurityPolicy: connectionSecurityPolicy(input.sourcePrincipal),
    sourceKey: input.sourceWorkload === undefined ? undefined : workloadTelemetryKey(input.sourceWorkload),
    destinationKey: input.destinationWorkload === undefined ? undefined : workloadTelemetryKey(input.destinationWorkload),
    serviceHost: host !== undefined && host !== '' ? host : undefined,
  };
}
