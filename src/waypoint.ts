import type { AmbientDetection } from './config/dataplane.js';
import { DnsCache, type DnsResolve } from './l7/upstream/dns-cache.js';
import type { Logger } from 'pino';
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { Registry } from 'prom-client';
import type { ConfigSource } from './config/source.js';
import { SnapshotStore } from './snapshot/store.js';
import type { ConfigSnapshot } from './snapshot/types.js';
import { HboneClientPool } from './hbone/client-pool.js';
import { HboneServer } from './hbone/server.js';
import { DEFAULT_LIMITS, type WaypointLimits } from './config/limits.js';
import { StreamSocket } from './hbone/stream-socket.js';
import type { TlsSource } from './hbone/tls-source.js';
import { MainInternal } from './l7/listener/main-internal.js';
import { ClusterRegistry } from './l7/cluster/registry.js';
import { UpstreamConnections } from './l7/upstream/connections.js';
import { StreamRelay } from './l7/tcp/stream-relay.js';
import type { AccessLog, AccessLogTarget } from './metrics/access-log.js';
import { IstioMetrics } from './metrics/istio-metrics.js';
import { AdminServers, type AdminServerOptions } from './admin/servers.js';
import { clustersView, listenersView } from './admin/views.js';
import { authzRoutes } from './admin/authz-routes.js';
import { WaypointMetrics } from './metrics/waypoint-metrics.js';
import { watchCertificateValidity } from './admin/certificate-readiness.js';
import { startupWarnings } from './admin/startup-checks.js';
import { SummarizingAccessLog, TrafficSummary } from './admin/traffic-summary.js';
import { EMPTY_MESH_CONFIG, type MeshConfig } from './config/mesh-config.js';
import { ExtAuthz } from './l7/ext-authz/custom.js';

/**
 * Certificates that arrive after start (Istio's CA: `src/hbone/istio-ca/certificate-manager.ts`).
 * Until `ready` resolves, `WaypointOptions.tls` holds stand-in material and the HBONE listener
 * stays closed; readiness reports `problem()` (no certificate yet, or expired).
 */
export interface CertificateSource {
  /** Resolves once `tls` holds a certificate to serve. */
  readonly ready: Promise<void>;
  /** Why no valid certificate is served now, else undefined. */
  problem(): string | undefined;
  close(): void;
}

export interface WaypointOptions {
  /** Configuration files or directories (read through a `FileConfigSource` unless `source` is given). */
  configPaths: string[];
  /** Where the configuration comes from; default: the files at `configPaths`. */
  source?: ConfigSource | undefined;
  /** An AuthorizationPolicy that cannot be compiled denies at its targets (Kubernetes source). */
  failClosedPolicies?: boolean | undefined;
  /** How Pods outside the ambient data plane are told apart (`src/config/dataplane.ts`); default `file`. */
  ambientDetection?: AmbientDetection | undefined;
  /** Resolves ServiceEntry DNS endpoints (tests inject one); default the system resolver. */
  dnsResolve?: DnsResolve | undefined;
  /** Called once with the metrics registry, for metrics owned elsewhere (the source's counters). */
  registerMetrics?: ((registry: Registry) => void) | undefined;
  tls: TlsSource;
  /** Where `tls` gets its certificates when they come after start (Istio's CA); absent: `tls` is ready now. */
  certificates?: CertificateSource | undefined;
  logger: Logger;
  namespace?: string | undefined;
  name?: string | undefined;
  trustDomain: string;
  clusterId: string;
  /** Istio's root namespace (mesh-wide AuthorizationPolicies). Default `istio-system`. */
  rootNamespace?: string | undefined;
  hbone: { host: string; port: number };
  /** Admin, metrics and readiness listeners; omit one to not serve it. */
  admin?: AdminServerOptions['admin'];
  metrics?: AdminServerOptions['metrics'];
  readiness?: AdminServerOptions['readiness'];
  upstreamHbonePort: number;
  /** Watch configuration and certificate files and reload on change. */
  watch?: boolean;
  /** Time given to in-flight work on drain. */
  drainMs?: number;
  /** Resource limits; each one left out takes its default (`DEFAULT_LIMITS`). */
  limits?: Partial<WaypointLimits> | undefined;
  /** Log a `stats` line (memory, handles, sessions, streams) this often; 0 or absent: never. */
  statsIntervalMs?: number | undefined;
  /**
   * Where access-log lines go (`--access-log`, meshConfig `accessLogFile`); default off, as in
   * Istio. A `Telemetry` resource's `accessLogging` overrides it (src/snapshot/access-logging.ts).
   */
  accessLog?: AccessLogTarget | undefined;
  /** Let the admin listener bind a non-loopback address (warned about); refused otherwise. */
  adminAllowRemote?: boolean | undefined;
  /** Istio's mesh config (`--mesh-config`): the ext_authz providers of CUSTOM policies. */
  meshConfig?: MeshConfig | undefined;
  /** RequestAuthentication `jwksUri` fetches: more CAs to trust (PEM) besides the system ones, refresh timings. */
  jwks?: { ca?: readonly string[] | undefined; refreshMs?: number | undefined; cooldownMs?: number | undefined } | undefined;
}

/** What `Waypoint.stats()` reports: process memory, libuv handles and the waypoint's own counts. */
export interface WaypointStats {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  /** Active libuv handles and requests by type (`process.getActiveResourcesInfo()`). */
  handles: Record<string, number>;
  /** HBONE sessions on connect_terminate. */
  sessions: number;
  /** CONNECT streams open on connect_terminate. */
  streams: number;
  /** Tunnel sockets (both legs) not yet destroyed, and the ends of TCP relays not yet closed. */
  tunnels: number;
  /** Pooled upstream HBONE sessions (connect_originate). */
  upstreamSessions: number;
}

/** Parts only some configurations need, with their libraries (undici): loaded at start when configured. */
interface OptionalParts {
  jwksDispatcher: Dispatcher | undefined;
}

async function loadOptional(opts: WaypointOptions): Promise<OptionalParts> {
  const ca = opts.jwks?.ca;
  return {
    jwksDispatcher: ca === undefined ? undefined : new (await import('undici')).Agent({ connect: { ca: [...rootCertificates, ...ca] } }),
  };
}

/** A running waypoint: every listener wired together. */
export class Waypoint {
  readonly store: SnapshotStore;
  readonly hbone: HboneServer;
  readonly pool: HboneClientPool;
  readonly upstreams: UpstreamConnections;
  readonly mainInternal: MainInternal;
  /** ext_authz clients of the mesh config's providers (CUSTOM policies); none until a mesh config names some. */
  readonly #extAuthz: ExtAuthz;
  readonly admin: AdminServers;
  readonly metrics: IstioMetrics;
  /** Reload, certificate-expiry and process metrics. */
  readonly ops: WaypointMetrics;
  /** Traffic by service, route, backend and policy, for `/stats/summary` and the dashboard. */
  readonly traffic = new TrafficSummary();
  readonly accessLog: AccessLog;
  /** Per-cluster load balancing, circuit breakers and outlier detection (survives reloads). */
  readonly clusters = new ClusterRegistry();
  readonly #opts: WaypointOptions;
  /** The limits in force (defaults filled in). */
  readonly limits: Readonly<WaypointLimits>;
  hboneAddress = { address: '', port: 0 };
  /** Resolves once the HBONE listener is up (at start, or once the first certificate came); rejects if it cannot listen. */
  serving: Promise<void> = Promise.resolve();
  #closed = false;
  #statsTimer: NodeJS.Timeout | undefined;
  #stopCertificateWatch: (() => void) | undefined;

  /** `lazy`: what only some configurations need, loaded by `start` (`loadOptional`). */
  private constructor(opts: WaypointOptions, store: SnapshotStore, lazy: OptionalParts) {
    this.#opts = opts;
    this.store = store;
    const limits: WaypointLimits = { ...DEFAULT_LIMITS };
    for (const [k, v] of Object.entries(opts.limits ?? {}) as Array<[keyof WaypointLimits, number | undefined]>) if (v !== undefined) limits[k] = v;
    this.limits = Object.freeze(limits);
    const log = opts.logger;
    const trustDomains = [opts.trustDomain];
    this.pool = new HboneClientPool({ tls: opts.tls, trustDomains, logger: log, idleTimeoutMs: limits.upstreamSessionIdleTimeoutMs });
    this.upstreams = new UpstreamConnections({
      pool: this.pool,
      hbonePort: opts.upstreamHbonePort,
      logger: log,
      keepAliveTimeoutMs: limits.upstreamIdleTimeoutMs,
      ...(opts.dnsResolve !== undefined ? { dns: new DnsCache(opts.dnsResolve) } : {}),
    });
    const snapshot = (): ConfigSnapshot => store.current;
    this.admin = new AdminServers({
      logger: log,
      admin: opts.admin,
      metrics: opts.metrics,
      readiness: opts.readiness,
      snapshot,
      tls: opts.tls,
      drain: () => this.drain(),
      quit: () => void this.close(),
      listeners: () => listenersView(store.current, `${this.hboneAddress.address}:${this.hboneAddress.port}`, opts.upstreamHbonePort),
      clusters: () =>
        clustersView(store.current, (name) => {
          const state = this.clusters.get(name)?.describe();
          if (state === undefined) return undefined;
          return { ejected: new Set(state.endpoints.filter((e) => e.ejected).map((e) => e.address)), state };
        }),
      extraRoutes: authzRoutes(snapshot),
      configStatus: () => store.status,
      adminAllowRemote: opts.adminAllowRemote === true,
      traffic: () => this.traffic.snapshot(),
    });
    this.metrics = new IstioMetrics(this.admin.registry, { clusterId: opts.clusterId });
    this.ops = new WaypointMetrics(this.admin.registry, { certificateNotAfter: () => opts.tls.current.notAfter });
    // Always there: a source that follows the mesh config (the `istio` ConfigMap) may add providers later.
    // Its clients load their libraries (undici, gRPC) with their first check.
    this.#extAuthz = new ExtAuthz(opts.meshConfig ?? EMPTY_MESH_CONFIG, log);
    this.accessLog = new SummarizingAccessLog({ logger: log, target: opts.accessLog, setting: () => store.current.accessLogging }, this.traffic);
    this.mainInternal = new MainInternal({
      snapshot,
      extAuthz: this.#extAuthz,
      upstreams: this.upstreams,
      accessLog: this.accessLog,
      logger: log,
      metrics: this.metrics,
      recheckClosed: (policy) => this.ops.recheckClosed([policy]),
      clusters: this.clusters,
      maxHeaderBytes: limits.maxHeaderBytes,
      maxRequestBufferBytes: limits.maxRequestBufferBytes,
      headersTimeoutMs: limits.headersTimeoutMs,
      idleTimeoutMs: limits.idleTimeoutMs,
      sniffTimeoutMs: limits.sniffTimeoutMs,
      jwt: {
        registry: this.admin.registry,
        dispatcher: lazy.jwksDispatcher,
        refreshMs: opts.jwks?.refreshMs,
        cooldownMs: opts.jwks?.cooldownMs,
      },
    });
    this.hbone = new HboneServer({
      host: opts.hbone.host,
      port: opts.hbone.port,
      tls: opts.tls,
      trustDomains,
      logger: log,
      handler: this.mainInternal.handler,
      maxSessions: limits.maxSessions,
      maxConcurrentStreams: limits.maxStreamsPerSession,
      streamWindowBytes: limits.streamWindowBytes,
      connectionWindowBytes: limits.connectionWindowBytes,
      sessionIdleTimeoutMs: limits.sessionIdleTimeoutMs,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
    });
  }

  /** Loads configuration (failing on errors), then starts every listener. */
  static async start(opts: WaypointOptions): Promise<Waypoint> {
    const store = new SnapshotStore({
      // Loaded only for files: the YAML parser is not needed with the Kubernetes source.
      source: opts.source ?? new (await import('./config/file-source.js')).FileConfigSource({ paths: opts.configPaths }),
      namespace: opts.namespace,
      name: opts.name,
      trustDomain: opts.trustDomain,
      clusterId: opts.clusterId,
      rootNamespace: opts.rootNamespace,
      failClosedPolicies: opts.failClosedPolicies,
      ambientDetection: opts.ambientDetection,
    });
    const wp = new Waypoint(opts, store, await loadOptional(opts));
    // A source that waits on a remote API (src/config/kube/source.ts) gets readiness served while
    // it syncs: 503 `config: <what is not listed yet>` rather than a refused probe.
    const syncProblem = opts.source?.syncProblem?.bind(opts.source);
    const syncing = syncProblem !== undefined;
    if (syncing) {
      wp.admin.readiness.probe('config', syncProblem);
      try {
        await wp.admin.listen();
      } catch (err) {
        await wp.close();
        throw err;
      }
    }
    const first = await store.reload().catch(async (err: unknown) => {
      await wp.close();
      throw err;
    });
    if (!first.ok) {
      await wp.close();
      throw Object.assign(new Error('configuration has errors'), { problems: first.problems });
    }
    opts.registerMetrics?.(wp.admin.registry);
    const log = opts.logger;
    // Istio's mesh config as the source follows it (the `istio` ConfigMap): its ext_authz providers
    // change with the snapshot that carries them, before any request reads that snapshot.
    let mesh = first.snapshot.meshConfig;
    if (mesh !== undefined) wp.#extAuthz.update(mesh);
    store.on('snapshot', (s) => {
      if (s.meshConfig === undefined || s.meshConfig === mesh) return;
      mesh = s.meshConfig;
      wp.#extAuthz.update(mesh);
      log.info({ extAuthzProviders: [...mesh.extAuthzProviders.keys()] }, 'mesh config applied');
    });
    for (const p of first.problems) log.warn({ problem: p }, `config warning: ${p.message}`);
    wp.ops.reload('success', first.snapshot.loadedAt);
    store.on('snapshot', (s) => wp.ops.reload('success', s.loadedAt));
    // RequestAuthentication key sets follow the snapshot (remote JWKS fetched ahead of the first token).
    wp.mainInternal.authn.prepare(first.snapshot);
    store.on('snapshot', (s) => wp.mainInternal.authn.prepare(s));
    store.on('rejected', () => wp.ops.reload('failure'));
    const certificates = opts.certificates;
    wp.#stopCertificateWatch = watchCertificateValidity(wp.admin.readiness, opts.tls, log, { source: certificates === undefined ? undefined : () => certificates.problem() }).stop;
    // Warnings an operator should see once: identity vs the Gateway's service account, nothing
    // bound, obsolete waypoint annotations. Repeated only when they change.
    const warned = new Set<string>();
    const warnAbout = (s: ConfigSnapshot): void => {
      for (const w of startupWarnings(s, opts.tls.current.identity)) {
        if (warned.has(w.key)) continue;
        warned.add(w.key);
        log.warn({ check: w.key.slice(0, w.key.indexOf(':')), resource: w.resource, file: w.file }, w.message);
      }
    };
    warnAbout(first.snapshot);
    store.on('snapshot', warnAbout);
    opts.tls.on('update', () => warnAbout(store.current));
    store.on('snapshot', (s) => wp.metrics.retainWorkloads(s.workloads, s.services));
    // Cluster state for clusters the new configuration no longer has is dropped.
    store.on('snapshot', (s) => {
      const live = clusterNames(s);
      wp.clusters.retain(wp.clusters.names().filter((n) => live.has(n.replace(/\|(http|tcp)\/[^|]*\|/, '|$1|'))));
    });
    store.on('snapshot', (s) => log.info({ version: s.version, services: s.byVip.size, workloads: s.boundWorkloads.size }, 'configuration reloaded'));
    // Open TCP tunnels and upgraded connections a new AuthorizationPolicy denies are closed (HTTP: from the next request).
    let recheckedAgainst = first.snapshot;
    store.on('snapshot', (s) => {
      wp.mainInternal.recheckOpenConnections(recheckedAgainst, s);
      recheckedAgainst = s;
    });
    // A policy that cannot be compiled (failClosedPolicies) is logged once, by name, until fixed.
    let failedClosed = new Set<string>();
    store.on('snapshot', (s) => {
      const now = new Set<string>();
      for (const p of s.policies?.all ?? []) {
        if (p.failedClosed === undefined) continue;
        const key = `${p.id}\n${p.failedClosed}`;
        now.add(key);
        if (!failedClosed.has(key)) log.error({ policy: p.id, reason: p.failedClosed, targets: p.targets }, 'AuthorizationPolicy cannot be compiled: its targets deny every request until it is fixed');
      }
      failedClosed = now;
    });
    store.on('rejected', (problems) => log.error({ problems }, 'configuration rejected; still serving the last good one'));
    opts.tls.on('rejected', (err: Error) => log.error({ err: err.message }, 'certificate reload failed; keeping the current certificate'));
    // Readiness conditions (src/admin/readiness.ts): `hbone` until the listener is up;
    // `certificate` (above) against the clock and the certificate source.
    const readiness = wp.admin.readiness;
    readiness.set('hbone', 'HBONE listener not up');
    const listenHbone = async (): Promise<void> => {
      wp.hboneAddress = await wp.hbone.listen().catch((err: Error) => {
        throw new Error(`cannot listen for HBONE (connect_terminate, --hbone) on ${opts.hbone.host}:${opts.hbone.port}: ${err.message}`);
      });
      readiness.set('hbone', undefined);
    };
    try {
      if (opts.certificates === undefined) await listenHbone();
      if (!syncing) await wp.admin.listen();
    } catch (err) {
      await wp.close();
      throw err;
    }
    if (opts.certificates !== undefined) {
      log.info('waiting for the first certificate before opening the HBONE listener');
      wp.serving = opts.certificates.ready.then(async () => {
        if (wp.#closed) return;
        await listenHbone();
        log.info({ hbone: `${wp.hboneAddress.address}:${wp.hboneAddress.port}`, identity: opts.tls.current.identity }, 'HBONE listener up');
      });
      wp.serving.catch((err: Error) => {
        readiness.set('hbone', `cannot listen: ${err.message}`);
        log.error({ err: err.message }, 'HBONE listener failed to start');
      });
    }
    if (opts.watch !== false) {
      await store.watch();
      opts.tls.watch();
    }
    wp.admin.ready = true;
    if (opts.statsIntervalMs !== undefined && opts.statsIntervalMs > 0) {
      // Its own level, so that `--log-level warn` (no access log) still reports.
      const statsLog = log.child({ log: 'stats' }, { level: 'info' });
      // Under `node --expose-gc` (the soak runs so), each line measures after a full collection:
      // retained memory, not garbage waiting for the next GC.
      const gc = (globalThis as { gc?: () => void }).gc;
      wp.#statsTimer = setInterval(() => {
        if (typeof gc === 'function') gc();
        statsLog.info(wp.stats(), 'stats');
      }, opts.statsIntervalMs);
      wp.#statsTimer.unref();
    }
    log.info(
      {
        hbone: `${wp.hboneAddress.address}:${wp.hboneAddress.port}`,
        waypoint: `${store.current.waypoint.namespace}/${store.current.waypoint.name}`,
        identity: opts.tls.current.identity,
        services: store.current.byVip.size,
        workloads: store.current.boundWorkloads.size,
      },
      'waypoint started',
    );
    return wp;
  }

  /** Memory, handles and open sessions and streams, now. */
  stats(): WaypointStats {
    const m = process.memoryUsage();
    const handles: Record<string, number> = {};
    for (const h of process.getActiveResourcesInfo()) handles[h] = (handles[h] ?? 0) + 1;
    return {
      rssBytes: m.rss,
      heapUsedBytes: m.heapUsed,
      heapTotalBytes: m.heapTotal,
      externalBytes: m.external,
      arrayBuffersBytes: m.arrayBuffers,
      handles,
      sessions: this.hbone.sessionCount,
      streams: this.hbone.streamCount,
      tunnels: StreamSocket.live + StreamRelay.liveEnds,
      upstreamSessions: this.pool.sessionCount,
    };
  }

  /** Graceful drain: readiness fails, GOAWAY to every HBONE session, in-flight work finishes. */
  async drain(): Promise<void> {
    if (this.admin.draining) return;
    this.admin.ready = false;
    this.admin.draining = true;
    const drainMs = this.#opts.drainMs ?? 5_000;
    this.#opts.logger.info({ drainMs, sessions: this.hbone.sessionCount }, 'drain started: readiness failing, GOAWAY sent');
    this.mainInternal.drain();
    await this.hbone.drain(drainMs);
    this.#opts.logger.info({ sessions: this.hbone.sessionCount }, 'drain finished');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#statsTimer !== undefined) clearInterval(this.#statsTimer);
    this.#stopCertificateWatch?.();
    this.admin.ready = false;
    this.store.close();
    this.#opts.certificates?.close();
    this.#opts.tls.close();
    this.mainInternal.close();
    this.metrics.close();
    await Promise.allSettled([this.hbone.close(), this.upstreams.close(), this.admin.close()]);
    await this.pool.close();
    await this.#extAuthz.close();
    this.accessLog.flush();
  }
}

/** Every cluster name a snapshot can route to, without subsets. */
function clusterNames(s: ConfigSnapshot): Set<string> {
  const names = new Set(['encap']);
  for (const b of s.byHostPort.values()) {
    names.add(`inbound-vip|${b.port.port}|http|${b.service.hostname}`);
    names.add(`inbound-vip|${b.port.port}|tcp|${b.service.hostname}`);
  }
  return names;
}
