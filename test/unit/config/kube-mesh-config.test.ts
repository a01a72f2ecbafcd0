/**
 * Istio's mesh config from the `istio` ConfigMap (src/config/kube/mesh-config-map.ts): the pure
 * reading, the RBAC that deploy/rbac.yaml grants for it (Role + resourceNames, as the real
 * authorizer reads them), and the Kubernetes source following it against the fake API server on
 * loopback (127.170.1.x; opens sockets: run under the e2e lock).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiClient } from '../../../src/config/kube/api-client.js';
import { MeshConfigMap, readMeshConfigMap } from '../../../src/config/kube/mesh-config-map.js';
import { KubernetesConfigSource } from '../../../src/config/kube/source.js';
import type { ConfigState } from '../../../src/config/source.js';
import { FakeKubeApi } from '../../../src/testkit/fake-kube-api.js';
import { parseRbac, rbacAllows } from '../../../src/testkit/fake-kube-rbac.js';
import { captureLogs, eventually } from '../../helpers/log-capture.js';

const provider = (name: string, port: number): string => `extensionProviders:\n- name: ${name}\n  envoyExtAuthzHttp: { service: ext-authz.authz.svc.cluster.local, port: ${port} }\n`;
const configMap = (mesh: unknown, namespace = 'istio-system', name = 'istio'): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: mesh === undefined ? undefined : { mesh },
});

describe('readMeshConfigMap', () => {
  it.each([
    ['no ConfigMap', undefined, 'absent', []],
    ['no data', { metadata: { name: 'istio' } }, 'ok', []],
    ['data without mesh', { data: { meshNetworks: 'networks: {}' } }, 'ok', []],
    ['one provider', configMap(provider('a', 8000)), 'ok', ['a']],
    ['mesh not a string', { data: { mesh: 5 } }, 'bad', []],
    ['bad YAML', configMap('extensionProviders: [\n'), 'bad', []],
    ['bad port', configMap(provider('a', 0)), 'bad', []],
  ] as const)('%s', (_what, obj, kind, providers) => {
    const r = readMeshConfigMap(obj);
    expect(r.kind).toBe(kind);
    if (r.kind === 'ok') expect([...r.config.extAuthzProviders.keys()]).toEqual(providers);
    if (r.kind === 'bad') expect(r.errors.length).toBeGreaterThan(0);
  });

  it('MeshConfigMap keeps the last good config on a bad one, reports it, and clears on deletion', () => {
    const { logger, lines } = captureLogs('info');
    const m = new MeshConfigMap({ namespace: 'istio-system', logger });
    const v = (mesh: string, rv: string): Record<string, unknown> => ({ ...configMap(mesh), metadata: { name: 'istio', namespace: 'istio-system', resourceVersion: rv } });
    expect(m.set(v(provider('a', 8000), '1'))).toBe(true);
    expect(m.set(v(provider('a', 8000), '1'))).toBe(false);
    const good = m.current;
    expect(m.set(v(provider('a', 0), '2'))).toBe(true);
    expect(m.current).toBe(good);
    expect(m.problems()).toEqual([expect.objectContaining({ severity: 'warning', kind: 'ConfigMap', namespace: 'istio-system', name: 'istio', field: 'data.mesh' })]);
    expect(lines.some((l) => l.msg.startsWith('mesh config rejected'))).toBe(true);
    expect(m.set(undefined)).toBe(true);
    expect(m.current.extAuthzProviders.size).toBe(0);
    expect(m.problems()).toEqual([]);
    expect(m.set(undefined)).toBe(false);
  });
});

describe('RBAC for the mesh config (deploy/rbac.yaml)', () => {
  it('allows the istio ConfigMap of istio-system only, and a list or watch only with its name as field selector', async () => {
    const rbac = parseRbac(await readFile(path.resolve('deploy/rbac.yaml'), 'utf8'));
    const sa = 'default/waypoint';
    for (const verb of ['get', 'list', 'watch']) {
      expect(rbacAllows(rbac, sa, verb, '', 'configmaps', { namespace: 'istio-system', name: 'istio' }), verb).toBe(true);
      expect(rbacAllows(rbac, sa, verb, '', 'configmaps', { namespace: 'istio-system' }), `${verb} without a name`).toBe(false);
      expect(rbacAllows(rbac, sa, verb, '', 'configmaps', { namespace: 'istio-system', name: 'other' }), `${verb} another name`).toBe(false);
      expect(rbacAllows(rbac, sa, verb, '', 'configmaps', { namespace: 'default', name: 'istio' }), `${verb} another namespace`).toBe(false);
      expect(rbacAllows(rbac, sa, verb, '', 'configmaps', { name: 'istio' }), `${verb} cluster-wide`).toBe(false);
    }
    expect(rbacAllows(rbac, sa, 'update', '', 'configmaps', { namespace: 'istio-system', name: 'istio' })).toBe(false);
    // The ClusterRole still grants in every namespace.
    expect(rbacAllows(rbac, sa, 'list', '', 'pods', { namespace: 'shop' })).toBe(true);
  });

  it('a RoleBinding to a ClusterRole grants in its own namespace only', () => {
    const rbac = parseRbac(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: reader }
rules: [{ apiGroups: [""], resources: [configmaps], verbs: [list] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: reader, namespace: team }
roleRef: { kind: ClusterRole, name: reader }
subjects: [{ kind: ServiceAccount, name: sa, namespace: team }]
`);
    expect(rbacAllows(rbac, 'team/sa', 'list', '', 'configmaps', { namespace: 'team' })).toBe(true);
    expect(rbacAllows(rbac, 'team/sa', 'list', '', 'configmaps', { namespace: 'other' })).toBe(false);
    expect(rbacAllows(rbac, 'team/sa', 'list', '', 'configmaps')).toBe(false);
  });
});

describe('KubernetesConfigSource following the istio ConfigMap', () => {
  let dir: string;
  let hostNo = 0;
  const cleanup: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'waypoint-kube-mesh-'));
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function harness(rbacYaml?: string): Promise<{ api: FakeKubeApi; source: KubernetesConfigSource; states: ConfigState[]; lines: ReturnType<typeof captureLogs>['lines'] }> {
    const api = await FakeKubeApi.start({ host: `127.170.1.${++hostNo}`, ...(rbacYaml !== undefined ? { rbacYaml } : {}) });
    cleanup.push(() => api.close());
    const file = path.join(dir, `kubeconfig-${hostNo}`);
    await api.writeKubeconfig(file);
    const { logger, lines } = captureLogs('debug');
    const source = new KubernetesConfigSource({ client: KubeApiClient.fromFile(file), logger, retryCapMs: 500, notInstalledRetryMs: 300, meshConfigMap: new MeshConfigMap({ namespace: 'istio-system', logger }) });
    cleanup.push(() => source.stop());
    const states: ConfigState[] = [];
    await source.start({ change: (s) => states.push(s), error: () => undefined });
    return { api, source, states, lines };
  }
  const providers = (s: ConfigState | undefined): string => [...(s?.meshConfig?.extAuthzProviders.keys() ?? [])].join();

  it('reads it by name in the root namespace only, follows changes, reports a bad one and keeps the last good', async () => {
    const h = await harness();
    h.api.apply(configMap(provider('other-ns', 1), 'default'));
    h.api.apply(configMap(provider('other-name', 1), 'istio-system', 'istio-sidecar-injector'));
    h.api.apply(configMap(provider('first', 8000)));
    const first = await h.source.read();
    expect(providers(first)).toBe('first');
    expect(h.api.stats.forbidden).toEqual([]);
    h.api.apply(configMap(provider('second', 8001)));
    await eventually(() => providers(h.states.at(-1)) === 'second', 5_000, 'the changed provider');
    h.api.apply(configMap(provider('broken', 0)));
    const bad = await eventually(() => h.states.at(-1)?.problems.find((p) => p.kind === 'ConfigMap'), 5_000, 'the bad mesh config reported');
    expect(bad.message).toContain('the last good one is kept');
    expect(providers(h.states.at(-1))).toBe('second');
    // Changes to the other ConfigMaps are not seen at all.
    const n = h.states.length;
    h.api.apply(configMap(provider('other-ns-2', 1), 'default'));
    h.api.delete('ConfigMap', 'istio-system', 'istio');
    await eventually(() => h.states.at(-1)?.meshConfig?.extAuthzProviders.size === 0 ? true : undefined, 5_000, 'no mesh config after the deletion');
    expect(h.states.slice(n).every((s) => !providers(s).includes('other'))).toBe(true);
    expect(h.states.at(-1)?.problems.some((p) => p.kind === 'ConfigMap')).toBe(false);
  });

  it('without the Role (403) the source still syncs, with no mesh config, and says so once', async () => {
    const text = await readFile(path.resolve('deploy/rbac.yaml'), 'utf8');
    const withoutRole = text.slice(0, text.indexOf('\n---\n# Istio\'s mesh config'));
    expect(withoutRole).not.toContain('kind: Role\n');
    const h = await harness(withoutRole);
    h.api.apply(configMap(provider('unreadable', 8000)));
    const state = await h.source.read();
    expect(providers(state)).toBe('');
    expect(h.api.stats.forbidden).toContain('list core/configmaps in istio-system');
    await new Promise((r) => setTimeout(r, 1000));
    // Retried (every notInstalledRetryMs), logged once.
    expect(h.api.stats.forbidden.filter((f) => f === 'list core/configmaps in istio-system').length).toBeGreaterThanOrEqual(2);
    expect(h.lines.filter((l) => l.msg.startsWith('not allowed to read it (403)'))).toHaveLength(1);
  });
});
