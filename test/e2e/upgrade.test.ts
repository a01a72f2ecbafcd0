/**
 * HTTP/1.1 upgrades and half-close through the waypoint, over real HBONE on loopback (127.185):
 * a WebSocket echo with messages both ways and a clean close, routing and policy applied to the
 * upgrade request, a non-101 answer relayed as a response, the route timeout not cutting an
 * upgraded connection, the access-log line and istio_requests_total for the upgraded exchange;
 * pipelined requests followed by the client's half-close answered in full; TCP half-close both ways.
 *
 * The Services select their pods by label, so the mesh writes a Pod resource per pod
 * (`podResources`; without them every Service has no endpoint and answers 503). The TCP pod's
 * ztunnel is strict (`strictZtunnel`): it passes half-closes on as ztunnel does, where the lenient
 * fake closes the app connection as soon as the app ends its side.
 */
import net from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { StreamSocket } from '../../src/hbone/stream-socket.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { parseResponses } from '../helpers/http1-raw.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { Opcode, WebSocketEchoApp, WsClient } from '../helpers/websocket.js';

const ip = (tail: string): string => `127.185.${tail}`;
const VIP = { ws: ip('10.1'), echo: ip('10.2'), tcp: ip('10.3') };
const WS_PORT = 8090;
const TCP_PORT = 9100;

const pods: MeshPod[] = [
  { name: 'ws-1', namespace: 'default', serviceAccount: 'ws', ip: ip('1.1'), httpPort: WS_PORT, echo: false, labels: { app: 'ws' } },
  { name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: ip('1.2'), httpPort: 8080, labels: { app: 'echo' } },
  { name: 'tcp-1', namespace: 'default', serviceAccount: 'tcp', ip: ip('1.3'), httpPort: 8080, tcpPort: TCP_PORT, echo: false, strictZtunnel: true, labels: { app: 'tcp' } },
];

const svc = (name: string, vip: string, ports: string): string => `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: ${name} }
  ports:
${ports}`;

const config = `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default, labels: { istio.io/waypoint-for: all } }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
${svc('ws', VIP.ws, `    - { name: http, port: 80, targetPort: ${WS_PORT}, appProtocol: http }\n`)}${svc('echo', VIP.echo, '    - { name: http, port: 80, targetPort: 8080, appProtocol: http }\n')}${svc('tcp', VIP.tcp, `    - { name: tcp, port: ${TCP_PORT}, targetPort: ${TCP_PORT}, appProtocol: tcp }\n`)}---
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
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-denied, namespace: default }
spec:
  targetRefs: [{ group: "", kind: Service, name: ws }]
  action: DENY
  rules:
    - to: [{ operation: { paths: ["/ws-denied"] } }]
`;

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
const ws = new WebSocketEchoApp(ip('1.1'), WS_PORT);
const tcp = new HalfCloseBackend(ip('1.3'), TCP_PORT);

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config,
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
