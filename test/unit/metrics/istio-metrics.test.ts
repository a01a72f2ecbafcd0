import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServiceInfo, WorkloadInfo } from '../../../src/config/types.js';
import { ENVOY_DEFAULT_BUCKETS, IstioMetrics, TcpReporter, type HttpTelemetry, type TcpTelemetryLabels } from '../../../src/metrics/istio-metrics.js';
import { HTTP_LABEL_NAMES } from '../../../src/metrics/labels.js';
import { NO_RESPONSE_FLAGS, responseFlags } from '../../../src/metrics/response-flags.js';

function workload(name: string, o: { ns?: string; sa?: string; canonical?: string; revision?: string; pod?: string } = {}): WorkloadInfo {
  const ns = o.ns ?? 'default';
  const sa = o.sa ?? name;
  const pod = o.pod ?? `${name}-7d9f8-abc12`;
  return {
    uid: `Pod/${ns}/${pod}`,
    kind: 'Pod',
    name: pod,
    namespace: ns,
    ip: '127.40.0.1',
    labels: {},
    serviceAccount: sa,
    identity: `spiffe://cluster.local/ns/${ns}/sa/${sa}`,
    workloadName: name,
    canonicalService: o.canonical ?? name,
    canonicalRevision: o.revision ?? 'latest',
    ready: true,
    namedPorts: new Map(),
  };
}

function service(name: string, ns = 'default'): ServiceInfo {
  return {
    name,
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

const SLEEP_SPIFFE = 'spiffe://cluster.local/ns/default/sa/sleep';
const sleep = workload('sleep');
const reviews = workload('reviews-v1', { sa: 'bookinfo-reviews', canonical: 'reviews', revision: 'v1' });
const ratings = workload('ratings-v1', { sa: 'bookinfo-ratings', canonical: 'ratings', revision: 'v1' });
const db = workload('db-v1', { sa: 'db', canonical: 'db', revision: 'v1' });
const reviewsSvc = service('reviews');
const ratingsSvc = service('ratings');
const dbSvc = service('db');

function http(over: Partial<HttpTelemetry> = {}): HttpTelemetry {
  return {
    sourceWorkload: sleep,
    sourcePrincipal: SLEEP_SPIFFE,
    destinationWorkload: reviews,
    destinationService: reviewsSvc,
    requestContentType: undefined,
    responseCode: 200,
    responseFlags: NO_RESPONSE_FLAGS,
    durationMs: 12,
    requestBytes: 80,
    responseBytes: 300,
    ...over,
  };
}

function tcp(over: Partial<TcpTelemetryLabels> = {}): TcpTelemetryLabels {
  return { sourceWorkload: sleep, sourcePrincipal: SLEEP_SPIFFE, destinationWorkload: db, destinationService: dbSvc, responseFlags: NO_RESPONSE_FLAGS, ...over };
}

function setup(opts: { idleExpiryMs?: number; now?: () => number } = {}): { registry: Registry; metrics: IstioMetrics } {
  const registry = new Registry();
  const metrics = new IstioMetrics(registry, { clusterId: 'Kubernetes', ...opts });
  return { registry, metrics };
}

async function scrape(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n');
}

/** Sample lines of one metric (name followed by `{`), optionally only those containing `needle`. */
function samples(lines: string[], name: string, needle = ''): string[] {
  return lines.filter((l) => l.startsWith(`${name}{`) && l.includes(needle));
}

// An istio_requests_total line as a waypoint reports it, written out by hand.
const SPEC_EXAMPLE_LINE =
  'istio_requests_total{reporter="waypoint",source_workload="sleep",source_canonical_service="sleep",source_canonical_revision="latest",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/sleep",source_app="sleep",source_version="latest",source_cluster="Kubernetes",destination_workload="reviews-v1",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version="v1",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v1",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"} 7';

const SERIES_LABELS =
  'reporter="waypoint",source_workload="sleep",source_canonical_service="sleep",source_canonical_revision="latest",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/sleep",source_app="sleep",source_version="latest",source_cluster="Kubernetes",destination_workload="reviews-v1",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version="v1",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v1",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"';

const TCP_LABELS =
  'reporter="waypoint",source_workload="sleep",source_canonical_service="sleep",source_canonical_revision="latest",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/sleep",source_app="sleep",source_version="latest",source_cluster="Kubernetes",destination_workload="db-v1",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/db",destination_app="db",destination_version="v1",destination_service="db.default.svc.cluster.local",destination_canonical_service="db",destination_canonical_revision="v1",destination_service_name="db",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="tcp",response_flags="-",connection_security_policy="mutual_tls"';

describe('IstioMetrics: HTTP exposition', () => {
  it("prints the spec's example line byte for byte (25 labels in emission order)", async () => {
    const { registry, metrics } = setup();
    for (let i = 0; i < 7; i++) metrics.recordHttp(http());
    const lines = await scrape(registry);
    expect(samples(lines, 'istio_requests_total')).toEqual([SPEC_EXAMPLE_LINE]);
    expect(SPEC_EXAMPLE_LINE).toBe(`istio_requests_total{${SERIES_LABELS}} 7`);
    expect(lines).toContain('# TYPE istio_requests_total counter');
    expect(lines).toContain('# TYPE istio_request_duration_milliseconds histogram');
    expect(lines).toContain('# TYPE istio_request_bytes histogram');
    expect(lines).toContain('# TYPE istio_response_bytes histogram');
    expect(lines.some((l) => l.startsWith('# HELP istio_requests_total '))).toBe(true);
  });

  const cases: Array<{ name: string; t: HttpTelemetry; want: string }> = [
    {
      name: 'gRPC call with a non-zero grpc-status in the trailers',
      t: http({ requestContentType: 'application/grpc', responseTrailers: { 'grpc-status': '5' }, responseHeaders: { 'content-type': 'application/grpc' } }),
      want: SERIES_LABELS.replace('request_protocol="http"', 'request_protocol="grpc"').replace('grpc_response_status=""', 'grpc_response_status="5"'),
    },
    {
      name: '404 NR with no chosen endpoint or Service',
      t: http({ destinationWorkload: undefined, destinationService: undefined, responseCode: 404, responseFlags: responseFlags('NR') }),
      want:
        'reporter="waypoint",source_workload="sleep",source_canonical_service="sleep",source_canonical_revision="latest",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/sleep",source_app="sleep",source_version="latest",source_cluster="Kubernetes",destination_workload="unknown",destination_workload_namespace="unknown",destination_principal="unknown",destination_app="unknown",destination_version="unknown",destination_service="unknown",destination_canonical_service="unknown",destination_canonical_revision="unknown",destination_service_name="unknown",destination_service_namespace="unknown",destination_cluster="unknown",request_protocol="http",response_code="404",grpc_response_status="",response_flags="NR",connection_security_policy="mutual_tls"',
    },
    {
      name: 'downstream gone before any response: response_code 0, DC',
      t: http({ responseCode: undefined, responseFlags: responseFlags('DC') }),
      want: SERIES_LABELS.replace('response_code="200"', 'response_code="0"').replace('response_flags="-"', 'response_flags="DC"'),
    },
    {
      name: '503 UF to a pod-IP destination (encap: destination_service unknown)',
      t: http({ destinationService: undefined, responseCode: 503, responseFlags: responseFlags('UF') }),
      want: SERIES_LABELS.replace('destination_service="reviews.default.svc.cluster.local"', 'destination_service="unknown"')
        .replace('destination_service_name="reviews"', 'destination_service_name="unknown"')
        .replace('destination_service_namespace="default"', 'destination_service_namespace="unknown"')
        .replace('response_code="200"', 'response_code="503"')
        .replace('response_flags="-"', 'response_flags="UF"'),
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { registry, metrics } = setup();
      metrics.recordHttp(c.t);
      expect(samples(await scrape(registry), 'istio_requests_total')).toEqual([`istio_requests_total{${c.want}} 1`]);
    });
  }

  it('pods of one Deployment share a series (no duplicate lines)', async () => {
    const { registry, metrics } = setup();
    const other = workload('reviews-v1', { sa: 'bookinfo-reviews', canonical: 'reviews', revision: 'v1', pod: 'reviews-v1-7d9f8-zzz99' });
    metrics.recordHttp(http());
    metrics.recordHttp(http({ destinationWorkload: other }));
    expect(samples(await scrape(registry), 'istio_requests_total')).toEqual([`istio_requests_total{${SERIES_LABELS}} 2`]);
    expect(metrics.seriesCount.http).toBe(1);
  });

  it('histograms: every Envoy default bucket, le last and printed as Envoy does, then _sum and _count', async () => {
    const { registry, metrics } = setup();
    for (const ms of [0.4, 3.9, 7, 120, 4_000_000]) metrics.recordHttp(http({ durationMs: ms }));
    const lines = await scrape(registry);
    const buckets = samples(lines, 'istio_request_duration_milliseconds_bucket');
    const wantLe = ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '300000', '600000', '1800000', '3600000', '+Inf'];
    expect(ENVOY_DEFAULT_BUCKETS.map(String)).toEqual(wantLe.slice(0, -1));
    // Whole-ms samples: 0, 3, 7, 120, 4000000.
    const wantCounts = [1, 1, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5];
    expect(buckets).toEqual(wantLe.map((le, i) => `istio_request_duration_milliseconds_bucket{${SERIES_LABELS},le="${le}"} ${wantCounts[i]}`));
    expect(samples(lines, 'istio_request_duration_milliseconds_sum')).toEqual([`istio_request_duration_milliseconds_sum{${SERIES_LABELS}} 4000130`]);
    expect(samples(lines, 'istio_request_duration_milliseconds_count')).toEqual([`istio_request_duration_milliseconds_count{${SERIES_LABELS}} 5`]);
    expect(samples(lines, 'istio_request_bytes_bucket', 'le="100"')).toEqual([`istio_request_bytes_bucket{${SERIES_LABELS},le="100"} 5`]);
    expect(samples(lines, 'istio_response_bytes_sum')).toEqual([`istio_response_bytes_sum{${SERIES_LABELS}} 1500`]);
  });

  it('JSON view carries the same labels', async () => {
    const { registry, metrics } = setup();
    metrics.recordHttp(http());
    const json = await registry.getMetricsAsJSON();
    const requests = json.find((m) => m.name === 'istio_requests_total');
    expect(requests?.values).toHaveLength(1);
    expect(Object.keys(requests?.values[0]?.labels ?? {})).toEqual([...HTTP_LABEL_NAMES]);
  });
});

describe('IstioMetrics: TCP exposition', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('one connection with bytes both ways: opened at the first 5 s tick, deltas every tick and at close', async () => {
    const { registry, metrics } = setup();
    let received = 0;
    let sent = 0;
    const reporter = new TcpReporter(metrics, { labels: tcp(), bytesReceived: () => received, bytesSent: () => sent });
    received = 100;
    vi.advanceTimersByTime(4999);
    let lines = await scrape(registry);
    expect(samples(lines, 'istio_tcp_connections_opened_total')).toEqual([]);

    vi.advanceTimersByTime(1);
    lines = await scrape(registry);
    expect(samples(lines, 'istio_tcp_connections_opened_total')).toEqual([`istio_tcp_connections_opened_total{${TCP_LABELS}} 1`]);
    expect(samples(lines, 'istio_tcp_received_bytes_total')).toEqual([`istio_tcp_received_bytes_total{${TCP_LABELS}} 100`]);
    expect(samples(lines, 'istio_tcp_sent_bytes_total')).toEqual([`istio_tcp_sent_bytes_total{${TCP_LABELS}} 0`]);
    expect(samples(lines, 'istio_tcp_connections_closed_total')).toEqual([]);

    sent = 250;
    received = 130;
    reporter.close();
    reporter.close();
    lines = await scrape(registry);
    expect(samples(lines, 'istio_tcp_connections_opened_total')).toEqual([`istio_tcp_connections_opened_total{${TCP_LABELS}} 1`]);
    expect(samples(lines, 'istio_tcp_connections_closed_total')).toEqual([`istio_tcp_connections_closed_total{${TCP_LABELS}} 1`]);
    expect(samples(lines, 'istio_tcp_sent_bytes_total')).toEqual([`istio_tcp_sent_bytes_total{${TCP_LABELS}} 250`]);
    expect(samples(lines, 'istio_tcp_received_bytes_total')).toEqual([`istio_tcp_received_bytes_total{${TCP_LABELS}} 130`]);
    expect(lines).toContain('# TYPE istio_tcp_sent_bytes_total counter');
  });

  it('a connection closed before the first tick reports open, bytes and close at once, with the flags known at close', async () => {
    const { registry, metrics } = setup();
    let flags = NO_RESPONSE_FLAGS;
    let calls = 0;
    const reporter = new TcpReporter(metrics, {
      labels: () => {
        calls++;
        return tcp({ responseFlags: flags });
      },
      bytesReceived: () => 12,
      bytesSent: () => 0,
    });
    vi.advanceTimersByTime(1000);
    flags = responseFlags('UF');
    reporter.close();
    vi.advanceTimersByTime(20_000);
    expect(calls).toBe(1);
    const lines = await scrape(registry);
    const uf = TCP_LABELS.replace('response_flags="-"', 'response_flags="UF"');
    expect(samples(lines, 'istio_tcp_connections_opened_total')).toEqual([`istio_tcp_connections_opened_total{${uf}} 1`]);
    expect(samples(lines, 'istio_tcp_connections_closed_total')).toEqual([`istio_tcp_connections_closed_total{${uf}} 1`]);
    expect(samples(lines, 'istio_tcp_received_bytes_total')).toEqual([`istio_tcp_received_bytes_total{${uf}} 12`]);
  });

  it('labels are fixed at the first report: a flag set after the first tick does not move the series', async () => {
    const { registry, metrics } = setup();
    let flags = NO_RESPONSE_FLAGS;
    const reporter = new TcpReporter(metrics, { labels: () => tcp({ responseFlags: flags }), bytesReceived: () => 1, bytesSent: () => 1 });
    vi.advanceTimersByTime(5000);
    flags = responseFlags('UC');
    reporter.close();
    const lines = await scrape(registry);
    expect(samples(lines, 'istio_tcp_connections_closed_total')).toEqual([`istio_tcp_connections_closed_total{${TCP_LABELS}} 1`]);
  });

  it('a configurable interval; 0 reports only at close', async () => {
    const { registry, metrics } = setup();
    let received = 0;
    const fast = new TcpReporter(metrics, { labels: tcp(), bytesReceived: () => received, bytesSent: () => 0, intervalMs: 100 });
    received = 10;
    vi.advanceTimersByTime(100);
    received = 25;
    vi.advanceTimersByTime(100);
    expect(samples(await scrape(registry), 'istio_tcp_received_bytes_total')).toEqual([`istio_tcp_received_bytes_total{${TCP_LABELS}} 25`]);
    fast.close();

    const { registry: r2, metrics: m2 } = setup();
    const quiet = new TcpReporter(m2, { labels: tcp(), bytesReceived: () => 5, bytesSent: () => 6, intervalMs: 0 });
    vi.advanceTimersByTime(60_000);
    expect(quiet.opened).toBe(false);
    expect(samples(await scrape(r2), 'istio_tcp_connections_opened_total')).toEqual([]);
    quiet.close();
    expect(samples(await scrape(r2), 'istio_tcp_sent_bytes_total')).toEqual([`istio_tcp_sent_bytes_total{${TCP_LABELS}} 6`]);
  });
});

describe('TcpReporter with real timers', () => {
  it('reports on a short interval (bounded wait)', async () => {
    const { registry, metrics } = setup();
    const reporter = new TcpReporter(metrics, { labels: tcp(), bytesReceived: () => 7, bytesSent: () => 9, intervalMs: 10 });
    await vi.waitFor(() => expect(reporter.opened).toBe(true), { timeout: 2000, interval: 5 });
    expect(samples(await scrape(registry), 'istio_tcp_sent_bytes_total')).toEqual([`istio_tcp_sent_bytes_total{${TCP_LABELS}} 9`]);
    reporter.close();
    expect(reporter.closed).toBe(true);
  });

  it('its timer does not keep the process alive (unref)', () => {
    const { metrics } = setup();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const reporter = new TcpReporter(metrics, { labels: tcp(), bytesReceived: () => 0, bytesSent: () => 0 });
    expect(timers()).toBe(before);
    reporter.close();
  });
});

describe('IstioMetrics: series expiry', () => {
  it("retainWorkloads removes a vanished workload's series and keeps the others", async () => {
    const { registry, metrics } = setup();
    metrics.recordHttp(http());
    metrics.recordHttp(http({ destinationWorkload: ratings, destinationService: ratingsSvc }));
    expect(metrics.retainWorkloads([sleep, ratings])).toBe(1);
    let lines = await scrape(registry);
    expect(samples(lines, 'istio_requests_total', 'reviews')).toEqual([]);
    expect(samples(lines, 'istio_request_duration_milliseconds_bucket', 'reviews')).toEqual([]);
    expect(samples(lines, 'istio_requests_total', 'destination_workload="ratings-v1"')).toHaveLength(1);

    // It comes back, from zero, if the workload does.
    metrics.recordHttp(http());
    lines = await scrape(registry);
    expect(samples(lines, 'istio_requests_total', 'reviews')).toEqual([`istio_requests_total{${SERIES_LABELS}} 1`]);
  });

  it('a vanished source workload removes its series too', async () => {
    const { registry, metrics } = setup();
    metrics.recordHttp(http());
    expect(metrics.retainWorkloads([reviews])).toBe(1);
    expect(samples(await scrape(registry), 'istio_requests_total')).toEqual([]);
  });

  it('a replaced pod of the same Deployment keeps the series', async () => {
    const { registry, metrics } = setup();
    metrics.recordHttp(http());
    const newPod = workload('reviews-v1', { sa: 'bookinfo-reviews', canonical: 'reviews', revision: 'v1', pod: 'reviews-v1-5c6d7-new01' });
    expect(metrics.retainWorkloads([sleep, newPod])).toBe(0);
    metrics.recordHttp(http({ destinationWorkload: newPod }));
    expect(samples(await scrape(registry), 'istio_requests_total')).toEqual([`istio_requests_total{${SERIES_LABELS}} 2`]);
  });

  it('series with unknown peers are not tied to workloads', () => {
    const { metrics } = setup();
    metrics.recordHttp(http({ sourceWorkload: undefined, destinationWorkload: undefined }));
    expect(metrics.retainWorkloads([])).toBe(0);
  });

  it('a removed Service removes its series when services are given', () => {
    const { metrics } = setup();
    metrics.recordHttp(http());
    expect(metrics.retainWorkloads([sleep, reviews], [ratingsSvc])).toBe(1);
  });

  it('an open TCP connection keeps its series until it has closed', async () => {
    const { registry, metrics } = setup();
    metrics.tcpOpened(tcp());
    metrics.tcpBytes(tcp(), 5, 3);
    expect(metrics.retainWorkloads([sleep])).toBe(0);
    metrics.tcpClosed(tcp());
    expect(samples(await scrape(registry), 'istio_tcp_connections_closed_total')).toEqual([`istio_tcp_connections_closed_total{${TCP_LABELS}} 1`]);
    expect(metrics.retainWorkloads([sleep])).toBe(1);
    expect(samples(await scrape(registry), 'istio_tcp_connections_opened_total')).toEqual([]);
    expect(metrics.seriesCount).toEqual({ http: 0, tcp: 0 });
  });

  it('sweepIdle removes series idle for longer than the limit', () => {
    let now = 0;
    const { metrics } = setup({ now: () => now });
    metrics.recordHttp(http());
    now = 1000;
    metrics.recordHttp(http({ destinationWorkload: ratings, destinationService: ratingsSvc }));
    metrics.tcpOpened(tcp());
    now = 1200;
    expect(metrics.sweepIdle(500)).toBe(1);
    expect(metrics.seriesCount).toEqual({ http: 1, tcp: 1 });
    now = 10_000;
    expect(metrics.sweepIdle(500)).toBe(1); // the HTTP one; the TCP connection is still open
    expect(metrics.seriesCount).toEqual({ http: 0, tcp: 1 });
  });

  it('idleExpiryMs runs the sweep on an unref timer', () => {
    vi.useFakeTimers();
    try {
      const { metrics } = setup({ idleExpiryMs: 1000 });
      metrics.recordHttp(http());
      vi.advanceTimersByTime(999);
      expect(metrics.seriesCount.http).toBe(1);
      vi.advanceTimersByTime(1001);
      expect(metrics.seriesCount.http).toBe(0);
      metrics.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
