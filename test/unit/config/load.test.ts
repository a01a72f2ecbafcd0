import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadResources } from '../../../src/config/load.js';
import { formatProblem } from '../../../src/config/problems.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'waypoint-load-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let caseNo = 0;
/** Writes `files` under a fresh directory; returns it. */
async function fixture(files: Record<string, string>): Promise<string> {
  const dir = path.join(root, `case${++caseNo}`);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

/** Loads `dir` and renders results relative to it: `Kind ns/name` and formatted problems. */
async function load(dir: string, paths: string[] = [dir]): Promise<{ resources: string[]; problems: string[] }> {
  const out = await loadResources(paths);
  const rel = (s: string): string => s.split(`${dir}${path.sep}`).join('');
  return {
    resources: out.resources.map((r) => `${rel(r.file)}: ${r.kind} ${r.namespace === '' ? r.name : `${r.namespace}/${r.name}`}`),
    problems: out.problems.map((p) => rel(formatProblem(p))),
  };
}

const svcYaml = (name: string, ns?: string, port = 80): string => `apiVersion: v1
kind: Service
metadata:
  name: ${name}${ns === undefined ? '' : `\n  namespace: ${ns}`}
spec:
  clusterIP: 127.30.0.1
  ports:
  - name: http
    port: ${port}
`;

interface LoadRow {
  name: string;
  files: Record<string, string>;
  resources: string[];
  problems: string[];
}

const loadRows: LoadRow[] = [
  {
    name: 'multi-document YAML with empty documents and a default namespace',
    files: {
      'a.yaml': `---\n${svcYaml('one', 'bookinfo')}---\n# nothing here\n---\n${svcYaml('two')}---\n`,
    },
    resources: ['a.yaml: Service bookinfo/one', 'a.yaml: Service default/two'],
    problems: [],
  },
  {
    name: 'JSON single object',
    files: {
      'svc.json': JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'j', namespace: 'ns1' }, spec: { ports: [{ port: 80 }] } }),
    },
    resources: ['svc.json: Service ns1/j'],
    problems: [],
  },
  {
    name: 'JSON List is unpacked',
    files: {
      'list.json': JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } },
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'j', namespace: 'ns1' }, spec: { ports: [{ port: 80 }] } },
        ],
      }),
    },
    resources: ['list.json: Namespace ns1', 'list.json: Service ns1/j'],
    problems: [],
  },
  {
    name: 'kubectl ServiceList with status and managedFields loads as it is',
    files: {
      'dump.yaml': `apiVersion: v1
kind: ServiceList
metadata:
  resourceVersion: "123"
items:
- apiVersion: v1
  kind: Service
  metadata:
    creationTimestamp: "2024-05-01T10:00:00Z"
    managedFields:
    - manager: kubectl-client-side-apply
      operation: Update
      fieldsV1: {f:spec: {}}
    name: reviews
    namespace: bookinfo
    resourceVersion: "4242"
    uid: 0b5c8a2e-0000-0000-0000-000000000000
  spec:
    clusterIP: 127.30.0.2
    clusterIPs: [127.30.0.2]
    internalTrafficPolicy: Cluster
    ipFamilies: [IPv4]
    ipFamilyPolicy: SingleStack
    ports:
    - name: http
      port: 9080
      protocol: TCP
      targetPort: 9080
    selector:
      app: reviews
    sessionAffinity: None
    type: ClusterIP
  status:
    loadBalancer: {}
`,
    },
    resources: ['dump.yaml: Service bookinfo/reviews'],
    problems: [],
  },
  {
    name: 'kinds the waypoint does not use are skipped with a warning',
    files: {
      'mixed.yaml': `apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: bookinfo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress}
spec: {selector: {istio: ingressgateway}}
---
${svcYaml('kept')}`,
    },
    resources: ['mixed.yaml: Service default/kept'],
    problems: [
      'warning: mixed.yaml: Deployment reviews-v1: skipped: kind Deployment is not used by the waypoint',
      'warning: mixed.yaml: ConfigMap cfg: skipped: kind ConfigMap is not used by the waypoint',
      'warning: mixed.yaml: Gateway ingress: skipped: kind Gateway of apiVersion networking.istio.io/v1 is not used by the waypoint',
    ],
  },
  {
    name: 'kinds validated later keep only a metadata check',
    files: {
      'route.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: bookinfo}
spec: {anything: [goes, here]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: bookinfo}
spec: {}
`,
    },
    resources: ['route.yaml: HTTPRoute bookinfo/reviews', 'route.yaml: AuthorizationPolicy bookinfo/deny-all'],
    problems: [],
  },
  {
    name: 'YAML syntax error names the file and line',
    files: {
      'bad.yaml': `${svcYaml('ok')}---
apiVersion: v1
kind: Service
metadata:
  name: [broken
  namespace: x
`,
    },
    resources: ['bad.yaml: Service default/ok'],
    problems: [
      'error: bad.yaml: YAML syntax error at line 15, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  },
  {
    name: 'YAML duplicate key is a syntax error',
    files: { 'dup.yaml': 'apiVersion: v1\nkind: Service\nkind: Pod\nmetadata: {name: x}\n' },
    resources: [],
    problems: ['error: dup.yaml: YAML syntax error at line 3, column 1: Map keys must be unique'],
  },
  {
    name: 'duplicate resources name both files',
    files: { 'a.yaml': svcYaml('reviews', 'bookinfo'), 'b.yaml': svcYaml('reviews', 'bookinfo', 81) },
    resources: ['a.yaml: Service bookinfo/reviews'],
    problems: [
      `error: b.yaml: Service bookinfo/reviews: duplicate Service bookinfo/reviews: already defined in ${'a.yaml'}`,
    ],
  },
  {
    name: 'same name in different namespaces or kinds is fine',
    files: {
      'a.yaml': `${svcYaml('reviews', 'one')}---\n${svcYaml('reviews', 'two')}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: reviews}\n`,
    },
    resources: ['a.yaml: Service one/reviews', 'a.yaml: Service two/reviews', 'a.yaml: Namespace reviews'],
    problems: [],
  },
  {
    name: 'missing metadata.name, kind and non-mapping documents',
    files: {
      'a.yaml': `apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\nspec: {}\n---\napiVersion: v1\nmetadata: {name: y}\n---\n- just\n- a list\n`,
    },
    resources: [],
    problems: [
      'error: a.yaml: Service: metadata.name: is required (document 1 (line 1))',
      'error: a.yaml: kind: document 2 (line 6): kind is required',
      'error: a.yaml: document 3 (line 9): expected a Kubernetes resource (a mapping with apiVersion, kind and metadata), got a list',
    ],
  },
  {
    name: 'List item without a name points at the item',
    files: { 'l.yaml': 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {}\n' },
    resources: [],
    problems: ['error: l.yaml: Pod: metadata.name: is required (document 1 (line 1), items[0])'],
  },
  {
    name: 'directories are walked recursively in sorted order, other files and hidden entries ignored',
    files: {
      'b.yaml': svcYaml('b'),
      'a/z.yml': svcYaml('z'),
      'a/c.json': JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'c' }, spec: {} }),
      'README.md': '# not config',
      '.hidden/x.yaml': svcYaml('hidden'),
      '..data/y.yaml': svcYaml('configmap-internal'),
    },
    resources: ['a/c.json: Service default/c', 'a/z.yml: Service default/z', 'b.yaml: Service default/b'],
    problems: [],
  },
];

describe('loadResources', () => {
  it.each(loadRows)('$name', async (row) => {
    const dir = await fixture(row.files);
    expect(await load(dir)).toEqual({ resources: row.resources, problems: row.problems });
  });

  it('reports a JSON syntax error in one line', async () => {
    // V8's wording differs between Node versions (newer ones add the position).
    const dir = await fixture({ 'bad.json': '{"apiVersion": "v1",\n "kind": }' });
    const out = await load(dir);
    expect(out.resources).toEqual([]);
    expect(out.problems).toHaveLength(1);
    expect(out.problems[0]).toMatch(/^error: bad\.json: JSON syntax error( at line 2)?: [^\n]*Unexpected token/);
  });

  it('reports a path that does not exist', async () => {
    const missing = path.join(root, 'nope.yaml');
    const out = await loadResources([missing]);
    expect(out.problems.map(formatProblem)).toEqual([`error: ${missing}: cannot read: no such file or directory`]);
  });

  it('reads a file named explicitly whatever its extension, and only once', async () => {
    const dir = await fixture({ 'svc.txt': svcYaml('t'), 'sub/s.yaml': svcYaml('s') });
    const out = await load(dir, [path.join(dir, 'svc.txt'), path.join(dir, 'sub'), path.join(dir, 'sub', 's.yaml')]);
    expect(out).toEqual({ resources: ['svc.txt: Service default/t', 'sub/s.yaml: Service default/s'], problems: [] });
  });

  it('follows the symlinks of a ConfigMap volume', async () => {
    const dir = await fixture({ '..2024_01_01/mesh.yaml': svcYaml('from-configmap') });
    await symlink('..2024_01_01', path.join(dir, '..data'));
    await symlink(path.join('..data', 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
    expect(await load(dir)).toEqual({ resources: ['mesh.yaml: Service default/from-configmap'], problems: [] });
  });

  it('freezes the parsed documents', async () => {
    const dir = await fixture({ 'a.yaml': svcYaml('frozen') });
    const [r] = (await loadResources([dir])).resources;
    expect(Object.isFrozen(r?.raw)).toBe(true);
    expect(Object.isFrozen(r?.raw['spec'])).toBe(true);
  });
});

interface SchemaRow {
  name: string;
  doc: string;
  problems: string[];
}

const schemaRows: SchemaRow[] = [
  {
    name: 'Service port out of range',
    doc: `apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  ports:
  - {name: http, port: 70000}`,
    problems: ['error: f.yaml: Service default/reviews: spec.ports[0].port: must be an integer between 1 and 65535 (got 70000)'],
  },
  {
    name: 'Service port missing, name missing on a multi-port Service, bad targetPort and duplicate name',
    doc: `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  ports:
  - {name: http, port: 80, targetPort: Http_Port}
  - {port: 81, targetPort: 0}
  - {name: http, port: 82}
  - {name: grpc}`,
    problems: [
      'error: f.yaml: Service bookinfo/reviews: spec.ports[0].targetPort: must be an integer between 1 and 65535 or a port name (1-15 lowercase letters, digits and \'-\', with at least one letter; got "Http_Port")',
      'error: f.yaml: Service bookinfo/reviews: spec.ports[1].targetPort: must be an integer between 1 and 65535 or a port name (1-15 lowercase letters, digits and \'-\', with at least one letter; got 0)',
      'error: f.yaml: Service bookinfo/reviews: spec.ports[3].port: is required',
    ],
  },
  {
    name: 'Service port names checked once the ports parse',
    doc: `apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  ports:
  - {name: http, port: 80}
  - {port: 81}
  - {name: http, port: 82}
  - {name: tcp, port: 80}`,
    problems: [
      'error: f.yaml: Service default/reviews: spec.ports[1].name: is required when a Service has more than one port',
      'error: f.yaml: Service default/reviews: spec.ports[2].name: duplicates the name of ports[0] ("http")',
      'error: f.yaml: Service default/reviews: spec.ports[3].port: duplicates ports[0] (80/TCP)',
    ],
  },
  {
    name: 'Service clusterIP, appProtocol, selector values',
    doc: `apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  clusterIP: 127.30.0
  clusterIPs: [None, "127.30.0.300"]
  selector: {version: 1}
  ports:
  - {name: HTTP, port: 80, appProtocol: 7}`,
    problems: [
      'error: f.yaml: Service default/reviews: spec.clusterIP: must be an IP address, "None" or "" (got "127.30.0")',
      'error: f.yaml: Service default/reviews: spec.clusterIPs[1]: must be an IP address, "None" or "" (got "127.30.0.300")',
      "error: f.yaml: Service default/reviews: spec.ports[0].name: must be a lowercase RFC 1123 label (at most 63 letters, digits and '-'; got \"HTTP\")",
      'error: f.yaml: Service default/reviews: spec.ports[0].appProtocol: must be a string (got 7)',
      'error: f.yaml: Service default/reviews: spec.selector.version: label values must be a string (got 1; quote it in YAML)',
    ],
  },
  {
    name: 'Service without spec, bad metadata',
    doc: `apiVersion: v1
kind: Service
metadata:
  name: Reviews_1
  namespace: bookinfo
  labels: {app.kubernetes.io/version: 1.0}`,
    problems: [
      "error: f.yaml: Service bookinfo/Reviews_1: metadata.name: must be a lowercase RFC 1123 name (letters, digits, '-' and '.'; got \"Reviews_1\")",
      'error: f.yaml: Service bookinfo/Reviews_1: metadata.labels["app.kubernetes.io/version"]: label values must be a string (got 1; quote it in YAML)',
      'error: f.yaml: Service bookinfo/Reviews_1: spec: is required',
    ],
  },
  {
    name: 'Pod IPs, container ports and service account',
    doc: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  serviceAccountName: Bad_SA
  containers:
  - name: app
    ports:
    - {containerPort: 0, name: http}
    - {containerPort: 8080, name: this-name-is-far-too-long}
status:
  podIP: not-an-ip
  podIPs: [{ip: 127.0.1.1}, {ip: "::g"}]`,
    problems: [
      'error: f.yaml: Pod default/p: spec.containers[0].ports[0].containerPort: must be an integer between 1 and 65535 (got 0)',
      'error: f.yaml: Pod default/p: spec.containers[0].ports[1].name: must be a port name (1-15 lowercase letters, digits and \'-\', with at least one letter; got "this-name-is-far-too-long")',
      "error: f.yaml: Pod default/p: spec.serviceAccountName: must be a lowercase RFC 1123 name (letters, digits, '-' and '.'; got \"Bad_SA\")",
      'error: f.yaml: Pod default/p: status.podIP: must be an IP address (got "not-an-ip")',
      'error: f.yaml: Pod default/p: status.podIPs[1].ip: must be an IP address (got "::g")',
    ],
  },
  {
    name: 'WorkloadEntry address, labels, serviceAccount, ports',
    doc: `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: vms}
spec:
  address: vm.example.com
  labels: [app]
  serviceAccount: 5
  ports: {http: 99999}`,
    problems: [
      'error: f.yaml: WorkloadEntry vms/vm: spec.address: must be an IP address; hostnames are not supported by this waypoint (got "vm.example.com")',
      'error: f.yaml: WorkloadEntry vms/vm: spec.labels: must be a mapping (got a list)',
      'error: f.yaml: WorkloadEntry vms/vm: spec.serviceAccount: must be a string (got 5)',
      'error: f.yaml: WorkloadEntry vms/vm: spec.ports.http: must be an integer between 1 and 65535 (got 99999)',
    ],
  },
  {
    name: 'EndpointSlice addressType, addresses, conditions, ports',
    doc: `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, labels: {kubernetes.io/service-name: ext}}
addressType: IPV4
endpoints:
- addresses: []
  conditions: {ready: "yes"}
ports:
- {name: http, port: -1}`,
    problems: [
      'error: f.yaml: EndpointSlice default/s: addressType: must be one of IPv4, IPv6, FQDN (got "IPV4")',
      'error: f.yaml: EndpointSlice default/s: endpoints[0].addresses: must have at least 1 item(s)',
      'error: f.yaml: EndpointSlice default/s: endpoints[0].conditions.ready: must be true or false (got "yes")',
      'error: f.yaml: EndpointSlice default/s: ports[0].port: must be an integer between 1 and 65535 (got -1)',
    ],
  },
  {
    name: 'EndpointSlice addresses of the wrong family',
    doc: `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s}
addressType: IPv4
endpoints:
- addresses: ["::1"]
- addresses: [host.example]`,
    problems: [
      'error: f.yaml: EndpointSlice default/s: endpoints[0].addresses[0]: must be an IPv4 address because addressType is IPv4 (got "::1")',
      'error: f.yaml: EndpointSlice default/s: endpoints[1].addresses[0]: must be an IPv4 address because addressType is IPv4 (got "host.example")',
    ],
  },
  {
    name: 'Gateway class, listeners, allowedRoutes',
    doc: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint}
spec:
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
    allowedRoutes: {namespaces: {from: Everyone}}
  - {name: mesh, port: 0, protocol: HTTP}`,
    problems: [
      'error: f.yaml: Gateway default/waypoint: spec.gatewayClassName: is required',
      'error: f.yaml: Gateway default/waypoint: spec.listeners[0].allowedRoutes.namespaces.from: must be one of All, Same, Selector (got "Everyone")',
      'error: f.yaml: Gateway default/waypoint: spec.listeners[1].port: must be an integer between 1 and 65535 (got 0)',
    ],
  },
  {
    name: 'Gateway Selector needs a selector, expressions need values, listener names unique',
    doc: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Selector}}}
  - name: other
    port: 15009
    protocol: HBONE
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchExpressions: [{key: team, operator: In}, {key: x, operator: Exists, values: [a]}]}
  - {name: mesh, port: 15010, protocol: HBONE}`,
    problems: [
      'error: f.yaml: Gateway default/waypoint: spec.listeners[0].allowedRoutes.namespaces.selector: is required when from is Selector',
      'error: f.yaml: Gateway default/waypoint: spec.listeners[1].allowedRoutes.namespaces.selector.matchExpressions[0].values: must not be empty when operator is In',
      'error: f.yaml: Gateway default/waypoint: spec.listeners[1].allowedRoutes.namespaces.selector.matchExpressions[1].values: must be empty when operator is Exists',
      'error: f.yaml: Gateway default/waypoint: spec.listeners[2].name: duplicates the name of listeners[0] ("mesh")',
    ],
  },
  {
    name: 'Namespace name must be a DNS label',
    doc: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: my.namespace}',
    problems: [
      "error: f.yaml: Namespace my.namespace: metadata.name: must be a lowercase RFC 1123 label (at most 63 letters, digits and '-'; got \"my.namespace\")",
    ],
  },
  {
    name: 'missing apiVersion',
    doc: 'kind: Pod\nmetadata: {name: p}',
    problems: ['error: f.yaml: Pod default/p: apiVersion: is required'],
  },
];

describe('schema problems name the field', () => {
  it.each(schemaRows)('$name', async (row) => {
    const dir = await fixture({ 'f.yaml': row.doc });
    const out = await load(dir);
    expect(out.problems).toEqual(row.problems);
    expect(out.resources).toEqual([]);
  });
});
