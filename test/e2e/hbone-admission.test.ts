import http2 from 'node:http2';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCa, issueWorkloadCert, type WorkloadCert } from '../../src/hbone/certs.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const { config, pods, ip } = coreMesh(42);
let mesh: LoopbackMesh;
let logs: LogLine[];

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({ config, pods: pods.slice(0, 1), waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' }, logger: cap.logger });
});

afterAll(async () => {
  await mesh?.close();
});

/** Connects with raw http2 and reports whether a CONNECT got an answer, and which. */
async function tryConnect(cert: WorkloadCert | undefined, headers: http2.OutgoingHttpHeaders): Promise<{ status?: number; error?: string }> {
  const session = http2.connect(`https://${mesh.hbone.host}:${mesh.hbone.port}`, {
    ca: mesh.ca.certPem,
    cert: cert?.certChainPem,
    key: cert?.keyPem,
    minVersion: 'TLSv1.3',
    checkServerIdentity: () => undefined,
  });
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ error: 'timeout' }), 5000);
      session.on('error', (err: Error) => {
        clearTimeout(timer);
        resolve({ error: err.message });
      });
      session.on('close', () => {
        clearTimeout(timer);
        resolve({ error: 'closed' });
      });
      const req = session.request(headers, { endStream: false });
      req.on('response', (h) => {
        clearTimeout(timer);
        resolve({ status: Number(h[':status']) });
      });
      req.on('error', (err: Error) => {
        clearTimeout(timer);
        resolve({ error: err.message });
      });
    });
  } finally {
    session.destroy();
  }
}

const connectTo = (authority: string): http2.OutgoingHttpHeaders => ({ ':method': 'CONNECT', ':authority': authority });

describe('connect_terminate admission', () => {
  it('answers 200 to a mesh client CONNECTing to a bound VIP', async () => {
    const cert = await mesh.issue('default', 'sleep');
    expect(await tryConnect(cert, connectTo(`${ip('10.1')}:80`))).toEqual({ status: 200 });
  });

  const refusedAtHandshake: Array<[string, () => Promise<WorkloadCert | undefined>, RegExp]> = [
    ['a client without a certificate', async () => undefined, /client certificate not verified/],
    [
      'a certificate from another CA',
      async () => issueWorkloadCert(await createMeshCa({ trustDomain: 'cluster.local' }), { spiffe: 'spiffe://cluster.local/ns/default/sa/sleep' }),
      /client certificate not verified/,
    ],
    ['a certificate from another trust domain', async () => issueWorkloadCert(mesh.ca, { spiffe: 'spiffe://evil.example/ns/default/sa/sleep' }), /outside trust domain/],
    ['a certificate without a URI SAN', async () => issueWorkloadCert(mesh.ca, { dnsNames: ['sleep.default'] }), /no SPIFFE URI SAN/],
    ['an expired certificate', async () => issueWorkloadCert(mesh.ca, { spiffe: 'spiffe://cluster.local/ns/default/sa/old', notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }), /certificate has expired|CERT_HAS_EXPIRED/i],
  ];
  for (const [name, makeCert, reason] of refusedAtHandshake) {
    it(`refuses ${name} and logs why`, async () => {
      const before = logs.length;
      const result = await tryConnect(await makeCert(), connectTo(`${ip('10.1')}:80`));
      expect(result.status).toBeUndefined();
      const line = await eventually(() => logs.slice(before).find((l) => l.msg.startsWith('HBONE connection refused')), 5000, 'refusal log line');
      expect(String(line.reason)).toMatch(reason);
    });
  }

  it('refuses TLS 1.2 clients at the handshake', async () => {
    const cert = await mesh.issue('default', 'sleep');
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tls.connect({
        host: mesh.hbone.host,
        port: mesh.hbone.port,
        ca: mesh.ca.certPem,
        cert: cert.certChainPem,
        key: cert.keyPem,
        maxVersion: 'TLSv1.2',
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      });
      s.on('secureConnect', () => {
        s.destroy();
        resolve(undefined);
      });
      s.on('error', (e: Error) => resolve(e));
    });
    expect(err?.message).toMatch(/protocol version|alert/i);
  });

  const refusedStreams: Array<[string, http2.OutgoingHttpHeaders, number]> = [
    ['a GET instead of CONNECT', { ':method': 'GET', ':path': '/', ':authority': `${ip('10.1')}:80` }, 405],
    ['a hostname authority', connectTo('echo.default.svc:80'), 400],
    ['an authority without a port', connectTo(ip('10.1')), 400],
    ['an authority with port 0', connectTo(`${ip('10.1')}:0`), 400],
    ['an authority with port 65536', connectTo(`${ip('10.1')}:65536`), 400],
    ['an unbound VIP', connectTo(`${ip('10.2')}:80`), 404],
    ['an address nobody knows', connectTo('127.42.99.99:80'), 404],
  ];
  for (const [name, headers, status] of refusedStreams) {
    it(`answers ${status} to ${name}`, async () => {
      const cert = await mesh.issue('default', 'sleep');
      expect(await tryConnect(cert, headers)).toEqual({ status });
    });
  }
});
