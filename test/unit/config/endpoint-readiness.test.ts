import { describe, expect, it } from 'vitest';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { buildMeshModel } from '../../../src/config/model.js';
import { formatProblem } from '../../../src/config/problems.js';
import { isEndpointReady, type EndpointConditions } from '../../../src/config/workloads.js';
import type { MeshModel } from '../../../src/config/types.js';

function model(yaml: string): { model: MeshModel; problems: string[] } {
  const loaded = loadResourcesFromText([{ file: 'mesh.yaml', text: yaml }]);
  expect(loaded.problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([]);
  const out = buildMeshModel(loaded.resources, { trustDomain: 'cluster.local', clusterId: 'Kubernetes' });
  return { model: out.model, problems: out.problems.map(formatProblem) };
}

describe('isEndpointReady', () => {
  const rows: Array<{ name: string; conditions: EndpointConditions | undefined; ready: boolean }> = [
    { name: 'no conditions at all (unknown state counts as ready)', conditions: undefined, ready: true },
    { name: 'empty conditions', conditions: {}, ready: true },
    { name: 'ready', conditions: { ready: true, serving: true, terminating: false }, ready: true },
    { name: 'not ready', conditions: { ready: false, serving: false }, ready: false },
    { name: 'not ready but serving (readiness probe failing)', conditions: { ready: false, serving: true }, ready: false },
    { name: 'terminating and still serving', conditions: { ready: false, serving: true, terminating: true }, ready: false },
    { name: 'terminating with ready left true', conditions: { ready: true, terminating: true }, ready: false },
    { name: 'ready null', conditions: { ready: null }, ready: true },
  ];
  it.each(rows)('$name', ({ conditions, ready }) => {
    expect(isEndpointReady(conditions)).toBe(ready);
  });
});

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/use-waypoint: waypoint}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {clusterIP: 127.31.0.1, selector: {app: cart}, ports: [{name: http, port: 80, targetPort: 8080}]}
`;

function pod(name: string, ip: string, extra: { ready?: 'True' | 'False'; deleting?: boolean } = {}): string {
  return `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: shop, labels: {app: cart}${extra.deleting === true ? ', deletionTimestamp: "2026-01-01T00:00:00Z"' : ''}}
spec: {containers: [{name: app}]}
status:
  phase: Running
  podIP: ${ip}
${extra.ready !== undefined ? `  conditions: [{type: Ready, status: "${extra.ready}"}]\n` : ''}`;
}

function slice(endpoints: Array<{ ip: string; conditions?: string }>): string {
  return `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cart-1, namespace: shop, labels: {kubernetes.io/service-name: cart}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
${endpoints.map((e) => `- addresses: [${e.ip}]${e.conditions !== undefined ? `\n  conditions: ${e.conditions}` : ''}`).join('\n')}
`;
}

function endpoints(m: MeshModel): Array<[string, boolean]> {
  return (m.byVip.get('127.31.0.1:80')?.endpoints ?? []).map((e) => [`${e.ip}:${e.port}`, e.ready]);
}

describe('endpoint readiness in the model', () => {
  it('a Service with EndpointSlices takes its endpoints and their conditions from them, not from its selector', () => {
    const { model: m } = model(
      MESH +
        pod('a', '127.31.1.1', { ready: 'True' }) +
        pod('b', '127.31.1.2', { ready: 'True' }) +
        pod('c', '127.31.1.3', { ready: 'True' }) +
        slice([{ ip: '127.31.1.1', conditions: '{ready: true}' }, { ip: '127.31.1.2', conditions: '{ready: false, serving: true, terminating: true}' }]),
    );
    // c is selected but not (yet) in a slice: the slice is the cluster's account.
    expect(endpoints(m)).toEqual([
      ['127.31.1.1:8080', true],
      ['127.31.1.2:8080', false],
    ]);
  });

  it("a slice endpoint whose Pod is not Ready gets no new requests, even when the slice lags", () => {
    const { model: m } = model(MESH + pod('a', '127.31.1.1', { ready: 'False' }) + pod('b', '127.31.1.2', { deleting: true }) + slice([{ ip: '127.31.1.1' }, { ip: '127.31.1.2' }]));
    expect(endpoints(m)).toEqual([
      ['127.31.1.1:8080', false],
      ['127.31.1.2:8080', false],
    ]);
  });

  it('without slices the selected Pods serve, each by its Ready condition', () => {
    const { model: m } = model(MESH + pod('a', '127.31.1.1', { ready: 'True' }) + pod('b', '127.31.1.2', { ready: 'False' }));
    expect(endpoints(m)).toEqual([
      ['127.31.1.1:8080', true],
      ['127.31.1.2:8080', false],
    ]);
  });
});

describe('GatewayClass istio.io/waypoint-for', () => {
  const gateway = (label: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop${label}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`;
  const gatewayClass = (label: string | undefined): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio-waypoint${label !== undefined ? `, labels: {istio.io/waypoint-for: ${label}}` : ''}}
spec: {controllerName: istio.io/mesh-controller}
`;
  const rows = [
    { name: 'no label anywhere: service', gw: '', cls: undefined, expected: 'service' },
    { name: "the class's label is the default", gw: '', cls: 'all', expected: 'all' },
    { name: "the Gateway's own label wins over the class's", gw: ', labels: {istio.io/waypoint-for: workload}', cls: 'all', expected: 'workload' },
    { name: 'a class label of none takes no traffic', gw: '', cls: 'none', expected: 'none' },
  ];
  it.each(rows)('$name', ({ gw, cls, expected }) => {
    const { model: m } = model(gateway(gw) + gatewayClass(cls));
    expect(m.waypoint.waypointFor).toBe(expected);
  });

  it("an unknown value on the class is a warning naming the GatewayClass", () => {
    const { model: m, problems } = model(gateway('') + gatewayClass('everything'));
    expect(m.waypoint.waypointFor).toBe('none');
    expect(problems.some((p) => p.includes('GatewayClass istio-waypoint') && p.includes('unknown value "everything"'))).toBe(true);
  });
});
