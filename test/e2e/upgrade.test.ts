/**
 * HTTP/1.1 upgrades and half-close through the waypoint, over real HBONE on loopback (127.185):
 * a WebSocket echo with messages both ways and a clean close, routing and policy applied to the
 * upgrade request, a non-101 answer relayed as a response, the route timeout not cutting an
 * upgraded connection, the access-log line and istio_requests_total for the upgraded exchange;
 * WebSocket over h2c (RFC 8441 extended CONNECT) relayed upstream as an HTTP/1.1 upgrade;
 * RequestAuthentication (valid, other-principal and invalid tokens) and a CUSTOM ext_authz
 * provider (allow, deny) on the upgrade request; pipelined requests followed by the client's
 * half-close answered in full; TCP half-close both ways.
 *
 * The Services select their pods by label, so the mesh writes a Pod resource per pod
 * (`podResources`; without them every Service has no endpoint and answers 503). The TCP pod's
 * ztunnel is strict (`strictZtunnel`): it passes half-closes on as ztunnel does, where the lenient
 * fake closes the app connection as soon as the app ends its side.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { StreamSocket } from '../../src/hbone/stream-socket.js';
import { parseMeshConfig, type MeshConfig } from '../../src/config/mesh-config.js';
import { HttpExtAuthzServer } from '../../src/testkit/ext-authz.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { parseResponses } from '../helpers/http1-raw.js';
import { jwks, signingKey, token } from '../helpers/jwt.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { Opcode, WebSocketEchoApp, WsClient } from '../helpers/websocket.js';
import { WAYPOINT_NAMESPACE } from '../helpers/policy-mesh.js';

const ip = (tail: string): string => `127.185.${tail}`;
const VIP = { ws: ip('10.1'), echo: ip('10.2'), tcp: ip('10.3'), wsJwt: ip('10.4'), wsCustom: ip('10.5') };
const AUTHZ_IP = ip('20.1');
/** The JWT issuer of the RequestAuthentication (a name only: its keys are inline, never dialled). */
const ISSUER = 'https://ws-issuer.test';
const WS_PORT = 8090;
const TCP_PORT = 9100;

const pods: MeshPod[] = [
  { name: 'ws-1', namespace: 'default', serviceAccount: 'ws', ip: ip('1.1'), httpPort: WS_PORT, echo: false, labels: { app: 'ws' } },
  { name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: ip('1.2'), httpPort: 8080, labels: { app: 'echo' } },
  { name: 'tcp-1', namespace: 'default', serviceAccount: 'tcp', ip: ip('1.3'), httpPort: 8080, tcpPort: TCP_PORT, echo: false, strictZtunnel: true, labels: { app: 'tcp' } },
];

const svc = (name: string, vip: string, ports: string, app = name): string => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: ${app} }
  ports:
${ports}`;

/** A security.istio.io resource attached to the Service `target`; `spec` holds the lines after targetRefs. */
const security = (kind: string, name: string, target: string, spec: string): string => `---
apiVersion: security.istio.io/v1
kind: ${kind}
metadata: { name: ${name}, namespace: default }
spec:
  targetRefs: [{ group: "", kind: Service, name: ${target} }]
${spec}`;

const wsPort = `    - { name: http, port: 80, targetPort: ${WS_PORT}, appProtocol: http }\n`;

/** The mesh: `inlineJwks` is the RequestAuthentication's key set (made in beforeAll). */
const config = (inlineJwks: string): string => `${WAYPOINT_NAMESPACE}${svc('ws', VIP.ws, wsPort)}${svc('echo', VIP.echo, '    - { name: http, port: 80, targetPort: 8080, appProtocol: http }\n')}${svc('tcp', VIP.tcp, `    - { name: tcp, port: ${TCP_PORT}, targetPort: ${TCP_PORT}, appProtocol: tcp }\n`)}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ws, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: ws, port: 80 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-route, value: ws-route }] } }]
      timeouts: { request: 300ms }
      backendRefs: [{ name: ws, port: 80 }]
${security('AuthorizationPolicy', 'no-denied', 'ws', '  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/ws-denied"] } }] }]\n')}\
${svc('ws-jwt', VIP.wsJwt, wsPort, 'ws')}\
${security('RequestAuthentication', 'ws-jwt', 'ws-jwt', `  jwtRules: [{ issuer: "${ISSUER}", jwks: '${inlineJwks}' }]\n`)}\
${security('AuthorizationPolicy', 'ws-jwt-alice', 'ws-jwt', `  action: ALLOW\n  rules: [{ from: [{ source: { requestPrincipals: ["${ISSUER}/alice"] } }] }]\n`)}\
${svc('ws-custom', VIP.wsCustom, wsPort, 'ws')}\
${security('AuthorizationPolicy', 'ws-custom', 'ws-custom', '  action: CUSTOM\n  provider: { name: ws-authz }\n  rules: [{ to: [{ operation: { paths: ["/*"] } }] }]\n')}`;

/** Allows a check carrying `x-ext-authz: allow` (adding a header upstream); denies others with 429. */
const authz = new HttpExtAuthzServer({
  host: AUTHZ_IP,
  decide: (check) =>
    check.headers['x-ext-authz'] === 'allow'
      ? { allow: true, headers: { 'x-ext-authz-check-result': 'allowed' } }
      : { allow: false, status: 429, headers: { 'x-ext-authz-check-result': 'denied' }, body: 'denied by the authorizer' },
});

function meshConfig(): MeshConfig {
  const parsed = parseMeshConfig(`extensionProviders:
- name: ws-authz
  envoyExtAuthzHttp:
    service: ${AUTHZ_IP}
    port: ${authz.port}
    includeRequestHeadersInCheck: [x-ext-authz]
    headersToUpstreamOnAllow: [x-ext-authz-check-result]
    headersToDownstreamOnDeny: [x-ext-authz-check-result]
`);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  return parsed.config;
}

/** A TCP backend that greets, half-closes its side, and records what the client sends after. */
class HalfCloseBackend {
  readonly #server: net.Server;
  readonly received: string[] = [];
  constructor(readonly host: string, readonly port: number) {
    this.#server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.once('end', () => {
        this.received.push(got);
        s.end();
      });
      s.end('hello-from-backend');
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.port, this.host, () => resolve()));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let mesh: LoopbackMesh;
let client: HboneClientPool;
let logs: LogLine[];
let alice: string;
let bob: string;
/** Signed by a key the RequestAuthentication does not list. */
let forged: string;
const ws = new WebSocketEchoApp(ip('1.1'), WS_PORT);
const tcp = new HalfCloseBackend(ip('1.3'), TCP_PORT);

beforeAll(async () => {
  const key = await signingKey('ws-key', 'ES256');
  const other = await signingKey('ws-key', 'ES256');
  alice = await token(key, { iss: ISSUER, sub: 'alice' });
  bob = await token(key, { iss: ISSUER, sub: 'bob' });
  forged = await token(other, { iss: ISSUER, sub: 'alice' });
  await authz.listen();
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config: config(JSON.stringify(jwks(key))),
    meshConfig: meshConfig(),
    pods,
    backends: [ws, tcp],
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: cap.logger,
    watch: false,
    podResources: true,
  });
  client = await mesh.client('default', 'sleep');
});

afterAll(async () => {
  await mesh?.close();
  await authz.close();
});

const tunnel = (authority: string): Promise<StreamSocket> => new HboneHttpClient(client, { ...mesh.hbone, authority }).tunnel();
const accessLines = (from: number, path: string): LogLine[] => logs.slice(from).filter((l) => l.msg === 'access' && l.path === path);

async function requestsTotal(code: number): Promise<number> {
  const m = mesh.waypoint.admin.addresses.metrics!;
  const res = await request(`http://${m.host}:${m.port}/stats/prometheus`);
  let sum = 0;
  for (const line of (await res.body.text()).split('\n')) {
    if (line.startsWith('istio_requests_total{') && line.includes(`response_code="${code}"`) && line.includes('destination_service_name="ws"')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('WebSocket through the waypoint', () => {
  it('messages both ways, a clean close, one access line with the whole connection, counted as 101', async () => {
    const from = logs.length;
    const before = await requestsTotal(101);
    const c = new WsClient(await tunnel(`${VIP.ws}:80`));
    expect(await c.handshake('ws.default.svc.cluster.local', '/ws-echo')).toBe(101);
    expect(c.responseHead).toMatch(/\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
    // The route's header edit applied to the upgrade request.
    expect(ws.seen.at(-1)?.headers['x-route']).toBe('ws-route');
    c.send(Opcode.text, 'hello');
    expect((await c.next()).payload.toString()).toBe('hello');
    const big = Buffer.alloc(200 * 1024, 7);
    c.send(Opcode.binary, big);
    const echoed = await c.next();
    expect(echoed.opcode).toBe(Opcode.binary);
    expect(echoed.payload.equals(big)).toBe(true);
    const closesBefore = ws.closes;
    c.send(Opcode.close, Buffer.from([0x03, 0xe8]));
    const close = await c.next();
    expect(close.opcode).toBe(Opcode.close);
    expect(close.payload.readUInt16BE(0)).toBe(1000);
    expect(ws.closes).toBe(closesBefore + 1);
    await c.waitEnd();
    c.destroy();
    const [line] = await eventually(() => {
      const l = accessLines(from, '/ws-echo');
      return l.length > 0 ? l : undefined;
    }, 5000, 'access line of the upgraded connection');
    expect(line).toMatchObject({ response_code: 101, response_flags: '-', upstream_host: `${ip('1.1')}:${WS_PORT}` });
    expect(line!.bytes_received).toBeGreaterThan(big.length);
    expect(line!.bytes_sent).toBeGreaterThan(big.length);
    expect(accessLines(from, '/ws-echo')).toHaveLength(1);
    expect(await requestsTotal(101)).toBe(before + 1);
  });

  it('an upgrade denied by policy gets 403 and never reaches the backend', async () => {
    const before = ws.seen.length;
    const from = logs.length;
    const c = new WsClient(await tunnel(`${VIP.ws}:80`));
    expect(await c.handshake('ws.default.svc.cluster.local', '/ws-denied')).toBe(403);
    expect(await c.body()).toBe('RBAC: access denied');
    expect(ws.seen.length).toBe(before);
    const line = await eventually(() => accessLines(from, '/ws-denied')[0], 5000, 'access line of the denial');
    expect(line.response_code).toBe(403);
  });

  it('a non-101 answer from the backend is relayed as an ordinary response', async () => {
    const c = new WsClient(await tunnel(`${VIP.ws}:80`));
    expect(await c.handshake('ws.default.svc.cluster.local', '/refuse')).toBe(426);
    expect(await c.body()).toBe('refused');
  });

  it('the route timeout (300 ms) does not cut an established WebSocket', async () => {
    const c = new WsClient(await tunnel(`${VIP.ws}:80`));
    expect(await c.handshake('ws.default.svc.cluster.local', '/ws-long')).toBe(101);
    await new Promise((r) => setTimeout(r, 1200));
    c.send(Opcode.text, 'still here');
    expect((await c.next()).payload.toString()).toBe('still here');
    expect(c.ended).toBe(false);
    c.destroy();
  });
});

describe('WebSocket over h2c (RFC 8441 extended CONNECT)', () => {
  /** An h2c session to the ws Service, once the waypoint's SETTINGS arrived. */
  async function session(): Promise<http2.ClientHttp2Session> {
    const sock = await tunnel(`${VIP.ws}:80`);
    const s = http2.connect(`http://${VIP.ws}`, { createConnection: () => sock });
    s.on('error', () => undefined);
    await eventually(() => (s.remoteSettings.enableConnectProtocol === true ? true : undefined), 5000, 'SETTINGS_ENABLE_CONNECT_PROTOCOL from the waypoint');
    return s;
  }
  const connect = (s: http2.ClientHttp2Session, path: string): http2.ClientHttp2Stream =>
    s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path, ':authority': 'ws.default.svc.cluster.local', 'sec-websocket-version': '13' }, { endStream: false });
  const responseOf = (stream: http2.ClientHttp2Stream): Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no response head within 5 s')), 5000);
      stream.once('response', (h) => {
        clearTimeout(t);
        resolve(h);
      });
      stream.once('error', reject);
    });

  it('200 on the stream, messages both ways, a clean close; the backend got an HTTP/1.1 upgrade with a valid key and the route edit', async () => {
    const from = logs.length;
    const s = await session();
    const stream = connect(s, '/ws-h2');
    const head = await responseOf(stream);
    expect(head[':status']).toBe(200);
    expect(head['sec-websocket-accept']).toBeUndefined();
    const seen = ws.seen.at(-1)!;
    expect(seen.path).toBe('/ws-h2');
    expect(seen.headers.upgrade).toBe('websocket');
    expect(seen.headers['x-route']).toBe('ws-route');
    expect(Buffer.from(String(seen.headers['sec-websocket-key']), 'base64')).toHaveLength(16);
    const c = new WsClient(stream, { established: true });
    c.send(Opcode.text, 'over h2');
    expect((await c.next()).payload.toString()).toBe('over h2');
    // Larger than the stream buffers on the way: flow control and backpressure both ways.
    const big = Buffer.alloc(300 * 1024, 9);
    c.send(Opcode.binary, big);
    const echoed = await c.next();
    expect(echoed.payload.equals(big)).toBe(true);
    c.send(Opcode.close, Buffer.from([0x03, 0xe8]));
    const close = await c.next();
    expect(close.opcode).toBe(Opcode.close);
    await c.waitEnd();
    stream.end();
    s.close();
    const line = await eventually(() => accessLines(from, '/ws-h2')[0], 5000, 'access line of the h2 WebSocket');
    expect(line).toMatchObject({ response_code: 101, response_flags: '-', protocol: 'HTTP/2', upstream_host: `${ip('1.1')}:${WS_PORT}` });
    expect(line.bytes_received).toBeGreaterThan(big.length);
    expect(line.bytes_sent).toBeGreaterThan(big.length);
  });

  it('policy applies: an extended CONNECT to a denied path gets 403 and never reaches the backend', async () => {
    const before = ws.seen.length;
    const s = await session();
    const stream = connect(s, '/ws-denied');
    expect((await responseOf(stream))[':status']).toBe(403);
    stream.destroy();
    s.close();
    expect(ws.seen.length).toBe(before);
  });
});

describe('authentication and CUSTOM authorisation of the upgrade request', () => {
  const host = (name: string): string => `${name}.default.svc.cluster.local`;
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

  it('a valid JWT of the allowed principal upgrades; the token is not forwarded (forwardOriginalToken: false)', async () => {
    const c = new WsClient(await tunnel(`${VIP.wsJwt}:80`));
    expect(await c.handshake(host('ws-jwt'), '/ws-jwt', bearer(alice))).toBe(101);
    expect(ws.seen.at(-1)?.path).toBe('/ws-jwt');
    expect(ws.seen.at(-1)?.headers.authorization).toBeUndefined();
    c.send(Opcode.text, 'authenticated');
    expect((await c.next()).payload.toString()).toBe('authenticated');
    c.destroy();
  });

  it('a valid JWT of another principal, or none, is denied by the policy that reads requestPrincipals (403)', async () => {
    const before = ws.seen.length;
    for (const extra of [bearer(bob), {}]) {
      const c = new WsClient(await tunnel(`${VIP.wsJwt}:80`));
      expect(await c.handshake(host('ws-jwt'), '/ws-jwt', extra)).toBe(403);
      expect(await c.body()).toBe('RBAC: access denied');
    }
    expect(ws.seen.length).toBe(before);
  });

  it('an invalid JWT gets 401 Jwt verification fails, logged, and never reaches the backend', async () => {
    const before = ws.seen.length;
    const from = logs.length;
    const c = new WsClient(await tunnel(`${VIP.wsJwt}:80`));
    expect(await c.handshake(host('ws-jwt'), '/ws-forged', bearer(forged))).toBe(401);
    expect(c.responseHead).toMatch(/\r\nwww-authenticate: Bearer realm="[^"]*", error="invalid_token"/i);
    expect(await c.body()).toBe('Jwt verification fails');
    expect(ws.seen.length).toBe(before);
    const line = await eventually(() => accessLines(from, '/ws-forged')[0], 5000, 'access line of the 401');
    expect(line.response_code).toBe(401);
  });

  it('CUSTOM allow: the upgrade goes through with the authorizer\'s header added upstream', async () => {
    const checks = authz.checks.length;
    const c = new WsClient(await tunnel(`${VIP.wsCustom}:80`));
    expect(await c.handshake(host('ws-custom'), '/ws-custom', { 'x-ext-authz': 'allow' })).toBe(101);
    expect(authz.checks.length).toBe(checks + 1);
    expect(authz.checks.at(-1)?.path).toBe('/ws-custom');
    expect(ws.seen.at(-1)?.headers['x-ext-authz-check-result']).toBe('allowed');
    c.send(Opcode.text, 'authorised');
    expect((await c.next()).payload.toString()).toBe('authorised');
    c.destroy();
  });

  it('CUSTOM deny: the upgrade is answered with the authorizer\'s status, header and body', async () => {
    const before = ws.seen.length;
    const from = logs.length;
    const c = new WsClient(await tunnel(`${VIP.wsCustom}:80`));
    expect(await c.handshake(host('ws-custom'), '/ws-custom-denied')).toBe(429);
    expect(c.responseHead).toMatch(/\r\nx-ext-authz-check-result: denied/i);
    expect(await c.body()).toBe('denied by the authorizer');
    expect(ws.seen.length).toBe(before);
    const line = await eventually(() => accessLines(from, '/ws-custom-denied')[0], 5000, 'access line of the CUSTOM denial');
    expect(line).toMatchObject({ response_code: 429 });
    expect(String(line.response_flags)).toContain('UAEX');
  });
});

describe('client half-close', () => {
  it('two pipelined requests then END_STREAM: both responses arrive in full, then the tunnel ends', async () => {
    const s = await tunnel(`${VIP.echo}:80`);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    const ended = new Promise<boolean>((resolve) => {
      s.once('end', () => resolve(true));
      setTimeout(() => resolve(false), 5000);
    });
    s.end('GET /one HTTP/1.1\r\nHost: echo\r\n\r\nGET /two HTTP/1.1\r\nHost: echo\r\n\r\n');
    expect(await ended).toBe(true);
    s.destroy();
    const responses = parseResponses(Buffer.concat(chunks));
    expect(responses.map((r) => r.status)).toStrictEqual([200, 200]);
    expect(responses.map((r) => (JSON.parse(r.body.toString()) as { path: string }).path)).toStrictEqual(['/one', '/two']);
  });
});

describe('TCP half-close', () => {
  it('the backend ends first and still receives what the client sends after; the client then ends', async () => {
    const s = await tunnel(`${VIP.tcp}:${TCP_PORT}`);
    s.on('error', () => undefined);
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    const ended = new Promise<boolean>((resolve) => {
      s.once('end', () => resolve(true));
      setTimeout(() => resolve(false), 5000);
    });
    expect(await ended).toBe(true);
    expect(got).toBe('hello-from-backend');
    const before = tcp.received.length;
    s.end('after-the-backend-ended');
    await eventually(() => (tcp.received.length > before ? true : undefined), 5000, 'the backend saw the client end');
    expect(tcp.received.at(-1)).toBe('after-the-backend-ended');
    s.destroy();
  });
});
