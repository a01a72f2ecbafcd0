import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Registry, Gauge } from 'prom-client';
import type { ConfigSnapshot } from '../snapshot/types.js';
import type { TlsSource } from '../hbone/tls-source.js';
import type { ReloadStatus } from '../snapshot/store.js';
import { formatProblem } from '../config/problems.js';
import { Readiness } from './readiness.js';
import { adminAddressDecision } from './admin-address.js';
import { routesText, routesView } from './route-views.js';
import type { TrafficSnapshot } from './traffic-summary.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './ui/assets.js';
import { clustersText, listenersText, type ClusterView, type ListenerView } from './views.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AdminServerOptions {
  logger: Logger;
  admin: ListenAddress | undefined;
  metrics: ListenAddress | undefined;
  readiness: ListenAddress | undefined;
  snapshot: () => ConfigSnapshot;
  tls: TlsSource;
  drain: () => Promise<void>;
  quit: () => void;
  registry?: Registry;
  /** Text and JSON views of listeners and clusters. */
  listeners?: () => ListenerView[];
  clusters?: () => ClusterView[];
  /** Extra admin routes (e.g. the policy explainer), by path. */
  extraRoutes?: ReadonlyMap<string, AdminRoute>;
  /** Where the Prometheus text comes from (default: this process's registry; workers: merged). */
  collectMetrics?: () => Promise<string>;
  /** Reload bookkeeping for `/config_dump` (version served, last rejected attempt). */
  configStatus?: () => ReloadStatus;
  /** Serve admin on a non-loopback address (logged as a warning); refused otherwise. */
  adminAllowRemote?: boolean;
  /** Traffic by service, route, backend and policy (`/stats/summary`, the dashboard). */
  traffic?: () => TrafficSnapshot;
}

/** The dashboard's assets: same-origin only, nothing inline. */
const UI_HEADERS = { 'content-security-policy': "default-src 'self'; img-src 'self' data:", 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };

/** The `configuration` section of `/config_dump`: what is served and what was refused last. */
export function configurationState(status: ReloadStatus): Record<string, unknown> {
  const last = status.lastRejected;
  return {
    version: status.version,
    loadedAt: status.loadedAt?.toISOString() ?? null,
    accepted: status.accepted,
    rejected: status.rejected,
    servingOlder: status.servingOlder,
    lastRejected:
      last === undefined
        ? null
        : {
            at: last.at.toISOString(),
            errors: last.problems.filter((p) => p.severity === 'error').map(formatProblem),
            warnings: last.problems.filter((p) => p.severity === 'warning').map(formatProblem),
          },
  };
}

export type AdminRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

type Route = AdminRoute;

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The admin (loopback), metrics and readiness listeners, named and placed as on an Istio
 * waypoint pod: admin 15000, metrics 15020 `/stats/prometheus`, readiness 15021 `/healthz/ready`.
 */
export class AdminServers {
  /** Named readiness conditions; `ready` and `draining` below are two of them. */
  readonly readiness = new Readiness();
  readonly registry: Registry;
  readonly #opts: AdminServerOptions;
  readonly #servers: http.Server[] = [];
  readonly addresses: Partial<Record<'admin' | 'metrics' | 'readiness', ListenAddress>> = {};

  constructor(opts: AdminServerOptions) {
    this.#opts = opts;
    this.readiness.set('started', 'starting');
    this.registry = opts.registry ?? new Registry();
    const build = new Gauge({ name: 'istio_build', help: 'Istio component build info', labelNames: ['component', 'tag'], registers: [this.registry] });
    build.set({ component: 'proxy', tag: process.env.ISTIO_VERSION ?? 'unknown' }, 1);
  }

  /** Started (configuration loaded, listeners up); false again once draining. */
  get ready(): boolean {
    return this.#started && !this.draining;
  }

  set ready(value: boolean) {
    this.#started = value;
    this.readiness.set('started', value ? undefined : 'starting');
  }

  get draining(): boolean {
    return this.#draining;
  }

  set draining(value: boolean) {
    this.#draining = value;
    this.readiness.set('draining', value ? 'draining' : undefined);
  }

  #started = false;
  #draining = false;

  /** `/healthz/ready`: 200 when every condition holds; else 503 with the reasons, one a line. */
  #readyProbe(res: ServerResponse): void {
    const r = this.readiness.check();
    if (r.ready) send(res, 200, '');
    else send(res, 503, this.draining ? 'draining\n' : `not ready\n${r.reasons.join('\n')}\n`);
  }

  #collect(): Promise<string> {
    return this.#opts.collectMetrics?.() ?? this.registry.metrics();
  }

  #readinessRoutes(): Map<string, Route> {
    return new Map<string, Route>([
      ['/healthz/ready', (_q, res) => this.#readyProbe(res)],
    ]);
  }

  #metricsRoutes(): Map<string, Route> {
    const metrics: Route = (_q, res) => {
      this.#collect().then(
        (text) => send(res, 200, text, this.registry.contentType),
        (err: Error) => send(res, 500, `${err.message}\n`),
      );
    };
    return new Map<string, Route>([
      ['/stats/prometheus', metrics],
      ['/metrics', metrics],
      ...this.#readinessRoutes(),
    ]);
  }

  #adminRoutes(): Map<string, Route> {
    const log = this.#opts.logger;
    return new Map<string, Route>([
      ['/ready', (_q, res) => send(res, this.readiness.check().ready ? 200 : 503, this.draining ? 'DRAINING\n' : this.ready ? 'LIVE\n' : 'PRE_INITIALIZING\n')],
      [
        '/config_dump',
        (_q, res) => {
          const s = this.#opts.snapshot();
          const status = this.#opts.configStatus?.();
          const dump = {
            version: s.version,
            loadedAt: s.loadedAt,
            configuration: status === undefined ? { version: s.version, loadedAt: s.loadedAt.toISOString(), lastRejected: null } : configurationState(status),
            waypoint: s.waypoint,
            certificate: { identity: this.#opts.tls.current.identity, notBefore: this.#opts.tls.current.notBefore, notAfter: this.#opts.tls.current.notAfter },
            services: s.services,
            boundVips: [...s.byVip.entries()].map(([key, b]) => ({ key, service: b.service.hostname, port: b.port, endpoints: b.endpoints.map((e) => ({ ip: e.ip, port: e.port, ready: e.ready, workload: e.workload?.uid })) })),
            boundWorkloads: [...s.boundWorkloads.values()].map((w) => w.uid),
            workloads: s.workloads,
            warnings: s.warnings,
            // The mesh config in force when the source follows it (the istio ConfigMap).
            ...(s.meshConfig !== undefined ? { meshConfig: { extAuthzProviders: [...s.meshConfig.extAuthzProviders.values()].map((p) => ({ name: p.name, kind: p.kind, service: p.service, port: p.port })) } } : {}),
            resources: s.resources.map((r) => ({ file: r.file, kind: r.kind, namespace: r.namespace, name: r.name })),
          };
          send(res, 200, `${JSON.stringify(dump, replacer, 2)}\n`, 'application/json');
        },
      ],
      [
        '/logging',
        (req, res, url) => {
          const level = url.searchParams.get('level');
          if (req.method === 'POST' && level !== null) {
            if (!Object.keys(log.levels.values).includes(level)) {
              send(res, 400, `unknown level ${level}; one of ${Object.keys(log.levels.values).join(', ')}\n`);
              return;
            }
            log.level = level;
          }
          send(res, 200, `active level: ${log.level}\n`);
        },
      ],
      [
        '/drain_listeners',
        (req, res) => {
          if (req.method !== 'POST') return send(res, 405, 'use POST\n');
          void this.#opts.drain();
          send(res, 200, 'OK\n');
        },
      ],
      [
        '/quitquitquit',
        (req, res) => {
          if (req.method !== 'POST') return send(res, 405, 'use POST\n');
          send(res, 200, 'OK\n');
          setImmediate(() => this.#opts.quit());
        },
      ],
      [
        '/listeners',
        (_q, res, url) => {
          const v = this.#opts.listeners?.() ?? [];
          if (url.searchParams.get('format') === 'json') send(res, 200, `${JSON.stringify(v, null, 2)}\n`, 'application/json');
          else send(res, 200, listenersText(v));
        },
      ],
      [
        '/routes',
        (_q, res, url) => {
          const v = routesView(this.#opts.snapshot());
          if (url.searchParams.get('format') === 'json') send(res, 200, `${JSON.stringify(v, replacer, 2)}\n`, 'application/json');
          else send(res, 200, routesText(v));
        },
      ],
      [
        '/clusters',
        (_q, res, url) => {
          const v = this.#opts.clusters?.() ?? [];
          if (url.searchParams.get('format') === 'json') send(res, 200, `${JSON.stringify(v, replacer, 2)}\n`, 'application/json');
          else send(res, 200, clustersText(v));
        },
      ],
      [
        '/stats/summary',
        (_q, res, url) => {
          const summary = this.#summary();
          if (url.searchParams.get('format') === 'json') send(res, 200, `${JSON.stringify(summary, null, 2)}\n`, 'application/json');
          else send(res, 200, summaryText(summary));
        },
      ],
      ['/ui', (_q, res) => this.#asset(res, DASHBOARD_HTML, 'text/html; charset=utf-8')],
      ['/ui/', (_q, res) => this.#asset(res, DASHBOARD_HTML, 'text/html; charset=utf-8')],
      ['/ui/app.js', (_q, res) => this.#asset(res, DASHBOARD_JS, 'text/javascript; charset=utf-8')],
      ['/ui/app.css', (_q, res) => this.#asset(res, DASHBOARD_CSS, 'text/css; charset=utf-8')],
      [
        '/stats',
        (_q, res) => {
          this.#collect().then(
            (text) => send(res, 200, statsText(text)),
            (err: Error) => send(res, 500, `${err.message}\n`),
          );
        },
      ],
      ...(this.#opts.extraRoutes ?? new Map<string, Route>()),
      ...this.#metricsRoutes(),
    ]);
  }

  #asset(res: ServerResponse, body: string, type: string): void {
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...UI_HEADERS });
    res.end(body);
  }

  /** What `/stats/summary` and the dashboard show. */
  #summary(): DashboardSummary {
    const s = this.#opts.snapshot();
    const status = this.#opts.configStatus?.();
    const cert = this.#opts.tls.current;
    const r = this.readiness.check();
    return {
      waypoint: { namespace: s.waypoint.namespace, name: s.waypoint.name },
      uptimeSeconds: process.uptime(),
      readiness: { ready: r.ready, reasons: r.reasons },
      config: status === undefined ? { version: s.version, loadedAt: s.loadedAt.toISOString(), lastRejected: null } : configurationState(status),
      certificate: { identity: cert.identity ?? null, notBefore: cert.notBefore?.toISOString() ?? null, notAfter: cert.notAfter.toISOString(), expiresInSeconds: Math.round((cert.notAfter.getTime() - Date.now()) / 1000) },
      traffic: this.#opts.traffic?.() ?? { at: Date.now(), services: [], routes: [], backends: [], policies: [] },
    };
  }

  async listen(): Promise<void> {
    const start = async (name: 'admin' | 'metrics' | 'readiness', addr: ListenAddress | undefined, routes: Map<string, Route>): Promise<void> => {
      if (addr === undefined) return;
      if (name === 'admin') {
        const decision = adminAddressDecision(addr.host, this.#opts.adminAllowRemote === true);
        if (decision.refuse !== undefined) throw new Error(decision.refuse);
        if (decision.warn !== undefined) this.#opts.logger.warn({ listener: 'admin', address: `${addr.host}:${addr.port}` }, decision.warn);
      }
      const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://admin');
        const route = routes.get(url.pathname);
        if (route === undefined) {
          send(res, 404, `not found; try ${[...routes.keys()].join(' ')}\n`);
          return;
        }
        route(req, res, url);
      });
      this.#servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: Error) => reject(new Error(`cannot listen for ${name} (--${name}) on ${addr.host}:${addr.port}: ${err.message}`)));
        server.listen(addr.port, addr.host, () => resolve());
      });
      const a = server.address();
      if (a !== null && typeof a === 'object') this.addresses[name] = { host: a.address, port: a.port };
    };
    await start('admin', this.#opts.admin, this.#adminRoutes());
    await start('metrics', this.#opts.metrics, this.#metricsRoutes());
    await start('readiness', this.#opts.readiness, this.#readinessRoutes());
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  }
}

export interface DashboardSummary {
  waypoint: { namespace: string; name: string };
  uptimeSeconds: number;
  readiness: { ready: boolean; reasons: string[] };
  config: Record<string, unknown>;
  certificate: { identity: string | null; notBefore: string | null; notAfter: string; expiresInSeconds: number };
  traffic: TrafficSnapshot;
}

function summaryText(s: DashboardSummary): string {
  const lines = [
    `waypoint ${s.waypoint.namespace}/${s.waypoint.name}: ${s.readiness.ready ? 'ready' : `not ready (${s.readiness.reasons.join('; ')})`}`,
    `config version ${String(s.config['version'])}${s.config['servingOlder'] === true ? ' (last change rejected)' : ''}`,
    `certificate ${s.certificate.identity ?? '(none)'} expires ${s.certificate.notAfter}`,
  ];
  for (const [title, rows] of [['services', s.traffic.services], ['routes', s.traffic.routes], ['backends', s.traffic.backends]] as const) {
    lines.push(`${title}:`);
    for (const r of rows) lines.push(`  ${r.name}: ${r.requests} requests, ${r.errors} errors, p50 ${r.p50Ms ?? '-'} ms, p99 ${r.p99Ms ?? '-'} ms`);
  }
  lines.push('policies:');
  for (const p of s.traffic.policies) lines.push(`  ${p.decision} ${p.policy}: ${p.count}`);
  return `${lines.join('\n')}\n`;
}

/** JSON replacer that shows Maps and Sets. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/** Envoy-style `/stats` text (`name{labels}: value`) from the Prometheus exposition. */
function statsText(prom: string): string {
  const out: string[] = [];
  for (const line of prom.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.push(`${line.slice(0, i)}: ${line.slice(i + 1)}`);
  }
  return `${out.join('\n')}\n`;
}
