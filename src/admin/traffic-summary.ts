/**
 * Live traffic figures for `/stats/summary` and the dashboard, by service, route, backend and
 * policy: counts, errors and latency percentiles, fed from the access records (one per HTTP
 * request, one per TCP connection) so they see the route and the deciding policy, which the
 * `istio_*` series do not carry. Memory is bounded: at most `maxKeys` rows per dimension; later
 * keys fold into `(other)`.
 */
import type { Logger } from 'pino';
import { AccessLog, type AccessLogOptions, type AccessRecord } from '../metrics/access-log.js';
import { NO_RESPONSE_FLAGS } from '../metrics/response-flags.js';

/** Latency bucket bounds in milliseconds (Envoy's default histogram buckets). */
const BOUNDS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export interface TrafficRow {
  name: string;
  requests: number;
  /** 5xx responses, and TCP connections or requests that ended with a response flag but no status. */
  errors: number;
  p50Ms: number | undefined;
  p90Ms: number | undefined;
  p99Ms: number | undefined;
}

export interface PolicyRow {
  /** `namespace/name` of the deciding policy, or `(no policy)` for allowed traffic. */
  policy: string;
  decision: 'allow' | 'deny';
  count: number;
}

export interface TrafficSnapshot {
  /** Unix milliseconds of this snapshot (the dashboard computes rates between two). */
  at: number;
  services: TrafficRow[];
  routes: TrafficRow[];
  backends: TrafficRow[];
  policies: PolicyRow[];
}

class Row {
  requests = 0;
  errors = 0;
  readonly buckets = new Array<number>(BOUNDS_MS.length + 1).fill(0);

  add(durationMs: number, error: boolean): void {
    this.requests++;
    if (error) this.errors++;
    let i = 0;
    while (i < BOUNDS_MS.length && durationMs > BOUNDS_MS[i]!) i++;
    this.buckets[i]!++;
  }

  /** The upper bound of the bucket holding quantile `q` (as Prometheus' histogram_quantile would bound it). */
  quantile(q: number): number | undefined {
    if (this.requests === 0) return undefined;
    const rank = q * this.requests;
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return BOUNDS_MS[i] ?? BOUNDS_MS[BOUNDS_MS.length - 1]!;
    }
    return BOUNDS_MS[BOUNDS_MS.length - 1];
  }
}

class Dimension {
  readonly #rows = new Map<string, Row>();
  constructor(readonly maxKeys: number) {}

  add(key: string, durationMs: number, error: boolean): void {
    let row = this.#rows.get(key);
    if (row === undefined) {
      const k = this.#rows.size >= this.maxKeys ? '(other)' : key;
      row = this.#rows.get(k) ?? new Row();
      this.#rows.set(k, row);
    }
    row.add(durationMs, error);
  }

  rows(): TrafficRow[] {
    return [...this.#rows.entries()]
      .map(([name, r]) => ({ name, requests: r.requests, errors: r.errors, p50Ms: r.quantile(0.5), p90Ms: r.quantile(0.9), p99Ms: r.quantile(0.99) }))
      .sort((a, b) => b.requests - a.requests || a.name.localeCompare(b.name));
  }
}

/** The service a record is for: the host of its chain (`inbound-vip|80|http|<host>`), else the chain. */
export function serviceOf(rec: Pick<AccessRecord, 'chain' | 'connect_authority'>): string {
  const chain = rec.chain;
  if (chain.startsWith('inbound-vip|')) return chain.slice(chain.lastIndexOf('|') + 1);
  if (chain === '') return `(unrouted) ${rec.connect_authority}`;
  return `${chain} (workload)`;
}

/** Whether a record counts as an error: a 5xx, or no status at all with a response flag (TCP failures, resets). */
export function isError(rec: Pick<AccessRecord, 'response_code' | 'response_flags' | 'type'>): boolean {
  if (rec.response_code !== undefined && rec.response_code !== 0) return rec.response_code >= 500;
  return rec.response_flags !== NO_RESPONSE_FLAGS;
}

export class TrafficSummary {
  readonly #services: Dimension;
  readonly #routes: Dimension;
  readonly #backends: Dimension;
  readonly #policies = new Map<string, PolicyRow>();
  readonly #maxKeys: number;

  constructor(maxKeys = 500) {
    this.#maxKeys = maxKeys;
    this.#services = new Dimension(maxKeys);
    this.#routes = new Dimension(maxKeys);
    this.#backends = new Dimension(maxKeys);
  }

  record(rec: AccessRecord): void {
    const error = isError(rec);
    const ms = rec.duration_ms;
    this.#services.add(serviceOf(rec), ms, error);
    if (rec.route !== undefined) this.#routes.add(rec.route, ms, error);
    if (rec.upstream_cluster !== undefined) this.#backends.add(rec.upstream_cluster, ms, error);
    const denied = rec.response_code_details?.startsWith('rbac_access_denied') === true;
    const policy = denied ? (rec.policy ?? '(no ALLOW policy matched)') : '(allowed)';
    const key = `${denied ? 'deny' : 'allow'}:${policy}`;
    let row = this.#policies.get(key);
    if (row === undefined && this.#policies.size < this.#maxKeys) {
      row = { policy, decision: denied ? 'deny' : 'allow', count: 0 };
      this.#policies.set(key, row);
    }
    if (row !== undefined) row.count++;
  }

  snapshot(now = Date.now()): TrafficSnapshot {
    return {
      at: now,
      services: this.#services.rows(),
      routes: this.#routes.rows(),
      backends: this.#backends.rows(),
      policies: [...this.#policies.values()].map((p) => ({ ...p })).sort((a, b) => b.count - a.count),
    };
  }
}

/** The access log, also counting each record into a `TrafficSummary`. */
export class SummarizingAccessLog extends AccessLog {
  readonly #summary: TrafficSummary;
  constructor(opts: AccessLogOptions | Logger, summary: TrafficSummary) {
    super(opts);
    this.#summary = summary;
  }

  override write(rec: AccessRecord): void {
    this.#summary.record(rec);
    super.write(rec);
  }
}
