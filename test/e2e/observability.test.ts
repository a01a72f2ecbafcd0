import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const { config, pods, ip } = coreMesh(49);
let mesh: LoopbackMesh;
let client: HboneClientPool;
let logs: LogLine[];

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({ config, pods, waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' }, admin: { host: ip('0.10'), port: 0 }, logger: cap.logger });
  client = await mesh.client();
});

afterAll(async () => {
  await mesh?.close();
});

async function admin(path: string, method = 'GET'): Promise<{ status: number; text: string }> {
  const a = mesh.waypoint.admin.addresses.admin!;
  const res = await request(`http://${a.host}:${a.port}${path}`, { method: method as 'GET' });
  return { status: res.statusCode, text: await res.body.text() };
}

async function echoed(headers: Record<string, string>, path: string): Promise<EchoReply> {
  const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.1')}:80` });
  try {
    return JSON.parse((await c.request({ path, headers })).body.toString()) as EchoReply;
  } finally {
    await c.close();
  }
}

describe('tracing headers', () => {
  it('keeps traceparent, tracestate, B3 and x-request-id intact end to end', async () => {
    const headers = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=abc',
      'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124',
      'x-b3-spanid': 'a2fb4a1d1a96d312',
      'x-b3-sampled': '1',
      'x-request-id': 'req-123',
    };
    const e = await echoed(headers, '/trace');
    for (const [k, v] of Object.entries(headers)) expect(e.headers[k]).toBe(v);
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/trace'));
    expect(line).toMatchObject({ x_request_id: 'req-123', traceparent: headers.traceparent });
  });

  it('adds an x-request-id when the request has none, the same one upstream and in the log', async () => {
    const e = await echoed({}, '/no-request-id');
    const id = e.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/no-request-id'));
    expect(line.x_request_id).toBe(id);
  });
});

describe('admin', () => {
  it('changes the log level at runtime', async () => {
    expect((await admin('/logging')).text).toBe('active level: info\n');
    expect((await admin('/logging?level=error', 'POST')).text).toBe('active level: error\n');
    await echoed({}, '/while-quiet');
    await new Promise((r) => setTimeout(r, 100));
    expect(logs.some((l) => l.path === '/while-quiet')).toBe(false);
    expect((await admin('/logging?level=info', 'POST')).text).toBe('active level: info\n');
    expect((await admin('/logging?level=loud', 'POST')).status).toBe(400);
  });

  it('lists listeners, chains and clusters by their Istio names', async () => {
    const listeners = (await admin('/listeners')).text;
    for (const name of ['connect_terminate', 'main_internal', 'connect_originate', `inbound-vip|80|http|echo.default.svc.cluster.local`, `inbound-vip|9000|tcp|echo.default.svc.cluster.local`, 'direct-http', 'direct-tcp']) {
      expect(listeners).toContain(name);
    }
    const clusters = (await admin('/clusters')).text;
    expect(clusters).toContain(`inbound-vip|80|http|echo.default.svc.cluster.local::${ip('1.1')}:8080::health_flags::healthy`);
    const json = JSON.parse((await admin('/clusters?format=json')).text) as Array<{ name: string }>;
    expect(json.map((c) => c.name)).toContain('encap');
  });

  it('dumps the loaded configuration and compiled snapshot', async () => {
    const dump = JSON.parse((await admin('/config_dump')).text) as { waypoint: { name: string }; boundVips: Array<{ key: string }>; certificate: { identity: string } };
    expect(dump.waypoint.name).toBe('waypoint');
    expect(dump.certificate.identity).toBe(mesh.waypointIdentity);
    expect(dump.boundVips.map((v) => v.key)).toContain(`${ip('10.1')}:80`);
  });
});
