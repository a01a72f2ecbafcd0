import { describe, expect, it } from 'vitest';
import type { Endpoint, PortProtocol, ServiceInfo, VipBinding, WorkloadInfo } from '../config/types.js';
import type { Destination, WireProtocol } from './classify.js';
import { RoundRobinState } from './load-balancer.js';
import { LOCAL_REPLIES } from './local-reply.js';
import { decideDefaultRoute, type RouteDecision } from './router.js';

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

const SERVICE: ServiceInfo = {
  name: 'reviews',
  namespace: 'default',
  hostname: 'reviews.default.svc.cluster.local',
  vips: ['127.96.0.10'],
  ports: [],
  selector: { app: 'reviews' },
  labels: {},
  bound: true,
  bindingReason: 'bound',
};

const podA = workload('reviews-a', '127.244.0.1');
const podB = workload('reviews-b', '127.244.0.2');
const podC = workload('reviews-c', '127.244.0.3');
const v6Pod = workload('reviews-v6', 'fd00:244::1');

const ready = (w: WorkloadInfo, port = 9080): Endpoint => ({ ip: w.ip, port, workload: w, ready: true });
const notReady = (w: WorkloadInfo, port = 9080): Endpoint => ({ ip: w.ip, port, workload: w, ready: false });

function serviceDest(protocol: PortProtocol, endpoints: Endpoint[], port = 9080): Destination {
  const binding: VipBinding = { service: SERVICE, port: { name: 'p', port, targetPort: 9080, appProtocol: undefined, protocol }, endpoints };
  return { kind: 'service', binding, mode: protocol === 'tcp' ? 'tcp' : protocol === 'unknown' ? 'sniff' : 'http' };
}

const workloadDest = (w: WorkloadInfo, port: number): Destination => ({ kind: 'workload', workload: w, port, mode: 'sniff' });

const HTTP_CLUSTER = 'inbound-vip|9080|http|reviews.default.svc.cluster.local';
const routed = (cluster: string, endpoint: Endpoint, upstream: WireProtocol): RouteDecision => ({ ok: true, cluster, endpoint, upstream });

interface Row {
  name: string;
  dest: Destination;
  downstream: WireProtocol;
  kind: 'http' | 'tcp' | undefined;
  expected: RouteDecision;
}

const rows: Row[] = [
  {
    name: 'workload destination, HTTP/1.1 downstream → encap, HTTP/1.1',
    dest: workloadDest(podA, 8080),
    downstream: 'http1',
    kind: undefined,
    expected: routed('encap', { ip: '127.244.0.1', port: 8080, workload: podA, ready: true }, 'http1'),
  },
  {
    name: 'workload destination, h2c downstream → encap, h2c',
    dest: workloadDest(podA, 8080),
    downstream: 'h2c',
    kind: 'http',
    expected: routed('encap', { ip: '127.244.0.1', port: 8080, workload: podA, ready: true }, 'h2c'),
  },
  {
    name: 'workload destination, tcp kind → encap',
    dest: workloadDest(podA, 5432),
    downstream: 'http1',
    kind: 'tcp',
    expected: routed('encap', { ip: '127.244.0.1', port: 5432, workload: podA, ready: true }, 'http1'),
  },
  {
    name: 'IPv6 workload destination keeps its IP and port',
    dest: workloadDest(v6Pod, 9443),
    downstream: 'h2c',
    kind: 'http',
    expected: routed('encap', { ip: 'fd00:244::1', port: 9443, workload: v6Pod, ready: true }, 'h2c'),
  },
  {
    name: 'service http port, HTTP/1.1 downstream → HTTP/1.1',
    dest: serviceDest('http', [ready(podA)]),
    downstream: 'http1',
    kind: undefined,
    expected: routed(HTTP_CLUSTER, ready(podA), 'http1'),
  },
  {
    name: 'service http port, h2c downstream → HTTP/1.1 upstream',
    dest: serviceDest('http', [ready(podA)]),
    downstream: 'h2c',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podA), 'http1'),
  },
  {
    name: 'service http2 port, HTTP/1.1 downstream → h2c upstream',
    dest: serviceDest('http2', [ready(podA)]),
    downstream: 'http1',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podA), 'h2c'),
  },
  {
    name: 'service grpc port, HTTP/1.1 downstream → h2c upstream',
    dest: serviceDest('grpc', [ready(podA)]),
    downstream: 'http1',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podA), 'h2c'),
  },
  {
    name: 'service grpc port, h2c downstream → h2c upstream',
    dest: serviceDest('grpc', [ready(podA)]),
    downstream: 'h2c',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podA), 'h2c'),
  },
  {
    name: 'service unknown (sniffed) port, HTTP/1.1 downstream → downstream protocol',
    dest: serviceDest('unknown', [ready(podA)]),
    downstream: 'http1',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podA), 'http1'),
  },
  {
    name: 'service unknown (sniffed) port, h2c downstream → downstream protocol',
    dest: serviceDest('unknown', [ready(podA)]),
    downstream: 'h2c',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podA), 'h2c'),
  },
  {
    name: 'service first endpoint not ready → first ready one',
    dest: serviceDest('http', [notReady(podA), ready(podB)]),
    downstream: 'http1',
    kind: 'http',
    expected: routed(HTTP_CLUSTER, ready(podB), 'http1'),
  },
  {
    name: 'service tcp port, tcp kind → tcp cluster name',
    dest: serviceDest('tcp', [ready(podA, 5432)], 5432),
    downstream: 'http1',
    kind: 'tcp',
    expected: routed('inbound-vip|5432|tcp|reviews.default.svc.cluster.local', ready(podA, 5432), 'http1'),
  },
  {
    name: 'sniffed service port resolved as tcp → tcp cluster name',
    dest: serviceDest('unknown', [ready(podA)]),
    downstream: 'http1',
    kind: 'tcp',
    expected: routed('inbound-vip|9080|tcp|reviews.default.svc.cluster.local', ready(podA), 'http1'),
  },
  {
    name: 'service with no ready endpoint → 503 UH local reply',
    dest: serviceDest('http', [notReady(podA), notReady(podB)]),
    downstream: 'http1',
    kind: 'http',
    expected: { ok: false, cluster: HTTP_CLUSTER, reply: { status: 503, body: 'no healthy upstream', flag: 'UH' } },
  },
  {
    name: 'service with no endpoints at all → 503 UH local reply',
    dest: serviceDest('grpc', []),
    downstream: 'h2c',
    kind: 'http',
    expected: { ok: false, cluster: HTTP_CLUSTER, reply: { status: 503, body: 'no healthy upstream', flag: 'UH' } },
  },
  {
    name: 'tcp service with no ready endpoint → 503 UH on the tcp cluster',
    dest: serviceDest('tcp', [], 5432),
    downstream: 'http1',
    kind: 'tcp',
    expected: { ok: false, cluster: 'inbound-vip|5432|tcp|reviews.default.svc.cluster.local', reply: { status: 503, body: 'no healthy upstream', flag: 'UH' } },
  },
];

describe('decideDefaultRoute', () => {
  it.each(rows)('$name', ({ dest, downstream, kind, expected }) => {
    const rr = new RoundRobinState();
    const decision = kind === undefined ? decideDefaultRoute(dest, downstream, rr) : decideDefaultRoute(dest, downstream, rr, kind);
    expect(decision).toStrictEqual(expected);
  });

  it('no-healthy-upstream reply is the shared LOCAL_REPLIES entry', () => {
    const d = decideDefaultRoute(serviceDest('http', []), 'http1', new RoundRobinState());
    expect(d.ok === false && d.reply).toBe(LOCAL_REPLIES.noHealthyUpstream);
  });

  it('round-robins a service over its ready endpoints across calls', () => {
    const rr = new RoundRobinState();
    const dest = serviceDest('http', [ready(podA), notReady(podB), ready(podC)]);
    const ips = Array.from({ length: 6 }, () => {
      const d = decideDefaultRoute(dest, 'http1', rr);
      return d.ok ? d.endpoint.ip : '-';
    });
    expect(ips).toStrictEqual(['127.244.0.1', '127.244.0.3', '127.244.0.1', '127.244.0.3', '127.244.0.1', '127.244.0.3']);
  });

  it('keeps separate round-robin counters for the http and tcp clusters of one port', () => {
    const rr = new RoundRobinState();
    const dest = serviceDest('unknown', [ready(podA), ready(podB)]);
    const pick = (kind: 'http' | 'tcp'): string => {
      const d = decideDefaultRoute(dest, 'http1', rr, kind);
      return d.ok ? `${d.cluster} ${d.endpoint.ip}` : '-';
    };
    expect([pick('http'), pick('http'), pick('tcp'), pick('http'), pick('tcp')]).toStrictEqual([
      'inbound-vip|9080|http|reviews.default.svc.cluster.local 127.244.0.1',
      'inbound-vip|9080|http|reviews.default.svc.cluster.local 127.244.0.2',
      'inbound-vip|9080|tcp|reviews.default.svc.cluster.local 127.244.0.1',
      'inbound-vip|9080|http|reviews.default.svc.cluster.local 127.244.0.1',
      'inbound-vip|9080|tcp|reviews.default.svc.cluster.local 127.244.0.2',
    ]);
  });

  it('workload routing does not consume a round-robin turn', () => {
    const rr = new RoundRobinState();
    decideDefaultRoute(workloadDest(podA, 8080), 'http1', rr);
    decideDefaultRoute(workloadDest(podA, 8080), 'http1', rr);
    expect(rr.pick('encap', [ready(podA), ready(podB)])).toStrictEqual(ready(podA));
  });
});
