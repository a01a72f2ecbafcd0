/**
 * The configuration from the Kubernetes API: one informer per kind (`kind-informer.ts`), cluster
 * wide; each object slimmed (`slim.ts`) and checked by the file loader's schemas (`objects.ts`).
 * Changes are coalesced into one `change` carrying the whole set. One bad object never stops
 * updates: it is logged, counted, listed among the problems (`/config_dump` warnings) and skipped.
 * With `meshConfigMap`, Istio's mesh config is followed too and handed over with every change.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { ConfigSource, ConfigSourceHandlers, ConfigState } from '../source.js';
import type { ConfigProblem, LoadedResource } from '../types.js';
import type { KubeApiClient } from './api-client.js';
import { KindInformer, type KindSink, type SlimObject } from './kind-informer.js';
import { CONFIG_MAP_KIND, WATCHED_KINDS, type WatchedKind } from './kinds.js';
import type { MeshConfigMap } from './mesh-config-map.js';
import { toLoadedResource, type ObjectOutcome } from './objects.js';

export interface KubernetesConfigSourceOptions {
  client: KubeApiClient;
  logger: Logger;
  /** Longest time a change waits to be delivered with the ones after it. Default 50 ms (≤ 100). */
  coalesceMs?: number | undefined;
  /** Longest wait between reconnects after an error. Default 5 s. */
  retryCapMs?: number | undefined;
  /** Wait before trying a kind whose API is not installed again. Default 30 s. */
  notInstalledRetryMs?: number | undefined;
  /** The kinds to follow; default all (`WATCHED_KINDS`). */
  kinds?: readonly WatchedKind[] | undefined;
  /**
   * Also follow Istio's mesh config, the `istio` ConfigMap of the root namespace (in that
   * namespace only, by name); its absence or a 403 means no mesh config. Absent: not followed.
   */
  meshConfigMap?: MeshConfigMap | undefined;
}

interface Entry {
  /** The slimmed object as received (the informer caches the same one). */
  obj: SlimObject;
  resourceVersion: string | undefined;
  outcome: ObjectOutcome;
}

/** What `problems` and logs call objects from the API. */
const ORIGIN = 'kubernetes';

export class KubernetesConfigSource implements ConfigSource {
  readonly description: string;
  /** Resolves once every kind has been listed once (or found not installed). */
  readonly synced: Promise<void>;
  readonly #opts: KubernetesConfigSourceOptions;
  readonly #log: Logger;
  readonly #kinds: readonly WatchedKind[];
  /** One per kind, then the mesh config's when followed. */
  readonly #informers: KindInformer[];
  readonly #objects = new Map<string, Map<string, Entry>>();
  readonly #listed = new Set<string>();
  readonly #rejectedTotal = new Map<string, number>();
  #resolveSynced: () => void = () => undefined;
  #handlers: ConfigSourceHandlers | undefined;
  #started = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #generation = 0;
  #delivered = -1;

  constructor(opts: KubernetesConfigSourceOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ source: 'kubernetes' });
    this.#kinds = opts.kinds ?? WATCHED_KINDS;
    this.description = `kubernetes ${opts.client.server}`;
    this.synced = new Promise<void>((resolve) => {
      this.#resolveSynced = resolve;
    });
    const sink: KindSink = {
      replace: (k, objs) => this.#replace(k, objs),
      upsert: (k, obj) => this.#upsert(k, obj),
      remove: (k, obj) => this.#remove(k, obj),
      listed: (k) => this.#markListed(k),
    };
    this.#informers = this.#kinds.map(
      (kind) =>
        new KindInformer({
          kind,
          client: opts.client,
          sink,
          logger: this.#log,
          retryCapMs: opts.retryCapMs ?? 5_000,
          notInstalledRetryMs: opts.notInstalledRetryMs ?? 30_000,
        }),
    );
    for (const k of this.#kinds) this.#objects.set(k.kind, new Map());
    const mesh = opts.meshConfigMap;
    if (mesh !== undefined) {
      const apply = (obj: SlimObject | undefined): void => {
        if (mesh.set(obj)) this.#changed();
      };
      const named = (objs: SlimObject[]): SlimObject | undefined => objs.find((o) => keyOf(o) === `${mesh.namespace}/${mesh.name}`);
      this.#informers.push(
        new KindInformer({
          kind: CONFIG_MAP_KIND,
          client: opts.client,
          sink: { replace: (_k, objs) => apply(named(objs)), upsert: (_k, obj) => apply(named([obj])), remove: () => apply(undefined), listed: (k) => this.#markListed(k) },
          logger: this.#log,
          retryCapMs: opts.retryCapMs ?? 5_000,
          notInstalledRetryMs: opts.notInstalledRetryMs ?? 30_000,
          scope: { namespace: mesh.namespace, name: mesh.name, forbiddenIsEmpty: true },
        }),
      );
    }
  }

  /** True once every kind (and the mesh config, when followed) has been listed once. */
  get isSynced(): boolean {
    return this.#listed.size === this.#informers.length;
  }

  /** The kinds not listed yet (for readiness reasons). */
  unsyncedKinds(): string[] {
    return this.#informers.filter((i) => !this.#listed.has(i.kind.kind)).map((i) => i.kind.kind);
  }

  /** Why the first configuration is not complete yet (readiness), or undefined once every kind listed. */
  syncProblem(): string | undefined {
    if (this.isSynced) return undefined;
    return `waiting for the Kubernetes API (${this.#opts.client.server}): not listed yet: ${this.unsyncedKinds().join(', ')}`;
  }

  /** Starts the informers if needed and waits until every kind has listed once. */
  async read(): Promise<ConfigState> {
    this.#startInformers();
    await this.synced;
    this.#delivered = this.#generation;
    return this.#state();
  }

  start(handlers: ConfigSourceHandlers): Promise<void> {
    if (this.#stopped || this.#handlers !== undefined) return Promise.resolve();
    this.#handlers = handlers;
    this.#startInformers();
    if (this.isSynced && this.#generation !== this.#delivered) this.#schedule();
    return Promise.resolve();
  }

  stop(): void {
    this.#stopped = true;
    this.#handlers = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const i of this.#informers) i.stop();
  }

  /**
   * `waypoint_config_rejected_objects_total{kind}`: objects from the API that failed validation
   * and were skipped (each version of an object counts once).
   */
  registerMetrics(registry: Registry): void {
    const counts = this.#rejectedTotal;
    new Counter({
      name: 'waypoint_config_rejected_objects_total',
      help: 'Objects from the Kubernetes API rejected by validation and skipped, by kind',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [kind, n] of counts) this.inc({ kind }, n);
      },
    });
  }

  #startInformers(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#log.info({ server: this.#opts.client.server, kinds: this.#kinds.length }, 'following the Kubernetes API');
    for (const i of this.#informers) i.start();
  }

  #state(): ConfigState {
    const resources: LoadedResource[] = [];
    const problems: ConfigProblem[] = [];
    for (const k of this.#kinds) {
      for (const e of this.#objects.get(k.kind)?.values() ?? []) {
        if (e.outcome.ok) resources.push(e.outcome.resource);
        else problems.push(...e.outcome.problems);
      }
    }
    const mesh = this.#opts.meshConfigMap;
    if (mesh === undefined) return { resources, problems };
    problems.push(...mesh.problems());
    return { resources, problems, meshConfig: mesh.current };
  }

  #changed(): void {
    this.#generation++;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#handlers === undefined || !this.isSynced || this.#timer !== undefined || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#handlers === undefined || this.#generation === this.#delivered) return;
      this.#delivered = this.#generation;
      this.#handlers.change(this.#state());
    }, this.#opts.coalesceMs ?? 50);
  }

  #entry(k: WatchedKind, obj: SlimObject, previous: Entry | undefined): Entry {
    const rv = resourceVersionOf(obj);
    if (previous !== undefined && (previous.obj === obj || (rv !== undefined && previous.resourceVersion === rv))) return previous;
    const outcome = toLoadedResource(k, obj, ORIGIN);
    if (!outcome.ok) {
      this.#rejectedTotal.set(k.kind, (this.#rejectedTotal.get(k.kind) ?? 0) + 1);
      this.#log.warn(
        { kind: k.kind, namespace: outcome.namespace, name: outcome.name, problems: outcome.problems.map((p) => `${p.field ?? ''}: ${p.message}`) },
        'Kubernetes object rejected; skipped (the rest of the configuration still applies)',
      );
    }
    return { obj, resourceVersion: rv, outcome };
  }

  #replace(k: WatchedKind, objs: SlimObject[]): void {
    const old = this.#objects.get(k.kind) ?? new Map<string, Entry>();
    const next = new Map<string, Entry>();
    let same = old.size === objs.length;
    for (const obj of objs) {
      const key = keyOf(obj);
      const prev = old.get(key);
      const entry = this.#entry(k, obj, prev);
      if (entry !== prev) same = false;
      next.set(key, entry);
    }
    this.#objects.set(k.kind, next);
    if (!same) this.#changed();
  }

  #upsert(k: WatchedKind, obj: SlimObject): void {
    const map = this.#objects.get(k.kind);
    if (map === undefined) return;
    const key = keyOf(obj);
    const prev = map.get(key);
    const entry = this.#entry(k, obj, prev);
    if (entry === prev) return;
    map.set(key, entry);
    this.#changed();
  }

  #remove(k: WatchedKind, obj: SlimObject): void {
    if (this.#objects.get(k.kind)?.delete(keyOf(obj)) === true) this.#changed();
  }

  #markListed(k: WatchedKind): void {
    if (this.#listed.has(k.kind)) return;
    this.#listed.add(k.kind);
    if (this.isSynced) {
      this.#log.info({ objects: [...this.#objects.values()].reduce((n, m) => n + m.size, 0) }, 'every kind listed: in sync with the Kubernetes API');
      this.#resolveSynced();
      this.#schedule();
    }
  }
}

function metadataOf(obj: SlimObject): Record<string, unknown> {
  const m = obj['metadata'];
  return typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : {};
}

function keyOf(obj: SlimObject): string {
  const m = metadataOf(obj);
  return `${typeof m['namespace'] === 'string' ? m['namespace'] : ''}/${typeof m['name'] === 'string' ? m['name'] : ''}`;
}

function resourceVersionOf(obj: SlimObject): string | undefined {
  const rv = metadataOf(obj)['resourceVersion'];
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}
