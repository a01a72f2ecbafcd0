import { describe, expect, it } from 'vitest';
import type { ServiceInfo, WorkloadInfo } from '../../../src/config/types.js';
import {
  HTTP_LABEL_NAMES,
  PEER_LABEL_NAMES,
  PeerLabelCache,
  TCP_LABEL_NAMES,
  connectionSecurityPolicy,
  destinationLabels,
  grpcResponseStatus,
  httpLabels,
  isGrpcContentType,
  peerLabels,
  principalNamespace,
  requestProtocol,
  responseCodeLabel,
  sourceLabels,
  tcpLabels,
  type DestinationLabels,
  type HeaderBag,
  type PeerInput,
  type SourceLabels,
} from '../../../src/metrics/labels.js';

const CLUSTER = 'Kubernetes';

function workload(
  name: string,
  o: { ns?: string; sa?: string; canonical?: string; revision?: string; identity?: string | null; workloadName?: string } = {},
): WorkloadInfo {
  const ns = o.ns ?? 'default';
  const sa = o.sa ?? name;
  return {
    uid: `Pod/${ns}/${name}-abc12`,
    kind: 'Pod',
    name: `${name}-abc12`,
    namespace: ns,
    ip: '127.40.0.1',
    labels: {},
    serviceAccount: sa,
    identity: o.identity === null ? undefined : (o.identity ?? `spiffe://cluster.local/ns/${ns}/sa/${sa}`),
    workloadName: o.workloadName ?? name,
    canonicalService: o.canonical ?? name,
    canonicalRevision: o.revision ?? 'latest',
    ready: true,
    namedPorts: new Map(),
  };
}

function service(name: string, ns = 'default', o: { serviceName?: string } = {}): ServiceInfo {
  return {
    name: o.serviceName ?? name,
    namespace: ns,
    hostname: `${name}.${ns}.svc.cluster.local`,
    vips: ['127.96.0.10'],
    ports: [],
    selector: undefined,
    labels: {},
    bound: true,
    bindingReason: 'test',
  };
}

const sleep = workload('sleep');
const reviews = workload('reviews-v1', { sa: 'bookinfo-reviews', canonical: 'reviews', revision: 'v1' });
const SLEEP_SPIFFE = 'spiffe://cluster.local/ns/default/sa/sleep';

describe('sourceLabels', () => {
  const cases: Array<{ name: string; workload: WorkloadInfo | undefined; principal: string | undefined; clusterId?: string; want: SourceLabels }> = [
    {
      name: 'known source: everything from the workload, namespace from the principal',
      workload: sleep,
      principal: SLEEP_SPIFFE,
      want: {
        source_workload: 'sleep',
        source_canonical_service: 'sleep',
        source_canonical_revision: 'latest',
        source_workload_namespace: 'default',
        source_principal: SLEEP_SPIFFE,
        source_app: 'sleep',
        source_version: 'latest',
        source_cluster: 'Kubernetes',
      },
    },
    {
      name: 'unknown source with a certificate: defaults, revision latest, namespace from the principal',
      workload: undefined,
      principal: 'spiffe://cluster.local/ns/other/sa/client',
      want: {
        source_workload: 'unknown',
        source_canonical_service: 'unknown',
        source_canonical_revision: 'latest',
        source_workload_namespace: 'other',
        source_principal: 'spiffe://cluster.local/ns/other/sa/client',
        source_app: 'unknown',
        source_version: 'unknown',
        source_cluster: 'unknown',
      },
    },
    {
      name: 'unknown source without a certificate: all unknown but the revision',
      workload: undefined,
      principal: undefined,
      want: {
        source_workload: 'unknown',
        source_canonical_service: 'unknown',
        source_canonical_revision: 'latest',
        source_workload_namespace: 'unknown',
        source_principal: 'unknown',
        source_app: 'unknown',
        source_version: 'unknown',
        source_cluster: 'unknown',
      },
    },
    {
      name: "principal namespace beats the workload's namespace",
      workload: workload('sleep', { ns: 'foo' }),
      principal: 'spiffe://cluster.local/ns/bar/sa/sleep',
      want: {
        source_workload: 'sleep',
        source_canonical_service: 'sleep',
        source_canonical_revision: 'latest',
        source_workload_namespace: 'bar',
        source_principal: 'spiffe://cluster.local/ns/bar/sa/sleep',
        source_app: 'sleep',
        source_version: 'latest',
        source_cluster: 'Kubernetes',
      },
    },
    {
      name: "principal without /ns/ falls back to the workload's namespace",
      workload: workload('sleep', { ns: 'foo', revision: 'v2' }),
      principal: 'spiffe://example.org/custom-id',
      want: {
        source_workload: 'sleep',
        source_canonical_service: 'sleep',
        source_canonical_revision: 'v2',
        source_workload_namespace: 'foo',
        source_principal: 'spiffe://example.org/custom-id',
        source_app: 'sleep',
        source_version: 'v2',
        source_cluster: 'Kubernetes',
      },
    },
    {
      name: 'empty principal counts as none; empty workload name is unknown; empty cluster id is unknown',
      workload: workload('x', { ns: 'foo', workloadName: '' }),
      principal: '',
      clusterId: '',
      want: {
        source_workload: 'unknown',
        source_canonical_service: 'x',
        source_canonical_revision: 'latest',
        source_workload_namespace: 'foo',
        source_principal: 'unknown',
        source_app: 'x',
        source_version: 'latest',
        source_cluster: 'unknown',
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = sourceLabels(c.workload, c.principal, c.clusterId ?? CLUSTER);
      expect(got).toEqual(c.want);
      expect(Object.keys(got)).toEqual(PEER_LABEL_NAMES.slice(1, 9));
    });
  }
});

describe('destinationLabels', () => {
  const cases: Array<{ name: string; workload: WorkloadInfo | undefined; service: ServiceInfo | undefined; want: DestinationLabels }> = [
    {
      name: 'endpoint workload and Service known',
      workload: reviews,
      service: service('reviews'),
      want: {
        destination_workload: 'reviews-v1',
        destination_workload_namespace: 'default',
        destination_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
        destination_app: 'reviews',
        destination_version: 'v1',
        destination_service: 'reviews.default.svc.cluster.local',
        destination_canonical_service: 'reviews',
        destination_canonical_revision: 'v1',
        destination_service_name: 'reviews',
        destination_service_namespace: 'default',
        destination_cluster: 'Kubernetes',
      },
    },
    {
      name: 'workload-addressed (encap) traffic: destination_service* unknown',
      workload: reviews,
      service: undefined,
      want: {
        destination_workload: 'reviews-v1',
        destination_workload_namespace: 'default',
        destination_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
        destination_app: 'reviews',
        destination_version: 'v1',
        destination_service: 'unknown',
        destination_canonical_service: 'reviews',
        destination_canonical_revision: 'v1',
        destination_service_name: 'unknown',
        destination_service_namespace: 'unknown',
        destination_cluster: 'Kubernetes',
      },
    },
    {
      name: 'no endpoint workload: canonical revision defaults to unknown, not latest',
      workload: undefined,
      service: service('reviews', 'bookinfo'),
      want: {
        destination_workload: 'unknown',
        destination_workload_namespace: 'unknown',
        destination_principal: 'unknown',
        destination_app: 'unknown',
        destination_version: 'unknown',
        destination_service: 'reviews.bookinfo.svc.cluster.local',
        destination_canonical_service: 'unknown',
        destination_canonical_revision: 'unknown',
        destination_service_name: 'reviews',
        destination_service_namespace: 'bookinfo',
        destination_cluster: 'unknown',
      },
    },
    {
      name: 'workload without a configured identity: principal unknown (never the TLS peer)',
      workload: workload('legacy', { identity: null }),
      service: service('legacy', 'default', { serviceName: '' }),
      want: {
        destination_workload: 'legacy',
        destination_workload_namespace: 'default',
        destination_principal: 'unknown',
        destination_app: 'legacy',
        destination_version: 'latest',
        destination_service: 'legacy.default.svc.cluster.local',
        destination_canonical_service: 'legacy',
        destination_canonical_revision: 'latest',
        destination_service_name: 'legacy',
        destination_service_namespace: 'default',
        destination_cluster: 'Kubernetes',
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = destinationLabels(c.workload, c.service, CLUSTER);
      expect(got).toEqual(c.want);
      expect(Object.keys(got)).toEqual(PEER_LABEL_NAMES.slice(9));
    });
  }
});

describe('label order', () => {
  const input: PeerInput = { sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: reviews, destinationService: service('reviews') };
  it('peer labels: reporter=waypoint then the 19 peer labels in emission order', () => {
    const peer = peerLabels(input, CLUSTER);
    expect(Object.keys(peer)).toEqual([...PEER_LABEL_NAMES]);
    expect(peer.reporter).toBe('waypoint');
  });
  it('HTTP labels: all 25 in emission order', () => {
    const l = httpLabels(peerLabels(input, CLUSTER), { protocol: 'http', responseCode: '200', grpcResponseStatus: '', responseFlags: '-', connectionSecurityPolicy: 'mutual_tls' });
    expect(Object.keys(l)).toEqual([...HTTP_LABEL_NAMES]);
    expect(HTTP_LABEL_NAMES).toHaveLength(25);
  });
  it('TCP labels: 23, without response_code and grpc_response_status', () => {
    const l = tcpLabels(peerLabels(input, CLUSTER), { responseFlags: '-', connectionSecurityPolicy: 'mutual_tls' });
    expect(Object.keys(l)).toEqual([...TCP_LABEL_NAMES]);
    expect(TCP_LABEL_NAMES).toHaveLength(23);
    expect(l.request_protocol).toBe('tcp');
    expect(TCP_LABEL_NAMES).not.toContain('response_code');
    expect(TCP_LABEL_NAMES).not.toContain('grpc_response_status');
  });
});

describe('principalNamespace', () => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ['standard SPIFFE id', 'spiffe://cluster.local/ns/default/sa/sleep', 'default'],
    ['other trust domain', 'spiffe://example.org/ns/prod/sa/api', 'prod'],
    ['namespace at the end', 'spiffe://td/ns/tail', 'tail'],
    ['empty namespace segment', 'spiffe://td/ns//sa/x', undefined],
    ['no /ns/ segment', 'spiffe://td/workload/x', undefined],
    ['no principal', undefined, undefined],
  ];
  for (const [name, principal, want] of cases) it(name, () => expect(principalNamespace(principal)).toBe(want));
});

describe('request protocol (gRPC detection, Envoy hasGrpcContentType)', () => {
  const cases: Array<[string | undefined, 'http' | 'grpc']> = [
    ['application/grpc', 'grpc'],
    ['application/grpc+proto', 'grpc'],
    ['application/grpc+json', 'grpc'],
    ['application/grpc-web', 'http'],
    ['application/grpc-web+proto', 'http'],
    ['application/grpc; charset=utf-8', 'http'],
    ['Application/gRPC', 'http'],
    ['application/json', 'http'],
    [undefined, 'http'],
  ];
  for (const [ct, want] of cases) {
    it(`${ct ?? '(no content-type)'} → ${want}`, () => {
      expect(requestProtocol(ct)).toBe(want);
      expect(isGrpcContentType(ct)).toBe(want === 'grpc');
    });
  }
});

describe('grpcResponseStatus', () => {
  const cases: Array<{ name: string; grpc: boolean; code: number | undefined; headers?: HeaderBag; trailers?: HeaderBag; want: string }> = [
    { name: 'not gRPC: empty even with a grpc-status', grpc: false, code: 200, trailers: { 'grpc-status': '5' }, want: '' },
    { name: 'from the trailers', grpc: true, code: 200, trailers: { 'grpc-status': '0' }, want: '0' },
    { name: 'trailers win over headers', grpc: true, code: 200, headers: { 'grpc-status': '14' }, trailers: { 'grpc-status': '5' }, want: '5' },
    { name: 'trailers-only response: from the headers', grpc: true, code: 200, headers: { 'grpc-status': '7' }, want: '7' },
    { name: 'empty trailer value falls through to the headers', grpc: true, code: 200, headers: { 'grpc-status': '3' }, trailers: { 'grpc-status': '' }, want: '3' },
    { name: 'numeric and list header values', grpc: true, code: 200, trailers: { 'grpc-status': ['4', '9'] }, want: '4' },
    { name: 'number header value', grpc: true, code: 200, trailers: { 'grpc-status': 12 }, want: '12' },
    { name: 'absent, HTTP 200: mapped from the status (UNKNOWN)', grpc: true, code: 200, want: '2' },
    { name: 'absent, local 503: UNAVAILABLE', grpc: true, code: 503, want: '14' },
    { name: 'absent, local 404: UNIMPLEMENTED', grpc: true, code: 404, want: '12' },
    { name: 'no response at all: empty', grpc: true, code: undefined, want: '' },
    { name: 'response code 0 counts as no response', grpc: true, code: 0, want: '' },
    { name: 'not a number: InvalidCode -1', grpc: true, code: 200, trailers: { 'grpc-status': 'abc' }, want: '-1' },
    { name: 'above 16: InvalidCode -1', grpc: true, code: 200, trailers: { 'grpc-status': '17' }, want: '-1' },
  ];
  for (const c of cases) it(c.name, () => expect(grpcResponseStatus(c.grpc, c.code, c.headers, c.trailers)).toBe(c.want));
});

describe('response code and security policy', () => {
  const codes: Array<[number | undefined, string]> = [
    [undefined, '0'],
    [0, '0'],
    [200, '200'],
    [503, '503'],
  ];
  for (const [code, want] of codes) it(`response_code for ${String(code)} → ${want}`, () => expect(responseCodeLabel(code)).toBe(want));
  const policies: Array<[string | undefined, string]> = [
    [SLEEP_SPIFFE, 'mutual_tls'],
    ['', 'none'],
    [undefined, 'none'],
  ];
  for (const [p, want] of policies) it(`connection_security_policy for ${JSON.stringify(p)} → ${want}`, () => expect(connectionSecurityPolicy(p)).toBe(want));
});

describe('PeerLabelCache', () => {
  it('returns the same entry for the same (source, principal, destination, service) objects', () => {
    let built = 0;
    const cache = new PeerLabelCache(CLUSTER, (peer) => ({ peer, n: ++built }));
    const svc = service('reviews');
    const a = cache.get({ sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: reviews, destinationService: svc });
    const b = cache.get({ sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: reviews, destinationService: svc });
    expect(b).toBe(a);
    expect(built).toBe(1);
    expect(a.peer.labels.destination_service).toBe('reviews.default.svc.cluster.local');
    expect(a.peer.connectionSecurityPolicy).toBe('mutual_tls');

    const other = cache.get({ sourceWorkload: sleep, sourcePrincipal: undefined, destinationWorkload: reviews, destinationService: svc });
    expect(other).not.toBe(a);
    expect(other.peer.connectionSecurityPolicy).toBe('none');
    const encap = cache.get({ sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: reviews, destinationService: undefined });
    expect(encap.peer.labels.destination_service).toBe('unknown');
    expect(built).toBe(3);

    cache.clear();
    const again = cache.get({ sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: reviews, destinationService: svc });
    expect(again).not.toBe(a);
    expect(again.peer.key).toBe(a.peer.key);
  });

  it('keys equal label values equally, whatever the objects', () => {
    const cache = new PeerLabelCache(CLUSTER, (peer) => peer);
    const podA = workload('reviews-v1', { sa: 'bookinfo-reviews', canonical: 'reviews', revision: 'v1' });
    const podB = { ...podA, uid: 'Pod/default/reviews-v1-zzz', name: 'reviews-v1-zzz', ip: '127.40.0.2' };
    const a = cache.get({ sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: podA, destinationService: undefined });
    const b = cache.get({ sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: podB, destinationService: undefined });
    expect(b).not.toBe(a);
    expect(b.key).toBe(a.key);
    expect(b.destinationKey).toBe(a.destinationKey);
  });
});
