/**
 * Policy re-check of open upgraded connections (issue 13 item 5), over real HBONE on loopback
 * (127.195): an open WebSocket (HTTP/1.1 upgrade, and RFC 8441 extended CONNECT over h2c) is closed
 * when a new AuthorizationPolicy denies its upgrade request, logged with the policy's name, marked
 * in its access record and counted in `waypoint_policy_recheck_closed_total`; a WebSocket the new
 * policy does not match keeps echoing (on RFC 8441: on the same h2c session).
 */
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { policyDoc, WAYPOINT_NAMESPACE } from '../helpers/policy-mesh.js';
import { recheckClosedCount, setPolicies } from '../helpers/policy-reload.js';
import { Opcode, WebSocketEchoApp, WsClient } from '../helpers/websocket.js';

const ip = (tail: string): string => `127.195.${tail}`;
const VIP = ip('10.1');
const WS_PORT = 8090;
const HOST = 'ws.default.svc.cluster.local';

const pods: MeshPod[] = [{ name: 'ws-1', namespace: 'default', serviceAccount: 'ws', ip: ip('1.1'), httpPort: WS_PORT, echo: false, labels: { app: 'ws' } }];

const config = `${WAYPOINT_NAMESPACE}---
apiVersion: v1
kind: Service
metadata: { name: ws, namespace: default }
spec:
  clusterIP: ${VIP}
  selector: { app: ws }
  ports: [{ name: http, port: 80, targetPort: ${WS_PORT}, appProtocol: http }]
`;

/** A DENY on the ws Service for request paths matching `paths`. */
const denyPaths = (name: string, paths: string[]): string => policyDoc(name, 'Service ws', `  action: DENY\n  rules: [{ to: [{ operation: { paths: ${JSON.stringify(paths)} } }] }]\n`);

let mesh: LoopbackMesh;
let pool: HboneClientPool;
let logs: LogLine[];
const ws = new WebSocketEchoApp(ip('1.1'), WS_PORT);

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config,
    pods,
    backends: [ws],
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: cap.logger,
    podResources: true,
  });
  pool = await mesh.client('default', 'sleep');
});

afterAll(async () => {
  await mesh?.close();
});

const recheckLine = (path: string): Promise<LogLine> =>
  eventually(() => logs.find((l) => l.msg === 'connection closed by policy re-check' && l.path === path), 5000, `the re-check log line of ${path}`);
const accessLine = (path: string): Promise<LogLine> => eventually(() => logs.find((l) => l.msg === 'access' && l.path === path), 5000, `the access record of ${path}`);

/** An upgraded WebSocket over HTTP/1.1 to `path`, echoing. */
async function openWebSocket(path: string): Promise<WsClient> {
  const sock = await new HboneHttpClient(pool, { ...mesh.hbone, authority: `${VIP}:80` }).tunnel();
  const c = new WsClient(sock);
  expect(await c.handshake(HOST, path)).toBe(101);
  await echo(c, `${path} open`);
  return c;
}

async function echo(c: WsClient, text: string): Promise<void> {
  c.send(Opcode.text, text);
  expect((await c.next()).payload.toString()).toBe(text);
}

describe('policy re-check of open WebSocket connections', () => {
  it('HTTP/1.1: a new DENY on its path closes the WebSocket, named in the log, access record and metric; another keeps echoing', async () => {
    const chat = await openWebSocket('/chat/room-1');
    const feed = await openWebSocket('/feed/news');

    await setPolicies(mesh, denyPaths('deny-chat', ['/chat/*']));
    // What the client sees: the connection closes, within a bounded wait.
    await chat.waitEnd(5000);

    expect(await recheckLine('/chat/room-1')).toMatchObject({
      level: 40,
      policy: 'default/deny-chat',
      method: 'GET',
      authority: HOST,
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
      connect_authority: `${VIP}:80`,
    });
    const access = await accessLine('/chat/room-1');
    expect(access).toMatchObject({ response_code: 101, response_flags: '-', policy: 'default/deny-chat', response_code_details: 'rbac_access_denied_matched_policy[default/deny-chat#rule-0]' });
    expect(String(access.details)).toContain('connection closed by policy re-check');
    expect(await recheckClosedCount(mesh, 'default/deny-chat')).toBe(1);

    // The WebSocket the policy does not match stays open and keeps echoing.
    await echo(feed, 'feed still here');
    expect(feed.ended).toBe(false);
    expect(logs.filter((l) => l.msg === 'connection closed by policy re-check')).toHaveLength(1);
    // And a new upgrade to the denied path is refused.
    const again = new WsClient(await new HboneHttpClient(pool, { ...mesh.hbone, authority: `${VIP}:80` }).tunnel());
    expect(await again.handshake(HOST, '/chat/room-2')).toBe(403);
    again.destroy();
    feed.destroy();
    chat.destroy();
  });

  it('RFC 8441 over h2c: a new DENY closes the denied stream; another stream on the same session keeps echoing', async () => {
    const sock = await new HboneHttpClient(pool, { ...mesh.hbone, authority: `${VIP}:80` }).tunnel();
    const session = http2.connect(`http://${VIP}`, { createConnection: () => sock });
    session.on('error', () => undefined);
    try {
      await eventually(() => (session.remoteSettings.enableConnectProtocol === true ? true : undefined), 5000, 'SETTINGS_ENABLE_CONNECT_PROTOCOL');
      const open = async (path: string): Promise<{ stream: http2.ClientHttp2Stream; c: WsClient }> => {
        const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path, ':authority': HOST, 'sec-websocket-version': '13' }, { endStream: false });
        stream.on('error', () => undefined);
        const status = await new Promise<number | undefined>((resolve) => {
          const t = setTimeout(() => resolve(undefined), 5000);
          stream.once('response', (h) => {
            clearTimeout(t);
            resolve(h[':status']);
          });
        });
        expect(status).toBe(200);
        const c = new WsClient(stream, { established: true });
        await echo(c, `${path} open`);
        return { stream, c };
      };
      const chat = await open('/h2/chat');
      const feed = await open('/h2/feed');

      await setPolicies(mesh, denyPaths('deny-chat', ['/chat/*']) + denyPaths('deny-h2-chat', ['/h2/chat']));
      await chat.c.waitEnd(5000);
      expect(chat.stream.destroyed || chat.stream.closed).toBe(true);
      expect(await recheckLine('/h2/chat')).toMatchObject({ level: 40, policy: 'default/deny-h2-chat', method: 'GET', authority: HOST });
      const access = await accessLine('/h2/chat');
      expect(access).toMatchObject({ response_code: 101, response_flags: '-', protocol: 'HTTP/2', policy: 'default/deny-h2-chat', response_code_details: 'rbac_access_denied_matched_policy[default/deny-h2-chat#rule-0]' });
      expect(await recheckClosedCount(mesh, 'default/deny-h2-chat')).toBe(1);

      // Same session, other stream: untouched.
      await echo(feed.c, 'h2 feed still here');
      expect(feed.c.ended).toBe(false);
      expect(session.closed).toBe(false);
      feed.stream.close();
    } finally {
      session.close();
      sock.destroy();
    }
  });
});
