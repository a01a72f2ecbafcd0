import { meshPodManifest, type MeshPod } from '../../src/testkit/mesh.js';

/**
 * The core test mesh on loopback, under prefix `127.<n>`: each test file picks its own `n` so
 * files running in parallel never share an address.
 *
 * - waypoint `default/waypoint` at 127.n.0.10, taking service and workload traffic
 * - Service `echo` VIP 127.n.10.1: 80 http, 81 http2, 8081 sniffed, 9000 tcp, 9001 sniffed
 *   → three echo pods 127.n.1.1-3
 * - Service `refuse` 127.n.10.3 → a pod whose ztunnel refuses every CONNECT (503)
 * - Service `imposter` 127.n.10.4 → a pod whose ztunnel presents another identity
 * - Service `empty` 127.n.10.5 → no pods
 * - Service `optout` 127.n.10.2 → opted out of the waypoint (`istio.io/use-waypoint: none`)
 */
export function coreMesh(n: number): { config: string; pods: MeshPod[]; ip: (x: string) => string } {
  const ip = (rest: string): string => `127.${n}.${rest}`;
  const ports = { http: 8080, tcp: 9000 };
  const pod = (name: string, serviceAccount: string, rest: string, more: Partial<MeshPod> = {}): MeshPod => ({
    name,
    namespace: 'default',
    serviceAccount,
    ip: ip(rest),
    httpPort: 8080,
    labels: { app: serviceAccount },
    containerPorts: ports,
    ...more,
  });
  const pods: MeshPod[] = [
    pod('echo-1', 'echo', '1.1', { tcpPort: 9000 }),
    pod('echo-2', 'echo', '1.2', { tcpPort: 9000 }),
    pod('echo-3', 'echo', '1.3', { tcpPort: 9000 }),
    pod('refuse-1', 'refuse', '1.10', { behaviour: 'refuse' }),
    pod('imposter-1', 'imposter', '1.11', { presentIdentity: 'spiffe://cluster.local/ns/default/sa/someone-else' }),
  ];
  const service = (name: string, vip: string, selector: string, extraLabels = ''): string => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default
${extraLabels}spec:
  clusterIP: ${vip}
  selector: { app: ${selector} }
  ports:
    - { name: http, port: 80, targetPort: http, appProtocol: http }
    - { name: http2-echo, port: 81, targetPort: 8080 }
    - { name: echo, port: 8081, targetPort: 8080 }
    - { name: tcp-echo, port: 9000, targetPort: tcp }
    - { name: mystery, port: 9001, targetPort: 9000 }
`;
  const config = `apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: { istio.io/use-waypoint: waypoint }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: default
  labels: { istio.io/waypoint-for: all }
spec:
  gatewayClassName: istio-waypoint
  listeners:
    - { name: mesh, port: 15008, protocol: HBONE }
${service('echo', ip('10.1'), 'echo')}${service('optout', ip('10.2'), 'echo', '  labels: { istio.io/use-waypoint: none }\n')}${service('refuse', ip('10.3'), 'refuse')}${service('imposter', ip('10.4'), 'imposter')}${service('empty', ip('10.5'), 'nothing')}${pods.map(meshPodManifest).join('')}`;
  return { config, pods, ip };
}
