/**
 * Follows one kind cluster-wide with client-node's `ListWatch` (list, then watch from the list's
 * resourceVersion; 410 Gone relists), and keeps it going: client-node stops an informer on any
 * other error, so it is restarted here with backoff. A kind whose API is not installed (404) is
 * reported once, counts as empty and listed, and is tried again every `notInstalledRetryMs`, so a
 * CRD installed later is picked up.
 */
import { ListWatch, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeApiClient } from './api-client.js';
import { Backoff } from './backoff.js';
import { apiVersionOf, collectionPath, type WatchedKind } from './kinds.js';
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
    const path = collectionPath(kind);
    const slim = (obj: unknown): unknown => slimObject(kind, obj) ?? obj;
    const listFn = async (): Promise<{ apiVersion: string; kind: string; metadata: { resourceVersion: string }; items: KubernetesObject[] }> => {
      const result = await client.list(path);
      const items = result.items.map((i) => slimObject(kind, i)).filter((i): i is SlimObject => i !== undefined);
      if (this.#installed === false) this.#log.info({ api: apiVersionOf(kind) }, 'API installed now: following it');
      this.#installed = true;
      this.#succeeded();
      sink.replace(kind, items);
      sink.listed(kind);
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: result.resourceVersion }, items: items as unknown as KubernetesObject[] };
    };
    const lw = new ListWatch<KubernetesObject>(path, client.watch(slim), listFn, false);
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
    if (status === 404) {
      if (this.#installed !== false) {
        this.#log.info({ api: apiVersionOf(this.kind), retryMs: this.#opts.notInstalledRetryMs }, 'API not installed: treated as empty until it is');
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
