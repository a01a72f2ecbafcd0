/**
 * Routing end to end: HTTPRoute / GRPCRoute (the GAMMA mesh conformance scenarios of
 * kubernetes-sigs/gateway-api `conformance/tests/mesh/*.go`), VirtualService and DestinationRule,
 * retries and timeouts, through real HBONE: a source HBONE client → the waypoint → fake
 * destination ztunnels → echo pods. Every assertion is on what the client sees (status, body,
 * which pod answered, the path and headers the backend received, `Location`) or on the access log.
 *
 * One LoopbackMesh for the file (topology: test/helpers/routing-mesh.ts). Each scenario writes its
 * route manifests as one file into the waypoint's watched config directory (and removes the
 * previous scenario's file), then waits until the snapshot with exactly that file is live.
 *
 * Beyond the conformance scenarios: retries (Istio's default policy, HTTPRoute `retry`, a
 * VirtualService `retries: {attempts: 0}`), request timeouts and the cancelled upstream request,
 * RequestMirror and URLRewrite hostname, VirtualService weights/faults/headers/mirror/timeout,
 * DestinationRule subsets, connection-pool overflow and outlier ejection, invalid routes and
 * `waypoint validate`. Backends that must fail or hang in a controlled way are StubBackends on pod
 * addresses beside the echo apps.
 *
 * Differences from the conformance suite, on purpose:
 * - requests are sent once and must be right at once (no "eventually consistent" retries: the
 *   snapshot is known to be live before the first request);
 * - the conformance echo client reports each request header value separately; Node's echo app
 *   joins repeated headers with ", ", so header values are compared as comma-separated lists;
 * - the Go tests' `ExpectedRequest` paths and `RedirectRequest` parts are not checked by the mesh
 *   echo client at all (`echo/pod.go` `compareRequest`); here they are, with the exact `Location`
 *   the spec derives (MeshHTTPRouteNamedRule's second case expects path `/named` for a request to
 *   `/unnamed`, an upstream copy-paste slip: the backend receives `/unnamed`);
 * - gRPC requests are gRPC-shaped (POST `/<service>/<method>`, `application/grpc`, a 5-byte
 *   empty message) rather than the conformance echo's gRPC protocol.
 */
import { randomUUID } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ClientHttp2Session } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { CONFORMANCE } from '../helpers/gateway-api-conformance.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { HboneHttpClient, h2Request, type SimpleResponse } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { CliProcess, runCli, waitForPort } from '../helpers/process.js';
import {
  backendOf,
  CONSUMER_CLIENT_IP,
  CONSUMER_NS,
  ip,
  MESH_NS,
  PODS,
  STUB_PORT,
  StubBackend,
  TOPOLOGY,
  V1_PODS,
  V2_PODS,
  VIP,
  WAYPOINT_IP,
} from '../helpers/routing-mesh.js';

let mesh: LoopbackMesh;
let logs: LogLine[];
/** A client in the mesh namespace, at the address of an echo-v1 pod (the conformance client). */
let producer: HboneClientPool;
/** A client in the consumer namespace (its echo-v1 pod). */
let consumer: HboneClientPool;
const flakyBad = new StubBackend(ip('1.10'), STUB_PORT, 'flaky-bad', { status: 503 });
const slow = new StubBackend(ip('1.12'), STUB_PORT, 'slow-1', 'hang');
const mirror = new StubBackend(ip('1.13'), STUB_PORT, 'mirror-1', { status: 200 });
const clients = new Map<string, HboneHttpClient>();

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  await flakyBad.listen();
  await slow.listen();
  await mirror.listen();
  mesh = await LoopbackMesh.start({
    config: TOPOLOGY,
    pods: PODS,
    waypoint: { ip: WAYPOINT_IP, namespace: MESH_NS, name: 'waypoint' },
    logger: cap.logger,
  });
  producer = await mesh.client(MESH_NS, 'default', undefined, ip('1.1'));
  consumer = await mesh.client(CONSUMER_NS, 'default', undefined, CONSUMER_CLIENT_IP);
});

afterAll(async () => {
  await Promise.allSettled([...clients.values()].map((c) => c.close()));
  await mesh?.close();
  await Promise.allSettled([flakyBad.close(), slow.close(), mirror.close()]);
});

// ---- helpers ------------------------------------------------------------------------------------

/** A keep-alive HTTP client through the waypoint to `authority` (cached per source and authority). */
function via(authority: string, from: HboneClientPool = producer): HboneHttpClient {
  const key = `${from === producer ? 'p' : 'c'}|${authority}`;
  let c = clients.get(key);
  if (c === undefined) {
    c = new HboneHttpClient(from, { ...mesh.hbone, authority, expectedIdentity: mesh.waypointIdentity });
    clients.set(key, c);
  }
  return c;
}

interface Sent extends SimpleResponse {
  /** The x-request-id sent (access-log lookups). */
  id: string;
}

/** One HTTP/1.1 request to a Service (VIP:port), with the `Host` the conformance client would send. */
async function send(
  to: { vip: string; port?: number; host?: string; from?: HboneClientPool },
  req: { path?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const id = randomUUID();
  const headers: Record<string, string> = { 'x-request-id': id, ...req.headers };
  if (to.host !== undefined) headers['host'] = to.host;
  const res = await via(`${to.vip}:${to.port ?? 80}`, to.from).request({ method: req.method ?? 'GET', path: req.path ?? '/', headers });
  return { ...res, id };
}

function echo(res: SimpleResponse): EchoReply {
  expect(res.headers['content-type'], `not an echo reply (status ${res.status}): ${res.body.toString()}`).toBe('application/json');
  return JSON.parse(res.body.toString('utf8')) as EchoReply;
}

/** The backend (`echo-v1`, `echo-v2`) that answered, after checking the status. */
function backend(res: SimpleResponse, status = 200): string {
  expect(res.status, res.body.toString()).toBe(status);
  const e = echo(res);
  expect(e.namespace).toBe(MESH_NS);
  return backendOf(e.pod);
}

/** A header value the backend received, as a list (repeated headers may arrive joined by ", "). */
function received(e: EchoReply, name: string): string[] | undefined {
  const v = e.headers[name.toLowerCase()];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(/,\s*/));
}

function access(id: string): Promise<LogLine> {
  return eventually(() => logs.find((l) => l.msg === 'access' && l.x_request_id === id), 5000, `access log line for ${id}`);
}

let scenarioSeq = 0;
let scenarioFile: string | undefined;

/**
 * Makes `yaml` the only scenario file in the waypoint's config directory (undefined: none) and
 * waits until a snapshot built from exactly that is current.
 */
async function useRoutes(yaml: string | undefined): Promise<void> {
  const dir = join(mesh.dir, 'config');
  const name = `scenario-${++scenarioSeq}.yaml`;
  const rejectedBefore = logs.filter((l) => l.msg.startsWith('configuration rejected')).length;
  if (yaml !== undefined) {
    const tmp = join(dir, `.${name}.tmp`);
    await writeFile(tmp, yaml);
    await rename(tmp, join(dir, name));
  }
  if (scenarioFile !== undefined) await rm(join(dir, scenarioFile), { force: true });
  scenarioFile = yaml === undefined ? undefined : name;
  await eventually(
    () => {
      const rejected = logs.filter((l) => l.msg.startsWith('configuration rejected'));
      if (rejected.length > rejectedBefore) throw new Error(`configuration rejected: ${JSON.stringify(rejected.at(-1)?.['problems'])}`);
      const files = new Set(mesh.waypoint.store.current.resources.map((r) => basename(r.file)).filter((f) => f.startsWith('scenario-')));
      return yaml === undefined ? files.size === 0 : files.size === 1 && files.has(name);
    },
    5000,
    `scenario ${name} to be live`,
  );
}

function manifests(...names: string[]): string {
  return names
    .map((n) => {
      const m = CONFORMANCE[n];
      if (m === undefined) throw new Error(`no conformance manifest ${n}`);
      return m.trimEnd();
    })
    .join('\n---\n');
}

/** Runs `task` `total` times, at most `concurrency` at once. */
async function times<T>(total: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/**
 * The conformance weight check (`weight.TestWeightedDistributionBatch`): 500 requests, every
 * backend's share within ±5 % of its weight, up to MaxTestRetries (10) runs.
 */
async function expectWeights(sample: () => Promise<string[]>, want: Record<string, number>): Promise<void> {
  const tries: string[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    const seen = await sample();
    const counts: Record<string, number> = {};
    for (const b of seen) counts[b] = (counts[b] ?? 0) + 1;
    expect(Object.keys(counts).sort(), 'backends that received traffic').toEqual(Object.keys(want).filter((k) => want[k]! > 0).sort());
    const off = Object.entries(want).filter(([b, w]) => Math.abs((counts[b] ?? 0) / seen.length - w) > 0.05);
    if (off.length === 0) return;
    tries.push(JSON.stringify(counts));
  }
  throw new Error(`weighted distribution off in 10 runs: ${tries.join(' ')}`);
}

const GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

function grpcCall(session: ClientHttp2Session, headers: Record<string, string> = {}): ReturnType<typeof h2Request> {
  return h2Request(session, {
    method: 'POST',
    path: '/proto.EchoTestService/Echo',
    headers: { 'content-type': 'application/grpc', te: 'trailers', ...headers },
    body: GRPC_MESSAGE,
  });
}

// ---- GAMMA mesh conformance -------------------------------------------------------------------

describe('MeshBasic: no route attached', () => {
  beforeAll(() => useRoutes(undefined));

  it('reaches the echo Service through the waypoint (default route)', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' });
    expect(['echo-v1', 'echo-v2']).toContain(backend(res));
    expect(echo(res).peerIdentity).toBe(mesh.waypointIdentity);
    expect(await access(res.id)).toMatchObject({ route: 'default', response_code: 200, response_flags: '-' });
  });

  it('spreads over all four echo pods (v1 and v2)', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 8; i++) pods.add(echo(await send({ vip: VIP.echo, host: 'echo' })).pod);
    expect([...pods].sort()).toEqual([...V1_PODS, ...V2_PODS].sort());
  });
});

describe('MeshHTTPRouteSimpleSameNamespace', () => {
  beforeAll(() => useRoutes(manifests('httproute-simple-same-namespace.yaml')));

  it('sends every request for echo to echo-v1', async () => {
    for (let i = 0; i < 6; i++) expect(backend(await send({ vip: VIP.echo, host: 'echo' }))).toBe('echo-v1');
  });

  it('logs the route and the backend cluster', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' });
    expect(await access(res.id)).toMatchObject({
      route: `HTTPRoute/${MESH_NS}/gateway-conformance-mesh-test#0`,
      upstream_cluster: `inbound-vip|8080|http|echo-v1.${MESH_NS}.svc.cluster.local`,
    });
  });
});

describe('MeshTrafficSplit', () => {
  beforeAll(() => useRoutes(manifests('mesh-split.yaml')));

  it.each([
    ['/v1', 'echo-v1'],
    ['/v2', 'echo-v2'],
  ])('%s → %s', async (path, want) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path });
    expect(backend(res)).toBe(want);
    expect(echo(res).path).toBe(path);
  });

  it('a path no rule matches gets 404 NR (routes exist, so no default route)', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/v3' });
    expect(res.status).toBe(404);
    expect(await access(res.id)).toMatchObject({ response_code: 404, response_flags: 'NR' });
  });
});

describe('MeshPorts: parentRef port', () => {
  beforeAll(() => useRoutes(manifests('mesh-ports.yaml')));

  it('explicit port set, send to that port: X-Header-Set v1', async () => {
    const res = await send({ vip: VIP['echo-v1'], host: 'echo-v1' });
    expect(backend(res)).toBe('echo-v1');
    expect(res.headers['x-header-set']).toBe('v1');
  });

  it('explicit port, send to an excluded port (8080): no X-Header-Set', async () => {
    const res = await send({ vip: VIP['echo-v1'], port: 8080, host: 'echo-v1:8080' });
    expect(backend(res)).toBe('echo-v1');
    expect(res.headers['x-header-set']).toBeUndefined();
  });

  it('no port set: applies to port 80', async () => {
    const res = await send({ vip: VIP['echo-v2'], host: 'echo-v2' });
    expect(backend(res)).toBe('echo-v2');
    expect(res.headers['x-header-set']).toBe('v2');
  });

  it('no port set: applies to port 8080 too', async () => {
    const res = await send({ vip: VIP['echo-v2'], port: 8080, host: 'echo-v2:8080' });
    expect(backend(res)).toBe('echo-v2');
    expect(res.headers['x-header-set']).toBe('v2');
  });
});

describe('MeshFrontend and MeshFrontendHostname', () => {
  beforeAll(() => useRoutes(manifests('mesh-frontend.yaml')));

  it('send to service: the route applies', async () => {
    const res = await send({ vip: VIP['echo-v2'], host: 'echo-v2' });
    expect(backend(res)).toBe('echo-v2');
    expect(res.headers['x-header-set']).toBe('set');
  });

  it('send to pod IP: the Service route does not apply', async () => {
    const v2 = PODS.find((p) => p.name === V2_PODS[0])!;
    const res = await send({ vip: v2.ip, port: 8080, host: `${v2.ip}:8080` });
    expect(backend(res)).toBe('echo-v2');
    expect(echo(res).pod).toBe(v2.name);
    expect(res.headers['x-header-set']).toBeUndefined();
    expect(await access(res.id)).toMatchObject({ chain: 'direct-http', upstream_cluster: 'encap' });
  });

  it('send to service with wrong hostname: the route follows the ClusterIP, not Host', async () => {
    const res = await send({ vip: VIP['echo-v2'], host: 'echo-v1' });
    expect(backend(res)).toBe('echo-v2');
    expect(res.headers['x-header-set']).toBe('set');
  });

  it('send to other service with matching hostname: no route', async () => {
    const res = await send({ vip: VIP['echo-v1'], host: 'echo-v2' });
    expect(backend(res)).toBe('echo-v1');
    expect(res.headers['x-header-set']).toBeUndefined();
  });
});

describe('MeshConsumerRoute', () => {
  beforeAll(() => useRoutes(manifests('mesh-consumer-route.yaml')));

  it("a client in the consumer route's namespace sees the route", async () => {
    const res = await send({ vip: VIP['echo-v1'], host: 'echo-v1.gateway-conformance-mesh', from: consumer });
    expect(backend(res)).toBe('echo-v1');
    expect(res.headers['x-header-set']).toBe('set');
    expect(await access(res.id)).toMatchObject({ source_principal: `spiffe://cluster.local/ns/${CONSUMER_NS}/sa/default` });
  });

  it('a client in the producer namespace does not', async () => {
    const res = await send({ vip: VIP['echo-v1'], host: 'echo-v1.gateway-conformance-mesh', from: producer });
    expect(backend(res)).toBe('echo-v1');
    expect(res.headers['x-header-set']).toBeUndefined();
    expect(await access(res.id)).toMatchObject({ route: 'default' });
  });
});

describe('MeshHTTPRouteMatching', () => {
  beforeAll(() => useRoutes(manifests('httproute-matching.yaml')));

  it.each([
    { path: '/', want: 'echo-v1' },
    { path: '/example', want: 'echo-v1' },
    { path: '/', headers: { Version: 'one' }, want: 'echo-v1' },
    { path: '/v2', want: 'echo-v2' },
    { path: '/v2/example', want: 'echo-v2' },
    { path: '/', headers: { Version: 'two' }, want: 'echo-v2' },
    { path: '/v2/', want: 'echo-v2' },
    { path: '/v2example', want: 'echo-v1' },
    { path: '/foo/v2/example', want: 'echo-v1' },
  ])('$path $headers → $want', async ({ path, headers, want }) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path, headers });
    expect(backend(res)).toBe(want);
    expect(echo(res).path).toBe(path);
  });
});

describe('MeshHTTPRouteQueryParamMatching', () => {
  beforeAll(() => useRoutes(manifests('httproute-query-param-matching.yaml')));

  it.each([
    { path: '/?animal=whale', want: 'echo-v1' },
    { path: '/?animal=dolphin', want: 'echo-v2' },
    { path: '/?animal=whale&otherparam=irrelevant', want: 'echo-v1' },
    { path: '/?animal=dolphin&color=yellow', want: 'echo-v2' },
    { path: '/?color=blue', want: 404 },
    { path: '/?animal=dog', want: 404 },
    { path: '/?animal=whaledolphin', want: 404 },
    { path: '/', want: 404 },
    { path: '/path1?animal=whale', want: 'echo-v1' },
    { path: '/?animal=whale', headers: { version: 'one' }, want: 'echo-v2' },
    { path: '/path3?animal=shark', want: 'echo-v1' },
    { path: '/path4?animal=kraken', headers: { version: 'three' }, want: 'echo-v1' },
    { path: '/?animal=shark', want: 404 },
    { path: '/path4?animal=kraken', want: 404 },
    { path: '/path5?animal=hydra', want: 'echo-v1' },
  ])('$path $headers → $want', async ({ path, headers, want }) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path, headers });
    if (typeof want === 'number') {
      expect(res.status).toBe(want);
      return;
    }
    expect(backend(res)).toBe(want);
    expect(echo(res).path).toBe(path);
  });
});

describe('MeshHTTPRouteNamedRule', () => {
  beforeAll(() => useRoutes(manifests('httproute-named-rule.yaml')));

  it.each([
    { path: '/named', want: 'echo-v1', rule: 'named-rule' },
    { path: '/unnamed', want: 'echo-v2', rule: '1' },
  ])('$path → $want, logged as rule $rule', async ({ path, want, rule }) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path });
    expect(backend(res)).toBe(want);
    expect(echo(res).path).toBe(path);
    expect((await access(res.id)).route).toBe(`HTTPRoute/${MESH_NS}/mesh-http-named-rules#${rule}`);
  });
});

/** MeshHTTPRouteRequestHeaderModifier's cases: request headers → headers the backend receives. */
const HEADER_MODIFIER_CASES: Array<{ path: string; send: Record<string, string>; want: Record<string, string[]>; absent?: string[] }> = [
  { path: '/set', send: { 'Some-Other-Header': 'val' }, want: { 'Some-Other-Header': ['val'], 'X-Header-Set': ['set-overwrites-values'] } },
  {
    path: '/set',
    send: { 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' },
    want: { 'Some-Other-Header': ['val'], 'X-Header-Set': ['set-overwrites-values'] },
  },
  { path: '/add', send: { 'Some-Other-Header': 'val' }, want: { 'Some-Other-Header': ['val'], 'X-Header-Add': ['add-appends-values'] } },
  {
    path: '/add',
    send: { 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value' },
    want: { 'Some-Other-Header': ['val'], 'X-Header-Add': ['some-other-value', 'add-appends-values'] },
  },
  { path: '/remove', send: { 'X-Header-Remove': 'val' }, want: {}, absent: ['X-Header-Remove'] },
  {
    path: '/multiple',
    send: { 'X-Header-Set-2': 'set-val-2', 'X-Header-Add-2': 'add-val-2', 'X-Header-Remove-2': 'remove-val-2', 'Another-Header': 'another-header-val' },
    want: {
      'X-Header-Set-1': ['header-set-1'],
      'X-Header-Set-2': ['header-set-2'],
      'X-Header-Add-1': ['header-add-1'],
      'X-Header-Add-2': ['add-val-2', 'header-add-2'],
      'X-Header-Add-3': ['header-add-3'],
      'Another-Header': ['another-header-val'],
    },
    absent: ['X-Header-Remove-1', 'X-Header-Remove-2'],
  },
  {
    path: '/case-insensitivity',
    send: { 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'original-val-remove', 'Another-Header': 'another-header-val' },
    want: { 'X-Header-Set': ['header-set'], 'X-Header-Add': ['original-val-add', 'header-add'], 'Another-Header': ['another-header-val'] },
    absent: ['x-header-remove'],
  },
];

for (const manifest of ['httproute-request-header-modifier.yaml', 'httproute-request-header-modifier-backend.yaml']) {
  describe(`MeshHTTPRouteRequestHeaderModifier (${manifest})`, () => {
    beforeAll(() => useRoutes(manifests(manifest)));

    it.each(HEADER_MODIFIER_CASES)('$path $send', async ({ path, send: headers, want, absent }) => {
      const res = await send({ vip: VIP.echo, host: 'echo' }, { path, headers });
      expect(backend(res)).toBe('echo-v1');
      const e = echo(res);
      expect(e.path).toBe(path);
      for (const [name, values] of Object.entries(want)) expect(received(e, name), name).toEqual(values);
      for (const name of absent ?? []) expect(received(e, name), name).toBeUndefined();
    });
  });
}

describe('MeshHTTPRouteRewritePath', () => {
  beforeAll(() => useRoutes(manifests('httproute-rewrite-path.yaml')));

  it.each([
    { path: '/prefix/one/two', want: '/one/two' },
    { path: '/strip-prefix/three', want: '/three' },
    { path: '/strip-prefix', want: '/' },
    { path: '/full/one/two', want: '/one' },
    { path: '/prefix/one/two?keep=query', want: '/one/two?keep=query' },
  ])('$path is received as $want', async ({ path, want }) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path });
    expect(backend(res)).toBe('echo-v1');
    expect(echo(res).path).toBe(want);
  });

  it.each([
    { path: '/full/rewrite-path-and-modify-headers/test', want: '/test' },
    { path: '/prefix/rewrite-path-and-modify-headers/one', want: '/prefix/one' },
  ])('$path is received as $want with the headers modified', async ({ path, want }) => {
    const res = await send(
      { vip: VIP.echo, host: 'echo' },
      { path, headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1', 'X-Header-Set': 'set-val' } },
    );
    expect(backend(res)).toBe('echo-v1');
    const e = echo(res);
    expect(e.path).toBe(want);
    expect(received(e, 'X-Header-Add')).toEqual(['header-val-1']);
    expect(received(e, 'X-Header-Add-Append')).toEqual(['append-val-1', 'header-val-2']);
    expect(received(e, 'X-Header-Set')).toEqual(['set-overwrites-values']);
    expect(received(e, 'X-Header-Remove')).toBeUndefined();
  });
});

describe('redirects: 303/307/308, host and status, path, port, scheme (exact Location)', () => {
  beforeAll(() =>
    useRoutes(
      manifests(
        'httproute-303-redirect.yaml',
        'httproute-307-redirect.yaml',
        'httproute-308-redirect.yaml',
        'httproute-redirect-host-and-status.yaml',
        'httproute-redirect-path.yaml',
        'httproute-redirect-port.yaml',
        'httproute-redirect-scheme.yaml',
      ),
    ),
  );

  it.each([
    // MeshHTTPRoute303Redirect / 307 / 308
    { path: '/redirect', status: 303, location: 'http://echo/redirect' },
    { path: '/temporary', status: 307, location: 'http://echo/temporary' },
    { path: '/permanent', status: 308, location: 'http://echo/permanent' },
    // MeshHTTPRouteRedirectHostAndStatus
    { path: '/hostname-redirect', status: 302, location: 'http://example.org/hostname-redirect' },
    { path: '/host-and-status', status: 301, location: 'http://example.org/host-and-status' },
    // MeshHTTPRouteRedirectPath
    { path: '/original-prefix/lemon', status: 302, location: 'http://echo/replacement-prefix/lemon' },
    { path: '/full/path/original', status: 302, location: 'http://echo/full-path-replacement' },
    { path: '/path-and-host', status: 302, location: 'http://example.org/replacement-prefix' },
    { path: '/path-and-status', status: 301, location: 'http://echo/replacement-prefix' },
    { path: '/full-path-and-host', status: 302, location: 'http://example.org/replacement-full' },
    { path: '/full-path-and-status', status: 301, location: 'http://echo/replacement-full' },
    // MeshHTTPRouteRedirectPort
    { path: '/port', status: 302, location: 'http://echo:8083/port' },
    { path: '/port-and-host', status: 302, location: 'http://example.org:8083/port-and-host' },
    { path: '/port-and-status', status: 301, location: 'http://echo:8083/port-and-status' },
    { path: '/port-and-host-and-status', status: 302, location: 'http://example.org:8083/port-and-host-and-status' },
    // MeshHTTPRouteSchemeRedirect
    { path: '/scheme', status: 302, location: 'https://echo/scheme' },
    { path: '/scheme-and-host', status: 302, location: 'https://example.org/scheme-and-host' },
    { path: '/scheme-and-status', status: 301, location: 'https://echo/scheme-and-status' },
    { path: '/scheme-and-host-and-status', status: 302, location: 'https://example.org/scheme-and-host-and-status' },
    // The query string is kept.
    { path: '/redirect?a=1&b=2', status: 303, location: 'http://echo/redirect?a=1&b=2' },
  ])('$path → $status $location', async ({ path, status, location }) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path });
    expect(res.status).toBe(status);
    expect(res.headers['location']).toBe(location);
    // The waypoint answers itself: no backend is involved.
    expect(await access(res.id)).toMatchObject({ response_code: status, response_flags: '-' });
    expect((await access(res.id)).upstream_host).toBeUndefined();
  });

  it('builds Location from :authority over h2c (Host with the Service port)', async () => {
    const session = await via(`${VIP.echo}:80`).h2c();
    const res = await h2Request(session, { path: '/port', headers: { ':authority': 'echo.gateway-conformance-mesh:80' } });
    session.close();
    expect(res.status).toBe(302);
    expect(res.headers['location']).toBe('http://echo.gateway-conformance-mesh:8083/port');
  });
});

describe('MeshHTTPRouteWeight: 70/30', () => {
  beforeAll(() => useRoutes(manifests('httproute-weight.yaml')));

  it('splits 500 requests within ±5 % of the weights', async () => {
    // Ten clients, as the conformance sender's concurrency; each its own inner connection.
    const senders = Array.from({ length: 10 }, () => new HboneHttpClient(producer, { ...mesh.hbone, authority: `${VIP.echo}:80`, expectedIdentity: mesh.waypointIdentity }));
    try {
      await expectWeights(
        () =>
          times(500, senders.length, async (i) => {
            const res = await senders[i % senders.length]!.request({ path: '/', headers: { host: 'echo' } });
            return backend(res);
          }),
        { 'echo-v1': 0.7, 'echo-v2': 0.3 },
      );
    } finally {
      await Promise.all(senders.map((s) => s.close()));
    }
  });
});

describe('MeshGRPCRouteWeight: 70/30 (and weight 0) per request on one h2c connection', () => {
  beforeAll(() => useRoutes(manifests('grpcroute-weight.yaml')));

  it('splits 500 gRPC calls on one connection within ±5 %, never to the weight-0 backend', async () => {
    const c = via(`${VIP.echo}:7070`);
    const session = await c.h2c();
    const opened = c.tunnelsOpened;
    try {
      await expectWeights(
        () =>
          times(500, 50, async () => {
            const res = await grpcCall(session, { ':authority': 'echo:7070' });
            expect(res.status).toBe(200);
            expect(res.trailers['grpc-status']).toBe('0');
            return backendOf(String(res.headers['x-echo-pod']));
          }),
        { 'echo-v1': 0.7, 'echo-v2': 0.3, 'echo-v3': 0 },
      );
    } finally {
      session.close();
    }
    expect(c.tunnelsOpened).toBe(opened);
  });
});

describe('MeshGRPCRouteRequestHeaderModifier', () => {
  beforeAll(() => useRoutes(manifests('grpcroute-request-header-modifier.yaml')));

  // The gRPC-shaped echo reply carries no request headers: these calls use the gRPC path and
  // HTTP/2 but a JSON content type, so the echo app describes what it received.
  const cases: Array<{ testCase: string; send: Record<string, string>; want: Record<string, string[]>; absent?: string[]; backend: string }> = [
    {
      testCase: 'set',
      send: { 'some-other-header': 'this-header-should-be-set', 'x-header-set': 'this-value-should-be-overwritten' },
      want: { 'some-other-header': ['this-header-should-be-set'], 'x-header-set': ['set-overwrites-values'] },
      backend: 'echo-v1',
    },
    { testCase: 'add', send: { 'x-header-add': 'this-value-should-be-appended' }, want: { 'x-header-add': ['this-value-should-be-appended', 'add-appends-values'] }, backend: 'echo-v1' },
    { testCase: 'remove', send: { 'x-header-remove': 'this-should-be-removed' }, want: {}, absent: ['x-header-remove'], backend: 'echo-v1' },
    {
      testCase: 'multi',
      send: { 'x-header-set-2': 'set-header-2', 'x-header-add-2': 'add-header-2', 'x-header-remove-2': 'should-be-removed-2' },
      want: { 'x-header-set-1': ['header-set-1'], 'x-header-set-2': ['header-set-2'], 'x-header-add-1': ['header-add-1'], 'x-header-add-2': ['add-header-2', 'header-add-2'] },
      absent: ['x-header-remove-1', 'x-header-remove-2'],
      backend: 'echo-v2',
    },
  ];
  it.each(cases)('x-test-case: $testCase → $backend', async ({ testCase, send: headers, want, absent, backend: wantBackend }) => {
    const session = await via(`${VIP.echo}:7070`).h2c();
    const res = await h2Request(session, {
      method: 'POST',
      path: '/proto.EchoTestService/Echo',
      headers: { ':authority': 'echo:7070', 'content-type': 'application/json', 'x-test-case': testCase, ...headers },
      body: '{}',
    });
    session.close();
    expect(backend(res)).toBe(wantBackend);
    const e = echo(res);
    expect(e.protocol).toBe('HTTP/2');
    expect(received(e, 'x-test-case')).toEqual([testCase]);
    for (const [name, values] of Object.entries(want)) expect(received(e, name), name).toEqual(values);
    for (const name of absent ?? []) expect(received(e, name), name).toBeUndefined();
  });

  it('a gRPC call that matches no rule gets an HTTP 404 (NR)', async () => {
    const session = await via(`${VIP.echo}:7070`).h2c();
    const res = await grpcCall(session, { ':authority': 'echo:7070', 'x-test-case': 'none' });
    session.close();
    expect(res.status).toBe(404);
  });
});

// ---- retries and timeouts (issue 3 "Done when") ------------------------------------------------

/*
 * The in-process retry tests go to `flaky` port 80, whose upstream is h2c. The HTTP/1.1 upstream
 * (port 8080) is exercised in a separate `waypoint run` process below: a retried HTTP/1.1 503 used
 * to crash the process with an uncaught exception, which in-process would take this test file's
 * worker down with it.
 */
describe('retries: Istio default policy (no route attached)', () => {
  beforeAll(() => useRoutes(undefined));

  it('a request that gets 503 from one endpoint is retried on the other and the client sees 200', async () => {
    const before = flakyBad.requests.length;
    const sent: Sent[] = [];
    for (let i = 0; i < 4; i++) sent.push(await send({ vip: VIP.flaky, host: 'flaky' }, { path: `/flaky/${i}` }));
    for (const res of sent) {
      expect(res.status, res.body.toString()).toBe(200);
      expect(echo(res).pod).toBe('flaky-good');
    }
    // Round robin puts some first attempts on the failing pod; each such request was tried there
    // once, then on the other endpoint, and the client saw the other endpoint's 200.
    const failedOnce = flakyBad.requests.slice(before);
    expect(failedOnce.length).toBeGreaterThanOrEqual(1);
    expect(failedOnce.every((r) => r.protocol === 'HTTP/2')).toBe(true);
    const ids = failedOnce.map((r) => String(r.headers['x-request-id']));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(sent.map((s) => s.id)).toContain(id);
      expect(await access(id)).toMatchObject({ response_code: 200, response_flags: '-', upstream_host: `${ip('1.11')}:8080` });
    }
  });

  it('a request whose attempts all fail gets 503 with URX (1 try + 2 retries over both endpoints)', async () => {
    // Both endpoints fail this request: the stub always, the echo pod through ?status=503.
    const before = flakyBad.requests.length;
    const res = await send({ vip: VIP.flaky, host: 'flaky' }, { path: '/?status=503' });
    expect(res.status).toBe(503);
    expect(await access(res.id)).toMatchObject({ response_code: 503, response_flags: 'URX' });
    // Three attempts over two endpoints, never the same one twice while the other is untried:
    // the stub saw one or two of them.
    const onStub = flakyBad.requests.slice(before).filter((r) => r.headers['x-request-id'] === res.id);
    expect(onStub.length).toBeGreaterThanOrEqual(1);
    expect(onStub.length).toBeLessThanOrEqual(2);
  });

  /*
   * Regression test. Bug found at commit ad7b6ab (src/l7/forward.ts forwardWithRetries, line 149 →
   * src/l7/upstream-attempt.ts attemptHttp1, line 90; now upstream/retrying-forwarder.ts and upstream/attempt.ts): to retry a retriable HTTP/1.1 response,
   * forwardWithRetries discards it with `result.abort()`, which is `up.body.destroy()` on
   * undici's BodyReadable. Destroying an unread undici body without an error makes undici
   * substitute a RequestAbortedError and emit 'error' on a stream nobody listens to: an uncaught
   * exception, so `waypoint run` exits ("Error [AbortError]: Request aborted", exit code 1) on
   * the first 503 it retries from an HTTP/1.1 upstream (Istio's default policy retries 503). h2c
   * upstreams are not affected (their abort is `stream.close(NGHTTP2_CANCEL)` on a stream with an
   * error listener). Fixed since in the working tree (the discarded body is dumped, and
   * `waypoint run` installs a last-resort exception logger). Checked in a real `waypoint run`
   * process (the built CLI, sharing this file's config, certificates and destination ztunnels)
   * because in-process the exception would kill this test worker.
   */
  describe('in a `waypoint run` process', () => {
    const host = ip('0.11');
    let proc: CliProcess;
    let sanity: HboneHttpClient;
    let h1: HboneHttpClient;

    beforeAll(async () => {
      proc = new CliProcess([
        'run',
        '--config',
        join(mesh.dir, 'config'),
        '--certs',
        join(mesh.dir, 'waypoint-certs'),
        '--namespace',
        MESH_NS,
        '--name',
        'waypoint',
        '--hbone',
        `${host}:15008`,
        '--admin',
        `${host}:15000`,
        '--metrics',
        `${host}:15020`,
        '--readiness',
        `${host}:15021`,
        '--upstream-hbone-port',
        String(mesh.ztunnels.get(ip('1.10'))!.port),
        '--log-level',
        'warn',
      ]);
      sanity = new HboneHttpClient(producer, { host, port: 15008, authority: `${VIP['echo-v1']}:80`, expectedIdentity: mesh.waypointIdentity });
      h1 = new HboneHttpClient(producer, { host, port: 15008, authority: `${VIP.flaky}:8080`, expectedIdentity: mesh.waypointIdentity });
      await waitForPort(host, 15008, 10_000);
    });

    afterAll(async () => {
      await Promise.allSettled([sanity?.close(), h1?.close()]);
      await proc?.stop('SIGKILL');
    });

    it('routes like the in-process waypoint (same config, certificates and ztunnels)', async () => {
      expect(backend(await sanity.request({ path: '/', headers: { host: 'echo-v1' } }))).toBe('echo-v1');
    });

    it('a 503 retried from an HTTP/1.1 upstream is discarded cleanly (no crash, no uncaught exception)', async () => {
      // Two requests to flaky port 8080: round robin puts one of them on the failing pod first.
      const outcomes: Array<number | string> = [];
      for (let i = 0; i < 2; i++) {
        outcomes.push(await h1.request({ path: `/h1-retry/${i}`, headers: { host: 'flaky:8080' } }).then((r) => r.status, (e: Error) => `${e.name}: ${e.message}`));
      }
      await new Promise((r) => setTimeout(r, 200));
      const crash = /Error.*\n/.exec(proc.stderr)?.[0]?.trim();
      // With the bug: outcomes ['SocketError: other side closed', 'HboneConnectError: … ECONNREFUSED'],
      // exitCode 1, crash 'Error [AbortError]: Request aborted'. With only the safety net (no
      // dump), the process survives but logs the exception: check for that too.
      const logged = proc.logLines.filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('uncaught exception')).length;
      expect({ outcomes, exitCode: proc.child.exitCode, crash, logged }).toEqual({ outcomes: [200, 200], exitCode: null, crash: undefined, logged: 0 });
    });
  });
});

describe('timeouts: HTTPRoute timeouts.request', () => {
  beforeAll(() =>
    useRoutes(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: timeouts
  namespace: ${MESH_NS}
spec:
  parentRefs:
  - {group: "", kind: Service, name: echo, port: 80}
  rules:
  - matches:
    - path: {type: PathPrefix, value: /slow}
    timeouts: {request: 500ms}
    backendRefs:
    - {name: slow, port: 80}
  - timeouts: {request: 500ms}
    backendRefs:
    - {name: echo-v1, port: 80}
`),
  );

  it('a response within the timeout passes', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/?delay=50' });
    expect(backend(res)).toBe('echo-v1');
  });

  it('?delay=2000 gets 504 UT after about 500 ms', async () => {
    const started = Date.now();
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/?delay=2000' });
    const elapsed = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('upstream request timeout');
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1500);
    const line = await access(res.id);
    expect(line.response_code).toBe(504);
    expect(String(line.response_flags).split(',')).toContain('UT');
  });

  /*
   * Regression test. Bug found at commit ad7b6ab (src/l7/http-proxy.ts runForward, lines 253-256; now src/l7/http/execute.ts):
   * on a request timeout it called `ex.flag('UT', 'request timeout')` and then
   * `localReply(ex, res, LOCAL_REPLIES.timeout, ...)`, which flags the reply's own `UT` again: the
   * access log said `UT,UT` where Envoy logs `UT`.
   */
  it('a request timeout is logged with the single flag UT', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/?delay=2000' });
    expect(res.status).toBe(504);
    expect((await access(res.id)).response_flags).toBe('UT');
  });

  it('the timed-out upstream request is cancelled (the backend sees its connection close)', async () => {
    const before = slow.requests.length;
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/slow/never' });
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe('upstream request timeout');
    const seen = slow.requests.slice(before).filter((r) => r.headers['x-request-id'] === res.id);
    // A timeout is not retried: one attempt.
    expect(seen).toHaveLength(1);
    const rec = seen[0]!;
    await eventually(() => rec.abortedAt !== undefined, 1500, 'the upstream request to be cancelled');
    expect(rec.abortedAt! - rec.receivedAt).toBeLessThan(1000);
  });
});

describe('HTTPRoute: RequestMirror, URLRewrite hostname, retry stanza', () => {
  beforeAll(() =>
    useRoutes(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: extras
  namespace: ${MESH_NS}
spec:
  parentRefs:
  - {group: "", kind: Service, name: echo, port: 80}
  rules:
  - matches:
    - path: {type: PathPrefix, value: /mirror}
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: mirror, port: 80}
    backendRefs:
    - {name: echo-v1, port: 80}
  - matches:
    - path: {type: PathPrefix, value: /rewrite-host}
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: rewritten.example}
    backendRefs:
    - {name: echo-v2, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: flaky-retries
  namespace: ${MESH_NS}
spec:
  parentRefs:
  - {group: "", kind: Service, name: flaky, port: 80}
  rules:
  - matches:
    - path: {type: PathPrefix, value: /retry-503}
    retry: {attempts: 1, codes: [503]}
    backendRefs:
    - {name: flaky, port: 80}
  - matches:
    - path: {type: PathPrefix, value: /retry-no-codes}
    retry: {attempts: 2}
    backendRefs:
    - {name: flaky, port: 80}
`),
  );

  it('RequestMirror: the client gets the primary backend’s answer; the mirror gets a copy with a -shadow Host', async () => {
    const before = mirror.requests.length;
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/mirror/a?x=1', headers: { 'x-mirrored': 'yes' } });
    expect(backend(res)).toBe('echo-v1');
    expect(echo(res).host).toBe('echo');
    const copy = await eventually(() => mirror.requests.slice(before).find((r) => r.headers['x-request-id'] === res.id), 3000, 'the mirrored request');
    expect(copy.path).toBe('/mirror/a?x=1');
    expect(copy.headers['host']).toBe('echo-shadow');
    expect(copy.headers['x-mirrored']).toBe('yes');
  });

  /*
   * Regression test. Bug found at commit ad7b6ab (src/l7/http-proxy.ts runForward, now src/l7/upstream/mirror.ts; the
   * `shadow(...)` call, line 245): the mirror's authority was `${upstreamAuthority}-shadow`, so a
   * Host with a port became `echo.ns:80-shadow`, an invalid authority. Envoy inserts the suffix before the port
   * (`source/common/router/shadow_writer_impl.cc` `shadowAppendedHost`: `echo.ns-shadow:80`).
   */
  it('RequestMirror with a Host that has a port: -shadow goes before the port', async () => {
    const before = mirror.requests.length;
    const res = await send({ vip: VIP.echo, host: `echo.${MESH_NS}:80` }, { path: '/mirror/port' });
    expect(backend(res)).toBe('echo-v1');
    const copy = await eventually(() => mirror.requests.slice(before).find((r) => r.headers['x-request-id'] === res.id), 3000, 'the mirrored request');
    expect(copy.headers['host']).toBe(`echo.${MESH_NS}-shadow:80`);
  });

  it('URLRewrite hostname: the backend receives the new Host, the path unchanged', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/rewrite-host/x' });
    expect(backend(res)).toBe('echo-v2');
    expect(echo(res).host).toBe('rewritten.example');
    expect(echo(res).path).toBe('/rewrite-host/x');
  });

  it('retry {attempts: 1, codes: [503]}: a 503 from one endpoint is retried, the client sees 200', async () => {
    const before = flakyBad.requests.length;
    for (let i = 0; i < 2; i++) {
      const res = await send({ vip: VIP.flaky, host: 'flaky' }, { path: `/retry-503/${i}` });
      expect(res.status, res.body.toString()).toBe(200);
      expect(echo(res).pod).toBe('flaky-good');
    }
    expect(flakyBad.requests.length - before).toBe(1);
  });

  it('retry {attempts: 2} without codes: a 503 response is not retried', async () => {
    const a = await send({ vip: VIP.flaky, host: 'flaky' }, { path: '/retry-no-codes/a' });
    const b = await send({ vip: VIP.flaky, host: 'flaky' }, { path: '/retry-no-codes/b' });
    expect([a.status, b.status].sort()).toEqual([200, 503]);
    const failed = a.status === 503 ? a : b;
    expect(await access(failed.id)).toMatchObject({ response_code: 503, response_flags: '-' });
  });
});

// ---- VirtualService and DestinationRule ---------------------------------------------------------

describe('VirtualService: weights, fault abort, header set, retries {attempts: 0}', () => {
  beforeAll(() =>
    useRoutes(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo
  namespace: ${MESH_NS}
spec:
  hosts: [echo]
  http:
  - name: fault
    match:
    - uri: {prefix: /fault}
    fault:
      abort: {httpStatus: 418, percentage: {value: 100}}
    route:
    - destination: {host: echo-v1}
  - name: headers
    match:
    - uri: {prefix: /headers}
    headers:
      request:
        set: {x-vs-set: from-vs, x-overwritten: new}
        remove: [x-drop-me]
      response:
        set: {x-vs-response: yes}
    route:
    - destination: {host: echo-v2}
  - name: mirror
    match:
    - uri: {prefix: /mirror}
    mirror: {host: mirror}
    route:
    - destination: {host: echo-v2}
  - name: delay
    match:
    - uri: {prefix: /delay}
    fault:
      delay: {fixedDelay: 200ms, percentage: {value: 100}}
    route:
    - destination: {host: echo-v1}
  - name: timeout
    match:
    - uri: {prefix: /vs-timeout}
    timeout: 300ms
    route:
    - destination: {host: echo-v1}
  - name: split
    route:
    - destination: {host: echo-v1}
      weight: 70
    - destination: {host: echo-v2}
      weight: 30
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: flaky
  namespace: ${MESH_NS}
spec:
  hosts: [flaky.${MESH_NS}.svc.cluster.local]
  http:
  - retries: {attempts: 0}
    route:
    - destination: {host: flaky}
`),
  );

  it('splits 500 requests 70/30 within ±5 %', async () => {
    const senders = Array.from({ length: 10 }, () => new HboneHttpClient(producer, { ...mesh.hbone, authority: `${VIP.echo}:80`, expectedIdentity: mesh.waypointIdentity }));
    try {
      await expectWeights(
        () => times(500, senders.length, async (i) => backend(await senders[i % senders.length]!.request({ path: '/', headers: { host: 'echo' } }))),
        { 'echo-v1': 0.7, 'echo-v2': 0.3 },
      );
    } finally {
      await Promise.all(senders.map((s) => s.close()));
    }
  });

  it('fault abort at 100 %: 418 FI, no backend involved', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/fault' });
    expect(res.status).toBe(418);
    expect(res.body.toString()).toBe('fault filter abort');
    const line = await access(res.id);
    expect(line).toMatchObject({ response_code: 418, response_flags: 'FI' });
    expect(line.upstream_host).toBeUndefined();
  });

  it('headers: request set/remove reach the backend, response set reaches the client', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/headers', headers: { 'x-overwritten': 'old', 'x-drop-me': 'x', 'x-kept': 'k' } });
    expect(backend(res)).toBe('echo-v2');
    const e = echo(res);
    expect(received(e, 'x-vs-set')).toEqual(['from-vs']);
    expect(received(e, 'x-overwritten')).toEqual(['new']);
    expect(received(e, 'x-drop-me')).toBeUndefined();
    expect(received(e, 'x-kept')).toEqual(['k']);
    expect(res.headers['x-vs-response']).toBe('yes');
  });

  it('mirror: the client gets echo-v2’s answer, the mirror Service a copy', async () => {
    const before = mirror.requests.length;
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/mirror/vs' });
    expect(backend(res)).toBe('echo-v2');
    const copy = await eventually(() => mirror.requests.slice(before).find((r) => r.headers['x-request-id'] === res.id), 3000, 'the mirrored request');
    expect(copy.path).toBe('/mirror/vs');
    expect(copy.headers['host']).toBe('echo-shadow');
  });

  it('fault delay at 100 %: answered after the delay, flagged DI', async () => {
    const started = Date.now();
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/delay' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(backend(res)).toBe('echo-v1');
    expect(await access(res.id)).toMatchObject({ response_code: 200, response_flags: 'DI' });
  });

  it('timeout: 300ms against ?delay=2000 gives 504', async () => {
    const started = Date.now();
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/vs-timeout?delay=2000' });
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(String((await access(res.id)).response_flags).split(',')).toContain('UT');
  });

  it('retries {attempts: 0}: the failing endpoint’s 503 reaches the client, not retried', async () => {
    const before = flakyBad.requests.length;
    const a = await send({ vip: VIP.flaky, host: 'flaky' });
    const b = await send({ vip: VIP.flaky, host: 'flaky' });
    // Round robin over two endpoints: one of two consecutive requests lands on the failing pod.
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 503]);
    const failed = a.status === 503 ? a : b;
    expect(echo(failed).pod).toBe('flaky-bad');
    expect(flakyBad.requests.slice(before).map((r) => r.headers['x-request-id'])).toEqual([failed.id]);
    const line = await access(failed.id);
    expect(line).toMatchObject({ response_code: 503, response_flags: '-', upstream_host: `${ip('1.10')}:${STUB_PORT}` });
  });
});

describe('DestinationRule subsets: a VirtualService routes to subset v2 only', () => {
  beforeAll(() =>
    useRoutes(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: echo
  namespace: ${MESH_NS}
spec:
  host: echo.${MESH_NS}.svc.cluster.local
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: echo-v2-only
  namespace: ${MESH_NS}
spec:
  hosts: [echo]
  http:
  - route:
    - destination: {host: echo, subset: v2}
`),
  );

  it('every request goes to a v2 pod of the echo Service, both v2 pods used', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await send({ vip: VIP.echo, host: 'echo' }, { path: `/subset/${i}` });
      expect(backend(res)).toBe('echo-v2');
      pods.add(echo(res).pod);
    }
    expect([...pods].sort()).toEqual([...V2_PODS].sort());
  });

  it('the access log names the subset cluster', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' });
    expect(await access(res.id)).toMatchObject({ upstream_cluster: `inbound-vip|80|http/v2|echo.${MESH_NS}.svc.cluster.local` });
  });
});

describe('DestinationRule connectionPool: http2MaxRequests 1 → 503 UO', () => {
  beforeAll(() =>
    useRoutes(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: slow
  namespace: ${MESH_NS}
spec:
  host: slow.${MESH_NS}.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http: {http2MaxRequests: 1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: slow
  namespace: ${MESH_NS}
spec:
  hosts: [slow]
  http:
  - timeout: 600ms
    route:
    - destination: {host: slow}
`),
  );

  it('a second concurrent request overflows while the first is in flight', async () => {
    // Separate inner connections: HTTP/1.1 would queue the second behind the first.
    const first = new HboneHttpClient(producer, { ...mesh.hbone, authority: `${VIP.slow}:80`, expectedIdentity: mesh.waypointIdentity });
    const second = new HboneHttpClient(producer, { ...mesh.hbone, authority: `${VIP.slow}:80`, expectedIdentity: mesh.waypointIdentity });
    try {
      const before = slow.requests.length;
      const inFlight = first.request({ path: '/held', headers: { host: 'slow' } });
      await eventually(() => slow.requests.length > before, 2000, 'the first request to reach the backend');
      const overflow = await second.request({ path: '/overflow', headers: { host: 'slow' } });
      expect(overflow.status).toBe(503);
      expect(overflow.body.toString()).toBe('upstream connect error or disconnect/reset before headers. reset reason: overflow');
      const held = await inFlight;
      expect(held.status).toBe(504);
      // Only the first one reached the backend.
      expect(slow.requests.slice(before).map((r) => r.path)).toEqual(['/held']);
      const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/overflow'), 3000, 'the overflow access line');
      expect(line).toMatchObject({ response_code: 503, response_flags: 'UO' });
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});

describe('DestinationRule outlierDetection: one 5xx ejects the endpoint', () => {
  beforeAll(() =>
    useRoutes(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: flaky
  namespace: ${MESH_NS}
spec:
  host: flaky.${MESH_NS}.svc.cluster.local
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
`),
  );

  it('after its first 503 the failing endpoint gets no more requests', async () => {
    const before = flakyBad.requests.length;
    for (let i = 0; i < 8; i++) {
      const res = await send({ vip: VIP.flaky, host: 'flaky' }, { path: `/outlier/${i}` });
      expect(res.status, res.body.toString()).toBe(200);
      expect(echo(res).pod).toBe('flaky-good');
    }
    // Round robin reaches the failing pod within the first two requests, once; then it is ejected.
    expect(flakyBad.requests.length - before).toBe(1);
  });
});

// ---- invalid routes -------------------------------------------------------------------------------

describe('invalid routes are skipped, valid ones keep routing', () => {
  const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bad-regex
  namespace: ${MESH_NS}
spec:
  parentRefs:
  - {group: "", kind: Service, name: echo, port: 80}
  rules:
  - matches:
    - path: {type: RegularExpression, value: "/bad/(a)\\\\1"}
    backendRefs:
    - {name: echo-v1, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: good
  namespace: ${MESH_NS}
spec:
  parentRefs:
  - {group: "", kind: Service, name: echo, port: 80}
  rules:
  - matches:
    - path: {type: PathPrefix, value: /good}
    backendRefs:
    - {name: echo-v2, port: 80}
  - matches:
    - path: {type: PathPrefix, value: /dangling}
    backendRefs:
    - {name: does-not-exist, port: 80}
  - matches:
    - path: {type: PathPrefix, value: /unknown-kind}
    backendRefs:
    - {group: example.com, kind: Bucket, name: b, port: 80}
`;
  beforeAll(() => useRoutes(yaml));

  it('the valid route on the same Service still routes', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/good/x' });
    expect(backend(res)).toBe('echo-v2');
    expect(mesh.waypoint.store.current.routes?.get(`echo.${MESH_NS}.svc.cluster.local`, 80)?.sources).toEqual([`HTTPRoute/${MESH_NS}/good`]);
  });

  it('the skipped route matches nothing: its path gets 404 NR', async () => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path: '/bad/aa' });
    expect(res.status).toBe(404);
    expect(await access(res.id)).toMatchObject({ response_flags: 'NR' });
  });

  it.each(['/dangling', '/unknown-kind'])('a backendRef that resolves to nothing fails its share with 500 (%s)', async (path) => {
    const res = await send({ vip: VIP.echo, host: 'echo' }, { path });
    expect(res.status).toBe(500);
    expect(await access(res.id)).toMatchObject({ response_code: 500, response_flags: 'NC' });
  });

  it('`waypoint validate` reports file, resource and field, and exits 1', async () => {
    const r = await runCli(['validate', '--config', join(mesh.dir, 'config'), '--namespace', MESH_NS, '--name', 'waypoint']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    const file = join(mesh.dir, 'config', scenarioFile!);
    const bad = lines.filter((l) => l.startsWith('error: '));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toContain(`error: ${file}: HTTPRoute ${MESH_NS}/bad-regex: spec.rules[0].matches[0].path.value: `);
    expect(bad[0]).toContain('regular expression');
    const warnings = lines.filter((l) => l.startsWith('warning: '));
    expect(warnings.some((l) => l.startsWith(`warning: ${file}: HTTPRoute ${MESH_NS}/good: spec.rules[1].backendRefs[0]: `) && l.includes('does-not-exist'))).toBe(true);
    expect(warnings.some((l) => l.startsWith(`warning: ${file}: HTTPRoute ${MESH_NS}/good: spec.rules[2].backendRefs[0]: `) && l.includes('Bucket'))).toBe(true);
    expect(r.stderr).toMatch(/^1 error\(s\), \d+ warning\(s\)$/m);
  });
});
