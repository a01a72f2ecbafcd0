/**
 * `npm run bench:kube`: the Kubernetes source at scale. A child process runs the fake API server
 * (`src/testkit/fake-kube-api.ts`) with 1,000 Services in 10 namespaces, 10,000 Pods and one
 * EndpointSlice of 10 endpoints per Service; this process follows it with the
 * `KubernetesConfigSource` into a `SnapshotStore`, as `waypoint run --kubeconfig` does, and reports:
 *
 * - time to ready: from start until every kind has listed and the first snapshot is compiled;
 * - RSS (and heap) after sync, after a full collection when run with --expose-gc;
 * - the delay from an EndpointSlice change at the API server (its watch event) to a snapshot
 *   that routes by it (the bound VIP's endpoints), p50/p99 over --changes N (default 50).
 *
 * Targets (issue 11): ready ≤ 10 s, RSS ≤ 300 MB, change applied ≤ 1 s p99. Every address is in
 * 127.155.x.x, and nothing but the fake API server is dialled.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { KubeApiClient } from '../src/config/kube/api-client.js';
import { KubernetesConfigSource } from '../src/config/kube/source.js';
import { SnapshotStore } from '../src/snapshot/store.js';
import { FakeKubeApi } from '../src/testkit/fake-kube-api.js';

const NAMESPACES = 10;
const SERVICES_PER_NAMESPACE = 100;
const PODS_PER_SERVICE = 10;
const API_HOST = '127.155.3.1';

const vipOf = (s: number): string => `127.155.${60 + Math.floor(s / 250)}.${(s % 250) + 1}`;
/** Pod `p` of Service `s` (0-based), or a spare address for churn (`p` ≥ PODS_PER_SERVICE). */
const podIpOf = (s: number, p: number): string => {
  const n = s * (PODS_PER_SERVICE + 2) + p;
  return `127.155.${10 + Math.floor(n / 250)}.${(n % 250) + 1}`;
};
const nsOf = (s: number): string => `ns-${Math.floor(s / SERVICES_PER_NAMESPACE)}`;

function objects(): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (let n = 0; n < NAMESPACES; n++) out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, labels: { 'istio.io/use-waypoint': 'waypoint', 'istio.io/use-waypoint-namespace': 'ns-0', 'kubernetes.io/metadata.name': `ns-${n}` } } });
  out.push({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'ns-0' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE', allowedRoutes: { namespaces: { from: 'All' } } }] },
  });
  for (let s = 0; s < NAMESPACES * SERVICES_PER_NAMESPACE; s++) {
    const ns = nsOf(s);
    const app = `svc-${s}`;
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: app, namespace: ns, labels: { app } },
      spec: { type: 'ClusterIP', clusterIP: vipOf(s), clusterIPs: [vipOf(s)], selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    for (let p = 0; p < PODS_PER_SERVICE; p++) out.push(pod(s, p));
    out.push(slice(s, Array.from({ length: PODS_PER_SERVICE }, (_v, p) => p)));
  }
  return out;
}

function pod(s: number, p: number): Record<string, unknown> {
  const app = `svc-${s}`;
  const name = `${app}-7d9f8b6c5-${p}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: nsOf(s),
      labels: { app, 'pod-template-hash': '7d9f8b6c5', 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': app },
      annotations: { 'ambient.istio.io/redirection': 'enabled', 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8b6c5`, uid: 'u', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      serviceAccountName: app,
      nodeName: `node-${p % 5}`,
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1.2.3',
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'LOG_LEVEL', value: 'info' }],
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
          volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        },
      ],
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
    },
    status: {
      phase: 'Running',
      podIP: podIpOf(s, p),
      podIPs: [{ ip: podIpOf(s, p) }],
      hostIP: '127.155.250.1',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' })),
      containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'registry.example/app:1.2.3', imageID: 'sha256:0', containerID: 'containerd://0' }],
    },
  };
}

function slice(s: number, pods: number[]): Record<string, unknown> {
  const app = `svc-${s}`;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${app}-x7k2p`, namespace: nsOf(s), labels: { 'kubernetes.io/service-name': app, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: pods.map((p) => ({
      addresses: [podIpOf(s, p)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${p % 5}`,
      targetRef: { kind: 'Pod', name: `${app}-7d9f8b6c5-${p}`, namespace: nsOf(s), uid: 'u' },
    })),
  };
}

// ---- the fake API server, in a child process ------------------------------------------------------

type ToChild = { op: 'apply'; obj: Record<string, unknown> } | { op: 'stop' };
type ToParent = { ready: true; kubeconfig: string; objects: number };

async function child(kubeconfig: string): Promise<void> {
  const api = await FakeKubeApi.start({ host: API_HOST, historyLimit: 100_000 });
  const all = objects();
  for (const o of all) api.apply(o);
  await api.writeKubeconfig(kubeconfig);
  process.on('message', (m: ToChild) => {
    if (m.op === 'apply') api.apply(m.obj);
    else void api.close().then(() => process.exit(0));
  });
  process.send?.({ ready: true, kubeconfig, objects: all.length } satisfies ToParent);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function main(): Promise<void> {
  const changes = Number(process.argv[process.argv.indexOf('--changes') + 1] ?? 50) || 50;
  const dir = await mkdtemp(path.join(tmpdir(), 'waypoint-kube-bench-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  const fake: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child', kubeconfig], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const [ready] = (await once(fake, 'message')) as [ToParent];
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const rssBefore = process.memoryUsage().rss;

    const logger = pino({ level: 'warn' });
    const t0 = performance.now();
    const source = new KubernetesConfigSource({ client: KubeApiClient.fromFile(ready.kubeconfig), logger });
    const store = new SnapshotStore({ source, namespace: 'ns-0', name: 'waypoint', trustDomain: 'cluster.local', clusterId: 'Kubernetes', failClosedPolicies: true });
    const first = await store.reload();
    const readyMs = performance.now() - t0;
    if (!first.ok) throw new Error(`first snapshot rejected: ${first.problems.map((p) => p.message).join('; ')}`);
    const snap = store.current;
    gc?.();
    const mem = process.memoryUsage();

    process.stderr.write(`ready in ${Math.round(readyMs)} ms, rss ${(mem.rss / 1048576).toFixed(1)} MB\n`);
    store.on('rejected', (problems) => process.stderr.write(`rejected: ${problems.slice(0, 3).map((p) => p.message).join('; ')}\n`));
    await store.watch();
    const delays: number[] = [];
    for (let i = 0; i < changes; i++) {
      const s = (i * 37) % (NAMESPACES * SERVICES_PER_NAMESPACE);
      // Pod 0 leaves the slice and a new pod (spare address) joins.
      const spare = PODS_PER_SERVICE + (i % 2);
      const pods = [...Array.from({ length: PODS_PER_SERVICE - 1 }, (_v, p) => p + 1), spare];
      const wanted = podIpOf(s, spare);
      const key = `${vipOf(s)}:80`;
      const routed = (): boolean => {
        const eps = store.current.byVip.get(key)?.endpoints ?? [];
        return eps.some((e) => e.ip === wanted && e.ready) && !eps.some((e) => e.ip === podIpOf(s, 0));
      };
      const start = performance.now();
      const applied = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`change ${i} not applied within 10 s`)), 10_000);
        const check = (): void => {
          if (!routed()) return;
          clearTimeout(timer);
          store.off('snapshot', check);
          resolve();
        };
        store.on('snapshot', check);
      });
      fake.send({ op: 'apply', obj: slice(s, pods) } satisfies ToChild);
      await applied;
      delays.push(performance.now() - start);
      if (process.env.BENCH_VERBOSE !== undefined) process.stderr.write(`change ${i}: ${Math.round(performance.now() - start)} ms\n`);
      // Put it back, so the next change to this Service starts from the full set again.
      const restored = new Promise<void>((resolve) => {
        const check = (): void => {
          if (store.current.byVip.get(key)?.endpoints.some((e) => e.ip === podIpOf(s, 0)) !== true) return;
          store.off('snapshot', check);
          resolve();
        };
        store.on('snapshot', check);
      });
      fake.send({ op: 'apply', obj: slice(s, Array.from({ length: PODS_PER_SERVICE }, (_v, p) => p)) } satisfies ToChild);
      await restored;
    }
    store.close();
    delays.sort((a, b) => a - b);
    const result = {
      objects: ready.objects,
      services: snap.services.length,
      boundVips: snap.byVip.size,
      workloads: snap.workloads.length,
      readyMs: Math.round(readyMs),
      rssBeforeMB: +(rssBefore / 1048576).toFixed(1),
      rssAfterSyncMB: +(mem.rss / 1048576).toFixed(1),
      heapUsedAfterSyncMB: +(mem.heapUsed / 1048576).toFixed(1),
      changes: delays.length,
      changeP50Ms: Math.round(percentile(delays, 50)),
      changeP99Ms: Math.round(percentile(delays, 99)),
      changeMaxMs: Math.round(delays[delays.length - 1] ?? NaN),
      gcExposed: gc !== undefined,
      targets: { readyMs: 10_000, rssMB: 300, changeP99Ms: 1_000 },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    fake.send({ op: 'stop' } satisfies ToChild);
    await once(fake, 'exit').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) {
  void child(process.argv[process.argv.indexOf('--child') + 1] ?? 'kubeconfig');
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
