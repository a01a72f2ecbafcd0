import { describe, expect, it } from 'vitest';
import { vipKey } from '../../../../src/config/address.js';
import type { Endpoint, PortProtocol, ServiceInfo, ServicePortInfo, VipBinding, WorkloadInfo } from '../../../../src/config/types.js';
import type { ConfigSnapshot } from '../../../../src/snapshot/types.js';
import type { Authority } from '../../../../src/hbone/authority.js';
import { chainModeFor, chainName, classifyDestination, type Classification } from '../../../../src/l7/listener/classify.js';
import { clusterName, type ChainMode, type Destination } from '../../../../src/l7/tunnel.js';
import { upstreamProtocolFor, type WireProtocol } from '../../../../src/l7/upstream/protocol.js';

function workload(name: string, ip: string): WorkloadInfo {
  return {
    uid: `Pod/default/${name}`,
    kind: 'Pod',
    name,
    namespace: 'default',
    ip,
    labels: { app: name },
    serviceAccount: 'default',
    identity: 'spiffe://cluster.local/ns/default/sa/default',
    workloadName: name,
    canonicalService: name,
    canonicalRevision: 'latest',
    ready: true,
    namedPorts: new Map(),
  };
}

function port(name: string, number: number, protocol: PortProtocol): ServicePortInfo {
  return { name, port: number, targetPort: number, appProtocol: undefined, protocol };
}

function service(name: string, vips: string[], ports: ServicePortInfo[]): ServiceInfo {
  return {
    name,
    namespace: 'default',
    hostname: `${name}.default.svc.cluster.local`,
    vips,
    ports,
    selector: { app: name },
    labels: {},
    bound: true,
    bindingReason: 'bound: Service label istio.io/use-waypoint=waypoint',
  };
}

const endpoint = (w: WorkloadInfo, p: number): Endpoint => ({ ip: w.ip, port: p, workload: w, ready: true });

/** Builds the indexes the way snapshot.ts does: every (VIP, port) of each bound service. */
function snapshot(services: ServiceInfo[], endpoints: Map<ServiceInfo, Endpoint[]>, bound: WorkloadInfo[], known: WorkloadInfo[]): ConfigSnapshot {
  const byVip = new Map<string, VipBinding>();
  const byHostPort = new Map<string, VipBinding>();
  const boundVipIps = new Set<string>();
  for (const svc of services) {
    for (const p of svc.ports) byHostPort.set(`${svc.hostname}:${p.port}`, { service: svc, port: p, endpoints: endpoints.get(svc) ?? [] });
    for (const vip of svc.vips) {
      boundVipIps.add(vip);
      for (const p of svc.ports) byVip.set(vipKey(vip, p.port), { service: svc, port: p, endpoints: endpoints.get(svc) ?? [] });
    }
  }
  // Not returned as a literal: ConfigSnapshot is being extended elsewhere, and only the fields
  // classifyDestination reads matter here.
  const snap = {
    version: 1,
    loadedAt: new Date(0),
    waypoint: { namespace: 'default', name: 'waypoint', trustDomain: 'cluster.local', clusterId: 'Kubernetes', waypointFor: 'all' as const, gatewayFound: true },
    services,
    workloads: known,
    byVip,
    byHostPort,
    boundVipIps,
    boundWorkloads: new Map(bound.map((w) => [w.ip, w])),
    workloadsByIp: new Map(known.map((w) => [w.ip, w])),
    resources: [],
    warnings: [],
  };
  return snap;
}

const reviewsPod = workload('reviews-v1', '127.244.0.5');
const dbPod = workload('db-0', '127.244.0.6');
const unboundPod = workload('other', '127.244.0.9');
const v6Pod = workload('reviews-v6', 'fd00:244::5');

const reviews = service('reviews', ['127.96.0.10'], [
  port('http', 9080, 'http'),
  port('http2-api', 9081, 'http2'),
  port('grpc', 9090, 'grpc'),
  port('tcp-raw', 9000, 'tcp'),
  port('misc', 9999, 'unknown'),
]);
const dualStack = service('dual', ['127.96.0.20', 'fd00:96::20'], [port('http', 80, 'http')]);

const snap = snapshot(
  [reviews, dualStack],
  new Map([
    [reviews, [endpoint(reviewsPod, 9080)]],
    [dualStack, [endpoint(v6Pod, 8080)]],
  ]),
  [reviewsPod, dbPod, v6Pod],
  [reviewsPod, dbPod, unboundPod, v6Pod],
);

const bindingOf = (ip: string, p: number): VipBinding => {
  const b = snap.byVip.get(vipKey(ip, p));
  if (b === undefined) throw new Error(`fixture has no binding ${vipKey(ip, p)}`);
  return b;
};
const svcDest = (ip: string, p: number, mode: ChainMode): Classification => ({ ok: true, destination: { kind: 'service', binding: bindingOf(ip, p), mode } });
const wlDest = (w: WorkloadInfo, p: number): Classification => ({ ok: true, destination: { kind: 'workload', workload: w, port: p, mode: 'sniff' } });
const refused = (reason: string): Classification => ({ ok: false, reason });

describe('chainModeFor', () => {
  it.each<{ name: string; input: PortProtocol; expected: ChainMode }>([
    { name: 'http', input: 'http', expected: 'http' },
    { name: 'http2', input: 'http2', expected: 'http' },
    { name: 'grpc', input: 'grpc', expected: 'http' },
    { name: 'tcp', input: 'tcp', expected: 'tcp' },
    { name: 'unknown', input: 'unknown', expected: 'sniff' },
  ])('$name port → $expected chain', ({ input, expected }) => {
    expect(chainModeFor(input)).toBe(expected);
  });
});

describe('classifyDestination', () => {
  it.each<{ name: string; input: Authority; expected: Classification }>([
    { name: 'bound VIP, http port', input: { ip: '127.96.0.10', port: 9080 }, expected: svcDest('127.96.0.10', 9080, 'http') },
    { name: 'bound VIP, http2 port', input: { ip: '127.96.0.10', port: 9081 }, expected: svcDest('127.96.0.10', 9081, 'http') },
    { name: 'bound VIP, grpc port', input: { ip: '127.96.0.10', port: 9090 }, expected: svcDest('127.96.0.10', 9090, 'http') },
    { name: 'bound VIP, tcp port', input: { ip: '127.96.0.10', port: 9000 }, expected: svcDest('127.96.0.10', 9000, 'tcp') },
    { name: 'bound VIP, unknown-protocol port', input: { ip: '127.96.0.10', port: 9999 }, expected: svcDest('127.96.0.10', 9999, 'sniff') },
    { name: 'bound VIP, port it does not expose', input: { ip: '127.96.0.10', port: 80 }, expected: refused('service VIP 127.96.0.10 has no port 80') },
    { name: 'bound VIP, target port instead of service port', input: { ip: '127.96.0.20', port: 8080 }, expected: refused('service VIP 127.96.0.20 has no port 8080') },
    { name: 'dual-stack service, IPv4 VIP', input: { ip: '127.96.0.20', port: 80 }, expected: svcDest('127.96.0.20', 80, 'http') },
    { name: 'dual-stack service, IPv6 VIP', input: { ip: 'fd00:96::20', port: 80 }, expected: svcDest('fd00:96::20', 80, 'http') },
    { name: 'IPv6 VIP, unknown port', input: { ip: 'fd00:96::20', port: 81 }, expected: refused('service VIP fd00:96::20 has no port 81') },
    { name: 'bound workload, its serving port', input: { ip: '127.244.0.5', port: 9080 }, expected: wlDest(reviewsPod, 9080) },
    { name: 'bound workload, any other port', input: { ip: '127.244.0.5', port: 12345 }, expected: wlDest(reviewsPod, 12345) },
    { name: 'bound workload without a service', input: { ip: '127.244.0.6', port: 5432 }, expected: wlDest(dbPod, 5432) },
    { name: 'bound IPv6 workload', input: { ip: 'fd00:244::5', port: 8080 }, expected: wlDest(v6Pod, 8080) },
    {
      name: 'known but unbound workload',
      input: { ip: '127.244.0.9', port: 80 },
      expected: refused('127.244.0.9:80 is neither a bound service VIP nor a bound workload'),
    },
    {
      name: 'unknown IPv4',
      input: { ip: '192.0.2.1', port: 443 },
      expected: refused('192.0.2.1:443 is neither a bound service VIP nor a bound workload'),
    },
    {
      name: 'unknown IPv6 (bracketed in the reason)',
      input: { ip: 'fd00::99', port: 80 },
      expected: refused('[fd00::99]:80 is neither a bound service VIP nor a bound workload'),
    },
  ])('$name', ({ input, expected }) => {
    expect(classifyDestination(snap, input)).toStrictEqual(expected);
  });

  it('returns the very binding object held by the snapshot', () => {
    const r = classifyDestination(snap, { ip: '127.96.0.10', port: 9080 });
    expect(r.ok && r.destination.kind === 'service' && r.destination.binding).toBe(snap.byVip.get('127.96.0.10:9080'));
  });

  it('refuses everything on an empty snapshot', () => {
    const empty = snapshot([], new Map(), [], []);
    expect(classifyDestination(empty, { ip: '127.96.0.10', port: 9080 })).toStrictEqual(
      refused('127.96.0.10:9080 is neither a bound service VIP nor a bound workload'),
    );
  });
});

describe('upstreamProtocolFor', () => {
  it.each<{ name: string; protocol: PortProtocol | undefined; downstream: WireProtocol; expected: WireProtocol }>([
    { name: 'http port, HTTP/1.1 downstream', protocol: 'http', downstream: 'http1', expected: 'http1' },
    { name: 'http port, h2c downstream', protocol: 'http', downstream: 'h2c', expected: 'http1' },
    { name: 'http2 port, HTTP/1.1 downstream', protocol: 'http2', downstream: 'http1', expected: 'h2c' },
    { name: 'http2 port, h2c downstream', protocol: 'http2', downstream: 'h2c', expected: 'h2c' },
    { name: 'grpc port, HTTP/1.1 downstream', protocol: 'grpc', downstream: 'http1', expected: 'h2c' },
    { name: 'grpc port, h2c downstream', protocol: 'grpc', downstream: 'h2c', expected: 'h2c' },
    { name: 'tcp port, HTTP/1.1 downstream', protocol: 'tcp', downstream: 'http1', expected: 'http1' },
    { name: 'tcp port, h2c downstream', protocol: 'tcp', downstream: 'h2c', expected: 'h2c' },
    { name: 'unknown (sniffed) port, HTTP/1.1 downstream', protocol: 'unknown', downstream: 'http1', expected: 'http1' },
    { name: 'unknown (sniffed) port, h2c downstream', protocol: 'unknown', downstream: 'h2c', expected: 'h2c' },
    { name: 'no port (workload traffic), HTTP/1.1 downstream', protocol: undefined, downstream: 'http1', expected: 'http1' },
    { name: 'no port (workload traffic), h2c downstream', protocol: undefined, downstream: 'h2c', expected: 'h2c' },
  ])('$name → $expected', ({ protocol, downstream, expected }) => {
    expect(upstreamProtocolFor(protocol, downstream)).toBe(expected);
  });
});

describe('chainName and clusterName', () => {
  const svc: Destination = { kind: 'service', binding: bindingOf('127.96.0.10', 9080), mode: 'http' };
  const sniffed: Destination = { kind: 'service', binding: bindingOf('127.96.0.10', 9999), mode: 'sniff' };
  const v6: Destination = { kind: 'service', binding: bindingOf('fd00:96::20', 80), mode: 'http' };
  const wl: Destination = { kind: 'workload', workload: reviewsPod, port: 9080, mode: 'sniff' };

  it.each<{ name: string; dest: Destination; resolved: 'http' | 'tcp'; chain: string; cluster: string }>([
    {
      name: 'service http port',
      dest: svc,
      resolved: 'http',
      chain: 'inbound-vip|9080|http|reviews.default.svc.cluster.local',
      cluster: 'inbound-vip|9080|http|reviews.default.svc.cluster.local',
    },
    {
      name: 'service port resolved as tcp',
      dest: svc,
      resolved: 'tcp',
      chain: 'inbound-vip|9080|tcp|reviews.default.svc.cluster.local',
      cluster: 'inbound-vip|9080|tcp|reviews.default.svc.cluster.local',
    },
    {
      name: 'sniffed service port that turned out HTTP',
      dest: sniffed,
      resolved: 'http',
      chain: 'inbound-vip|9999|http|reviews.default.svc.cluster.local',
      cluster: 'inbound-vip|9999|http|reviews.default.svc.cluster.local',
    },
    {
      name: 'service reached by its IPv6 VIP (names carry no IP)',
      dest: v6,
      resolved: 'http',
      chain: 'inbound-vip|80|http|dual.default.svc.cluster.local',
      cluster: 'inbound-vip|80|http|dual.default.svc.cluster.local',
    },
    { name: 'workload, http', dest: wl, resolved: 'http', chain: 'direct-http', cluster: 'encap' },
    { name: 'workload, tcp', dest: wl, resolved: 'tcp', chain: 'direct-tcp', cluster: 'encap' },
  ])('$name', ({ dest, resolved, chain, cluster }) => {
    expect(chainName(dest, resolved)).toBe(chain);
    expect(clusterName(dest, resolved)).toBe(cluster);
  });
});
