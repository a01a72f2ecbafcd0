import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/config/kube/backoff.js';
import { WATCHED_KINDS, collectionPath, type WatchedKind } from '../../../src/config/kube/kinds.js';
import { toLoadedResource } from '../../../src/config/kube/objects.js';
import { slimObject } from '../../../src/config/kube/slim.js';

const kind = (name: string): WatchedKind => {
  const k = WATCHED_KINDS.find((w) => w.kind === name);
  if (k === undefined) throw new Error(name);
  return k;
};

const MANAGED = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }];

describe('collectionPath', () => {
  it.each([
    ['Pod', '/api/v1/pods'],
    ['EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices'],
    ['ReferenceGrant', '/apis/gateway.networking.k8s.io/v1beta1/referencegrants'],
    ['AuthorizationPolicy', '/apis/security.istio.io/v1/authorizationpolicies'],
  ])('%s → %s', (k, p) => expect(collectionPath(kind(k))).toBe(p));
});

describe('slimObject', () => {
  it('keeps of a Pod only what the model reads, and fills apiVersion/kind left off a List item', () => {
    const pod = {
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        labels: { app: 'web' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"huge":true}', 'ambient.istio.io/redirection': 'enabled' },
        managedFields: MANAGED,
        resourceVersion: '42',
        uid: 'u',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d4', controller: true, uid: 'x', blockOwnerDeletion: true }],
      },
      spec: {
        serviceAccountName: 'web',
        nodeName: 'node-1',
        volumes: [{ name: 'v' }],
        containers: [{ name: 'app', image: 'web:1', env: [{ name: 'A', value: 'b' }], ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      },
      status: {
        phase: 'Running',
        podIP: '127.155.9.1',
        podIPs: [{ ip: '127.155.9.1' }],
        // The node's address is only dropped by the slimming, never dialled.
        hostIP: '10.0.0.1', // never dialled
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: 't' },
          { type: 'PodScheduled', status: 'True' },
        ],
        containerStatuses: [{ name: 'app', ready: true }],
      },
    };
    expect(slimObject(kind('Pod'), pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        labels: { app: 'web' },
        annotations: { 'ambient.istio.io/redirection': 'enabled' },
        resourceVersion: '42',
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d4', controller: true }],
      },
      spec: { serviceAccountName: 'web', containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
      status: { phase: 'Running', podIP: '127.155.9.1', podIPs: [{ ip: '127.155.9.1' }], conditions: [{ type: 'Ready', status: 'True' }] },
    });
  });

  it('keeps an EndpointSlice endpoint with its conditions and target, not its zone or node', () => {
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' }, managedFields: MANAGED },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.155.9.1'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n', zone: 'z', targetRef: { kind: 'Pod', name: 'web-1', namespace: 'shop', uid: 'u' } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    };
    expect(slimObject(kind('EndpointSlice'), slice)).toMatchObject({
      endpoints: [{ addresses: ['127.155.9.1'], conditions: { ready: false, serving: true, terminating: true }, targetRef: { kind: 'Pod', name: 'web-1', namespace: 'shop' } }],
    });
    expect(JSON.stringify(slimObject(kind('EndpointSlice'), slice))).not.toMatch(/managedFields|nodeName|zone/);
  });

  it('keeps the spec of routes and policies as written, without status', () => {
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop' }, spec: { rules: [{ matches: [] }] }, status: { parents: [] } };
    expect(slimObject(kind('HTTPRoute'), route)).toEqual({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop' }, spec: { rules: [{ matches: [] }] } });
  });

  it('keeps a value of the wrong shape as it is, so validation still rejects it', () => {
    const slim = slimObject(kind('Pod'), { metadata: { name: 'p', namespace: 'shop' }, spec: { containers: 'app' } });
    expect(slim?.['spec']).toEqual({ containers: 'app' });
  });
});

describe('toLoadedResource', () => {
  it('a valid object becomes the LoadedResource a file would give', () => {
    const slim = slimObject(kind('Service'), { metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '127.155.8.1', ports: [{ name: 'http', port: 80 }] } });
    const out = toLoadedResource(kind('Service'), slim ?? {}, 'kubernetes');
    expect(out).toMatchObject({ ok: true, resource: { file: 'kubernetes', apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'web' } });
    if (out.ok) expect(Object.isFrozen(out.resource.raw)).toBe(true);
  });

  it('an invalid object is a warning naming the object and field, never an error that rejects the rest', () => {
    const out = toLoadedResource(kind('Service'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ port: 70000 }] } }, 'kubernetes');
    expect(out.ok).toBe(false);
    if (!out.ok) {
      expect(out.problems).toEqual([expect.objectContaining({ severity: 'warning', kind: 'Service', namespace: 'shop', name: 'web', field: 'spec.ports[0].port' })]);
      expect(out.problems[0]?.message).toMatch(/^rejected, the object is skipped: /);
    }
  });
});

describe('Backoff', () => {
  const rows = [
    { name: 'doubles from the base', base: 100, cap: 10_000, calls: 4, expected: [100, 200, 400, 800] },
    { name: 'stops at the cap', base: 1000, cap: 5000, calls: 5, expected: [1000, 2000, 4000, 5000, 5000] },
  ];
  it.each(rows)('$name', ({ base, cap, calls, expected }) => {
    const b = new Backoff({ baseMs: base, capMs: cap }, () => 0.5);
    expect(Array.from({ length: calls }, () => b.next())).toEqual(expected);
  });
  it('jitter never exceeds the cap, and reset starts over', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 5000, jitter: 0.2 }, () => 1);
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([1200, 2400, 4800, 5000]);
    b.reset();
    expect(b.next()).toBe(1200);
  });
});

describe('deploy/gateway.yaml', () => {
  const at = (o: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined), o);

  it('a waypoint Gateway whose parametersRef names the ConfigMap that swaps the istio-proxy image', async () => {
    const { readFile } = await import('node:fs/promises');
    const { parseAllDocuments, parse } = await import('yaml');
    const docs: unknown[] = parseAllDocuments(await readFile('deploy/gateway.yaml', 'utf8')).map((d) => d.toJS() as unknown);
    const gateway = docs.find((d) => at(d, 'kind') === 'Gateway');
    const configMap = docs.find((d) => at(d, 'kind') === 'ConfigMap');
    expect(at(gateway, 'spec', 'gatewayClassName')).toBe('istio-waypoint');
    expect(at(gateway, 'spec', 'infrastructure', 'parametersRef')).toEqual({ group: '', kind: 'ConfigMap', name: at(configMap, 'metadata', 'name') });
    expect(at(configMap, 'metadata', 'namespace')).toBe(at(gateway, 'metadata', 'namespace'));
    const patch: unknown = parse(String(at(configMap, 'data', 'deployment')));
    expect(at(patch, 'spec', 'template', 'spec', 'containers')).toEqual([{ name: 'istio-proxy', image: expect.stringMatching(/ts-waypoint:/) }]);
  });
});
