import { once } from 'node:events';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeshConfig } from '../../src/config/mesh-config.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { GrpcExtAuthzServer, HttpExtAuthzServer } from '../../src/testkit/ext-authz.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

// CUSTOM AuthorizationPolicy with HTTP and gRPC ext_authz providers, over real HBONE. Prefix 127.151.
const ip = (rest: string): string => `127.151.${rest}`;
const pods: MeshPod[] = [{ name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: ip('1.1'), httpPort: 8080, tcpPort: 9000, labels: { app: 'echo' } }];
const HTTP_AUTHZ_VIP = ip('20.1');
const GRPC_AUTHZ_IP = ip('20.2');

const VIPS = { http: ip('10.1'), grpc: ip('10.2'), slowOpen: ip('10.3'), slowClosed: ip('10.4'), unknown: ip('10.5'), thenDeny: ip('10.6'), tcpHttp: ip('10.7'), tcpGrpc: ip('10.8') } as const;

function service(name: string, vip: string, tcp = false): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: echo }
  ports: [${tcp ? '{ name: tcp, port: 9000, targetPort: 9000 }' : '{ name: http, port: 80, targetPort: 8080 }'}]
`;
}

function custom(name: string, target: string, provider: string): string {
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: default }
spec:
  targetRefs: [{ kind: Service, group: "", name: ${target} }]
  action: CUSTOM
  provider: { name: ${provider} }
  rules: [{ to: [{ operation: { notPaths: ["/healthz"] } }] }]
`;
}

const config = `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: v1
kind: Namespace
metadata: { name: authz }
---
apiVersion: v1
kind: Service
metadata: { name: ext-authz, namespace: authz }
spec:
  clusterIP: ${HTTP_AUTHZ_VIP}
  ports: [{ name: http, port: 8000, targetPort: 8000 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]

${service('http-authz', VIPS.http)}${service('grpc-authz', VIPS.grpc)}${service('slow-open', VIPS.slowOpen)}${service('slow-closed', VIPS.slowClosed)}${service('unknown', VIPS.unknown)}${service('then-deny', VIPS.thenDeny)}${service('tcp-http', VIPS.tcpHttp, true)}${service('tcp-grpc', VIPS.tcpGrpc, true)}
${custom('ext-http', 'http-authz', 'sample-http')}${custom('ext-grpc', 'grpc-authz', 'sample-grpc')}${custom('ext-slow-open', 'slow-open', 'slow-open')}${custom('ext-slow-closed', 'slow-closed', 'slow-closed')}${custom('ext-unknown', 'unknown', 'not-in-mesh-config')}${custom('ext-then-deny', 'then-deny', 'sample-http')}${custom('ext-tcp-http', 'tcp-http', 'sample-http')}${custom('ext-tcp-grpc', 'tcp-grpc', 'sample-grpc')}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-private, namespace: default }
spec:
  targetRefs: [{ kind: Service, group: "", name: then-deny }]
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/private"] } }] }]
`;

const httpAuthz = new HttpExtAuthzServer({ host: HTTP_AUTHZ_VIP });
const grpcAuthz = new GrpcExtAuthzServer({ host: GRPC_AUTHZ_IP });

function meshYaml(): string {
  return `accessLogFile: /dev/stdout
defaultConfig: { holdApplicationUntilProxyStarts: true }
extensionProviders:
- name: sample-http
  envoyExtAuthzHttp:
    service: ext-authz.authz.svc.cluster.local
    port: ${httpAuthz.port}
    pathPrefix: /check
    includeRequestHeadersInCheck: [x-ext-authz, x-ext-authz-delay-ms]
    includeAdditionalHeadersInCheck: { x-added-by-waypoint: "yes" }
    headersToUpstreamOnAllow: [x-ext-authz-check-result]
    headersToDownstreamOnDeny: [x-ext-authz-check-result, content-type]
- name: sample-grpc
  envoyExtAuthzGrpc: { service: ${GRPC_AUTHZ_IP}, port: ${grpcAuthz.port}, timeout: 5s }
- name: slow-open
  envoyExtAuthzHttp: { service: ext-authz.authz.svc.cluster.local, port: ${httpAuthz.port}, timeout: 0.2s, failOpen: true, includeRequestHeadersInCheck: [x-ext-authz-delay-ms] }
- name: slow-closed
  envoyExtAuthzGrpc: { service: ${GRPC_AUTHZ_IP}, port: ${grpcAuthz.port}, timeout: 200ms, statusOnError: "503" }
- name: zipkin
  zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 }
`;
}

let mesh: LoopbackMesh;
let logs: LogLine[];
let pool: HboneClientPool;

async function get(vip: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const c = new HboneHttpClient(pool, { ...mesh.hbone, authority: `${vip}:80` });
  try {
    const r = await c.request({ path, headers });
    return { status: r.status, headers: r.headers, body: r.body.toString() };
  } finally {
    await c.close();
  }
}

const accessLine = (path: string): Promise<LogLine> => eventually(() => logs.find((l) => l.msg === 'access' && l.path === path), 5000, `access line for ${path}`);

beforeAll(async () => {
  await httpAuthz.listen();
  await grpcAuthz.listen();
  const parsed = parseMeshConfig(meshYaml());
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config,
    pods,
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: cap.logger,
    meshConfig: parsed.config,
    podResources: true,
  });
  pool = await mesh.client('default', 'sleep');
}, 30_000);

afterAll(async () => {
  await pool?.close();
  await mesh?.close();
  await Promise.all([httpAuthz.close(), grpcAuthz.close()]);
});

describe('CUSTOM with an HTTP ext_authz provider', () => {
  it('allows what the authorizer allows, with its headersToUpstreamOnAllow on the forwarded request', async () => {
    const res = await get(VIPS.http, '/page?q=1', { 'x-ext-authz': 'allow', 'x-not-sent': 'secret' });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as EchoReply;
    expect(echo.pod).toBe('echo-1');
    expect(echo.headers['x-ext-authz-check-result']).toBe('allowed');
    const seen = httpAuthz.checks.find((c) => c.path === '/check/page?q=1');
    expect(seen).toBeDefined();
    expect(seen!.headers).toMatchObject({ 'x-ext-authz': 'allow', 'x-added-by-waypoint': 'yes', host: VIPS.http });
    expect(seen!.headers['x-not-sent']).toBeUndefined();
  });

  it("denies with the authorizer's status, body and headersToDownstreamOnDeny, logged and counted with UAEX", async () => {
    const res = await get(VIPS.http, '/denied-http');
    expect(res.status).toBe(403);
    expect(res.body).toBe('denied by ext_authz for not found header `x-ext-authz: allow` in the request');
    expect(res.headers['x-ext-authz-check-result']).toBe('denied');
    const line = await accessLine('/denied-http');
    expect(line).toMatchObject({ response_code: 403, response_flags: 'UAEX', response_code_details: 'ext_authz_denied', policy: 'default/ext-http' });
    const m = mesh.waypoint.admin.addresses.metrics!;
    const metrics = await (await request(`http://${m.host}:${m.port}/stats/prometheus`)).body.text();
    const uaex = metrics.split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('response_flags="UAEX"') && l.includes('response_code="403"'));
    expect(uaex.length).toBeGreaterThan(0);
  });

  it('does not ask the authorizer for what the CUSTOM rules do not match', async () => {
    const before = httpAuthz.checks.length;
    const res = await get(VIPS.http, '/healthz');
    expect(res.status).toBe(200);
    expect(httpAuthz.checks.length).toBe(before);
  });

  it('still applies DENY policies after the authorizer allowed', async () => {
    expect((await get(VIPS.thenDeny, '/public', { 'x-ext-authz': 'allow' })).status).toBe(200);
    expect(await get(VIPS.thenDeny, '/private', { 'x-ext-authz': 'allow' })).toMatchObject({ status: 403, body: 'RBAC: access denied' });
  });
});

describe('CUSTOM with a gRPC ext_authz provider (envoy.service.auth.v3.Authorization/Check)', () => {
  it('allows, with the OK response headers upstream, and tells the authorizer who is calling', async () => {
    const res = await get(VIPS.grpc, '/grpc-allowed', { 'x-ext-authz': 'allow' });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as EchoReply).headers['x-ext-authz-check-result']).toBe('allowed');
    const seen = grpcAuthz.checks.find((c) => c.path === '/grpc-allowed');
    expect(seen).toMatchObject({ method: 'GET', sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/sleep' });
    expect(seen!.headers[':authority']).toBe(VIPS.grpc);
  });

  it('denies with the denied response status, headers and body, flagged UAEX', async () => {
    const res = await get(VIPS.grpc, '/grpc-denied');
    expect(res).toMatchObject({ status: 403, body: 'denied by ext_authz for not found header `x-ext-authz: allow` in the request' });
    expect(res.headers['x-ext-authz-check-result']).toBe('denied');
    expect(await accessLine('/grpc-denied')).toMatchObject({ response_code: 403, response_flags: 'UAEX', response_code_details: 'ext_authz_denied' });
  });
});

describe('authorizer failures', () => {
  it('failOpen: true lets a request through when the authorizer does not answer in time', async () => {
    const res = await get(VIPS.slowOpen, '/slow-open', { 'x-ext-authz-delay-ms': '3000' });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as EchoReply).pod).toBe('echo-1');
    expect((await accessLine('/slow-open')).response_flags).toBe('-');
  });

  it('failOpen: false answers statusOnError with UAEX when the authorizer does not answer in time', async () => {
    const res = await get(VIPS.slowClosed, '/slow-closed', { 'x-ext-authz': 'allow', 'x-ext-authz-delay-ms': '3000' });
    expect(res.status).toBe(503);
    expect(await accessLine('/slow-closed')).toMatchObject({ response_code: 503, response_flags: 'UAEX', response_code_details: 'ext_authz_error' });
  });

  it('a provider missing from the mesh config denies with 403, fail closed', async () => {
    expect(await get(VIPS.unknown, '/unknown-provider', { 'x-ext-authz': 'allow' })).toMatchObject({ status: 403, body: 'RBAC: access denied' });
    expect(await get(VIPS.unknown, '/healthz')).toMatchObject({ status: 200 });
  });
});

/** Sends `text` through a TCP tunnel to `vip:9000` and half-closes; what came back before the close. */
async function tcpRoundTrip(vip: string, text: string): Promise<string> {
  const c = new HboneHttpClient(pool, { ...mesh.hbone, authority: `${vip}:9000` });
  try {
    const sock = await c.tunnel();
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('error', () => undefined);
    const closed = once(sock, 'close');
    sock.end(text);
    await closed;
    return Buffer.concat(got).toString();
  } finally {
    await c.close();
  }
}

describe('CUSTOM on TCP connections', () => {
  it('an HTTP provider is skipped, as istiod skips it on TCP filter chains', async () => {
    expect(await tcpRoundTrip(VIPS.tcpHttp, 'tcp through')).toBe('tcp through');
    expect(httpAuthz.checks.some((c) => c.headers.host === VIPS.tcpHttp)).toBe(false);
  });

  it('a gRPC provider (no network ext_authz here) refuses the connection: fail closed', async () => {
    expect(await tcpRoundTrip(VIPS.tcpGrpc, 'never arrives')).toBe('');
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.type === 'tcp' && l.policy === 'default/ext-tcp-grpc'), 5000, 'tcp access line');
    expect(line.upstream_host).toBeUndefined();
  });
});
