/**
 * The benchmark mesh: addresses (all in 127.200.x.x unless BENCH_NET says otherwise, so it never collides with tests) and the
 * Kubernetes YAML each waypoint serves.
 */
import { join } from 'node:path';

/**
 * The first two octets of every benchmark address: 127.200 unless BENCH_NET (e.g. `127.190`) moves
 * the whole mesh, so that a hand measurement can run beside the tests and other benchmarks.
 */
const NET = /^127\.\d{1,3}$/.test(process.env.BENCH_NET ?? '') ? (process.env.BENCH_NET as string) : '127.200';
/** The first two octets in force (`127.200` or BENCH_NET), for a script's own addresses. */
export const NET_PREFIX = NET;

export const NAMESPACE = 'bench';
export const WAYPOINT_NAME = 'waypoint';
export const CLIENT_SA = 'client';
export const POD_SA = 'echo';

/** Echo pods, each behind its own fake destination ztunnel on :15008. */
export const POD_COUNT = 2;
export const podIp = (i: number): string => `${NET}.1.${i + 1}`;
/** Directory holding the certificates of pod `i` under the certificates root. */
export const podCertDir = (root: string, i: number): string => join(root, `pod-${i + 1}`);
export const POD_PORTS = { ztunnel: 15008, http: 8080, tcpEcho: 9000, sink: 9100 } as const;

export const VIP = `${NET}.10.1`;

/**
 * The Go peer's pods (bench/peers/go): Service `echo-go` on its own VIP, same ports and service
 * account, each pod served by `hbone-peer dst` (destination ztunnel + echo in one process).
 */
export const goPodIp = (i: number): string => `${NET}.2.${i + 1}`;
export const VIP_GO = `${NET}.10.2`;
/** Stats endpoints of the Go peer's processes. */
export const GO_STATS = { src: `${NET}.0.2:15090`, dst: `${NET}.0.3:15090` } as const;

/** Which peer stands on both ends of a mode: Node (`waypoint tunnel`, FakeZtunnel + EchoApp) or Go. */
export type Peer = 'node' | 'go';
export const PEERS: readonly Peer[] = ['node', 'go'];

/**
 * The Node peer's frame-counting twin (bench/peers/node): Service `echo-count` with one pod whose
 * HBONE port is a decrypting TLS tap in front of a FakeZtunnel on COUNT_ZTUNNEL_PORT.
 */
export const COUNT_POD_IP = `${NET}.3.1`;
export const VIP_COUNT = `${NET}.10.3`;
export const COUNT_ZTUNNEL_PORT = 25008;
/** Where the counting tunnels' taps listen (one port per mode). */
export const COUNT_TAP_IP = `${NET}.0.4`;

/** Every echo Service of the benchmark: one per peer, plus the Node peer's counting twin. */
export type Backend = Peer | 'count';
const BACKENDS: Record<Backend, { service: string; vip: string; pods: string[] }> = {
  node: { service: 'echo', vip: VIP, pods: Array.from({ length: POD_COUNT }, (_, i) => podIp(i)) },
  go: { service: 'echo-go', vip: VIP_GO, pods: Array.from({ length: POD_COUNT }, (_, i) => goPodIp(i)) },
  count: { service: 'echo-count', vip: VIP_COUNT, pods: [COUNT_POD_IP] },
};
const ALL_BACKENDS = Object.keys(BACKENDS) as Backend[];
/** A backend's Service VIP and pod addresses. */
export const peerVip = (b: Backend): string => BACKENDS[b].vip;
export const peerPodIp = (b: Backend, i: number): string => BACKENDS[b].pods[i] ?? BACKENDS[b].pods[0] ?? '';
/** Service ports of `echo`: what each mode's CONNECT authority names. */
export const SVC_PORTS = { http: 80, h2c: 81, tcp: 9080, sink: 9100 } as const;

/** Waypoint processes: the main one (also used for L4 and h2c), the loaded one, the workers one. */
export const WAYPOINT_IPS = { main: `${NET}.0.10`, loaded: `${NET}.0.11`, workers: `${NET}.0.12` } as const;
export type WaypointKey = keyof typeof WAYPOINT_IPS;
export const WAYPOINT_PORTS = { hbone: 15008, admin: 15000, metrics: 15020, readiness: 15021 } as const;

/** Tunnel (client) processes listen here, one port each. */
export const CLIENT_IP = `${NET}.0.1`;

export const ROUTE_COUNT = 100;
export const AUTHZ_RULE_COUNT = 1000;
const RULES_PER_POLICY = 100;

/** Paths the enforcement probes use (see `probeEnforcement`). */
export const PROBES = { routePath: '/route-probe', authzPath: '/authz-probe' } as const;

function pod(i: number, peer: Backend): string {
  const app = BACKENDS[peer].service;
  return `---
apiVersion: v1
kind: Pod
metadata:
  name: ${app}-${i + 1}
  namespace: ${NAMESPACE}
  labels: { app: ${app} }
spec:
  serviceAccountName: ${POD_SA}
  containers:
    - name: echo
      image: echo
      ports:
        - { name: http, containerPort: ${POD_PORTS.http} }
        - { name: sink, containerPort: ${POD_PORTS.sink} }
status:
  phase: Running
  podIP: ${peerPodIp(peer, i)}
`;
}

function service(peer: Backend): string {
  const app = BACKENDS[peer].service;
  return `---
apiVersion: v1
kind: Service
metadata:
  name: ${app}
  namespace: ${NAMESPACE}
spec:
  clusterIP: ${peerVip(peer)}
  selector: { app: ${app} }
  ports:
    - { name: http, port: ${SVC_PORTS.http}, targetPort: ${POD_PORTS.http}, appProtocol: http }
    - { name: http2-echo, port: ${SVC_PORTS.h2c}, targetPort: ${POD_PORTS.http}, appProtocol: http2 }
    - { name: tcp-floor, port: ${SVC_PORTS.tcp}, targetPort: ${POD_PORTS.http}, appProtocol: tcp }
    - { name: tcp-sink, port: ${SVC_PORTS.sink}, targetPort: ${POD_PORTS.sink}, appProtocol: tcp }
`;
}

/**
 * The base configuration: one Service with an http, an h2c and two tcp ports per backend (`echo`
 * for the Node peer, `echo-go` for the Go peer, `echo-count` for the Node peer's counting twin).
 */
export function baseConfig(): string {
  const pods = ALL_BACKENDS.flatMap((b) => BACKENDS[b].pods.map((_, i) => pod(i, b))).join('');
  return `apiVersion: v1
kind: Namespace
metadata:
  name: ${NAMESPACE}
  labels: { istio.io/use-waypoint: ${WAYPOINT_NAME} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ${WAYPOINT_NAME}
  namespace: ${NAMESPACE}
  labels: { istio.io/waypoint-for: service }
spec:
  gatewayClassName: istio-waypoint
  listeners:
    - { name: mesh, port: 15008, protocol: HBONE }
${ALL_BACKENDS.map(service).join('')}${pods}`;
}

const serviceParent = (svc: string): string => `  parentRefs:
    - { group: "", kind: Service, name: ${svc}, port: ${SVC_PORTS.http} }
`;

/**
 * 100 HTTPRoutes on one peer's echo Service: 98 that never match the benchmark request (path and header
 * matches), one redirect probe, and a catch-all last one that carries the benchmark traffic.
 */
function routes(peer: Backend): string {
  const svc = BACKENDS[peer].service;
  const suffix = peer === 'node' ? '' : `-${peer}`;
  const out: string[] = [];
  for (let i = 0; i < ROUTE_COUNT - 2; i++) {
    out.push(`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-${i}${suffix}
  namespace: ${NAMESPACE}
spec:
${serviceParent(svc)}  rules:
    - matches:
        - path: { type: PathPrefix, value: /api/v${i}/ }
          headers: [{ name: x-tenant, value: tenant-${i} }]
        - path: { type: Exact, value: /exact-${i} }
          method: POST
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-route, value: route-${i} }] }
      backendRefs: [{ name: ${svc}, port: ${SVC_PORTS.http} }]
`);
  }
  out.push(`---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-probe${suffix}
  namespace: ${NAMESPACE}
spec:
${serviceParent(svc)}  rules:
    - matches: [{ path: { type: Exact, value: ${PROBES.routePath} } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /redirected }, statusCode: 302 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-default${suffix}
  namespace: ${NAMESPACE}
spec:
${serviceParent(svc)}  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: ${svc}, port: ${SVC_PORTS.http} }]
`);
  return out.join('');
}

/**
 * 1,000 AuthorizationPolicy rules on the echo Service, in policies of 100: one DENY policy whose
 * rules never match the benchmark client except the probe path, then ALLOW policies whose rules
 * name other principals and paths; only the very last rule allows the benchmark client, so an
 * engine that walks rules in order pays for all of them.
 */
function policies(): string {
  const out: string[] = [];
  const policyCount = AUTHZ_RULE_COUNT / RULES_PER_POLICY;
  for (let p = 0; p < policyCount; p++) {
    const deny = p === 0;
    const rules: string[] = [];
    for (let r = 0; r < RULES_PER_POLICY; r++) {
      const n = p * RULES_PER_POLICY + r;
      if (deny && r === 0) {
        rules.push(`    - to: [{ operation: { paths: ["${PROBES.authzPath}"] } }]`);
      } else if (!deny && p === policyCount - 1 && r === RULES_PER_POLICY - 1) {
        rules.push(`    - from: [{ source: { principals: ["cluster.local/ns/${NAMESPACE}/sa/${CLIENT_SA}"] } }]
      to: [{ operation: { methods: ["GET"], paths: ["/*"] } }]`);
      } else {
        rules.push(`    - from: [{ source: { principals: ["cluster.local/ns/tenant-${n}/sa/app-${n}"], namespaces: ["tenant-${n}"] } }]
      to: [{ operation: { methods: ["GET", "POST"], paths: ["/tenant-${n}/*", "/exact-${n}"] } }]
      when: [{ key: "request.headers[x-tenant]", values: ["tenant-${n}"] }]`);
      }
    }
    out.push(`---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: policy-${p}
  namespace: ${NAMESPACE}
spec:
  targetRefs: [${ALL_BACKENDS.map((b) => `{ group: "", kind: Service, name: ${BACKENDS[b].service} }`).join(', ')}]
  action: ${deny ? 'DENY' : 'ALLOW'}
  rules:
${rules.join('\n')}
`);
  }
  return out.join('');
}

/** The base configuration plus 100 HTTPRoutes per Service and 1,000 AuthorizationPolicy rules on both. */
export function loadedConfig(): string {
  return `${baseConfig()}${ALL_BACKENDS.map(routes).join('')}${policies()}`;
}
