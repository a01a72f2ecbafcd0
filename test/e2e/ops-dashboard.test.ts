/**
 * The dashboard at /ui, in headless Chromium driven over the DevTools protocol: the page loads
 * with no console errors or exceptions, shows live numbers after traffic (requests per service,
 * route and backend, an error, a policy denial, endpoints, the configuration version), and a
 * screenshot is written to test/output/dashboard.png. Chromium is Debian's `chromium`; when it is
 * missing the setup installs it with apt-get, and the test is skipped (saying why) only when that
 * fails. Addresses: 127.157.3.x (pods, waypoint) and 127.157.30.x (VIPs).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';

const WP = '127.157.3.10';
const OUTPUT = fileURLToPath(new URL('../output/', import.meta.url));
const pods: MeshPod[] = [
  { name: 'shop-1', namespace: 'store', serviceAccount: 'shop', ip: '127.157.3.1', httpPort: 8080 },
  { name: 'shop-2', namespace: 'store', serviceAccount: 'shop', ip: '127.157.3.2', httpPort: 8080 },
];
const CONFIG = `apiVersion: v1
kind: Namespace
metadata: { name: store, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: store }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Service
metadata: { name: shop, namespace: store }
spec: { clusterIP: 127.157.30.1, selector: { app: shop }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: empty, namespace: store }
spec: { clusterIP: 127.157.30.2, selector: { app: nothing }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop-route, namespace: store }
spec:
  parentRefs: [{ group: "", kind: Service, name: shop, port: 80 }]
  rules: [{ backendRefs: [{ name: shop, port: 80 }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: store }
spec:
  targetRefs: [{ kind: Service, group: "", name: shop }]
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }]
${pods.map((p) => `---
apiVersion: v1
kind: Pod
metadata: { name: ${p.name}, namespace: store, labels: { app: shop } }
spec: { serviceAccountName: shop, containers: [{ name: app, ports: [{ name: http, containerPort: 8080 }] }] }
status: { phase: Running, podIP: ${p.ip} }
`).join('')}`;

/** Finds Chromium, installing Debian's package when it is missing; the reason when it cannot. */
function ensureChromium(): { path: string } | { skip: string } {
  const which = (): string | undefined => {
    for (const name of ['chromium', 'chromium-browser']) {
      const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
      if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
    }
    return undefined;
  };
  const found = which();
  if (found !== undefined) return { path: found };
  const install = spawnSync('sh', ['-c', 'apt-get install -y chromium || (apt-get update && apt-get install -y chromium)'], { encoding: 'utf8', timeout: 600_000 });
  const after = which();
  if (after !== undefined) return { path: after };
  return { skip: `chromium is not installed and apt-get could not install it (exit ${String(install.status)}): ${(install.stderr || install.error?.message || '').trim().split('\n').slice(-2).join(' ')}` };
}

interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
}

/** A minimal DevTools protocol client on one page target. */
class Cdp {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly events: CdpEvent[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (m) => {
      const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error !== undefined) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
      } else if (msg.method !== undefined) this.events.push({ method: msg.method, params: msg.params ?? {} });
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('DevTools WebSocket did not open')), 10_000);
      ws.addEventListener('open', () => (clearTimeout(timer), resolve()));
      ws.addEventListener('error', () => (clearTimeout(timer), reject(new Error('DevTools WebSocket failed'))));
    });
    return new Cdp(ws);
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method} timed out`)), 15_000);
      this.#pending.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v as T)), reject: (e) => (clearTimeout(timer), reject(e)) });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value: T }; exceptionDetails?: { text: string } }>('Runtime.evaluate', { expression, returnByValue: true });
    if (r.exceptionDetails !== undefined) throw new Error(`page: ${r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** Console errors and warnings, uncaught exceptions, and failed loads, as text. */
  problems(): string[] {
    const out: string[] = [];
    for (const e of this.events) {
      if (e.method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(String(e.params['type']))) out.push(`console.${String(e.params['type'])}: ${JSON.stringify(e.params['args'])}`);
      if (e.method === 'Runtime.exceptionThrown') out.push(`exception: ${JSON.stringify(e.params['exceptionDetails'])}`);
      if (e.method === 'Log.entryAdded') {
        const entry = e.params['entry'] as { level: string; text: string; url?: string };
        if (entry.level === 'error' || entry.level === 'warning') out.push(`log ${entry.level}: ${entry.text} ${entry.url ?? ''}`);
      }
    }
    return out;
  }
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const chromium = ensureChromium();
let mesh: LoopbackMesh;
let client: HboneClientPool;
let browser: ChildProcess | undefined;
let profile: string | undefined;
let page: Cdp | undefined;

beforeAll(async () => {
  mesh = await LoopbackMesh.start({ config: CONFIG, pods, waypoint: { ip: WP, namespace: 'store', name: 'waypoint' }, admin: { host: WP, port: 0 } });
  client = await mesh.client('store', 'frontend');
  if ('skip' in chromium) return;
  profile = await mkdtemp(join(tmpdir(), 'waypoint-chromium-'));
  browser = spawn(chromium.path, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions', '--disable-background-networking', '--disable-sync', '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=1400,1100', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`chromium did not start its DevTools endpoint:\n${err}`)), 20_000);
    browser!.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    browser!.once('exit', (code) => reject(new Error(`chromium exited (${String(code)}):\n${err}`)));
  });
  const targets = await eventually('a page target', async () => {
    const res = await request(`http://127.0.0.1:${port}/json/list`, { headersTimeout: 5000 });
    const list = (await res.body.json()) as Array<{ type: string; webSocketDebuggerUrl: string }>;
    return list.find((t) => t.type === 'page');
  });
  page = await Cdp.connect(targets.webSocketDebuggerUrl);
  await page.send('Runtime.enable');
  await page.send('Log.enable');
  await page.send('Page.enable');
  await page.send('Emulation.setDeviceMetricsOverride', { width: 1400, height: 1100, deviceScaleFactor: 1, mobile: false });
}, 120_000);

afterAll(async () => {
  page?.ws.close();
  if (browser !== undefined && browser.exitCode === null) {
    browser.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => (browser!.kill('SIGKILL'), r(undefined)), 5000);
      browser!.once('exit', () => (clearTimeout(t), r(undefined)));
    });
  }
  if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  await mesh?.close();
});

async function send(authority: string, path: string): Promise<number> {
  const c = new HboneHttpClient(client, { ...mesh.hbone, authority });
  try {
    return (await c.request({ path })).status;
  } finally {
    await c.close();
  }
}

describe('dashboard', () => {
  it('serves the page and its assets from the admin port, with no outside references', async () => {
    const a = mesh.waypoint.admin.addresses.admin!;
    for (const [path, type] of [['/ui', 'text/html'], ['/ui/app.js', 'text/javascript'], ['/ui/app.css', 'text/css']] as const) {
      const res = await request(`http://${a.host}:${a.port}${path}`, { headersTimeout: 5000 });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain(type);
      expect(res.headers['content-security-policy']).toBe("default-src 'self'; img-src 'self' data:");
      const body = await res.body.text();
      expect(body).not.toMatch(/https?:\/\//);
    }
  });

  it('loads without console errors, shows live numbers after traffic, and is captured', async (ctx) => {
    if ('skip' in chromium) {
      ctx.skip(chromium.skip);
      return;
    }
    const p = page!;
    const a = mesh.waypoint.admin.addresses.admin!;
    await p.send('Page.navigate', { url: `http://${a.host}:${a.port}/ui` });
    const polls = (): Promise<number> => p.evaluate<number>("Number(document.body && document.body.dataset.polls || 0)");
    await eventually('the first poll', async () => ((await polls()) >= 1 ? true : undefined));
    const first = await p.evaluate<string>("document.querySelector('#services tbody').textContent + ' | ' + document.getElementById('status').textContent + ' | ' + document.body.dataset.polls");
    expect(first, first).toContain('no traffic yet');

    for (let i = 0; i < 12; i++) expect(await send('127.157.30.1:80', `/item/${i}`)).toBe(200);
    expect(await send('127.157.30.1:80', '/admin/panel')).toBe(403);
    expect(await send('127.157.30.2:80', '/')).toBe(503);

    const services = await eventually('live service numbers', async () => {
      const rows = await p.evaluate<Array<{ name: string; cells: string[] }>>(
        "Array.from(document.querySelectorAll('#services tbody tr')).map(function (tr) { return { name: tr.dataset.name || '', cells: Array.from(tr.children).map(function (td) { return td.textContent; }) }; })",
      );
      const shop = rows.find((r) => r.name === 'shop.store.svc.cluster.local');
      return shop !== undefined && Number(shop.cells[1]) === 13 ? rows : undefined;
    });
    const shop = services.find((r) => r.name === 'shop.store.svc.cluster.local')!;
    expect(shop.cells[3]).toBe('0');
    expect(Number(shop.cells[5])).toBeGreaterThan(0);
    const empty = services.find((r) => r.name === 'empty.store.svc.cluster.local')!;
    expect(empty.cells.slice(1, 5)).toStrictEqual(['1', empty.cells[2]!, '1', '100.0']);

    const routes = await p.evaluate<string>("document.querySelector('#routes tbody').textContent");
    expect(routes).toContain('HTTPRoute/store/shop-route');
    const backends = await p.evaluate<string>("document.querySelector('#backends tbody').textContent");
    expect(backends).toContain('inbound-vip|80|http|shop.store.svc.cluster.local');
    const policies = await p.evaluate<string[]>("Array.from(document.querySelectorAll('#policies tbody tr')).map(function (tr) { return tr.textContent; })");
    expect(policies).toContain('denystore/no-admin1');
    const endpoints = await p.evaluate<string>("document.querySelector('#endpoints tbody').textContent");
    expect(endpoints).toContain('127.157.3.1:8080HEALTHY');
    expect(await p.evaluate<string>("document.getElementById('version').textContent")).toMatch(/^config v1, loaded \d+ s ago$/);
    expect(await p.evaluate<string>("document.getElementById('ready').textContent")).toBe('ready');
    expect(await p.evaluate<string>("document.getElementById('cert').textContent")).toMatch(/^certificate spiffe:\/\/cluster\.local\/ns\/store\/sa\/waypoint expires in \d+ h$/);
    // A rate needs two polls after the traffic: it is a number, not a dash.
    await eventually('a request rate', async () => {
      const rate = await p.evaluate<string>("document.querySelector('#services tbody tr[data-name=\"shop.store.svc.cluster.local\"] .rate').textContent");
      return rate !== '-' ? rate : undefined;
    });

    const shot = await p.send<{ data: string }>('Page.captureScreenshot', { format: 'png', captureBeyondViewport: false });
    await mkdir(OUTPUT, { recursive: true });
    const png = Buffer.from(shot.data, 'base64');
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    await writeFile(join(OUTPUT, 'dashboard.png'), png);

    expect(p.problems()).toStrictEqual([]);
  }, 90_000);
});
