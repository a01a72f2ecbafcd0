import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AdminServers } from '../admin/servers.js';
import { authzRoutes } from '../admin/authz-routes.js';
import { clustersView, listenersView } from '../admin/views.js';
import { SnapshotStore } from '../snapshot/store.js';
import { TlsSource } from '../hbone/tls-source.js';
import { mergeExpositions } from '../metrics/merge-exposition.js';
import { handleReloadSignal, reloadAndLog, type SignalReloadPlan } from './reload-signal.js';
import { Waypoint, type WaypointOptions } from '../waypoint.js';

/** Messages between the primary and its workers. */
type ToWorker = { type: 'metrics'; id: number } | { type: 'drain' } | { type: 'reload'; plan: SignalReloadPlan };
type FromWorker = { type: 'ready' } | { type: 'metrics'; id: number; text: string } | { type: 'failed'; message: string };

const METRICS_TIMEOUT_MS = 2_000;

/**
 * `--workers N`: N processes share the HBONE listener (node:cluster hands out connections round
 * robin). The primary serves admin, metrics and readiness for all of them: readiness is 200 once
 * every worker is ready, the metrics port merges the workers' expositions, drain reaches every
 * worker. A worker that dies outside a drain is replaced.
 */
export async function runPrimary(opts: WaypointOptions & { certDir: string; workers: number; reloadPlan: SignalReloadPlan }, logger: Logger): Promise<void> {
  const tls = await TlsSource.fromDir(opts.certDir);
  const store = new SnapshotStore({ source: opts.source ?? new (await import('../config/file-source.js')).FileConfigSource({ paths: opts.configPaths }), namespace: opts.namespace, name: opts.name, trustDomain: opts.trustDomain, clusterId: opts.clusterId, rootNamespace: opts.rootNamespace });
  const first = await store.reload();
  if (!first.ok) throw Object.assign(new Error('configuration has errors'), { problems: first.problems });
  await store.watch();
  const snapshot = () => store.current;

  const ready = new Set<number>();
  const pending = new Map<number, { texts: string[]; waiting: number; done: (texts: string[]) => void }>();
  let nextId = 0;
  let draining = false;
  const workers = new Set<Worker>();

  const collectMetrics = (): Promise<string> => {
    const live = [...workers].filter((w) => w.isConnected());
    if (live.length === 0) return Promise.resolve('');
    const id = ++nextId;
    return new Promise<string[]>((resolve) => {
      const entry = { texts: [] as string[], waiting: live.length, done: resolve };
      pending.set(id, entry);
      setTimeout(() => {
        if (pending.delete(id)) resolve(entry.texts);
      }, METRICS_TIMEOUT_MS).unref();
      for (const w of live) w.send({ type: 'metrics', id } satisfies ToWorker);
    }).then((texts) => mergeExpositions(texts));
  };

  let quit: () => void = () => undefined;
  const admin = new AdminServers({
    logger,
    admin: opts.admin,
    metrics: opts.metrics,
    readiness: opts.readiness,
    snapshot,
    tls,
    drain: () => Promise.resolve(quit()),
    quit: () => quit(),
    listeners: () => listenersView(store.current, `${opts.hbone.host}:${opts.hbone.port}`, opts.upstreamHbonePort),
    clusters: () => clustersView(store.current),
    extraRoutes: authzRoutes(snapshot),
    collectMetrics,
    adminAllowRemote: opts.adminAllowRemote === true,
  });
  await admin.listen();

  const fork = (): void => {
    const w = cluster.fork();
    workers.add(w);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        ready.add(w.id);
        admin.ready = ready.size === opts.workers && !draining;
        logger.info({ worker: w.id, ready: ready.size, of: opts.workers }, 'worker ready');
      } else if (m.type === 'metrics') {
        const entry = pending.get(m.id);
        if (entry === undefined) return;
        entry.texts.push(m.text);
        if (--entry.waiting === 0) {
          pending.delete(m.id);
          entry.done(entry.texts);
        }
      } else if (m.type === 'failed') logger.error({ worker: w.id, err: m.message }, 'worker failed to start');
    });
    w.once('exit', (code, signal) => {
      workers.delete(w);
      ready.delete(w.id);
      admin.ready = ready.size === opts.workers && !draining;
      if (!draining) {
        logger.error({ worker: w.id, code, signal }, 'worker exited; starting a replacement');
        setTimeout(fork, 500).unref();
      }
    });
  };
  for (let i = 0; i < opts.workers; i++) fork();

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) {
        logger.warn({ why }, 'second signal: exiting now');
        for (const w of workers) w.process.kill('SIGKILL');
        process.exit(1);
      }
      stopping = true;
      draining = true;
      admin.ready = false;
      admin.draining = true;
      logger.info({ why, drainMs: opts.drainMs, workers: workers.size }, 'draining all workers');
      for (const w of workers) if (w.isConnected()) w.send({ type: 'drain' } satisfies ToWorker);
      const deadline = setTimeout(() => {
        for (const w of workers) w.process.kill('SIGKILL');
      }, (opts.drainMs ?? 5_000) + 3_000);
      const check = setInterval(() => {
        if (workers.size > 0) return;
        clearInterval(check);
        clearTimeout(deadline);
        store.close();
        tls.close();
        void admin.close().finally(() => {
          resolve();
          setTimeout(() => process.exit(0), 200).unref();
        });
      }, 50);
    };
    quit = () => stop('admin request');
    // SIGHUP: the primary re-reads for its admin views, each worker for what it serves.
    const sendReload = (): void => {
      for (const w of workers) if (w.isConnected()) w.send({ type: 'reload', plan: opts.reloadPlan } satisfies ToWorker);
    };
    handleReloadSignal({ plan: opts.reloadPlan, store, tls, logger, onSignal: sendReload });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** One worker: the whole data path, no admin listeners; the primary drives drain and metrics. */
export async function runWorker(opts: WaypointOptions): Promise<void> {
  // The primary decides when to stop; a terminal's Ctrl-C reaches every process of the group.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('SIGHUP', () => undefined);
  let waypoint: Waypoint;
  try {
    waypoint = await Waypoint.start({ ...opts, admin: undefined, metrics: undefined, readiness: undefined });
  } catch (err) {
    process.send?.({ type: 'failed', message: (err as Error).message } satisfies FromWorker);
    throw err;
  }
  process.on('message', (m: ToWorker) => {
    if (m.type === 'metrics') {
      void waypoint.admin.registry.metrics().then(
        (text) => process.send?.({ type: 'metrics', id: m.id, text } satisfies FromWorker),
        () => process.send?.({ type: 'metrics', id: m.id, text: '' } satisfies FromWorker),
      );
    } else if (m.type === 'reload') {
      void reloadAndLog({ store: waypoint.store, tls: opts.tls }, m.plan, opts.logger);
    } else if (m.type === 'drain') {
      void waypoint
        .drain()
        .then(() => waypoint.close())
        .finally(() => process.exit(0));
    }
  });
  process.send?.({ type: 'ready' } satisfies FromWorker);
}
