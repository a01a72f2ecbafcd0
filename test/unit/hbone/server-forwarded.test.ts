import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, type TestMesh, type WorkloadCert } from '../../../src/hbone/certs.js';
import { HboneServer, streamPeer, type PeerInfo } from '../../../src/hbone/server.js';
import { TlsSource } from '../../../src/hbone/tls-source.js';
import { captureLogs } from '../../helpers/log-capture.js';

const HOST = '127.156.2.1';
const SESSION_PEER: PeerInfo = { identity: 'spiffe://cluster.local/ns/a/sa/b', address: '10.0.0.1', port: 1000, localAddress: '10.0.0.2', localPort: 15008 };

describe('streamPeer', () => {
  it('is the session peer itself when the CONNECT carries neither header', () => {
    expect(streamPeer(SESSION_PEER, { ':method': 'CONNECT' })).toBe(SESSION_PEER);
  });

  it('adds the parsed forwarded and baggage headers without touching the session peer', () => {
    const p = streamPeer(SESSION_PEER, { forwarded: 'for="10.9.8.7:5555"', baggage: 'k8s.namespace.name=shop' });
    expect(p).toMatchObject({ ...SESSION_PEER, forwardedFor: { address: '10.9.8.7', port: 5555 } });
    expect(Object.fromEntries(p.baggage ?? [])).toEqual({ 'k8s.namespace.name': 'shop' });
    expect(SESSION_PEER.forwardedFor).toBeUndefined();
  });

  it('a malformed forwarded header gives no source address', () => {
    expect(streamPeer(SESSION_PEER, { forwarded: 'for=junk' }).forwardedFor).toBeUndefined();
  });
});

describe('HboneServer hands the source workload to the tunnel handler', () => {
  let mesh: TestMesh;
  let client: WorkloadCert;
  let server: HboneServer;
  let port: number;
  const seen: PeerInfo[] = [];

  beforeAll(async () => {
    mesh = await createTestMesh();
    const wp = await mesh.issue('default', 'waypoint');
    client = await mesh.issue('default', 'sleep');
    server = new HboneServer({
      host: HOST,
      port: 0,
      tls: new TlsSource({ ...wp, identity: wp.spiffe, notAfter: new Date(Date.now() + 3_600_000) }),
      trustDomains: ['cluster.local'],
      logger: captureLogs('silent').logger,
      handler: (req) => {
        seen.push(req.peer);
        return { ok: false, status: 403, reason: 'test' };
      },
    });
    port = (await server.listen()).port;
  }, 30_000);

  afterAll(async () => {
    await server?.close();
  });

  it("parses ztunnel's forwarded and baggage on each CONNECT", async () => {
    const session = http2.connect(`https://${HOST}:${port}`, { cert: client.certChainPem, key: client.keyPem, ca: mesh.ca.certPem, checkServerIdentity: () => undefined });
    session.on('error', () => undefined);
    const connect = (headers: Record<string, string>): Promise<number> =>
      new Promise((resolve, reject) => {
        const s = session.request({ ':method': 'CONNECT', ':authority': '127.156.10.1:80', ...headers });
        const timer = setTimeout(() => s.destroy(new Error('no answer')), 5_000);
        s.on('response', (h) => {
          clearTimeout(timer);
          resolve(Number(h[':status']));
          s.close();
        });
        s.on('error', reject);
      });
    expect(await connect({ forwarded: 'for="10.244.1.7:43210";host=echo.default.svc.cluster.local', baggage: 'k8s.namespace.name=default,k8s.deployment.name=sleep' })).toBe(403);
    expect(await connect({ forwarded: 'for="[fd00::7]:1234"' })).toBe(403);
    expect(await connect({})).toBe(403);
    session.close();
    expect(seen.map((p) => p.forwardedFor)).toEqual([{ address: '10.244.1.7', port: 43210, host: 'echo.default.svc.cluster.local' }, { address: 'fd00::7', port: 1234 }, undefined]);
    expect(Object.fromEntries(seen[0]?.baggage ?? [])).toEqual({ 'k8s.namespace.name': 'default', 'k8s.deployment.name': 'sleep' });
    expect(seen.every((p) => p.identity === 'spiffe://cluster.local/ns/default/sa/sleep')).toBe(true);
  });
});
