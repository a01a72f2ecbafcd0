/**
 * The `istio_*` request and TCP metrics, exported as the Envoy waypoint exports them: the same
 * names, types, label names and order, defaults and histogram buckets.
 *
 * Series live in this module's own tables; thin prom-client metric subclasses render them when the
 * registry is scraped. That keeps the hot path to a few map look-ups on cached label objects (no
 * label-string hashing per request), lets a histogram print `le` last as Envoy does (prom-client
 * prints it first), and makes series removal explicit: `retainWorkloads` after a configuration
 * change and, optionally, an idle sweep.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ServiceInfo, WorkloadInfo } from '../config/types.js';
import {
  HTTP_LABEL_NAMES,
  PeerLabelCache,
  TCP_LABEL_NAMES,
  grpcResponseStatus,
  httpLabels,
  isGrpcContentType,
  responseCodeLabel,
  tcpLabels,
  workloadTelemetryKey,
  type HeaderBag,
  type HttpLabels,
  type PeerInput,
  type PeerLabelSet,
  type TcpLabels,
} from './labels.js';
import { formatResponseFlags, type ResponseFlags } from './response-flags.js';

/** Envoy's default histogram buckets (`histogram_impl.cc` `defaultBuckets`), for ms and bytes alike. */
export const ENVOY_DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/** Envoy's `tcp_reporting_duration` default. */
export const TCP_REPORTING_INTERVAL_MS = 5000;

export const METRIC_HELP = {
  istio_requests_total: 'Incremented for every HTTP or gRPC request handled by the waypoint, when the stream ends.',
  istio_request_duration_milliseconds: 'Duration of requests, in milliseconds.',
  istio_request_bytes: 'Size of requests as received from the downstream (wire bytes, headers included).',
  istio_response_bytes: 'Size of responses as sent to the downstream (wire bytes, headers included).',
  istio_tcp_connections_opened_total: 'Incremented for every opened TCP connection.',
  istio_tcp_connections_closed_total: 'Incremented for every closed TCP connection.',
  istio_tcp_sent_bytes_total: 'Bytes sent to the downstream during the response of TCP connections.',
  istio_tcp_received_bytes_total: 'Bytes received from the downstream during the request of TCP connections.',
} as const;

/** One finished HTTP request or gRPC call. */
export interface HttpTelemetry extends PeerInput {
  /** The request's `content-type` (gRPC detection). */
  requestContentType: string | undefined;
  /** The HTTP status sent downstream; undefined (or 0) when no response was sent. */
  responseCode: number | undefined;
  /** Response headers and trailers: `grpc-status` is read from the trailers, then the headers. */
  responseHeaders?: HeaderBag | undefined;
  responseTrailers?: HeaderBag | undefined;
  /** Envoy's response flags of the request. */
  responseFlags: ResponseFlags;
  /** Stream start to completion; recorded as whole milliseconds (truncated, as Envoy). */
  durationMs: number;
  /** Downstream wire bytes received / sent for this stream, headers included. */
  requestBytes: number;
  responseBytes: number;
}

/** What the labels of one TCP connection are derived from. */
export interface TcpTelemetryLabels extends PeerInput {
  /** Envoy's response flags of the connection. */
  responseFlags: ResponseFlags;
}

export interface IstioMetricsOptions {
  /** `ISTIO_META_CLUSTER_ID` (Istio's default is `Kubernetes`): source/destination_cluster of known workloads. */
  clusterId: string;
  /**
   * Remove series not updated for this long (ms), with a periodic unref'd sweep. Default 0: never
   * (Envoy keeps series; `retainWorkloads` still removes those of vanished workloads).
   */
  idleExpiryMs?: number;
  /** How often the idle sweep runs; default `min(idleExpiryMs, 60 s)`. */
  sweepIntervalMs?: number;
  /** Clock for idle tracking (tests). */
  now?: () => number;
}

interface Hist {
  /** Non-cumulative counts per bucket; the last slot counts values above the largest bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

interface SeriesBase {
  readonly key: string;
  readonly sourceKey: string | undefined;
  readonly destinationKey: string | undefined;
  readonly serviceHost: string | undefined;
  lastUsed: number;
  removed: boolean;
}

interface HttpSeries extends SeriesBase {
  readonly labels: HttpLabels;
  requests: number;
  readonly duration: Hist;
  readonly requestBytes: Hist;
  readonly responseBytes: Hist;
  /** `labels` plus `le`, one per bucket then `+Inf`; built at the first scrape. */
  leLabels: ReadonlyArray<Readonly<Record<string, string>>> | undefined;
}

interface TcpSeries extends SeriesBase {
  readonly labels: TcpLabels;
  /** Undefined until first added to, as an Envoy counter is created on first use. */
  opened: number | undefined;
  closed: number | undefined;
  sent: number | undefined;
  received: number | undefined;
  /** Connections opened and not yet closed: such a series is never removed. */
  active: number;
}

interface PeerEntry {
  readonly peer: PeerLabelSet;
  readonly http: Map<string, HttpSeries>;
  readonly tcp: Map<string, TcpSeries>;
}

interface Row {
  metricName?: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

type CounterData = Awaited<ReturnType<Counter['get']>>;
type HistogramData = Awaited<ReturnType<Histogram['get']>>;

/** A counter whose values come from an external table. */
class TableCounter extends Counter {
  readonly #name: string;
  readonly #help: string;
  readonly #rows: () => Row[];

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[], rows: () => Row[]) {
    super({ name, help, labelNames, registers: [registry] });
    this.#name = name;
    this.#help = help;
    this.#rows = rows;
  }

  override async get(): Promise<CounterData> {
    const data = { name: this.#name, help: this.#help, type: 'counter', aggregator: 'sum', values: this.#rows() };
    // prom-client's typings declare `type` as an enum its runtime does not use (it reads strings).
    return data as unknown as CounterData;
  }
}

/**
 * A histogram whose values come from an external table, with each bucket's labels in series order
 * followed by `le` (Envoy's layout; prom-client's own histogram prints `le` first).
 */
class TableHistogram extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #rows: () => Row[];

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[], rows: () => Row[]) {
    super({ name, help, labelNames, buckets: [...ENVOY_DEFAULT_BUCKETS], registers: [registry] });
    this.#name = name;
    this.#help = help;
    this.#rows = rows;
  }

  /** What the registry's text exposition reads (preferred over `get()` when present). */
  async getForPromString(): Promise<HistogramData> {
    const data = { name: this.#name, help: this.#help, type: 'histogram', aggregator: 'sum', values: this.#rows() };
    return data as unknown as HistogramData;
  }

  override async get(): Promise<HistogramData> {
    return this.getForPromString();
  }
}

function newHist(): Hist {
  return { counts: new Array<number>(ENVOY_DEFAULT_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
}

function observe(h: Hist, value: number): void {
  let i = 0;
  const n = ENVOY_DEFAULT_BUCKETS.length;
  while (i < n && value > (ENVOY_DEFAULT_BUCKETS[i] as number)) i++;
  h.counts[i] = (h.counts[i] ?? 0) + 1;
  h.sum += value;
  h.count += 1;
}

/** A whole, non-negative quantity (Envoy records histogram samples as integers). */
function whole(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** Envoy prints bucket bounds with `{:.32g}`: `0.5`, `1`, `3600000`. */
function formatBound(b: number): string {
  return String(b);
}

function pushHistRows(rows: Row[], name: string, s: HttpSeries, h: Hist): void {
  let le = s.leLabels;
  if (le === undefined) {
    le = [...ENVOY_DEFAULT_BUCKETS.map(formatBound), '+Inf'].map((bound) => Object.freeze({ ...s.labels, le: bound }));
    s.leLabels = le;
  }
  const bucket = `${name}_bucket`;
  let cumulative = 0;
  for (let i = 0; i < ENVOY_DEFAULT_BUCKETS.length; i++) {
    cumulative += h.counts[i] ?? 0;
    rows.push({ metricName: bucket, labels: le[i] as Readonly<Record<string, string>>, value: cumulative });
  }
  rows.push({ metricName: bucket, labels: le[ENVOY_DEFAULT_BUCKETS.length] as Readonly<Record<string, string>>, value: h.count });
  rows.push({ metricName: `${name}_sum`, labels: s.labels, value: h.sum });
  rows.push({ metricName: `${name}_count`, labels: s.labels, value: h.count });
}

/**
 * The waypoint's `istio_*` request and TCP metrics on a prom-client registry. (`istio_build` is
 * registered by the admin servers.)
 */
export class IstioMetrics {
  readonly #now: () => number;
  readonly #cache: PeerLabelCache<PeerEntry>;
  readonly #http = new Map<string, HttpSeries>();
  readonly #tcp = new Map<string, TcpSeries>();
  readonly #idleExpiryMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(registry: Registry, opts: IstioMetricsOptions) {
    this.#now = opts.now ?? Date.now;
    this.#cache = new PeerLabelCache<PeerEntry>(opts.clusterId, (peer) => ({ peer, http: new Map(), tcp: new Map() }));
    this.#idleExpiryMs = opts.idleExpiryMs ?? 0;

    const http = (): Iterable<HttpSeries> => this.#http.values();
    const tcp = (): Iterable<TcpSeries> => this.#tcp.values();
    const counter = (name: keyof typeof METRIC_HELP, labelNames: readonly string[], rows: () => Row[]): void => {
      new TableCounter(registry, name, METRIC_HELP[name], labelNames, rows);
    };
    const histogram = (name: keyof typeof METRIC_HELP, pick: (s: HttpSeries) => Hist): void => {
      new TableHistogram(registry, name, METRIC_HELP[name], HTTP_LABEL_NAMES, () => {
        const rows: Row[] = [];
        for (const s of http()) pushHistRows(rows, name, s, pick(s));
        return rows;
      });
    };
    const tcpCounter = (name: keyof typeof METRIC_HELP, pick: (s: TcpSeries) => number | undefined): void => {
      counter(name, TCP_LABEL_NAMES, () => {
        const rows: Row[] = [];
        for (const s of tcp()) {
          const value = pick(s);
          if (value !== undefined) rows.push({ labels: s.labels, value });
        }
        return rows;
      });
    };

    counter('istio_requests_total', HTTP_LABEL_NAMES, () => Array.from(http(), (s) => ({ labels: s.labels, value: s.requests })));
    histogram('istio_request_duration_milliseconds', (s) => s.duration);
    histogram('istio_request_bytes', (s) => s.requestBytes);
    histogram('istio_response_bytes', (s) => s.responseBytes);
    tcpCounter('istio_tcp_connections_opened_total', (s) => s.opened);
    tcpCounter('istio_tcp_connections_closed_total', (s) => s.closed);
    tcpCounter('istio_tcp_sent_bytes_total', (s) => s.sent);
    tcpCounter('istio_tcp_received_bytes_total', (s) => s.received);

    if (this.#idleExpiryMs > 0) {
      const every = opts.sweepIntervalMs ?? Math.min(this.#idleExpiryMs, 60_000);
      this.#sweepTimer = setInterval(() => this.sweepIdle(this.#idleExpiryMs), every);
      this.#sweepTimer.unref();
    }
  }

  /** Records one finished HTTP request / gRPC call: the counter and the three histograms. */
  recordHttp(t: HttpTelemetry): void {
    const entry = this.#cache.get(t);
    const grpc = isGrpcContentType(t.requestContentType);
    const code = responseCodeLabel(t.responseCode);
    const grpcStatus = grpcResponseStatus(grpc, t.responseCode, t.responseHeaders, t.responseTrailers);
    const flags = formatResponseFlags(t.responseFlags);
    const suffix = `${grpc ? 'grpc' : 'http'}\u0001${code}\u0001${grpcStatus}\u0001${flags}`;
    let s = entry.http.get(suffix);
    if (s === undefined || s.removed) {
      s = this.#httpSeries(entry.peer, suffix, grpc, code, grpcStatus, flags);
      entry.http.set(suffix, s);
    }
    s.requests += 1;
    observe(s.duration, whole(t.durationMs));
    observe(s.requestBytes, whole(t.requestBytes));
    observe(s.responseBytes, whole(t.responseBytes));
    s.lastUsed = this.#now();
  }

  /** `istio_tcp_connections_opened_total` +1. */
  tcpOpened(t: TcpTelemetryLabels): void {
    const s = this.#tcpSeries(t);
    s.opened = (s.opened ?? 0) + 1;
    s.active += 1;
  }

  /** Adds byte deltas: `sent` = to the downstream (response direction), `received` = from it. */
  tcpBytes(t: TcpTelemetryLabels, sentDelta: number, receivedDelta: number): void {
    const s = this.#tcpSeries(t);
    s.sent = (s.sent ?? 0) + whole(sentDelta);
    s.received = (s.received ?? 0) + whole(receivedDelta);
  }

  /** `istio_tcp_connections_closed_total` +1. */
  tcpClosed(t: TcpTelemetryLabels): void {
    const s = this.#tcpSeries(t);
    s.closed = (s.closed ?? 0) + 1;
    if (s.active > 0) s.active -= 1;
  }

  /**
   * Removes the series whose source or destination workload is no longer among `workloads`
   * (compared by what they contribute to labels, so a replaced pod of the same Deployment keeps
   * its series) and, when `services` is given, whose destination Service is gone. Series of open
   * TCP connections stay. Call after every configuration change. Returns the number removed.
   */
  retainWorkloads(workloads: Iterable<WorkloadInfo>, services?: Iterable<ServiceInfo>): number {
    const live = new Set<string>();
    for (const w of workloads) live.add(workloadTelemetryKey(w));
    let hosts: Set<string> | undefined;
    if (services !== undefined) {
      hosts = new Set();
      for (const svc of services) hosts.add(svc.hostname);
    }
    const gone = (s: SeriesBase): boolean =>
      (s.sourceKey !== undefined && !live.has(s.sourceKey)) ||
      (s.destinationKey !== undefined && !live.has(s.destinationKey)) ||
      (hosts !== undefined && s.serviceHost !== undefined && !hosts.has(s.serviceHost));
    const removed = this.#remove((s) => gone(s), (s) => s.active === 0 && gone(s));
    // Entries are keyed by the previous snapshot's objects; start afresh (also bounds the cache).
    this.#cache.clear();
    return removed;
  }

  /** Removes series not updated for `maxIdleMs` (open TCP connections excepted). Returns the number removed. */
  sweepIdle(maxIdleMs: number, now: number = this.#now()): number {
    const cutoff = now - maxIdleMs;
    return this.#remove(
      (s) => s.lastUsed <= cutoff,
      (s) => s.active === 0 && s.lastUsed <= cutoff,
    );
  }

  /** Number of live series (tests, diagnostics). */
  get seriesCount(): { http: number; tcp: number } {
    return { http: this.#http.size, tcp: this.#tcp.size };
  }

  /** Stops the idle sweep timer. The metrics stay registered. */
  close(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #remove(http: (s: HttpSeries) => boolean, tcp: (s: TcpSeries) => boolean): number {
    let n = 0;
    for (const [key, s] of this.#http) {
      if (!http(s)) continue;
      s.removed = true;
      this.#http.delete(key);
      n++;
    }
    for (const [key, s] of this.#tcp) {
      if (!tcp(s)) continue;
      s.removed = true;
      this.#tcp.delete(key);
      n++;
    }
    return n;
  }

  #httpSeries(peer: PeerLabelSet, suffix: string, grpc: boolean, code: string, grpcStatus: string, flags: string): HttpSeries {
    const key = `${peer.key}\u0002${suffix}`;
    const existing = this.#http.get(key);
    if (existing !== undefined) return existing;
    const s: HttpSeries = {
      key,
      labels: Object.freeze(
        httpLabels(peer.labels, {
          protocol: grpc ? 'grpc' : 'http',
          responseCode: code,
          grpcResponseStatus: grpcStatus,
          responseFlags: flags,
          connectionSecurityPolicy: peer.connectionSecurityPolicy,
        }),
      ),
      sourceKey: peer.sourceKey,
      destinationKey: peer.destinationKey,
      serviceHost: peer.serviceHost,
      requests: 0,
      duration: newHist(),
      requestBytes: newHist(),
      responseBytes: newHist(),
      leLabels: undefined,
      lastUsed: this.#now(),
      removed: false,
    };
    this.#http.set(key, s);
    return s;
  }

  #tcpSeries(t: TcpTelemetryLabels): TcpSeries {
    const entry = this.#cache.get(t);
    const flags = formatResponseFlags(t.responseFlags);
    let s = entry.tcp.get(flags);
    if (s === undefined || s.removed) {
      const key = `${entry.peer.key}\u0002${flags}`;
      s = this.#tcp.get(key);
      if (s === undefined) {
        s = {
          key,
          labels: Object.freeze(tcpLabels(entry.peer.labels, { responseFlags: flags, connectionSecurityPolicy: entry.peer.connectionSecurityPolicy })),
          sourceKey: entry.peer.sourceKey,
          destinationKey: entry.peer.destinationKey,
          serviceHost: entry.peer.serviceHost,
          opened: undefined,
          closed: undefined,
          sent: undefined,
          received: undefined,
          active: 0,
          lastUsed: 0,
          removed: false,
        };
        this.#tcp.set(key, s);
      }
      entry.tcp.set(flags, s);
    }
    s.lastUsed = this.#now();
    return s;
  }
}

export interface TcpReporterOptions {
  /**
   * The connection's labels, or a function read once at the first report (the first tick or the
   * close, whichever comes first): Envoy fixes a connection's labels, response flags included,
   * when it first reports it.
   */
  labels: TcpTelemetryLabels | (() => TcpTelemetryLabels);
  /** Cumulative bytes received from the downstream (the request direction). */
  bytesReceived: () => number;
  /** Cumulative bytes sent to the downstream (the response direction). */
  bytesSent: () => number;
  /** Reporting period; default 5000 (Envoy `tcp_reporting_duration`). 0 reports only at close. */
  intervalMs?: number;
}

/**
 * Periodic reporting of one TCP connection, as `istio.stats` does for a network filter chain:
 * a timer starts at open (construction); at each tick and at close the byte deltas since the last
 * report go to `istio_tcp_{sent,received}_bytes_total`. `istio_tcp_connections_opened_total` is
 * counted when the connection is first reported (the first tick, or the close if it comes
 * first), not at open: that is when Envoy has read the peer metadata. `close()` adds
 * `istio_tcp_connections_closed_total`. The timer is unref'd.
 */
export class TcpReporter {
  readonly #metrics: IstioMetrics;
  readonly #opts: TcpReporterOptions;
  #labels: TcpTelemetryLabels | undefined;
  #lastSent = 0;
  #lastReceived = 0;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(metrics: IstioMetrics, opts: TcpReporterOptions) {
    this.#metrics = metrics;
    this.#opts = opts;
    const every = opts.intervalMs ?? TCP_REPORTING_INTERVAL_MS;
    if (every > 0) {
      this.#timer = setInterval(() => {
        try {
          this.#report(false);
        } catch {
          // Metrics must never take the proxy down; stop ticking, close() still reports.
          this.#stop();
        }
      }, every);
      this.#timer.unref();
    }
  }

  /** True once the connection has been counted as opened. */
  get opened(): boolean {
    return this.#labels !== undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Final report: remaining byte deltas and the close (and the open, if not yet counted). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    this.#report(true);
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #report(end: boolean): void {
    let labels = this.#labels;
    if (labels === undefined) {
      const l = this.#opts.labels;
      labels = typeof l === 'function' ? l() : l;
      this.#labels = labels;
      this.#metrics.tcpOpened(labels);
    }
    const sent = this.#opts.bytesSent();
    const received = this.#opts.bytesReceived();
    this.#metrics.tcpBytes(labels, sent - this.#lastSent, received - this.#lastReceived);
    this.#lastSent = Math.max(this.#lastSent, sent);
    this.#lastReceived = Math.max(this.#lastReceived, received);
    if (end) this.#metrics.tcpClosed(labels);
  }
}
