import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, type TestMesh, type WorkloadCert } from '../../../src/hbone/certs.js';
import { HboneServer } from '../../../src/hbone/server.js';
import { TlsSource, type TlsMaterial } from '../../../src/hbone/tls-source.js';
import { captureLogs } from '../../helpers/log-capture.js';

const HOST = '127.155.30.1';

/** Opens an HBONE session and sends one CONNECT; the status, or the error that ended it. */
function connectOnce(port: number, mesh: TestMesh, client: WorkloadCert): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://${HOST}:${port}`, { cert: client.certChainPem, key: client.keyPem, ca: mesh.ca.certPem, checkServerIdentity: () => undefined,
      // The client would refuse an expired certificate itself; this one accepts anything, so the refusal seen is the server's.
      rejectUnauthorized: false });
    const timer = setTimeout(() => {
      session.destroy();
      resolve('timeout');
    }, 5_000);
    const done = (what: string): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(what);
    };
    session.on('error', (err: Error & { code?: string }) => done(`error ${err.code ?? err.message}`));
    session.on('close', () => done('closed'));
    const req = session.request({ ':method': 'CONNECT', ':authority': '127.155.30.9:80' });
    req.on('response', (h) => done(`status ${String(h[':status'])}`));
    req.on('error', () => undefined);
  });
}

describe('HboneServer never presents an expired certificate', () => {
  let mesh: TestMesh;
  let client: WorkloadCert;
  let server: HboneServer;
  let tls: TlsSource;
  let logs: ReturnType<typeof captureLogs>;
  let expired: WorkloadCert;
  let port: number;
  let valid: TlsMaterial;

  beforeAll(async () => {
    mesh = await createTestMesh();
    const wp = await mesh.issue('default', 'waypoint');
    client = await mesh.issue('default', 'sleep');
    valid = { ...wp, identity: wp.spiffe, notAfter: new Date(Date.now() + 3_600_000) };
    expired = await mesh.issue('default', 'waypoint', { notBefore: new Date(Date.now() - 600_000), notAfter: new Date(Date.now() - 60_000) });
    tls = new TlsSource(valid);
    logs = captureLogs('info');
    server = new HboneServer({ host: HOST, port: 0, tls, trustDomains: ['cluster.local'], logger: logs.logger, handler: () => ({ ok: false, status: 403, reason: 'test' }) });
    port = (await server.listen()).port;
  }, 30_000);

  afterAll(async () => {
    await server?.close();
  });

  it('handshakes while valid, refuses new connections once the certificate has expired, accepts again once renewed', async () => {
    expect(await connectOnce(port, mesh, client)).toBe('status 403');

    // The certificate held has expired (as when the CA stayed down past its notAfter).
    tls.install(expired);
    expect(await connectOnce(port, mesh, client)).toMatch(/^(error|closed)/);
    expect(logs.lines.some((l) => String(l.msg).startsWith(`HBONE handshakes refused: certificate ${valid.identity} expired at`))).toBe(true);

    tls.install(valid);
    expect(await connectOnce(port, mesh, client)).toBe('status 403');
    expect(logs.lines.some((l) => l.msg === 'HBONE handshakes accepted again: the certificate is valid')).toBe(true);
  }, 30_000);
});
