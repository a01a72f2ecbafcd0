/**
 * Test support for route compilation: the GAMMA conformance topology (Services with loopback
 * ClusterIPs, bound to a waypoint; `test/fixtures/gateway-api/mesh-topology.yaml`) and the mesh
 * conformance route manifests (`test/fixtures/gateway-api/mesh-conformance/`), plus helpers that
 * load YAML into resources, compile a snapshot and the route tables, and build requests.
 */
import { loadResourcesFromText } from '../../src/config/load.js';
import { compileSnapshot } from '../../src/snapshot/compile.js';
import type { ConfigProblem, LoadedResource } from '../../src/config/types.js';
import type { ConfigSnapshot } from '../../src/snapshot/types.js';
import { compileRoutes, type VirtualServiceCompiler } from '../../src/routes/tables.js';
import type { RouteRequest, RouteTables } from '../../src/routes/types.js';
import { readFixture, readFixtureFolder } from './fixtures.js';

export const MESH_NS = 'gateway-conformance-mesh';
export const CONSUMER_NS = 'gateway-conformance-mesh-consumer';

/** The conformance base topology (mesh/manifests.yaml) reduced to what routing reads. */
export const MESH_TOPOLOGY = await readFixture('gateway-api/mesh-topology.yaml');

/** Mesh conformance route manifests by file name (tests/mesh/<name>). */
export const CONFORMANCE: Readonly<Record<string, string>> = await readFixtureFolder('gateway-api/mesh-conformance');

export interface Compiled {
  snapshot: ConfigSnapshot;
  resources: LoadedResource[];
  tables: RouteTables;
  /** Route problems only (the snapshot's own are checked to be error-free). */
  problems: ConfigProblem[];
}

/** Loads the topology plus `yamls`, compiles the snapshot and the route tables. */
export function compileMesh(
  yamls: readonly string[],
  opts: { topology?: string; istio?: VirtualServiceCompiler; /** Default: the snapshot's (the mesh namespace); null: unknown. */ waypointNamespace?: string | null } = {},
): Compiled {
  const files = [{ file: 'topology.yaml', text: opts.topology ?? MESH_TOPOLOGY }, ...yamls.map((text, i) => ({ file: `routes-${i}.yaml`, text }))];
  const loaded = loadResourcesFromText(files);
  const loadErrors = loaded.problems.filter((p) => p.severity === 'error');
  if (loadErrors.length > 0) throw new Error(`fixture does not load: ${JSON.stringify(loadErrors)}`);
  const { snapshot, problems } = compileSnapshot(loaded.resources, { trustDomain: 'cluster.local', clusterId: 'Kubernetes', version: 1 });
  const snapshotErrors = problems.filter((p) => p.severity === 'error' && p.resourceSkipped !== true);
  if (snapshotErrors.length > 0) throw new Error(`fixture does not compile: ${JSON.stringify(snapshotErrors)}`);
  const waypointNamespace = opts.waypointNamespace === null ? undefined : (opts.waypointNamespace ?? snapshot.waypoint.namespace);
  const out = compileRoutes(loaded.resources, { byHostPort: snapshot.byHostPort, services: snapshot.services, waypointNamespace }, opts.istio);
  return { snapshot, resources: loaded.resources, tables: out.tables, problems: out.problems };
}

/** `<name>.<ns>.svc.cluster.local` */
export function host(name: string, namespace = MESH_NS): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/** A request as the data path hands it to a table: GET, from the mesh namespace, Host `echo`. */
export function request(over: Partial<RouteRequest> & { path?: string } = {}): RouteRequest {
  return {
    method: 'GET',
    path: '/',
    headers: {},
    authority: 'echo',
    sourceNamespace: MESH_NS,
    sourceLabels: undefined,
    ...over,
  };
}
