/**
 * The mesh model from loaded resources: the waypoint's identity, workloads indexed by IP, Services
 * with their binding decision, and the bound VIP:port index with resolved endpoints. Pure; the
 * snapshot compiler (`src/snapshot/compile.ts`) adds routes and policies on top. References to
 * things that are absent are warnings, never errors.
 */
import { hostPortKey, vipKey } from './address.js';
import { reachedByHbone, type AmbientDetection } from './dataplane.js';
import { decideBinding, isBindingMisconfigured, namespaceMeta, type NamespaceMeta, type WaypointPolicy } from './binding.js';
import { parseKind, type CoreKind, type KindSchemas, type ParseOutcome, type ServiceResource } from './schemas.js';
import { matchesSelectorMap } from './selector.js';
import { entryExportedTo, serviceEntryServices } from './service-entries.js';
import { selectorEndpoints, serviceHostname, servicePorts, serviceVips, sliceEndpoints, type ParsedSlice } from './services.js';
import type { ConfigProblem, Endpoint, LoadedResource, MeshModel, ServiceInfo, VipBinding, WaypointIdentity, WorkloadInfo } from './types.js';
import { selectWaypoint, waypointPolicyFor } from './waypoint.js';
import { endpointSliceWorkloads, podWorkload, SERVICE_NAME_LABEL, workloadEntryWorkload, type BuiltWorkload } from './workloads.js';

export interface ModelOptions {
  /** The waypoint's namespace and name; found from the configuration when not given. */
  namespace?: string | undefined;
  name?: string | undefined;
  trustDomain: string;
  clusterId: string;
  /** How Pods outside the ambient data plane are told apart (`dataplane.ts`); default `file`. */
  ambientDetection?: AmbientDetection | undefined;
}

export interface ModelResult {
  model: MeshModel;
  /** Problems found (warnings; errors only for resources that fail their schema). */
  problems: ConfigProblem[];
}

/** Builds the mesh model: which waypoint this is, its workloads and Services, and what is bound to it. */
export function buildMeshModel(resources: readonly LoadedResource[], opts: ModelOptions): ModelResult {
  const problems: ConfigProblem[] = [];
  const parsed = parseResources(resources, problems);

  const namespaces = new Map<string, NamespaceMeta>();
  for (const ns of parsed.Namespace) {
    namespaces.set(ns.resource.name, namespaceMeta(ns.resource.name, ns.value.metadata.labels ?? undefined));
  }
  const namespaceOf = (name: string): NamespaceMeta => namespaces.get(name) ?? namespaceMeta(name, undefined);

  const selection = selectWaypoint(parsed.Gateway, opts);
  problems.push(...selection.problems);
  const { policy, problems: policyProblems } = waypointPolicyFor(selection.namespace, selection.name, selection.gateway, parsed.GatewayClass);
  problems.push(...policyProblems);

  const workloads = compileWorkloads(parsed, opts.trustDomain, opts.ambientDetection ?? 'file', policy, namespaceOf, problems);
  const services = compileServices(parsed, workloads, policy, namespaceOf, problems);
  checkEndpointSlices(parsed.EndpointSlice, parsed.Service, problems);
  const entries = compileServiceEntries(parsed.ServiceEntry, workloads, policy, namespaceOf, services, problems);

  const waypoint: WaypointIdentity = Object.freeze({
    namespace: policy.namespace,
    name: policy.name,
    trustDomain: opts.trustDomain,
    clusterId: opts.clusterId,
    waypointFor: policy.waypointFor,
    gatewayFound: policy.gatewayFound,
  });
  const model: MeshModel = {
    waypoint,
    services: Object.freeze(services.list),
    serviceEntries: Object.freeze(entries),
    workloads: Object.freeze(workloads.list),
    byVip: services.byVip,
    byHostPort: services.byHostPort,
    boundVipIps: services.boundVipIps,
    boundWorkloads: workloads.bound,
    workloadsByIp: workloads.byIp,
  };
  return { model, problems };
}

interface Parsed<K extends CoreKind> {
  resource: LoadedResource;
  value: KindSchemas[K];
}

type ParsedResources = { [K in CoreKind]: Parsed<K>[] };

// ---- parsing -----------------------------------------------------------------------------------

/**
 * Parse results by document. Resources are frozen and a source that follows changes (the
 * Kubernetes API) hands the same documents to every compile, so each is parsed once.
 */
const parseCache = new WeakMap<object, ParseOutcome<unknown>>();

function parseCached<K extends CoreKind>(kind: K, raw: LoadedResource['raw']): ParseOutcome<KindSchemas[K]> {
  const cached = Object.isFrozen(raw) ? parseCache.get(raw) : undefined;
  if (cached !== undefined) return cached as ParseOutcome<KindSchemas[K]>;
  const outcome = parseKind(kind, raw);
  if (Object.isFrozen(raw)) parseCache.set(raw, outcome);
  return outcome;
}

function parseResources(resources: readonly LoadedResource[], problems: ConfigProblem[]): ParsedResources {
  const out: ParsedResources = { Namespace: [], Service: [], Pod: [], WorkloadEntry: [], EndpointSlice: [], Gateway: [], GatewayClass: [], ServiceEntry: [] };
  const add = <K extends CoreKind>(kind: K, resource: LoadedResource): void => {
    const outcome = parseCached(kind, resource.raw);
    if (outcome.ok) {
      out[kind].push({ resource, value: outcome.value });
      return;
    }
    for (const issue of outcome.issues) {
      problems.push({
        severity: 'error',
        file: resource.file,
        kind,
        ...(kind === 'Namespace' ? {} : { namespace: resource.namespace }),
        name: resource.name,
        ...(issue.field !== '' ? { field: issue.field } : {}),
        message: issue.message,
      });
    }
  };
  for (const r of resources) {
    switch (r.kind) {
      case 'Namespace':
      case 'Service':
      case 'Pod':
      case 'WorkloadEntry':
      case 'EndpointSlice':
      case 'Gateway':
      case 'GatewayClass':
      case 'ServiceEntry':
        add(r.kind, r);
        break;
      default:
        break; // compiled by other stages (routes, policies)
    }
  }
  return out;
}

// ---- workloads ---------------------------------------------------------------------------------

interface CompiledWorkloads {
  list: WorkloadInfo[];
  /** Pods and WorkloadEntries by namespace: what Service selectors pick from. */
  selectableByNamespace: Map<string, WorkloadInfo[]>;
  /** The same, by `namespace`, then `key=value` of each label: a selector's candidates. */
  selectableByLabel: Map<string, Map<string, WorkloadInfo[]>>;
  byIp: Map<string, WorkloadInfo>;
  bound: Map<string, WorkloadInfo>;
}

function compileWorkloads(
  parsed: ParsedResources,
  trustDomain: string,
  ambientDetection: AmbientDetection,
  policy: WaypointPolicy,
  namespaceOf: (name: string) => NamespaceMeta,
  problems: ConfigProblem[],
): CompiledWorkloads {
  const built: Array<{ workload: BuiltWorkload; resource: LoadedResource }> = [];
  for (const { resource, value } of parsed.Pod) {
    const w = podWorkload(resource, value, trustDomain);
    if (w === undefined) continue;
    const hbone = reachedByHbone(ambientDetection, {
      annotations: value.metadata.annotations ?? {},
      labels: w.info.labels,
      namespaceLabels: namespaceOf(resource.namespace).labels,
    });
    // The built workload is cached across compiles: a Pod outside the mesh gets its own copy.
    built.push({ workload: hbone ? w : { ...w, info: { ...w.info, hbone: false } }, resource });
  }
  for (const { resource, value } of parsed.WorkloadEntry) {
    const w = workloadEntryWorkload(resource, value, trustDomain);
    if (w !== undefined) built.push({ workload: w, resource });
  }
  const claimed = new Set(built.flatMap((b) => b.workload.ips));
  const claim = (ip: string): boolean => {
    if (claimed.has(ip)) return false;
    claimed.add(ip);
    return true;
  };
  for (const { resource, value } of parsed.EndpointSlice) {
    for (const w of endpointSliceWorkloads(resource, value, claim)) built.push({ workload: w, resource });
  }
  built.sort((a, b) => compareText(a.workload.info.uid, b.workload.info.uid));
  for (const b of built) Object.freeze(b.workload.info);

  const byIp = new Map<string, WorkloadInfo>();
  const owner = new Map<string, LoadedResource>();
  for (const { workload, resource } of built) {
    for (const ip of workload.ips) {
      const prev = byIp.get(ip);
      if (prev === undefined) {
        byIp.set(ip, workload.info);
        owner.set(ip, resource);
        continue;
      }
      const winner = workloadRank(workload.info) < workloadRank(prev) ? workload.info : prev;
      if (prev.ready && workload.info.ready) {
        problems.push({
          severity: 'warning',
          ...ident(resource),
          message: `IP ${ip} is also the address of ${describeWorkload(prev)} (${owner.get(ip)?.file ?? '?'}); using ${describeWorkload(winner)}`,
        });
      }
      if (winner !== prev) {
        byIp.set(ip, winner);
        owner.set(ip, resource);
      }
    }
  }

  const boundUids = new Set<string>();
  for (const { workload, resource } of built) {
    const info = workload.info;
    const decision = decideBinding(
      { kind: info.kind, namespace: info.namespace, labels: workload.bindingLabels },
      'workload',
      namespaceOf(info.namespace),
      policy,
    );
    if (decision.bound) boundUids.add(info.uid);
    else if (isBindingMisconfigured(decision) && info.kind !== 'EndpointSlice') {
      problems.push({ severity: 'warning', ...ident(resource), message: `asks for this waypoint but is ${decision.reason}` });
    }
  }
  const bound = new Map<string, WorkloadInfo>();
  for (const [ip, w] of byIp) if (boundUids.has(w.uid)) bound.set(ip, w);

  const list = built.map((b) => b.workload.info);
  const selectableByNamespace = new Map<string, WorkloadInfo[]>();
  const selectableByLabel = new Map<string, Map<string, WorkloadInfo[]>>();
  for (const w of list) {
    if (w.kind === 'EndpointSlice') continue;
    const inNs = selectableByNamespace.get(w.namespace) ?? [];
    inNs.push(w);
    selectableByNamespace.set(w.namespace, inNs);
    let byLabel = selectableByLabel.get(w.namespace);
    if (byLabel === undefined) selectableByLabel.set(w.namespace, (byLabel = new Map<string, WorkloadInfo[]>()));
    for (const [k, v] of Object.entries(w.labels)) {
      const key = `${k}=${v}`;
      const same = byLabel.get(key);
      if (same === undefined) byLabel.set(key, [w]);
      else same.push(w);
    }
  }
  return { list, selectableByNamespace, selectableByLabel, byIp, bound };
}

/** Lower wins an IP: ready before not ready, then Pod, WorkloadEntry, EndpointSlice. */
function workloadRank(w: WorkloadInfo): number {
  const kind = w.kind === 'Pod' ? 0 : w.kind === 'WorkloadEntry' ? 1 : 2;
  return (w.ready ? 0 : 3) + kind;
}

function describeWorkload(w: WorkloadInfo): string {
  return `${w.kind} ${w.namespace}/${w.name}`;
}

// ---- services ----------------------------------------------------------------------------------

interface CompiledServices {
  list: ServiceInfo[];
  byVip: Map<string, VipBinding>;
  byHostPort: Map<string, VipBinding>;
  boundVipIps: Set<string>;
}

function compileServices(
  parsed: ParsedResources,
  workloads: CompiledWorkloads,
  policy: WaypointPolicy,
  namespaceOf: (name: string) => NamespaceMeta,
  problems: ConfigProblem[],
): CompiledServices {
  const slicesByService = new Map<string, ParsedSlice[]>();
  for (const slice of parsed.EndpointSlice) {
    const svcName = slice.value.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svcName === undefined) continue;
    const key = `${slice.resource.namespace}/${svcName}`;
    const list = slicesByService.get(key) ?? [];
    list.push(slice);
    slicesByService.set(key, list);
  }

  const out: CompiledServices = { list: [], byVip: new Map(), byHostPort: new Map(), boundVipIps: new Set() };
  const sorted = [...parsed.Service].sort((a, b) =>
    compareText(`${a.resource.namespace}/${a.resource.name}`, `${b.resource.namespace}/${b.resource.name}`),
  );
  for (const { resource, value } of sorted) {
    const labels = Object.freeze({ ...value.metadata.labels });
    const decision = decideBinding({ kind: 'Service', namespace: resource.namespace, labels }, 'service', namespaceOf(resource.namespace), policy);
    if (isBindingMisconfigured(decision)) {
      problems.push({ severity: 'warning', ...ident(resource), message: `asks for this waypoint but is ${decision.reason}` });
    }
    const selector = value.spec.selector && Object.keys(value.spec.selector).length > 0 ? Object.freeze({ ...value.spec.selector }) : undefined;
    const ports = servicePorts(value);
    const vips = serviceVips(value);
    const service: ServiceInfo = Object.freeze({
      name: resource.name,
      namespace: resource.namespace,
      hostname: serviceHostname(resource.name, resource.namespace),
      vips: Object.freeze(vips),
      ports: Object.freeze(ports),
      selector,
      labels,
      bound: decision.bound,
      bindingReason: decision.reason,
    });
    out.list.push(service);

    const endpointsFor = serviceEndpointSource(resource, value, selector, workloads, slicesByService, problems);
    if (!decision.bound) {
      // Still a possible route backend: index its ports by hostname.
      for (const port of ports) {
        out.byHostPort.set(hostPortKey(service.hostname, port.port), Object.freeze({ service, port, endpoints: Object.freeze(endpointsFor(port)) }));
      }
      continue;
    }
    for (const port of ports) {
      const endpoints = endpointsFor(port);
      if (typeof port.targetPort === 'string' && endpoints.length === 0 && endpointsFor.selectedCount > 0) {
        problems.push({
          severity: 'warning',
          ...ident(resource),
          field: `spec.ports[${specPortIndex(value, port.port)}].targetPort`,
          message: `no selected workload has a port named ${JSON.stringify(port.targetPort)}; port ${port.port} has no endpoints`,
        });
      }
      const binding: VipBinding = Object.freeze({ service, port, endpoints: Object.freeze(endpoints) });
      out.byHostPort.set(hostPortKey(service.hostname, port.port), binding);
      for (const vip of vips) claimVip(out, vipKey(vip, port.port), binding, resource, undefined, problems);
    }
    for (const vip of vips) out.boundVipIps.add(vip);
  }
  return out;
}

/**
 * ServiceEntries as services (`service-entries.ts`), bound with `istio.io/use-waypoint` like a
 * Service. A Kubernetes Service keeps its VIP and host:port when an entry declares the same.
 */
function compileServiceEntries(
  entries: readonly Parsed<'ServiceEntry'>[],
  workloads: CompiledWorkloads,
  policy: WaypointPolicy,
  namespaceOf: (name: string) => NamespaceMeta,
  out: CompiledServices,
  problems: ConfigProblem[],
): ServiceInfo[] {
  const list: ServiceInfo[] = [];
  const sorted = [...entries].sort((a, b) => compareText(`${a.resource.namespace}/${a.resource.name}`, `${b.resource.namespace}/${b.resource.name}`));
  for (const { resource, value } of sorted) {
    const labels = Object.freeze({ ...value.metadata.labels });
    let decision = decideBinding({ kind: 'Service', namespace: resource.namespace, labels }, 'service', namespaceOf(resource.namespace), policy);
    if (isBindingMisconfigured(decision)) {
      problems.push({ severity: 'warning', ...ident(resource), message: `asks for this waypoint but is ${decision.reason}` });
    }
    if (decision.bound && !entryExportedTo(value.spec.exportTo, resource.namespace, policy.namespace)) {
      decision = { ...decision, bound: false, reason: `not bound: spec.exportTo does not include the waypoint's namespace ${policy.namespace}` };
      problems.push({ severity: 'warning', ...ident(resource), field: 'spec.exportTo', message: `does not include the waypoint's namespace ${policy.namespace}; the entry is not bound here` });
    }
    if ((value.spec.ports ?? []).length === 0) {
      problems.push({ severity: 'warning', ...ident(resource), field: 'spec.ports', message: 'is empty: the entry has no port to route' });
    }
    const built = serviceEntryServices(value, {
      namespace: resource.namespace,
      name: resource.name,
      bound: decision.bound,
      bindingReason: decision.reason,
      workloadsByIp: workloads.byIp,
      namespaceWorkloads: workloads.selectableByNamespace.get(resource.namespace) ?? [],
    });
    for (const service of built.services) {
      list.push(service);
      for (const port of service.ports) {
        const binding: VipBinding = Object.freeze({ service, port, endpoints: Object.freeze(built.endpoints(port)) });
        const hostKey = hostPortKey(service.hostname, port.port);
        if (!out.byHostPort.has(hostKey)) out.byHostPort.set(hostKey, binding);
        if (!decision.bound || service !== built.services[0]) continue;
        for (const vip of service.vips) claimVip(out, vipKey(vip, port.port), binding, resource, 'spec.addresses', problems);
      }
      if (decision.bound) for (const vip of service.vips) out.boundVipIps.add(vip);
    }
  }
  return list;
}

/** Indexes a bound VIP:port; the first claim wins and a later one is a warning. */
function claimVip(out: CompiledServices, key: string, binding: VipBinding, resource: LoadedResource, field: string | undefined, problems: ConfigProblem[]): void {
  const prev = out.byVip.get(key);
  if (prev === undefined) {
    out.byVip.set(key, binding);
    return;
  }
  const owner = prev.service.serviceEntry !== undefined ? `ServiceEntry ${prev.service.namespace}/${prev.service.serviceEntry}` : `Service ${prev.service.namespace}/${prev.service.name}`;
  problems.push({
    severity: 'warning',
    ...ident(resource),
    ...(field !== undefined ? { field } : {}),
    message: `VIP ${key} is also a port of bound ${owner}; keeping that one`,
  });
}

type EndpointSource = ((port: ServiceInfo['ports'][number]) => Endpoint[]) & { selectedCount: number };

/**
 * Where a Service's endpoints come from: its EndpointSlices when it has any (the cluster's own
 * account, with readiness), plus the WorkloadEntries its selector picks (slices never list them);
 * else the Pods and WorkloadEntries its selector picks. Warns when neither yields anything.
 */
function serviceEndpointSource(
  resource: LoadedResource,
  svc: ServiceResource,
  selector: Readonly<Record<string, string>> | undefined,
  workloads: CompiledWorkloads,
  slicesByService: ReadonlyMap<string, ParsedSlice[]>,
  problems: ConfigProblem[],
): EndpointSource {
  const slices = slicesByService.get(`${resource.namespace}/${resource.name}`) ?? [];
  const selected = selector === undefined ? [] : selectWorkloads(workloads, resource.namespace, selector);
  const useSlices = slices.length > 0;
  if (svc.spec.type !== 'ExternalName' && selected.length === 0 && slices.length === 0) {
    problems.push({
      severity: 'warning',
      ...ident(resource),
      ...(selector !== undefined ? { field: 'spec.selector' } : {}),
      message:
        selector !== undefined
          ? `selects no Pod or WorkloadEntry in namespace ${resource.namespace} (and no EndpointSlice names it); it has no endpoints`
          : `has no selector and no EndpointSlice labelled ${SERVICE_NAME_LABEL}=${resource.name}; it has no endpoints`,
    });
  }
  const entries = useSlices ? selected.filter((w) => w.kind === 'WorkloadEntry') : selected;
  const source = (port: ServiceInfo['ports'][number]): Endpoint[] =>
    useSlices ? [...sliceEndpoints(port, slices, workloads.byIp), ...selectorEndpoints(port, entries)] : selectorEndpoints(port, selected);
  return Object.assign(source, { selectedCount: selected.length });
}

/**
 * The Pods and WorkloadEntries of `namespace` a (non-empty) Service selector matches, in model
 * order: the candidates are those carrying the selector's rarest `key=value`, so a namespace of
 * thousands of Pods is not scanned once per Service.
 */
function selectWorkloads(workloads: CompiledWorkloads, namespace: string, selector: Readonly<Record<string, string>>): WorkloadInfo[] {
  const byLabel = workloads.selectableByLabel.get(namespace);
  if (byLabel === undefined) return [];
  let candidates: WorkloadInfo[] | undefined;
  for (const [k, v] of Object.entries(selector)) {
    const list = byLabel.get(`${k}=${v}`);
    if (list === undefined) return [];
    if (candidates === undefined || list.length < candidates.length) candidates = list;
  }
  return (candidates ?? workloads.selectableByNamespace.get(namespace) ?? []).filter((w) => matchesSelectorMap(selector, w.labels));
}

function specPortIndex(svc: ServiceResource, port: number): number {
  return Math.max(0, (svc.spec.ports ?? []).findIndex((p) => p.port === port && p.protocol !== 'UDP' && p.protocol !== 'SCTP'));
}

function checkEndpointSlices(slices: readonly ParsedSlice[], services: readonly Parsed<'Service'>[], problems: ConfigProblem[]): void {
  const known = new Set(services.map((s) => `${s.resource.namespace}/${s.resource.name}`));
  for (const { resource, value } of slices) {
    if (value.addressType === 'FQDN') {
      problems.push({ severity: 'warning', ...ident(resource), field: 'addressType', message: 'FQDN endpoints are not supported; the slice is ignored' });
      continue;
    }
    const svcName = value.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svcName === undefined) {
      problems.push({
        severity: 'warning',
        ...ident(resource),
        field: `metadata.labels["${SERVICE_NAME_LABEL}"]`,
        message: 'is missing; the EndpointSlice belongs to no Service',
      });
    } else if (!known.has(`${resource.namespace}/${svcName}`)) {
      problems.push({
        severity: 'warning',
        ...ident(resource),
        message: `Service ${resource.namespace}/${svcName} (label ${SERVICE_NAME_LABEL}) is not in the configuration`,
      });
    }
  }
}

// ---- helpers -----------------------------------------------------------------------------------

function ident(r: LoadedResource): Pick<ConfigProblem, 'file' | 'kind' | 'namespace' | 'name'> {
  return { file: r.file, kind: r.kind, ...(r.namespace !== '' ? { namespace: r.namespace } : {}), name: r.name };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
