/**
 * A fake Kubernetes API server on loopback for tests, demos and benchmarks: cluster-wide list and
 * watch of the kinds the waypoint follows (`src/config/kube/kinds.ts`), and namespaced list and
 * watch (with the field selectors `metadata.name=` and `metadata.namespace=`) of those and of
 * ConfigMaps (Istio's mesh config), with resourceVersions,
 * newline-delimited watch events (ADDED, MODIFIED, DELETED, BOOKMARK), `ERROR` 410 for a watch
 * from a version older than its history, bearer-token authentication, RBAC from
 * `deploy/rbac.yaml`, 404 for APIs marked not installed, and outages (stop, then start on the same
 * address). As the real server does, the items of a List of built-in kinds carry no
 * apiVersion/kind, and objects carry `managedFields`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { findPackageFile } from '../config/files.js';
import { apiVersionOf, CONFIG_MAP_KIND, WATCHED_KINDS, type WatchedKind } from '../config/kube/kinds.js';
import { parseRbac, rbacAllows, type RbacPolicy, type RbacRequestScope } from './fake-kube-rbac.js';

export type KubeObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string };
};

export interface FakeKubeApiOptions {
  /** Loopback address to listen on; default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** The ServiceAccount the issued token belongs to (RBAC subject); default `default/waypoint`. */
  serviceAccount?: { namespace: string; name: string };
  /** RBAC as YAML (ClusterRoles and ClusterRoleBindings); default: the repository's `deploy/rbac.yaml`. */
  rbacYaml?: string;
  /** Kinds whose API is not installed (404) at start, e.g. `['AuthorizationPolicy']`. */
  notInstalled?: readonly string[];
  /** Watch events kept per collection; a watch from before them gets 410. Default 10,000. */
  historyLimit?: number;
}

interface Collection {
  kind: WatchedKind;
  installed: boolean;
  objects: Map<string, KubeObject>;
  history: Array<{ rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject }>;
  watchers: Set<Watcher>;
}

interface Watcher {
  res: http.ServerResponse;
  /** The namespace of a namespaced watch and the field selector's values. */
  filter: RbacRequestScope;
  bookmarks: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** What the fake has been asked, for assertions (`lists`, `watches` by kind, `forbidden`). */
export interface FakeKubeApiStats {
  lists: Map<string, number>;
  watches: Map<string, number>;
  /** `verb group/resource` the RBAC refused. */
  forbidden: string[];
}

const BUILT_IN_GROUPS = new Set(['', 'discovery.k8s.io']);

export class FakeKubeApi {
  readonly token = randomBytes(16).toString('hex');
  readonly stats: FakeKubeApiStats = { lists: new Map(), watches: new Map(), forbidden: [] };
  readonly #opts: FakeKubeApiOptions;
  readonly #serviceAccount: string;
  readonly #rbac: RbacPolicy;
  readonly #byKind = new Map<string, Collection>();
  readonly #byPath = new Map<string, Collection>();
  readonly #sockets = new Set<Socket>();
  #server: http.Server | undefined;
  #rv = 1;
  /** A watch from a resourceVersion below this gets 410 Gone. */
  #minWatchRv = 0;
  #host = '127.0.0.1';
  #port = 0;

  private constructor(opts: FakeKubeApiOptions, rbac: RbacPolicy) {
    this.#opts = opts;
    this.#rbac = rbac;
    const sa = opts.serviceAccount ?? { namespace: 'default', name: 'waypoint' };
    this.#serviceAccount = `${sa.namespace}/${sa.name}`;
    const notInstalled = new Set(opts.notInstalled ?? []);
    for (const kind of [...WATCHED_KINDS, CONFIG_MAP_KIND]) {
      const c: Collection = { kind, installed: !notInstalled.has(kind.kind), objects: new Map(), history: [], watchers: new Set() };
      this.#byKind.set(kind.kind, c);
      const base = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
      this.#byPath.set(`${base}/${kind.plural}`, c);
    }
  }

  static async start(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const rbac = parseRbac(opts.rbacYaml ?? (await readFile(await defaultRbacFile(), 'utf8')));
    const api = new FakeKubeApi(opts, rbac);
    api.#host = opts.host ?? '127.0.0.1';
    api.#port = opts.port ?? 0;
    await api.restart();
    return api;
  }

  /** `http://host:port`. */
  get url(): string {
    return `http://${this.#host}:${this.#port}`;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Creates or replaces an object (ADDED or MODIFIED); returns it as stored. */
  apply(input: Record<string, unknown>): KubeObject {
    const c = this.#collectionOf(input);
    const obj = structuredClone(input) as KubeObject;
    const ns = c.kind.namespaced ? (typeof obj.metadata.namespace === 'string' ? obj.metadata.namespace : 'default') : undefined;
    const key = `${ns ?? ''}/${obj.metadata.name}`;
    const prev = c.objects.get(key);
    const rv = ++this.#rv;
    obj.metadata = {
      ...obj.metadata,
      ...(ns !== undefined ? { namespace: ns } : {}),
      uid: prev?.metadata['uid'] ?? randomUUID(),
      resourceVersion: String(rv),
      creationTimestamp: prev?.metadata['creationTimestamp'] ?? new Date().toISOString(),
      managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: obj.apiVersion, time: new Date().toISOString(), fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': {}, 'f:spec': {} } }],
    };
    c.objects.set(key, obj);
    this.#emit(c, rv, prev === undefined ? 'ADDED' : 'MODIFIED', obj);
    return obj;
  }

  /** Deletes an object (DELETED); false when there was none. */
  delete(kind: string, namespace: string, name: string): boolean {
    const c = this.#byKind.get(kind);
    if (c === undefined) throw new Error(`fake API: unknown kind ${kind}`);
    const key = `${c.kind.namespaced ? namespace : ''}/${name}`;
    const prev = c.objects.get(key);
    if (prev === undefined) return false;
    c.objects.delete(key);
    const rv = ++this.#rv;
    this.#emit(c, rv, 'DELETED', { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rv) } });
    return true;
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    const c = this.#byKind.get(kind);
    return c?.objects.get(`${c.kind.namespaced ? namespace : ''}/${name}`);
  }

  /** Marks a kind's API as installed (a CRD applied) or not (404 on list and watch). */
  setInstalled(kind: string, installed: boolean): void {
    const c = this.#byKind.get(kind);
    if (c === undefined) throw new Error(`fake API: unknown kind ${kind}`);
    c.installed = installed;
    if (!installed) this.#endWatches(c);
  }

  /**
   * Forgets the watch history (as etcd compaction does) and ends every watch: clients watching
   * again from the version they had get `ERROR` 410 and must list again.
   */
  expireHistory(): void {
    this.#minWatchRv = ++this.#rv;
    for (const c of this.#byKind.values()) {
      c.history = [];
      this.#endWatches(c);
    }
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that asked for bookmarks. */
  sendBookmarks(): void {
    for (const c of this.#byKind.values()) {
      for (const w of c.watchers) {
        if (w.bookmarks) writeEvent(w.res, 'BOOKMARK', { kind: c.kind.kind, apiVersion: apiVersionOf(c.kind), metadata: { resourceVersion: String(this.#rv) } });
      }
    }
  }

  /** An outage: stops listening and cuts every connection; state and history are kept. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const c of this.#byKind.values()) this.#endWatches(c);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** Listens (again, on the same address and port, after `stop`). */
  async restart(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr !== null && typeof addr === 'object') this.#port = addr.port;
    this.#server = server;
  }

  /** The end of the test: the same as `stop`. */
  async close(): Promise<void> {
    await this.stop();
  }

  /** Writes a kubeconfig for this server and the token (JSON, which kubeconfig readers accept). */
  async writeKubeconfig(file: string, token = this.token): Promise<void> {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'waypoint', user: { token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'waypoint' } }],
      'current-context': 'fake',
    };
    await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  }

  #collectionOf(obj: Record<string, unknown>): Collection {
    const kind = obj['kind'];
    const c = typeof kind === 'string' ? this.#byKind.get(kind) : undefined;
    const meta = obj['metadata'] as Record<string, unknown> | undefined;
    if (c === undefined) throw new Error(`fake API: unknown kind ${String(kind)}`);
    if (typeof meta?.['name'] !== 'string') throw new Error('fake API: metadata.name is required');
    return c;
  }

  #emit(c: Collection, rv: number, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void {
    c.history.push({ rv, type, object });
    const limit = this.#opts.historyLimit ?? 10_000;
    if (c.history.length > limit) {
      const dropped = c.history.splice(0, c.history.length - limit);
      const last = dropped[dropped.length - 1];
      if (last !== undefined) this.#minWatchRv = Math.max(this.#minWatchRv, last.rv);
    }
    for (const w of c.watchers) if (selected(object, w.filter)) writeEvent(w.res, type, object);
  }

  #endWatches(c: Collection): void {
    for (const w of c.watchers) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.res.end();
    }
    c.watchers.clear();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.method !== 'GET') {
      sendStatus(res, 405, 'MethodNotAllowed', `the fake API server only reads (${req.method ?? ''})`);
      return;
    }
    const c = this.#byPath.get(url.pathname);
    const inNamespace = c === undefined ? this.#namespacedCollection(url.pathname) : undefined;
    const single = c === undefined && inNamespace === undefined ? this.#singleObject(url.pathname) : undefined;
    const target = c ?? inNamespace?.collection ?? single?.collection;
    if (target === undefined || !target.installed) {
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    const fields = single === undefined ? parseFieldSelector(url.searchParams.get('fieldSelector')) : {};
    if (fields === undefined) {
      sendStatus(res, 400, 'BadRequest', `the fake API server supports only the field selectors metadata.name= and metadata.namespace= (${url.searchParams.get('fieldSelector') ?? ''})`);
      return;
    }
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const verb = single !== undefined ? 'get' : watch ? 'watch' : 'list';
    const { group, plural } = target.kind;
    // As the real authorizer: the request's namespace from its path, its name from the path or
    // (list, watch) the metadata.name field selector.
    const namespace = inNamespace?.namespace ?? (single !== undefined && target.kind.namespaced ? single.key.split('/')[0] : undefined);
    const filter: RbacRequestScope = { namespace: namespace ?? fields.namespace, name: single !== undefined ? single.key.split('/')[1] : fields.name };
    if (!rbacAllows(this.#rbac, this.#serviceAccount, verb, group, plural, { namespace, name: filter.name })) {
      const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      this.stats.forbidden.push(`${verb} ${group === '' ? 'core' : group}/${plural}${namespace === undefined ? '' : ` in ${namespace}`}`);
      const [ns, name] = this.#serviceAccount.split('/');
      sendStatus(res, 403, 'Forbidden', `${plural}${group === '' ? '' : `.${group}`} is forbidden: User "system:serviceaccount:${ns ?? ''}:${name ?? ''}" cannot ${verb} resource "${plural}" in API group "${group}" ${where}`);
      return;
    }
    if (single !== undefined) {
      const obj = target.objects.get(single.key);
      if (obj === undefined) sendStatus(res, 404, 'NotFound', `${plural} "${single.key.split('/')[1] ?? ''}" not found`);
      else sendJson(res, 200, obj);
      return;
    }
    const counter = watch ? this.stats.watches : this.stats.lists;
    counter.set(target.kind.kind, (counter.get(target.kind.kind) ?? 0) + 1);
    if (watch) this.#watch(target, url, res, filter);
    else this.#list(target, res, filter);
  }

  /** `/api/v1/namespaces/<ns>/<plural>`: a namespaced collection. */
  #namespacedCollection(pathname: string): { collection: Collection; namespace: string } | undefined {
    const m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)$/.exec(pathname);
    if (m === null) return undefined;
    const c = this.#byPath.get(`${m[1] ?? ''}/${m[3] ?? ''}`);
    return c?.kind.namespaced === true ? { collection: c, namespace: decodeURIComponent(m[2] ?? '') } : undefined;
  }

  /** `/api/v1/namespaces/<ns>/<plural>/<name>` (and the cluster-scoped `/<plural>/<name>`). */
  #singleObject(pathname: string): { collection: Collection; key: string } | undefined {
    for (const [base, c] of this.#byPath) {
      const prefix = base.slice(0, base.lastIndexOf('/'));
      if (c.kind.namespaced) {
        const m = new RegExp(`^${escape(prefix)}/namespaces/([^/]+)/${c.kind.plural}/([^/]+)$`).exec(pathname);
        if (m !== null) return { collection: c, key: `${m[1] ?? ''}/${m[2] ?? ''}` };
      } else {
        const m = new RegExp(`^${escape(base)}/([^/]+)$`).exec(pathname);
        if (m !== null) return { collection: c, key: `/${m[1] ?? ''}` };
      }
    }
    return undefined;
  }

  #list(c: Collection, res: http.ServerResponse, filter: RbacRequestScope): void {
    const builtIn = BUILT_IN_GROUPS.has(c.kind.group);
    const items = [...c.objects.values()].filter((o) => selected(o, filter)).map((o) => {
      if (!builtIn) return o;
      const { apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    });
    sendJson(res, 200, { apiVersion: apiVersionOf(c.kind), kind: `${c.kind.kind}List`, metadata: { resourceVersion: String(this.#rv) }, items });
  }

  #watch(c: Collection, url: URL, res: http.ServerResponse, filter: RbacRequestScope): void {
    const from = url.searchParams.get('resourceVersion') ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from !== '' && from !== '0') {
      const rv = Number(from);
      if (!Number.isInteger(rv) || rv < this.#minWatchRv) {
        writeEvent(res, 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.#minWatchRv})`, reason: 'Expired', code: 410 });
        res.end();
        return;
      }
      for (const e of c.history) if (e.rv > rv && selected(e.object, filter)) writeEvent(res, e.type, e.object);
    } else {
      for (const o of c.objects.values()) if (selected(o, filter)) writeEvent(res, 'ADDED', o);
    }
    const w: Watcher = { res, filter, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true', timer: undefined };
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '');
    if (Number.isFinite(timeout) && timeout > 0) {
      w.timer = setTimeout(() => {
        c.watchers.delete(w);
        res.end();
      }, timeout * 1000);
    }
    c.watchers.add(w);
    res.once('close', () => {
      if (w.timer !== undefined) clearTimeout(w.timer);
      c.watchers.delete(w);
    });
  }
}

/** `metadata.name=a,metadata.namespace=b` → its values; {} when absent; undefined for anything else. */
function parseFieldSelector(text: string | null): RbacRequestScope | undefined {
  const out: RbacRequestScope = {};
  if (text === null || text === '') return out;
  for (const term of text.split(',')) {
    const m = /^metadata\.(name|namespace)==?(.+)$/.exec(term.trim());
    if (m === null) return undefined;
    out[m[1] === 'name' ? 'name' : 'namespace'] = m[2];
  }
  return out;
}

/** Whether `obj` is in the namespace and has the name a request selects. */
function selected(obj: KubeObject, filter: RbacRequestScope): boolean {
  return (filter.namespace === undefined || obj.metadata.namespace === filter.namespace) && (filter.name === undefined || obj.metadata.name === filter.name);
}

function writeEvent(res: http.ServerResponse, type: string, object: unknown): void {
  if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: http.ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `deploy/rbac.yaml` of this package, from `src/testkit`, `dist/src/testkit` or the bundle in `dist/bin`. */
async function defaultRbacFile(): Promise<string> {
  const found = findPackageFile(path.join('deploy', 'rbac.yaml'), import.meta.url);
  if (found === undefined) throw new Error('fake API: deploy/rbac.yaml not found above src/testkit; pass rbacYaml');
  return found;
}
