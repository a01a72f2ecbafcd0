/**
 * KubernetesConfigSource against the fake API server on loopback (127.155.1.x). Opens sockets:
 * run under the e2e lock.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiClient } from '../../../src/config/kube/api-client.js';
import { WATCHED_KINDS } from '../../../src/config/kube/kinds.js';
import { KubernetesConfigSource } from '../../../src/config/kube/source.js';
import type { ConfigState } from '../../../src/config/source.js';
import { FakeKubeApi } from '../../../src/testkit/fake-kube-api.js';
import { parseRbac, rbacAllows } from '../../../src/testkit/fake-kube-rbac.js';
import { captureLogs, eventually } from '../../helpers/log-capture.js';

let dir: string;
let hostNo = 0;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'waypoint-kube-source-'));
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Harness {
  api: FakeKubeApi;
  source: KubernetesConfigSource;
  states: ConfigState[];
  logs: ReturnType<typeof captureLogs>['lines'];
}

async function harness(opts: { notInstalled?: string[]; rbacYaml?: string; start?: boolean } = {}): Promise<Harness> {
  const api = await FakeKubeApi.start({ host: `127.155.1.${++hostNo}`, ...(opts.notInstalled ? { notInstalled: opts.notInstalled } : {}), ...(opts.rbacYaml !== undefined ? { rbacYaml: opts.rbacYaml } : {}) });
  cleanup.push(() => api.close());
  const file = path.join(dir, `kubeconfig-${hostNo}`);
  await api.writeKubeconfig(file);
  const { logger, lines } = captureLogs('debug');
  const source = new KubernetesConfigSource({ client: KubeApiClient.fromFile(file), logger, retryCapMs: 500, notInstalledRetryMs: 300 });
  cleanup.push(() => source.stop());
  const states: ConfigState[] = [];
  if (opts.start !== false) await source.start({ change: (s) => states.push(s), error: () => undefined });
  return { api, source, states, logs: lines };
}

const namespace = (name: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const service = (name: string, vip: string, port = 80): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop' },
  spec: { clusterIP: vip, ports: [{ name: 'http', port }] },
});

function names(s: ConfigState | undefined, kind: string): string[] {
  return (s?.resources ?? []).filter((r) => r.kind === kind).map((r) => `${r.namespace}/${r.name}`).sort();
}

const within = 5_000;

describe('KubernetesConfigSource', () => {
  it('read() waits for every kind to list, then returns the objects as LoadedResources', async () => {
    const h = await harness({ start: false });
    h.api.apply(namespace('shop'));
    h.api.apply(service('web', '127.155.200.1'));
    const state = await h.source.read();
    expect(h.source.isSynced).toBe(true);
    expect(names(state, 'Service')).toEqual(['shop/web']);
    expect(names(state, 'Namespace')).toEqual(['/shop']);
    // Items of a List of built-in kinds come without apiVersion/kind: the source set them.
    expect(state.resources.find((r) => r.kind === 'Service')).toMatchObject({ apiVersion: 'v1', file: 'kubernetes' });
    expect(JSON.stringify(state.resources)).not.toContain('managedFields');
    for (const k of WATCHED_KINDS) expect(h.api.stats.lists.get(k.kind), k.kind).toBe(1);
  });

  it('coalesces a burst of watch events into one change with the whole set', async () => {
    const h = await harness();
    await h.source.synced;
    await eventually(() => h.api.stats.watches.get('Service') === 1, within, 'the Service watch');
    const before = h.states.length;
    for (let i = 1; i <= 20; i++) h.api.apply(service(`s${i}`, `127.155.200.${i}`));
    const last = await eventually(() => (names(h.states.at(-1), 'Service').length === 20 ? h.states.at(-1) : undefined), within, '20 Services');
    expect(names(last, 'Service')).toHaveLength(20);
    expect(h.states.length - before).toBeLessThanOrEqual(3);
    h.api.delete('Service', 'shop', 's1');
    await eventually(() => names(h.states.at(-1), 'Service').length === 19, within, 'the deletion');
  });

  it('a bad object is reported, counted and skipped; the others keep updating', async () => {
    const h = await harness();
    const registry = new Registry();
    h.source.registerMetrics(registry);
    await h.source.synced;
    h.api.apply(service('bad', '127.155.200.1', 70000));
    h.api.apply(service('good', '127.155.200.2'));
    const state = await eventually(() => (names(h.states.at(-1), 'Service').includes('shop/good') ? h.states.at(-1) : undefined), within, 'the good Service');
    expect(names(state, 'Service')).toEqual(['shop/good']);
    expect(state.problems).toEqual([expect.objectContaining({ severity: 'warning', kind: 'Service', name: 'bad', field: 'spec.ports[0].port' })]);
    expect(h.logs.some((l) => l.msg.includes('rejected') && l['name'] === 'bad')).toBe(true);
    expect(await registry.metrics()).toContain('waypoint_config_rejected_objects_total{kind="Service"} 1');
    // Fixed: it comes in, and the problem goes away.
    h.api.apply(service('bad', '127.155.200.1', 8080));
    const fixed = await eventually(() => (names(h.states.at(-1), 'Service').length === 2 ? h.states.at(-1) : undefined), within, 'the fixed Service');
    expect(fixed.problems).toEqual([]);
  });

  it('a kind whose API is not installed counts as empty, is logged once, and is picked up once installed', async () => {
    const h = await harness({ notInstalled: ['AuthorizationPolicy'] });
    await h.source.synced;
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.logs.filter((l) => l.msg.startsWith('API not installed') && l['kind'] === 'AuthorizationPolicy')).toHaveLength(1);
    expect(h.api.stats.lists.get('AuthorizationPolicy') ?? 0).toBe(0);
    h.api.setInstalled('AuthorizationPolicy', true);
    h.api.apply({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'shop' }, spec: { action: 'DENY' } });
    await eventually(() => names(h.states.at(-1), 'AuthorizationPolicy').length === 1, within, 'the policy after the CRD is installed');
  });

  it('410 Gone on a watch makes it list again, and changes made meanwhile arrive', async () => {
    const h = await harness();
    await h.source.synced;
    await eventually(() => h.api.stats.watches.get('Service') === 1, within, 'the Service watch');
    h.api.expireHistory();
    h.api.apply(service('after-expiry', '127.155.200.9'));
    await eventually(() => names(h.states.at(-1), 'Service').includes('shop/after-expiry'), within, 'the Service made after expiry');
    await eventually(() => (h.api.stats.lists.get('Service') ?? 0) >= 2, within, 'a relist');
  });

  it('an outage of the API server: reconnects and resyncs what changed meanwhile', async () => {
    const h = await harness();
    h.api.apply(service('before', '127.155.200.1'));
    await h.source.synced;
    await eventually(() => names(h.states.at(-1), 'Service').includes('shop/before') || h.states.length === 0, within, 'first state');
    await h.api.stop();
    h.api.apply(service('during', '127.155.200.2'));
    h.api.delete('Service', 'shop', 'before');
    await new Promise((r) => setTimeout(r, 1500));
    await h.api.restart();
    await eventually(() => names(h.states.at(-1), 'Service').join() === 'shop/during', within, 'the resync after the outage');
    expect(h.logs.some((l) => l.msg.includes('failed; still serving the last configuration'))).toBe(true);
  });
});

describe('RBAC (deploy/rbac.yaml) and the fake API server', () => {
  it('the ClusterRole grants exactly get/list/watch on every watched kind', async () => {
    const rbac = parseRbac(await readFile(path.resolve('deploy/rbac.yaml'), 'utf8'));
    const sa = 'default/waypoint';
    for (const k of WATCHED_KINDS) {
      for (const verb of ['get', 'list', 'watch']) expect(rbacAllows(rbac, sa, verb, k.group, k.plural), `${verb} ${k.plural}`).toBe(true);
      for (const verb of ['create', 'update', 'patch', 'delete']) expect(rbacAllows(rbac, sa, verb, k.group, k.plural), `${verb} ${k.plural}`).toBe(false);
    }
    expect(rbacAllows(rbac, sa, 'list', '', 'secrets')).toBe(false);
    expect(rbacAllows(rbac, 'default/someone-else', 'list', '', 'pods')).toBe(false);
  });

  it('a kind the ClusterRole lacks is refused with 403, and the source never reports synced', async () => {
    const text = await readFile(path.resolve('deploy/rbac.yaml'), 'utf8');
    const withoutPods = text.replace('resources: [namespaces, services, pods]', 'resources: [namespaces, services]');
    expect(withoutPods).not.toBe(text);
    const h = await harness({ rbacYaml: withoutPods });
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.source.isSynced).toBe(false);
    expect(h.source.unsyncedKinds()).toEqual(['Pod']);
    expect(h.api.stats.forbidden).toContain('list core/pods');
    expect(h.logs.some((l) => l['kind'] === 'Pod' && String(l['err']).includes('forbidden'))).toBe(true);
  });
});
