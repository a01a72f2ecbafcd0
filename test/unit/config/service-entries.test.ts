import { describe, expect, it } from 'vitest';
import { vipKey } from '../../../src/config/address.js';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { buildMeshModel, type ModelOptions } from '../../../src/config/model.js';
import { formatProblem } from '../../../src/config/problems.js';
import type { Endpoint } from '../../../src/config/types.js';

const BASE = `
{ apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, metadata: { name: waypoint, namespace: egress },
  spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] } }
---
{ apiVersion: v1, kind: Namespace, metadata: { name: egress } }
---
apiVersion: v1
kind: Pod
metadata: { name: db-0, namespace: egress, labels: { app: db } }
spec: { serviceAccountName: db, containers: [{ name: db, image: db, ports: [{ name: tcp-db, containerPort: 5432 }] }] }
status: { podIP: 127.152.9.1 }
`;

function entry(spec: string, labels = '{ istio.io/use-waypoint: waypoint }', name = 'ext'): string {
  return `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: egress, labels: ${labels} }
spec:
${spec}`;
}

function model(yaml: string, opts: Partial<ModelOptions> = {}): ReturnType<typeof buildMeshModel> & { errors: string[] } {
  const loaded = loadResourcesFromText([{ file: 'mesh.yaml', text: BASE + yaml }]);
  const errors = loaded.problems.filter((p) => p.severity === 'error').map(formatProblem);
  return { ...buildMeshModel(loaded.resources, { trustDomain: 'cluster.local', clusterId: 'Kubernetes', ...opts }), errors };
}

const short = (e: Endpoint): string => `${e.ip}:${e.port}${e.external === true ? ' external' : ''}${e.hostname !== undefined ? ' dns' : ''}${e.workload !== undefined ? ` ${e.workload.name}` : ''}`;

describe('ServiceEntry in the mesh model', () => {
  it.each([
    {
      name: 'STATIC endpoints are external, with per-endpoint port overrides',
      spec: `  hosts: [api.example.com]\n  addresses: [240.0.0.1]\n  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]\n  resolution: STATIC\n  endpoints: [{ address: 127.152.1.1 }, { address: 127.152.1.2, ports: { http: 9090 } }]`,
      endpoints: ['127.152.1.1:8080 external', '127.152.1.2:9090 external'],
    },
    {
      name: 'a STATIC endpoint at a mesh workload IP is that workload (HBONE)',
      spec: `  hosts: [db.internal]\n  addresses: [240.0.0.1]\n  ports: [{ number: 80, name: tcp, protocol: TCP, targetPort: 5432 }]\n  resolution: STATIC\n  endpoints: [{ address: 127.152.9.1 }]`,
      endpoints: ['127.152.9.1:5432 db-0'],
    },
    {
      name: 'workloadSelector picks the Pods of the namespace',
      spec: `  hosts: [db.internal]\n  addresses: [240.0.0.1]\n  ports: [{ number: 80, name: tcp-db, protocol: TCP, targetPort: 1 }]\n  resolution: STATIC\n  workloadSelector: { labels: { app: db } }`,
      endpoints: ['127.152.9.1:5432 db-0'],
    },
    {
      name: 'DNS endpoints are names resolved at connect time',
      spec: `  hosts: [api.example.com]\n  addresses: [240.0.0.1]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: DNS\n  endpoints: [{ address: backend.test }]`,
      endpoints: ['backend.test:80 external dns'],
    },
    {
      name: 'DNS without endpoints resolves the host itself',
      spec: `  hosts: [api.example.com]\n  addresses: [240.0.0.1]\n  ports: [{ number: 443, name: tls, protocol: TLS }]\n  resolution: DNS`,
      endpoints: ['api.example.com:443 external dns'],
    },
    {
      name: 'NONE goes to the original destination (the address)',
      spec: `  hosts: [api.example.com]\n  addresses: [240.0.0.1]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: NONE`,
      endpoints: ['240.0.0.1:80 external'],
    },
  ])('$name', ({ spec, endpoints }) => {
    const out = model(entry(spec));
    expect(out.errors).toEqual([]);
    const port = Number(/number: (\d+)/.exec(spec)?.[1]);
    const binding = out.model.byVip.get(vipKey('240.0.0.1', port));
    expect(binding?.service.serviceEntry).toBe('ext');
    expect(binding?.endpoints.map(short)).toEqual(endpoints);
  });

  it.each([
    { name: 'label on the entry', labels: '{ istio.io/use-waypoint: waypoint }', ns: '', bound: true },
    { name: 'no label anywhere', labels: '{}', ns: '', bound: false },
    { name: 'use-waypoint none on the entry', labels: '{ istio.io/use-waypoint: none }', ns: '', bound: false },
    { name: 'exportTo another namespace only', labels: '{ istio.io/use-waypoint: waypoint }', ns: '  exportTo: [other]', bound: false },
    { name: 'exportTo "."', labels: '{ istio.io/use-waypoint: waypoint }', ns: '  exportTo: ["."]', bound: true },
  ])('binding: $name', ({ labels, ns, bound }) => {
    const spec = `  hosts: [api.example.com, www.example.com]\n  addresses: [240.0.0.1]\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  resolution: STATIC\n  endpoints: [{ address: 127.152.1.1 }]\n${ns}`;
    const out = model(entry(spec, labels));
    expect(out.errors).toEqual([]);
    expect(out.model.byVip.has(vipKey('240.0.0.1', 80))).toBe(bound);
    // Each host is a service (telemetry names it by host), routable by host:port either way.
    expect(out.model.serviceEntries?.map((s) => `${s.name} ${s.namespace} ${String(s.bound)}`)).toEqual([`api.example.com egress ${String(bound)}`, `www.example.com egress ${String(bound)}`]);
    expect(out.model.byHostPort.get('www.example.com:80')?.endpoints.length).toBe(1);
  });

  it.each([
    { name: 'STATIC endpoint that is not an IP', spec: `  hosts: [a.example.com]\n  ports: [{ number: 80, name: http }]\n  resolution: STATIC\n  endpoints: [{ address: foo.example.com }]`, field: 'spec.endpoints[0].address' },
    { name: 'STATIC without endpoints or selector', spec: `  hosts: [a.example.com]\n  ports: [{ number: 80, name: http }]\n  resolution: STATIC`, field: 'spec.endpoints' },
    { name: 'no hosts', spec: `  hosts: []\n  ports: [{ number: 80, name: http }]`, field: 'spec.hosts' },
    { name: 'bad address', spec: `  hosts: [a.example.com]\n  addresses: [not-an-ip]\n  ports: [{ number: 80, name: http }]`, field: 'spec.addresses[0]' },
    { name: 'port out of range', spec: `  hosts: [a.example.com]\n  ports: [{ number: 70000, name: http }]`, field: 'spec.ports[0].number' },
    { name: 'unknown resolution', spec: `  hosts: [a.example.com]\n  ports: [{ number: 80, name: http }]\n  resolution: MAGIC`, field: 'spec.resolution' },
    { name: 'endpoint port naming no port', spec: `  hosts: [a.example.com]\n  ports: [{ number: 80, name: http }]\n  resolution: STATIC\n  endpoints: [{ address: 127.152.1.1, ports: { grpc: 9 } }]`, field: 'spec.endpoints[0].ports.grpc' },
  ])('invalid: $name names file, object and field', ({ spec, field }) => {
    const out = model(entry(spec));
    const all = [...out.errors, ...out.problems.filter((p) => p.severity === 'error').map(formatProblem)];
    expect(all.join('\n')).toContain('mesh.yaml');
    expect(all.join('\n')).toContain('ServiceEntry egress/ext');
    expect(all.join('\n')).toContain(field);
  });

  it.each([
    { name: 'kubernetes mode: Pod without the CNI annotation is reached by plain TCP', mode: 'kubernetes' as const, hbone: false },
    { name: 'file mode: the same Pod stays on HBONE', mode: 'file' as const, hbone: true },
  ])('$name', ({ mode, hbone }) => {
    const out = model('', { ambientDetection: mode });
    expect(out.model.workloadsByIp.get('127.152.9.1')?.hbone ?? true).toBe(hbone);
  });
});
