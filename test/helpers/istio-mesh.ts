/**
 * Test support for the Istio route compilers and the cluster runtime: a small bookinfo mesh on
 * loopback addresses, resources from YAML text, compiled snapshots, requests, and a seeded random
 * source. Used only by tests.
 */
import { loadResourcesFromText } from '../../src/config/load.js';
import { compileSnapshot } from '../../src/snapshot/compile.js';
import type { ConfigProblem, LoadedResource } from '../../src/config/types.js';
import type { ConfigSnapshot } from '../../src/snapshot/types.js';
import { formatProblem } from '../../src/config/problems.js';
import type { RouteRequest } from '../../src/routes/types.js';

export const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: bookinfo, labels: {istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: bookinfo, labels: {istio.io/waypoint-for: service}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  clusterIP: 127.31.0.1
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec:
  clusterIP: 127.31.0.2
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: bookinfo}
spec:
  clusterIP: 127.31.0.3
  selector: {app: multi}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: grpc, port: 9090}, {name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: details, namespace: other}
spec:
  clusterIP: 127.31.0.4
  selector: {app: details}
  ports: [{name: http, port: 9080}]
`;

function pod(name: string, ip: string, labels: Record<string, string>, ns = 'bookinfo'): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}: "${v}"`)
    .join(', ');
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {${l}}}
spec: {serviceAccountName: ${labels['app'] ?? 'default'}, containers: [{name: app}]}
status: {phase: Running, podIP: ${ip}, conditions: [{type: Ready, status: "True"}]}
`;
}

export const PODS = [
  pod('reviews-v1', '127.0.1.1', { app: 'reviews', version: 'v1' }),
  pod('reviews-v2', '127.0.1.2', { app: 'reviews', version: 'v2' }),
  pod('reviews-v3', '127.0.1.3', { app: 'reviews', version: 'v3' }),
  pod('ratings-v1', '127.0.2.1', { app: 'ratings', version: 'v1' }),
  pod('multi-1', '127.0.3.1', { app: 'multi' }),
  pod('details-1', '127.0.4.1', { app: 'details' }, 'other'),
].join('---\n');

/** Resources from YAML text; fails on load errors unless `allowErrors`. */
export function resourcesFrom(yaml: string, file = 'routes.yaml'): { resources: LoadedResource[]; problems: ConfigProblem[] } {
  const loaded = loadResourcesFromText([{ file, text: yaml }]);
  return { resources: loaded.resources, problems: loaded.problems };
}

/** The bookinfo mesh plus `extra` YAML, compiled as waypoint bookinfo/waypoint. */
export function meshSnapshot(extra = ''): { snapshot: ConfigSnapshot; resources: LoadedResource[] } {
  const text = [MESH, PODS, extra].filter((t) => t.trim() !== '').join('---\n');
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

/** mulberry32: a small seeded PRNG in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
export const RATINGS = 'ratings.bookinfo.svc.cluster.local';
export const MULTI = 'multi.bookinfo.svc.cluster.local';
export const DETAILS = 'details.other.svc.cluster.local';
