/**
 * Test support for the Istio route compilers and the cluster runtime: a small bookinfo mesh on
 * loopback addresses (`test/fixtures/istio/bookinfo.yaml`), resources from YAML text, compiled
 * snapshots, requests, and a seeded random source. Used only by tests.
 */
import { loadResourcesFromText } from '../../src/config/load.js';
import { compileSnapshot } from '../../src/snapshot/compile.js';
import type { ConfigProblem, LoadedResource } from '../../src/config/types.js';
import type { ConfigSnapshot } from '../../src/snapshot/types.js';
import { formatProblem } from '../../src/config/problems.js';
import type { RouteRequest } from '../../src/routes/types.js';
import { readFixture } from './fixtures.js';

/** The bookinfo mesh: namespaces, the waypoint, four Services and their pods on 127.0.x.x. */
export const BOOKINFO = await readFixture('istio/bookinfo.yaml');

/** Resources from YAML text; fails on load errors unless `allowErrors`. */
export function resourcesFrom(yaml: string, file = 'routes.yaml'): { resources: LoadedResource[]; problems: ConfigProblem[] } {
  const loaded = loadResourcesFromText([{ file, text: yaml }]);
  return { resources: loaded.resources, problems: loaded.problems };
}

/** The bookinfo mesh plus `extra` YAML, compiled as waypoint bookinfo/waypoint. */
export function meshSnapshot(extra = ''): { snapshot: ConfigSnapshot; resources: LoadedResource[] } {
  const text = [BOOKINFO, extra].filter((t) => t.trim() !== '').join('---\n');
  const loaded = loadResourcesFromText([{ file: 'mesh.yaml', text }]);
  const errors = loaded.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(`fixture does not load: ${errors.map(formatProblem).join('; ')}`);
  const { snapshot } = compileSnapshot(loaded.resources, { trustDomain: 'cluster.local', clusterId: 'Kubernetes', version: 1, namespace: 'bookinfo', name: 'waypoint' });
  return { snapshot, resources: loaded.resources };
}

export function request(path: string, opts: Partial<RouteRequest> = {}): RouteRequest {
  return {
    method: opts.method ?? 'GET',
    path,
    headers: opts.headers ?? {},
    authority: opts.authority ?? 'reviews:9080',
    sourceNamespace: opts.sourceNamespace,
    sourceLabels: opts.sourceLabels,
  };
}

/** A seeded random source (the one generator in `test/helpers/random.ts`). */
export { createRandom as seededRandom } from './random.js';

export const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
export const RATINGS = 'ratings.bookinfo.svc.cluster.local';
export const MULTI = 'multi.bookinfo.svc.cluster.local';
export const DETAILS = 'details.other.svc.cluster.local';
