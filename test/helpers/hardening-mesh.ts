/**
 * The hardening test mesh on loopback, under 127.48: a LoopbackMesh whose waypoint takes resource
 * limits, with a FaultApp (port 8090) on the fault pod instead of an echo app.
 *
 * - waypoint `default/waypoint` at 127.48.0.10 (port chosen by the kernel)
 * - pods 127.48.1.(16·slot + k): each test file takes its own slot, so files running in parallel
 *   never bind the same address and port
 * - Services (VIPs are only CONNECT authorities, never bound, so files can share them):
 *   echo 127.48.10.1 → echo-1, echo-2: 80 http, 81 http2, 8081 sniffed, 9000 tcp;
 *   refuse .3 (ztunnel answers 503), imposter .4 (ztunnel shows another identity),
 *   deny .5 (ztunnel answers 401), reset .6 (ztunnel resets the CONNECT),
 *   hang .7 (ztunnel never answers; VirtualService timeout 1 s),
 *   fault .8 → fault-1's FaultApp: 80 http, 8081 sniffed (behind a strict FakeZtunnel, which
 *   counts the tunnels the waypoint holds and releases),
 *   fault-timeout .9 → the same, VirtualService timeout 1 s
 */
import type { Logger } from 'pino';
import type { WaypointLimits } from '../../src/config/limits.js';
import type { FakeZtunnel, ZtunnelBehaviour } from '../../src/testkit/fake-ztunnel.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { FaultApp } from './fault-app.js';

export const WAYPOINT_IP = '127.48.0.10';
export const VIP = {
  echo: '127.48.10.1',
  refuse: '127.48.10.3',
  imposter: '127.48.10.4',
  deny: '127.48.10.5',
  reset: '127.48.10.6',
  hang: '127.48.10.7',
  fault: '127.48.10.8',
  faultTimeout: '127.48.10.9',
} as const;

const FAULT_PORT = 8090;

const PODS: Array<{ name: string; app: string; behaviour: ZtunnelBehaviour; presentIdentity?: string }> = [
  { name: 'echo-1', app: 'echo', behaviour: 'forward' },
  { name: 'echo-2', app: 'echo', behaviour: 'forward' },
  { name: 'refuse-1', app: 'refuse', behaviour: 'refuse' },
  { name: 'imposter-1', app: 'imposter', behaviour: 'forward', presentIdentity: 'spiffe://cluster.local/ns/default/sa/someone-else' },
  { name: 'deny-1', app: 'deny', behaviour: 'deny' },
  { name: 'reset-1', app: 'reset', behaviour: 'reset' },
  { name: 'hang-1', app: 'hang', behaviour: 'hang' },
  { name: 'fault-1', app: 'fault', behaviour: 'forward' },
];

export function podIp(slot: number, index: number): string {
  return `127.48.1.${slot * 16 + index + 1}`;
}

function meshPods(slot: number): MeshPod[] {
  return PODS.map((p, i) => ({
    name: p.name,
    namespace: 'default',
    serviceAccount: p.app,
    ip: podIp(slot, i),
    httpPort: 8080,
    tcpPort: 9000,
    behaviour: p.behaviour,
    ...(p.presentIdentity === undefined ? {} : { presentIdentity: p.presentIdentity }),
    labels: { app: p.app },
    // The fault pod is served by the FaultApp, behind a ztunnel that tears tunnels down as ztunnel does.
    ...(p.app === 'fault' ? { echo: false, strictZtunnel: true } : {}),
  }));
}

const svc = (name: string, vip: string, app: string, ports: string): string => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: ${app} }
  ports:
${ports}`;

const ECHO_PORTS = `    - { name: http, port: 80, targetPort: 8080, appProtocol: http }
    - { name: http2-echo, port: 81, targetPort: 8080 }
    - { name: echo, port: 8081, targetPort: 8080 }
    - { name: tcp-echo, port: 9000, targetPort: 9000 }
`;
const FAULT_PORTS = `    - { name: http, port: 80, targetPort: ${FAULT_PORT}, appProtocol: http }
    - { name: sniffed, port: 8081, targetPort: ${FAULT_PORT} }
`;
const timeoutVs = (name: string, host: string): string => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: default }
spec:
  hosts: [${host}.default.svc.cluster.local]
  http:
    - timeout: 1s
      route: [{ destination: { host: ${host}.default.svc.cluster.local } }]
`;

const CONFIG = `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default, labels: { istio.io/waypoint-for: all } }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
${svc('echo', VIP.echo, 'echo', ECHO_PORTS)}${svc('refuse', VIP.refuse, 'refuse', ECHO_PORTS)}${svc('imposter', VIP.imposter, 'imposter', ECHO_PORTS)}${svc('deny', VIP.deny, 'deny', ECHO_PORTS)}${svc('reset', VIP.reset, 'reset', ECHO_PORTS)}${svc('hang', VIP.hang, 'hang', ECHO_PORTS)}${svc('fault', VIP.fault, 'fault', FAULT_PORTS)}${svc('fault-timeout', VIP.faultTimeout, 'fault', FAULT_PORTS)}${timeoutVs('hang-timeout', 'hang')}${timeoutVs('fault-timeout', 'fault-timeout')}`;

export interface HardeningMeshOptions {
  /** 0-14: which block of pod addresses this file uses. */
  slot: number;
  logger: Logger;
  limits?: Partial<WaypointLimits>;
  /** More YAML documents (starting with `---`). */
  extraConfig?: string;
}

/** The loopback mesh plus the fault pod's backend and its (strict) destination ztunnel. */
export type HardeningMesh = LoopbackMesh & { readonly fault: FaultApp; readonly faultZtunnel: FakeZtunnel };

export const HardeningMesh = {
  async start(opts: HardeningMeshOptions): Promise<HardeningMesh> {
    const pods = meshPods(opts.slot);
    const faultPod = pods.find((p) => p.name === 'fault-1')!;
    const fault = new FaultApp(faultPod.ip, FAULT_PORT);
    const mesh = await LoopbackMesh.start({
      config: CONFIG,
      extraConfig: opts.extraConfig,
      podResources: true,
      pods,
      backends: [fault],
      waypoint: { ip: WAYPOINT_IP, namespace: 'default', name: 'waypoint' },
      logger: opts.logger,
      limits: opts.limits,
      watch: false,
    });
    return Object.assign(mesh, { fault, faultZtunnel: mesh.ztunnelOf(faultPod.name) });
  },
};
