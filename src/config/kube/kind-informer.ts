/**
 * Follows one kind cluster-wide with client-node's `ListWatch` (list, then watch from the list's
 * resourceVersion; 410 Gone relists), and keeps it going: client-node stops an informer on any
 * other error, so it is restarted here with backoff. A kind whose API is not installed (404) is
 * reported once, counts as empty and listed, and is tried again every `notInstalledRetryMs`, so a
 * CRD installed later is picked up. With `scope`, one namespace is followed, optionally one object
 * by name (a field selector, which RBAC `resourceNames` needs for list and watch), and a 403 can
 * count as empty too (a grant the cluster may not have given).
 */
import { ListWatch, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeApiClient } from './api-client.js';
import { Backoff } from './backoff.js';
import { apiVersionOf, collectionPath, namespacedCollectionPath, type WatchedKind } from './kinds.js';
import { slimObject } from './slim.js';

export type SlimObject = Record<string, unknown>;

/** Where an informer delivers what it sees. */
export interface KindSink {
  /** A (re)list: the whole collection now. */
  replace(kind: WatchedKind, objects: SlimObject[]): void;
  upsert(kind: WatchedKind, obj: SlimObject): void;
  remove(kind: WatchedKind, obj: SlimObject): void;
  /** The collection was listed (or found not installed); called after every such list. */
  listed(kind: WatchedKind): void;
}

export interface KindInformerOptions {
  kind: WatchedKind;
  client: KubeApiClient;
  sink: KindSink;
  logger: Logger;
  /** Longest wait between restarts after an error. The API server's return is seen within it. */
  retryCapMs: number;
  /** Wait before trying a kind whose API is not installed again. */
  notInstalledRetryMs: number;
  /** Follow one namespace (and one object of it) rather than the whole cluster. */
  scope?: InformerScope | undefined;
}

export interface InformerScope {
  namespace: string;
  /** Only the object of this name (`fieldSelector=metadata.name=<name>`). */
  name?: string | undefined;
  /** A 403 (not allowed to read it) counts as empty, like an API not installed, and is retried as slowly. */
  forbiddenIsEmpty?: boolean | undefined;
}

export class KindInformer {
  readonly kind: WatchedKind;
  readonly #opts: KindInformerOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #lw: ListWatch<KubernetesObject> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  /** undefined until the first list answers. */
  #installed: boolean | undefined;
  /** Errors in a row since the last success (only the first of a streak is logged as a warning). */
  #failures = 0;

  constructor(opts: KindInformerOptions) {
    this.kind = opts.kind;
    this.#opts = opts;
    this.#log = opts.logger.child({ kind: opts.kind.kind });
    this.#backoff = new Backoff({ baseMs: 200, capMs: opts.retryCapMs });
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#run();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const lw = this.#lw;
    this.#lw = undefined;
    void lw?.stop();
  }

  /** A fresh ListWatch: after a 404 its resourceVersion belongs to an API that is gone. */
  #newListWatch(): ListWatch<KubernetesObject> {
    const { kind, client, sink } = this.#opts;
    const scope = this.#opts.scope;
    const path = scope === undefined ? collectionPath(kind) : namespacedCollectionPath(kind, scope.namespace);
    const fieldSelector = scope?.name === undefined ? undefined : `metadata.name=${scope.name}`;
    const listPath = fieldSelector === undefined ? path : `${path}?fieldSelector=${encodeURIComponent(fieldSelector)}`;
    const slim = (obj: unknown): unknown => slimObject(kind, obj) ?? obj;
    const listFn = async (): Promise<{ apiVersion: string; kind: string; metadata: { resourceVersion: string }; items: KubernetesObject[] }> => {
      const result = await client.list(listPath);
      const items = result.items.map((i) => slimObject(kind, i)).filter((i): i is SlimObject => i !== undefined);
      if (this.#installed === false) this.#log.info({ api: apiVersionOf(kind) }, this.#opts.scope?.forbiddenIsEmpty === true ? 'readable now: following it' : 'API installed now: following it');
      this.#installed = true;
      this.#succeeded();
      sink.replace(kind, items);
      sink.listed(kind);
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: result.resourceVersion }, items: items as unknown as KubernetesObject[] };
    };
    const lw = new ListWatch<KubernetesObject>(path, client.watch(slim), listFn, false, undefined, fieldSelector);
    const live = (f: (obj: SlimObject) => void) => (obj: KubernetesObject): void => {
      if (this.#lw !== lw) return;
      this.#succeeded();
      f(obj as unknown as SlimObject);
    };
    lw.on('add', live((o) => sink.upsert(kind, o)));
    lw.on('update', live((o) => sink.upsert(kind, o)));
    lw.on('delete', live((o) => sink.remove(kind, o)));
    lw.on('error', (err: unknown) => {
      if (this.#lw === lw) this.#onError(err);
    });
    return lw;
  }

  #run(): void {
    if (this.#stopped) return;
    this.#lw ??= this.#newListWatch();
    const lw = this.#lw;
    lw.start().catch((err: unknown) => {
      if (this.#lw === lw) this.#onError(err);
    });
  }

  #succeeded(): void {
    if (this.#failures > 0) this.#log.info({ after: this.#failures }, 'Kubernetes API reachable again');
    this.#failures = 0;
    this.#backoff.reset();
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    const status = (err as { statusCode?: unknown; code?: unknown }).statusCode ?? (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    let delay: number;
    const forbidden = status === 403 && this.#opts.scope?.forbiddenIsEmpty === true;
    if (status === 404 || forbidden) {
      if (this.#installed !== false) {
        const where = { api: apiVersionOf(this.kind), ...(this.#opts.scope !== undefined ? { namespace: this.#opts.scope.namespace, name: this.#opts.scope.name } : {}), retryMs: this.#opts.notInstalledRetryMs };
        if (forbidden) this.#log.warn({ ...where, err: message }, 'not allowed to read it (403): treated as absent until it is');
        else this.#log.info(where, 'API not installed: treated as empty until it is');
      }
      this.#installed = false;
      this.#opts.sink.replace(this.kind, []);
      this.#opts.sink.listed(this.kind);
      // The next try starts from a fresh list.
      const old = this.#lw;
      this.#lw = undefined;
      void old?.stop();
      delay = this.#opts.notInstalledRetryMs;
    } else {
      delay = this.#backoff.next();
      this.#failures++;
      const fields = { err: message, status, retryMs: delay };
      if (this.#failures === 1) this.#log.warn(fields, 'Kubernetes list/watch failed; still serving the last configuration, retrying');
      else this.#log.debug(fields, 'Kubernetes list/watch failed again');
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, delay);
    this.#timer.unref();
  }
}
