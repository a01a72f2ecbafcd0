import { vipKey } from '../../src/config/address.js';
import { loadResourcesFromText } from '../../src/config/load.js';
import { classifyDestination } from '../../src/l7/listener/classify.js';
import { sourceOf } from '../../src/l7/listener/source.js';
import type { TunnelContext } from '../../src/l7/tunnel.js';
import { compileSnapshot } from '../../src/snapshot/compile.js';
import type { ConfigSnapshot } from '../../src/snapshot/types.js';

// A small mesh for policy re-check tests: a waypoint in `default`, one pod behind two Services
// (TCP 9000, HTTP 80 → 8080). Unit tests use 127.175.x.x (parsed and matched only, never
// dialled); the end-to-end test passes its own prefix.
export const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
export const FRIEND = 'spiffe://cluster.local/ns/default/sa/friend';

/** The mesh's addresses under `prefix` (`127.175`). */
export function meshAddresses(prefix: string): { pod: string; tcpVip: string; webVip: string } {
  return { pod: `${prefix}.1.1`, tcpVip: `${prefix}.10.1`, webVip: `${prefix}.10.2` };
}

/** The namespace `default` using the waypoint `default/waypoint`, for `waypointFor` traffic. */
export function waypointNamespace(waypointFor: 'all' | 'service' = 'all'): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default, labels: { istio.io/waypoint-for: ${waypointFor} } }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
`;
}

/** The namespace `default` using the waypoint `default/waypoint` (for all traffic). */
export const WAYPOINT_NAMESPACE = waypointNamespace();

/** The mesh's YAML, its addresses under `prefix`. */
export function policyMeshYaml(prefix: string): string {
  const a = meshAddresses(prefix);
  return `${WAYPOINT_NAMESPACE}---
apiVersion: v1
kind: Pod
metadata: { name: echo-1, namespace: default, labels: { app: echo } }
spec: { serviceAccountName: echo, containers: [{ name: echo, image: echo }] }
status: { phase: Running, podIP: ${a.pod} }
---
apiVersion: v1
kind: Service
metadata: { name: tcp, namespace: default }
spec: { clusterIP: ${a.tcpVip}, selector: { app: echo }, ports: [{ name: tcp, port: 9000, targetPort: 9000 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec: { clusterIP: ${a.webVip}, selector: { app: echo }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`;
}

const UNIT = meshAddresses('127.175');
export const POD_IP = UNIT.pod;
export const TCP_VIP = UNIT.tcpVip;
const MESH = policyMeshYaml('127.175');

/** An AuthorizationPolicy document (with its leading `---`) targeting `target` (`Service tcp`, `Gateway waypoint`). */
export function policyDoc(name: string, target: string, spec: string, annotations = ''): string {
  const [kind, ref] = target.split(' ');
  const group = kind === 'Gateway' ? 'gateway.networking.k8s.io' : '""';
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: default${annotations === '' ? '' : `, annotations: { ${annotations} }`} }
spec:
  targetRefs: [{ kind: ${kind}, group: ${group}, name: ${ref} }]
${spec}`;
}

/** Compiles `MESH` plus `extra`; throws on errors. */
export function policySnapshot(extra = '', version = 1): ConfigSnapshot {
  const loaded = loadResourcesFromText([{ file: 'mesh.yaml', text: MESH + extra }]);
  const out = compileSnapshot(loaded.resources, { trustDomain: 'cluster.local', clusterId: 'Kubernetes', version, namespace: 'default', name: 'waypoint' });
  const errors = [...loaded.problems, ...out.problems].filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('; '));
  return out.snapshot;
}

/** The tunnel context main_internal records for a CONNECT from `identity` at `address` to `ip:port`. */
export function recordedTunnel(snap: ConfigSnapshot, ip: string, port: number, identity = SLEEP, address = '127.175.2.1'): TunnelContext {
  const peer = { identity, address, port: 40000, localAddress: '127.175.0.10', localPort: 15008 };
  return tunnelContext(snap, ip, port, peer, 'inbound-vip|9000|tcp|tcp.default.svc.cluster.local');
}

/** The tunnel context main_internal builds for a CONNECT from `peer` to `ip:port` in `snap`. */
export function tunnelContext(snap: ConfigSnapshot, ip: string, port: number, peer: TunnelContext['peer'], chain: string): TunnelContext {
  const cls = classifyDestination(snap, { ip, port });
  if (!cls.ok) throw new Error(cls.reason);
  const source = sourceOf(snap, peer);
  return {
    peer,
    authority: { ip, port },
    authorityText: `${ip}:${port}`,
    key: vipKey(ip, port),
    destination: cls.destination,
    sourceWorkload: source.workload,
    sourceNamespace: source.namespace,
    chain,
  };
}
