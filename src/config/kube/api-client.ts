/**
 * The few calls the Kubernetes source makes: a cluster-wide list, and watches through
 * `@kubernetes/client-node`'s `Watch` (used by its `ListWatch` informer), with the credentials of a
 * kubeconfig file or of the pod's service account.
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';

/** An API error: `statusCode` is the HTTP status (404: the API is not installed; 410: expired). */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
  ) {
    super(message);
  }
}

export interface ListResult {
  items: unknown[];
  resourceVersion: string;
}

export interface KubeApiClientOptions {
  /** Largest list response accepted; default 512 MiB. */
  maxListBytes?: number | undefined;
  /** Time allowed for a list request; default 60 s. */
  listTimeoutMs?: number | undefined;
}

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

export class KubeApiClient {
  readonly config: KubeConfig;
  readonly server: string;
  readonly #maxListBytes: number;
  readonly #listTimeoutMs: number;

  constructor(config: KubeConfig, opts: KubeApiClientOptions = {}) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig names no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    this.#maxListBytes = opts.maxListBytes ?? 512 * 1024 * 1024;
    this.#listTimeoutMs = opts.listTimeoutMs ?? 60_000;
  }

  /** From a kubeconfig file (read once, at start-up). */
  static fromFile(file: string, opts?: KubeApiClientOptions): KubeApiClient {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return new KubeApiClient(kc, opts);
  }

  /** In a pod: `KUBERNETES_SERVICE_HOST`/`_PORT` and the mounted service-account token and CA. */
  static inCluster(opts?: KubeApiClientOptions): KubeApiClient {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return new KubeApiClient(kc, opts);
  }

  /** GETs a collection. Rejects with a `KubeApiError` carrying the status on anything but 200. */
  async list(path: string): Promise<ListResult> {
    const opts: https.RequestOptions = {};
    await this.config.applyToHTTPSOptions(opts);
    const url = new URL(this.server + path);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<ListResult>((resolve, reject) => {
      const req = mod.request(url, { method: 'GET', agent: opts.agent, headers: { ...opts.headers, accept: 'application/json' }, timeout: this.#listTimeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.#maxListBytes) {
            req.destroy(new KubeApiError(`list ${path}: response larger than ${this.#maxListBytes} bytes`, undefined));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          if (status !== 200) {
            const message = isRecord(body) && typeof body['message'] === 'string' ? body['message'] : `${status} ${res.statusMessage ?? ''}`.trim();
            reject(new KubeApiError(`list ${path}: ${message}`, status));
            return;
          }
          if (!isRecord(body)) {
            reject(new KubeApiError(`list ${path}: the response is not a JSON object`, status));
            return;
          }
          const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
          resolve({
            items: Array.isArray(body['items']) ? body['items'] : [],
            resourceVersion: typeof metadata['resourceVersion'] === 'string' ? metadata['resourceVersion'] : '',
          });
        });
      });
      req.on('timeout', () => req.destroy(new KubeApiError(`list ${path}: no answer within ${this.#listTimeoutMs} ms`, undefined)));
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * A `Watch` for client-node's `ListWatch` that passes each object through `transform` before the
   * informer caches it, asks the server for bookmarks and to end the watch after a few minutes
   * (the informer then watches again from where it was), and aborts a watch the server keeps past
   * that, so a silently lost connection is noticed.
   */
  watch(transform: (obj: unknown) => unknown): Watch {
    return new TransformingWatch(this.config, transform);
  }
}

class TransformingWatch extends Watch {
  readonly #transform: (obj: unknown) => unknown;

  constructor(config: KubeConfig, transform: (obj: unknown) => unknown) {
    super(config);
    this.#transform = transform;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const timeoutSeconds = 240 + Math.floor(Math.random() * 120);
    let finished = false;
    let guard: NodeJS.Timeout | undefined;
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
      (phase, obj: unknown, watchObj: unknown) => {
        const objectEvent = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
        callback(phase, objectEvent ? this.#transform(obj) : obj, watchObj);
      },
      (err: unknown) => {
        finished = true;
        if (guard !== undefined) clearTimeout(guard);
        done(err);
      },
    );
    if (!finished) {
      guard = setTimeout(() => controller.abort(), (timeoutSeconds + 30) * 1000);
      guard.unref();
    }
    return controller;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
