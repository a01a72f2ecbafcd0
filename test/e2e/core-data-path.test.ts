import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HboneConnectError, type HboneClientPool } from '../../src/hbone/client-pool.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { HboneHttpClient, h2Request } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const { config, pods, ip } = coreMesh(41);
let mesh: LoopbackMesh;
let client: HboneClientPool;
let logs: LogLine[];

function via(authority: string): HboneHttpClient {
  return new HboneHttpClient(client, { ...mesh.hbone, authority, expectedIdentity: mesh.waypointIdentity });
}

function echo(body: Buffer): EchoReply {
  return JSON.parse(body.toString('utf8')) as EchoReply;
}

function accessLines(): LogLine[] {
  return logs.filter((l) => l.msg === 'access');
}

beforeAll(async () => {
  const cap = captureLogs('debug');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config,
    pods,
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    logger: cap.logger,
  });
  client = await mesh.client('default', 'sleep');
});

afterAll(async () => {
  await mesh?.close();
});

describe('HTTP/1.1 through a Service VIP', () => {
  it('answers a GET from an echo pod, reached over HBONE with the waypoint identity', async () => {
    const c = via(`${ip('10.1')}:80`);
    const res = await c.request({ path: '/hello?x=1', headers: { 'x-test': 'yes' } });
    await c.close();
    expect(res.status).toBe(200);
    const e = echo(res.body);
    expect(e.pod).toMatch(/^echo-[123]$/);
    expect(e.method).toBe('GET');
    expect(e.path).toBe('/hello?x=1');
    // undici omits the default port from Host, as browsers and curl do.
    expect(e.host).toBe(ip('10.1'));
    expect(e.headers['x-test']).toBe('yes');
    expect(e.protocol).toBe('HTTP/1.1');
    expect(e.peerIdentity).toBe(mesh.waypointIdentity);
    // The destination ztunnel was asked for podIP:targetPort.
    const podIp = pods.find((p) => p.name === e.pod)!.ip;
    const connects = mesh.ztunnels.get(podIp)!.connects;
    expect(connects.map((r) => r.authority)).toContain(`${podIp}:8080`);
    expect(connects.every((r) => r.peerIdentity === mesh.waypointIdentity)).toBe(true);
  });

  it('streams a 1 MiB POST body intact', async () => {
    const body = randomBytes(1024 * 1024);
    const c = via(`${ip('10.1')}:80`);
    const res = await c.request({ method: 'POST', path: '/upload', body, headers: { 'content-type': 'application/octet-stream' } });
    await c.close();
    expect(res.status).toBe(200);
    const e = echo(res.body);
    expect(e.bodyBytes).toBe(body.length);
    expect(e.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('keeps the inner connection alive: many requests, one tunnel in, reused tunnels out', async () => {
    const c = via(`${ip('10.1')}:80`);
    const seen: EchoReply[] = [];
    for (let i = 0; i < 6; i++) seen.push(echo((await c.request({ path: `/ka/${i}` })).body));
    await c.close();
    expect(c.tunnelsOpened).toBe(1);
    // Six requests round-robin over three pods: each pod saw a second request on the same connection.
    const second = seen.slice(3);
    for (const e of second) expect(e.connectionRequest).toBeGreaterThanOrEqual(2);
  });

  it('spreads load round-robin over three ready endpoints', async () => {
    const c = via(`${ip('10.1')}:80`);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const e = echo((await c.request({ path: '/spread' })).body);
      counts.set(e.pod, (counts.get(e.pod) ?? 0) + 1);
    }
    await c.close();
    expect(Object.fromEntries(counts)).toEqual({ 'echo-1': 10, 'echo-2': 10, 'echo-3': 10 });
  });

  it('sniffs HTTP/1.1 on a port without a declared protocol', async () => {
    const c = via(`${ip('10.1')}:8081`);
    const res = await c.request({ path: '/sniffed' });
    await c.close();
    expect(res.status).toBe(200);
    expect(echo(res.body).protocol).toBe('HTTP/1.1');
  });

  it('writes one access-log line per request with flags and cluster', async () => {
    const c = via(`${ip('10.1')}:80`);
    await c.request({ path: '/logged-request' });
    await c.close();
    const line = await eventually(() => accessLines().find((l) => l.path === '/logged-request'));
    expect(line).toMatchObject({
      type: 'http',
      method: 'GET',
      response_code: 200,
      response_flags: '-',
      upstream_cluster: `inbound-vip|80|http|echo.default.svc.cluster.local`,
      chain: `inbound-vip|80|http|echo.default.svc.cluster.local`,
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
    });
    expect(String(line.upstream_host)).toMatch(new RegExp(`^127\\.41\\.1\\.[123]:8080$`));
  });
});

describe('h2c through a Service VIP', () => {
  it('carries 50 concurrent streams on one HBONE connection, h2c upstream on an http2 port', async () => {
    const c = via(`${ip('10.1')}:81`);
    const session = await c.h2c();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => h2Request(session, { path: `/stream/${i}` })));
    await c.close();
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const replies = results.map((r) => echo(r.body));
    expect(new Set(replies.map((r) => r.path)).size).toBe(50);
    for (const r of replies) expect(r.protocol).toBe('HTTP/2');
    expect(c.tunnelsOpened).toBe(1);
    expect(client.sessionCount).toBe(1);
  });

  it('translates h2c downstream to HTTP/1.1 upstream on an http port', async () => {
    const c = via(`${ip('10.1')}:80`);
    const session = await c.h2c();
    const res = await h2Request(session, { path: '/h2-to-h1', method: 'POST', body: 'abc' });
    await c.close();
    expect(res.status).toBe(200);
    const e = echo(res.body);
    expect(e.protocol).toBe('HTTP/1.1');
    // :authority becomes Host as the client sent it.
    expect(e.host).toBe(`${ip('10.1')}:80`);
    expect(e.bodyBytes).toBe(3);
  });
});

describe('opaque TCP', () => {
  for (const [name, port] of [
    ['on a tcp-named port', 9000],
    ['sniffed on a port without a protocol', 9001],
  ] as const) {
    it(`echoes bytes both ways with half-close ${name}`, async () => {
      const c = via(`${ip('10.1')}:${port}`);
      const sock = await c.tunnel();
      const chunks: Buffer[] = [];
      sock.on('data', (d: Buffer) => chunks.push(d));
      const payload = randomBytes(200_000);
      sock.write(payload.subarray(0, 10));
      sock.end(payload.subarray(10));
      await once(sock, 'end');
      expect(Buffer.concat(chunks).equals(payload)).toBe(true);
      sock.destroy();
      await c.close();
    });
  }
});

describe('workload-addressed traffic', () => {
  it('routes a pod IP authority to that pod (direct chain, encap cluster)', async () => {
    const c = via(`${ip('1.2')}:8080`);
    const res = await c.request({ path: '/direct' });
    await c.close();
    expect(res.status).toBe(200);
    expect(echo(res.body).pod).toBe('echo-2');
    const line = await eventually(() => accessLines().find((l) => l.path === '/direct'));
    expect(line).toMatchObject({ chain: 'direct-http', upstream_cluster: 'encap', upstream_host: `${ip('1.2')}:8080` });
  });
});

describe('errors on the wire', () => {
  it('503 UF when the destination ztunnel refuses the CONNECT', async () => {
    const c = via(`${ip('10.3')}:80`);
    const res = await c.request({ path: '/refused' });
    await c.close();
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('upstream connect error or disconnect/reset before headers. reset reason: connection failure');
    const line = await eventually(() => accessLines().find((l) => l.path === '/refused'));
    // Istio's default retry policy retried the connect failure, then gave up.
    expect(line.response_flags).toBe('UF,URX');
  });

  it('503 UF when the destination presents the wrong identity', async () => {
    const c = via(`${ip('10.4')}:80`);
    const res = await c.request({ path: '/imposter' });
    await c.close();
    expect(res.status).toBe(503);
    const line = await eventually(() => accessLines().find((l) => l.path === '/imposter'));
    expect(line.response_flags).toBe('UF,URX');
    expect(String(line.details)).toContain('someone-else');
  });

  it('503 UH when the Service has no endpoints', async () => {
    const c = via(`${ip('10.5')}:80`);
    const res = await c.request({ path: '/empty' });
    await c.close();
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('no healthy upstream');
  });

  it('refuses a CONNECT to a VIP that is not bound to the waypoint', async () => {
    const err = await client.connect({ address: mesh.hbone.host, port: mesh.hbone.port, authority: `${ip('10.2')}:80` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HboneConnectError);
    expect((err as HboneConnectError).status).toBe(404);
    await eventually(() => logs.find((l) => l.msg.startsWith('CONNECT refused') && l.authority === `${ip('10.2')}:80`));
  });

  it('refuses a CONNECT to a known VIP on a port the Service does not have', async () => {
    const err = (await client.connect({ address: mesh.hbone.host, port: mesh.hbone.port, authority: `${ip('10.1')}:1234` }).catch((e: unknown) => e)) as HboneConnectError;
    expect(err.status).toBe(404);
  });
});
