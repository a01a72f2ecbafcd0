import { describe, expect, it } from 'vitest';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { compileSnapshot, emptySnapshot, type CompileOptions } from '../../../src/snapshot/compile.js';
import type {  } from '../../../src/config/types.js';
import type { ConfigSnapshot } from '../../../src/snapshot/types.js';
import { formatProblem } from '../../../src/config/problems.js';

const BASE_OPTS: CompileOptions = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', version: 7 };

function compile(yaml: string, opts: Partial<CompileOptions> = {}): { snapshot: ConfigSnapshot; problems: string[] } {
  const loaded = loadResourcesFromText([{ file: 'mesh.yaml', text: yaml }]);
  expect(loaded.problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([]);
  const out = compileSnapshot(loaded.resources, { ...BASE_OPTS, ...opts });
  return { snapshot: out.snapshot, problems: out.problems.map(formatProblem) };
}

const NAMESPACE = `apiVersion: v1
kind: Namespace
metadata:
  name: bookinfo
  labels: {istio.io/use-waypoint: waypoint}
`;

const GATEWAY = (waypointFor = 'service'): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: bookinfo
  labels: {istio.io/waypoint-for: ${waypointFor}}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
`;

interface PodSpec {
  name: string;
  ip: string;
  labels?: Record<string, string>;
  ports?: Record<string, number>;
  sa?: string;
  phase?: string;
  ready?: 'True' | 'False';
  owner?: { kind: string; name: string };
  ns?: string;
}

function pod(p: PodSpec): string {
  const labels = Object.entries(p.labels ?? {}).map(([k, v]) => `    ${k}: "${v}"`).join('\n');
  const ports = Object.entries(p.ports ?? {}).map(([n, v]) => `    - {name: ${n}, containerPort: ${v}}`).join('\n');
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${p.name}
  namespace: ${p.ns ?? 'bookinfo'}
${labels ? `  labels:\n${labels}\n` : ''}${p.owner ? `  ownerReferences:\n  - {apiVersion: apps/v1, kind: ${p.owner.kind}, name: ${p.owner.name}, controller: true, uid: u}\n` : ''}spec:
${p.sa ? `  serviceAccountName: ${p.sa}\n` : ''}  containers:
  - name: app
${ports ? `    ports:\n${ports}\n` : ''}status:
  phase: ${p.phase ?? 'Running'}
  podIP: ${p.ip}
  podIPs: [{ip: ${p.ip}}]
${p.ready ? `  conditions: [{type: Ready, status: "${p.ready}"}]\n` : ''}`;
}

const docs = (...parts: string[]): string => parts.join('---\n');

/** For fixtures without a Gateway: act as bookinfo/waypoint, which NAMESPACE's label names. */
const IN_BOOKINFO: Partial<CompileOptions> = { namespace: 'bookinfo' };

describe('compileSnapshot: VIP index', () => {
  const yaml = docs(
    NAMESPACE,
    GATEWAY(),
    `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  clusterIP: 127.30.0.1
  clusterIPs: [127.30.0.1, 127.30.0.2]
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080}
  - {name: grpc-api, port: 9090, targetPort: 9091}
  - {name: dns, port: 53, protocol: UDP}
  - {name: metrics, port: 15020, appProtocol: kubernetes.io/h2c}
`,
    `apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo, labels: {istio.io/use-waypoint: none}}
spec:
  clusterIP: 127.30.0.3
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
`,
    `apiVersion: v1
kind: Service
metadata: {name: headless, namespace: bookinfo}
spec:
  clusterIP: None
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
`,
    pod({ name: 'reviews-1', ip: '127.0.1.1', labels: { app: 'reviews' } }),
    pod({ name: 'ratings-1', ip: '127.0.1.2', labels: { app: 'ratings' } }),
  );

  it('indexes every VIP and port of bound Services only', () => {
    const { snapshot } = compile(yaml);
    expect([...snapshot.byVip.keys()].sort()).toEqual([
      '127.30.0.1:15020',
      '127.30.0.1:9080',
      '127.30.0.1:9090',
      '127.30.0.2:15020',
      '127.30.0.2:9080',
      '127.30.0.2:9090',
    ]);
    expect([...snapshot.boundVipIps].sort()).toEqual(['127.30.0.1', '127.30.0.2']);
    const b = snapshot.byVip.get('127.30.0.2:9090');
    expect(b?.service.hostname).toBe('reviews.bookinfo.svc.cluster.local');
    expect(b?.port).toEqual({ name: 'grpc-api', port: 9090, targetPort: 9091, appProtocol: undefined, protocol: 'grpc' });
    expect(b?.endpoints.map((e) => `${e.ip}:${e.port}`)).toEqual(['127.0.1.1:9091']);
    expect(snapshot.byVip.get('127.30.0.1:15020')?.port.protocol).toBe('http2');
    expect(snapshot.byVip.get('127.30.0.1:9080')?.endpoints[0]?.workload?.name).toBe('reviews-1');
  });

  it('records each Service with its binding reason', () => {
    const { snapshot } = compile(yaml);
    expect(snapshot.services.map((s) => [s.name, s.bound, s.bindingReason, s.vips])).toEqual([
      ['headless', true, 'bound: namespace label istio.io/use-waypoint=waypoint', []],
      ['ratings', false, 'not bound: Service label opts out (none)', ['127.30.0.3']],
      ['reviews', true, 'bound: namespace label istio.io/use-waypoint=waypoint', ['127.30.0.1', '127.30.0.2']],
    ]);
  });

  it('is frozen and carries the waypoint identity', () => {
    const { snapshot, problems } = compile(yaml);
    expect(problems).toEqual([]);
    expect(snapshot.version).toBe(7);
    expect(snapshot.waypoint).toEqual({
      namespace: 'bookinfo',
      name: 'waypoint',
      trustDomain: 'cluster.local',
      clusterId: 'Kubernetes',
      waypointFor: 'service',
      gatewayFound: true,
    });
    for (const obj of [snapshot, snapshot.services, snapshot.services[0], snapshot.workloads, snapshot.workloads[0], snapshot.waypoint]) {
      expect(Object.isFrozen(obj)).toBe(true);
    }
    expect(Object.isFrozen(snapshot.byVip.get('127.30.0.1:9080')?.endpoints)).toBe(true);
  });

  it('keeps unbound workloads out of boundWorkloads with waypoint-for=service', () => {
    const { snapshot } = compile(yaml);
    expect([...snapshot.boundWorkloads.keys()]).toEqual([]);
    expect([...snapshot.workloadsByIp.keys()].sort()).toEqual(['127.0.1.1', '127.0.1.2']);
  });
});

describe('compileSnapshot: workload binding by waypoint-for', () => {
  const rows = [
    { name: 'service', waypointFor: 'service', boundWorkloads: [], boundVips: ['127.30.0.1'] },
    { name: 'workload', waypointFor: 'workload', boundWorkloads: ['127.0.1.1'], boundVips: [] },
    { name: 'all', waypointFor: 'all', boundWorkloads: ['127.0.1.1'], boundVips: ['127.30.0.1'] },
    { name: 'none', waypointFor: 'none', boundWorkloads: [], boundVips: [] },
  ];
  it.each(rows)('waypoint-for=$name', ({ waypointFor, boundWorkloads, boundVips }) => {
    const { snapshot } = compile(
      docs(
        NAMESPACE,
        GATEWAY(waypointFor),
        `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {clusterIP: 127.30.0.1, selector: {app: reviews}, ports: [{name: http, port: 9080}]}
`,
        pod({ name: 'reviews-1', ip: '127.0.1.1', labels: { app: 'reviews' } }),
        pod({ name: 'opted-out', ip: '127.0.1.2', labels: { app: 'other', 'istio.io/use-waypoint': 'none' } }),
      ),
    );
    expect(snapshot.waypoint.waypointFor).toBe(waypointFor);
    expect([...snapshot.boundWorkloads.keys()]).toEqual(boundWorkloads);
    expect([...snapshot.boundVipIps]).toEqual(boundVips);
  });
});

describe('compileSnapshot: targetPort by name', () => {
  const { snapshot, problems } = compile(
    docs(
      NAMESPACE,
      `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  clusterIP: 127.30.0.1
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: web}
  - {name: admin, port: 9901, targetPort: admin}
  - {name: plain, port: 8080}
`,
      pod({ name: 'reviews-v1', ip: '127.0.1.1', labels: { app: 'reviews' }, ports: { web: 9080, admin: 9901 } }),
      pod({ name: 'reviews-v2', ip: '127.0.1.2', labels: { app: 'reviews' }, ports: { web: 9081 } }),
      pod({ name: 'reviews-v3', ip: '127.0.1.3', labels: { app: 'reviews' } }),
      pod({ name: 'elsewhere', ns: 'other', ip: '127.0.2.1', labels: { app: 'reviews' }, ports: { web: 1 } }),
      `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: bookinfo}
spec:
  address: 127.0.2.9
  labels: {app: reviews}
  serviceAccount: vm-sa
  ports: {web: 7000}
`,
    ),
    IN_BOOKINFO,
  );
  const endpoints = (key: string): string[] =>
    (snapshot.byVip.get(key)?.endpoints ?? []).map((e) => `${e.workload?.kind}/${e.workload?.name} ${e.ip}:${e.port}`);

  const rows = [
    {
      name: 'resolved per workload; a workload without the name is skipped',
      key: '127.30.0.1:9080',
      expected: ['Pod/reviews-v1 127.0.1.1:9080', 'Pod/reviews-v2 127.0.1.2:9081', 'WorkloadEntry/vm 127.0.2.9:7000'],
    },
    { name: 'only the workload that names it', key: '127.30.0.1:9901', expected: ['Pod/reviews-v1 127.0.1.1:9901'] },
    {
      name: 'targetPort defaults to port',
      key: '127.30.0.1:8080',
      expected: ['Pod/reviews-v1 127.0.1.1:8080', 'Pod/reviews-v2 127.0.1.2:8080', 'Pod/reviews-v3 127.0.1.3:8080', 'WorkloadEntry/vm 127.0.2.9:8080'],
    },
  ];
  it.each(rows)('$name', ({ key, expected }) => {
    expect(endpoints(key)).toEqual(expected);
  });

  it('keeps the named target port on the port info', () => {
    expect(snapshot.byVip.get('127.30.0.1:9080')?.port.targetPort).toBe('web');
    expect(problems).toEqual([]);
  });
});

describe('compileSnapshot: EndpointSlice-only Service', () => {
  const { snapshot, problems } = compile(
    docs(
      NAMESPACE,
      `apiVersion: v1
kind: Service
metadata: {name: external, namespace: bookinfo}
spec:
  clusterIP: 127.30.0.5
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: grpc, port: 90}
`,
      `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-abc
  namespace: bookinfo
  labels: {kubernetes.io/service-name: external}
addressType: IPv4
endpoints:
- addresses: [127.0.2.1]
  conditions: {ready: true}
- addresses: [127.0.2.2]
  conditions: {ready: false}
- addresses: [127.0.1.1]
  targetRef: {kind: Pod, name: known-pod, namespace: bookinfo}
ports:
- {name: http, port: 8080}
- {name: grpc, port: 9090}
`,
      `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: orphan-xyz
  namespace: bookinfo
  labels: {kubernetes.io/service-name: gone}
addressType: IPv4
endpoints: [{addresses: [127.0.2.7]}]
ports: [{name: http, port: 80}]
`,
      pod({ name: 'known-pod', ip: '127.0.1.1', labels: { app: 'x' } }),
    ),
    IN_BOOKINFO,
  );

  it('takes endpoints from slices, matching ports by name', () => {
    const http = snapshot.byVip.get('127.30.0.5:80')?.endpoints.map((e) => [e.ip, e.port, e.ready, e.workload?.kind]);
    expect(http).toEqual([
      ['127.0.2.1', 8080, true, 'EndpointSlice'],
      ['127.0.2.2', 8080, false, 'EndpointSlice'],
      ['127.0.1.1', 8080, true, 'Pod'],
    ]);
    expect(snapshot.byVip.get('127.30.0.5:90')?.endpoints.map((e) => e.port)).toEqual([9090, 9090, 9090]);
  });

  it('creates EndpointSlice workloads only for IPs no Pod has', () => {
    const ws = snapshot.workloads.map((w) => [w.uid, w.ip, w.ready, w.identity, w.canonicalService]);
    expect(ws).toEqual([
      ['EndpointSlice/bookinfo/external-abc/0', '127.0.2.1', true, undefined, 'external'],
      ['EndpointSlice/bookinfo/external-abc/1', '127.0.2.2', false, undefined, 'external'],
      ['EndpointSlice/bookinfo/orphan-xyz/0', '127.0.2.7', true, undefined, 'gone'],
      ['Pod/bookinfo/known-pod', '127.0.1.1', true, 'spiffe://cluster.local/ns/bookinfo/sa/default', 'x'],
    ]);
  });

  it('warns about a slice whose Service is absent', () => {
    expect(problems).toEqual([
      'warning: mesh.yaml: EndpointSlice bookinfo/orphan-xyz: Service bookinfo/gone (label kubernetes.io/service-name) is not in the configuration',
    ]);
  });
});

describe('compileSnapshot: pod readiness', () => {
  const rows = [
    { name: 'Running with Ready True', phase: 'Running', ready: 'True' as const, expected: true },
    { name: 'Running without conditions', phase: 'Running', ready: undefined, expected: true },
    { name: 'Pending without conditions', phase: 'Pending', ready: undefined, expected: true },
    { name: 'Ready condition False', phase: 'Running', ready: 'False' as const, expected: false },
    { name: 'phase Failed', phase: 'Failed', ready: undefined, expected: false },
    { name: 'phase Succeeded', phase: 'Succeeded', ready: 'True' as const, expected: false },
  ];
  it.each(rows)('$name', ({ phase, ready, expected }) => {
    const { snapshot } = compile(
      docs(
        NAMESPACE,
        `apiVersion: v1
kind: Service
metadata: {name: s, namespace: bookinfo}
spec: {clusterIP: 127.30.0.9, selector: {app: s}, ports: [{name: http, port: 80}]}
`,
        pod({ name: 'p', ip: '127.0.1.9', labels: { app: 's' }, phase, ...(ready ? { ready } : {}) }),
      ),
      IN_BOOKINFO,
    );
    expect(snapshot.workloadsByIp.get('127.0.1.9')?.ready).toBe(expected);
    expect(snapshot.byVip.get('127.30.0.9:80')?.endpoints.map((e) => e.ready)).toEqual([expected]);
  });

  it('a running pod wins an IP over a finished one', () => {
    const { snapshot } = compile(
      docs(
        pod({ name: 'a-done', ip: '127.0.1.4', phase: 'Succeeded' }),
        pod({ name: 'b-running', ip: '127.0.1.4' }),
      ),
    );
    expect(snapshot.workloadsByIp.get('127.0.1.4')?.name).toBe('b-running');
  });
});

interface IdentityRow {
  name: string;
  pod: PodSpec;
  trustDomain?: string;
  expected: { identity: string; workloadName: string; canonicalService: string; canonicalRevision: string };
}

describe('compileSnapshot: workload identity and names', () => {
  const rows: IdentityRow[] = [
    {
      name: 'service account and trust domain',
      pod: { name: 'p', ip: '127.0.1.1', sa: 'bookinfo-reviews' },
      trustDomain: 'example.org',
      expected: { identity: 'spiffe://example.org/ns/bookinfo/sa/bookinfo-reviews', workloadName: 'p', canonicalService: 'p', canonicalRevision: 'latest' },
    },
    {
      name: 'default service account',
      pod: { name: 'p', ip: '127.0.1.1' },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'p', canonicalService: 'p', canonicalRevision: 'latest' },
    },
    {
      name: 'ReplicaSet owner loses its hash',
      pod: { name: 'reviews-v1-5d8f7c7b9-x2k4q', ip: '127.0.1.1', owner: { kind: 'ReplicaSet', name: 'reviews-v1-5d8f7c7b9' }, labels: { app: 'reviews', version: 'v1' } },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'reviews-v1', canonicalService: 'reviews', canonicalRevision: 'v1' },
    },
    {
      name: 'ReplicaSet hash taken from pod-template-hash',
      pod: { name: 'x', ip: '127.0.1.1', owner: { kind: 'ReplicaSet', name: 'api-server-7c9f' }, labels: { 'pod-template-hash': '7c9f' } },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'api-server', canonicalService: 'api-server', canonicalRevision: 'latest' },
    },
    {
      name: 'StatefulSet owner name as is',
      pod: { name: 'db-0', ip: '127.0.1.1', owner: { kind: 'StatefulSet', name: 'db' } },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'db', canonicalService: 'db', canonicalRevision: 'latest' },
    },
    {
      name: 'CronJob behind a Job',
      pod: { name: 'backup-28000000-abcde', ip: '127.0.1.1', owner: { kind: 'Job', name: 'backup-28000000' } },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'backup', canonicalService: 'backup', canonicalRevision: 'latest' },
    },
    {
      name: 'canonical labels win over app and version',
      pod: {
        name: 'p',
        ip: '127.0.1.1',
        labels: { app: 'a', version: 'v9', 'service.istio.io/canonical-name': 'canon', 'service.istio.io/canonical-revision': 'r1' },
      },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'p', canonicalService: 'canon', canonicalRevision: 'r1' },
    },
    {
      name: 'app.kubernetes.io labels win over app and version',
      pod: { name: 'p', ip: '127.0.1.1', labels: { app: 'a', version: 'v9', 'app.kubernetes.io/name': 'k-name', 'app.kubernetes.io/version': 'k-ver' } },
      expected: { identity: 'spiffe://cluster.local/ns/bookinfo/sa/default', workloadName: 'p', canonicalService: 'k-name', canonicalRevision: 'k-ver' },
    },
  ];
  it.each(rows)('$name', (row) => {
    const { snapshot } = compile(pod(row.pod), { trustDomain: row.trustDomain ?? 'cluster.local' });
    const w = snapshot.workloadsByIp.get('127.0.1.1');
    expect({ identity: w?.identity, workloadName: w?.workloadName, canonicalService: w?.canonicalService, canonicalRevision: w?.canonicalRevision }).toEqual(row.expected);
  });

  it('WorkloadEntry identity and workload name', () => {
    const { snapshot } = compile(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: vms}
spec: {address: 127.0.2.3, serviceAccount: vm-sa, labels: {app: legacy}}
`);
    const w = snapshot.workloadsByIp.get('127.0.2.3');
    expect([w?.uid, w?.identity, w?.workloadName, w?.canonicalService]).toEqual([
      'WorkloadEntry/vms/vm-1',
      'spiffe://cluster.local/ns/vms/sa/vm-sa',
      'vm-1',
      'legacy',
    ]);
  });
});

describe('compileSnapshot: waypoint identity', () => {
  const gw = (ns: string, name: string, cls = 'istio-waypoint'): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${ns}}
spec:
  gatewayClassName: ${cls}
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`;
  const rows = [
    { name: 'given namespace and name', yaml: gw('a', 'wp'), opts: { namespace: 'x', name: 'y' }, expected: ['x', 'y', false] },
    { name: 'the single istio-waypoint Gateway', yaml: docs(gw('a', 'wp'), gw('b', 'ingress', 'istio')), opts: {}, expected: ['a', 'wp', true] },
    { name: 'only a namespace given', yaml: docs(gw('a', 'wp'), gw('b', 'wp2')), opts: { namespace: 'b' }, expected: ['b', 'wp2', true] },
    { name: 'no Gateway: default/waypoint', yaml: NAMESPACE, opts: {}, expected: ['default', 'waypoint', false] },
    { name: 'several Gateways: default/waypoint', yaml: docs(gw('a', 'wp'), gw('b', 'wp')), opts: {}, expected: ['default', 'waypoint', false] },
  ];
  it.each(rows)('$name', ({ yaml, opts, expected }) => {
    const { snapshot } = compile(yaml, opts);
    expect([snapshot.waypoint.namespace, snapshot.waypoint.name, snapshot.waypoint.gatewayFound]).toEqual(expected);
  });

  it('without a Gateway assumes waypoint-for=service and allowedRoutes Same', () => {
    const { snapshot } = compile(
      docs(
        `apiVersion: v1
kind: Service
metadata: {name: s, namespace: other, labels: {istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: default}}
spec: {clusterIP: 127.30.0.1, ports: [{name: http, port: 80}]}
`,
      ),
    );
    expect(snapshot.waypoint.waypointFor).toBe('service');
    expect(snapshot.services[0]?.bindingReason).toBe('not bound: allowedRoutes Same excludes namespace other');
  });
});

describe('compileSnapshot: warnings, never errors, for absent things', () => {
  const rows = [
    {
      name: 'a Service selecting no workloads',
      yaml: `apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: bookinfo}
spec: {clusterIP: 127.30.0.1, selector: {app: nobody}, ports: [{name: http, port: 80}]}
`,
      problems: [
        'warning: mesh.yaml: Service bookinfo/lonely: spec.selector: selects no Pod or WorkloadEntry in namespace bookinfo (and no EndpointSlice names it); it has no endpoints',
      ],
    },
    {
      name: 'use-waypoint naming a different waypoint is not a problem',
      yaml: docs(
        GATEWAY(),
        `apiVersion: v1
kind: Service
metadata: {name: s, namespace: bookinfo, labels: {istio.io/use-waypoint: another}}
spec: {clusterIP: 127.30.0.1, selector: {app: s}, ports: [{name: http, port: 80}]}
`,
        pod({ name: 's', ip: '127.0.1.1', labels: { app: 's' } }),
      ),
      problems: [],
    },
    {
      name: 'a Service asking for this waypoint, refused by waypoint-for',
      yaml: docs(
        GATEWAY('workload'),
        `apiVersion: v1
kind: Service
metadata: {name: s, namespace: bookinfo, labels: {istio.io/use-waypoint: waypoint}}
spec: {clusterIP: 127.30.0.1, selector: {app: s}, ports: [{name: http, port: 80}]}
`,
        pod({ name: 's', ip: '127.0.1.1', labels: { app: 's' } }),
      ),
      problems: ['warning: mesh.yaml: Service bookinfo/s: asks for this waypoint but is not bound: waypoint-for=workload excludes service traffic'],
    },
    {
      name: 'a named targetPort no selected workload has',
      yaml: docs(
        NAMESPACE,
        `apiVersion: v1
kind: Service
metadata: {name: s, namespace: bookinfo}
spec: {clusterIP: 127.30.0.1, selector: {app: s}, ports: [{name: http, port: 80, targetPort: web}]}
`,
        pod({ name: 's', ip: '127.0.1.1', labels: { app: 's' } }),
      ),
      problems: ['warning: mesh.yaml: Service bookinfo/s: spec.ports[0].targetPort: no selected workload has a port named "web"; port 80 has no endpoints'],
    },
    {
      name: 'an unknown waypoint-for value',
      yaml: GATEWAY('everything'),
      problems: [
        'warning: mesh.yaml: Gateway bookinfo/waypoint: metadata.labels["istio.io/waypoint-for"]: unknown value "everything" (expected service, workload, all or none); the waypoint takes no traffic',
      ],
    },
  ];
  it.each(rows)('$name', ({ yaml, problems }) => {
    expect(compile(yaml, IN_BOOKINFO).problems).toEqual(problems);
  });
});

describe('emptySnapshot', () => {
  it('binds nothing and has version 0', () => {
    const s = emptySnapshot({ trustDomain: 'cluster.local', clusterId: 'Kubernetes' });
    expect([s.version, s.byVip.size, s.workloads.length, s.waypoint.namespace, s.waypoint.name]).toEqual([0, 0, 0, 'default', 'waypoint']);
  });
});
