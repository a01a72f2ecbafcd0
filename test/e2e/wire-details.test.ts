import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkloadCert, writeCertDir } from '../../src/hbone/certs.js';
import { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { StreamSocket } from '../../src/hbone/stream-socket.js';
import { TlsSource } from '../../src/hbone/tls-source.js';
import { EchoApp } from '../../src/testkit/echo-app.js';
import { FakeZtunnel } from '../../src/testkit/fake-ztunnel.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { uriSansFromSubjectAltName } from '../../src/hbone/spiffe.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

const { config, pods, ip } = coreMesh(44);
let mesh: LoopbackMesh;
let logs: LogLine[];
let client: HboneClientPool;

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({ config, pods, waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' }, logger: cap.logger });
  client = await mesh.client();
});

afterAll(async () => {
  await mesh?.close();
});

const TOKEN_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [\x20-\x7e]*$/;

/** Splits raw HTTP/1.1 bytes into a checked head and the rest. */
function parseHead(raw: Buffer): { status: number; headers: Map<string, string>; rest: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  expect(end, `no end of head in ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`).toBeGreaterThan(0);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  expect(lines[0]).toMatch(/^HTTP\/1\.1 \d{3} [\x20-\x7e]*$/);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    expect(line).toMatch(TOKEN_LINE);
    const i = line.indexOf(': ');
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 2));
  }
  return { status: Number(lines[0]!.slice(9, 12)), headers, rest: raw.subarray(end + 4) };
}

async function readAll(sock: StreamSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  await Promise.race([once(sock, 'end'), new Promise((_, rej) => setTimeout(() => rej(new Error('no end of response')), 5000))]);
  return Buffer.concat(chunks);
}

async function raw(authority: string, request: string): Promise<Buffer> {
  const c = new HboneHttpClient(client, { ...mesh.hbone, authority });
  const sock = await c.tunnel();
  sock.write(request);
  const out = await readAll(sock);
  sock.destroy();
  return out;
}

describe('exact bytes of HTTP/1.1 response heads inside the tunnel', () => {
  it('proxied response with a piped body', async () => {
    const res = parseHead(await raw(`${ip('10.1')}:80`, `GET /exact?size=70000 HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n`));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.rest.length).toBe(Number(res.headers.get('content-length')));
    expect((JSON.parse(res.rest.toString()) as { path: string }).path).toBe('/exact?size=70000');
  });

  it('local reply (503 no healthy upstream)', async () => {
    const res = parseHead(await raw(`${ip('10.5')}:80`, `GET / HTTP/1.1\r\nHost: empty\r\nConnection: close\r\n\r\n`));
    expect(res.status).toBe(503);
    expect(res.rest.toString()).toBe('no healthy upstream');
    expect(res.headers.get('content-length')).toBe('19');
  });

  it('Expect: 100-continue gets an interim 100 and then the final response', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.1')}:80` });
    const sock = await c.tunnel();
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.write(`POST /continue HTTP/1.1\r\nHost: echo\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    await eventually(() => Buffer.concat(chunks).includes('\r\n\r\n'), 5000, '100 Continue');
    expect(Buffer.concat(chunks).toString('latin1')).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    chunks.length = 0;
    sock.write('hello');
    await Promise.race([once(sock, 'end'), new Promise((_, rej) => setTimeout(() => rej(new Error('no end')), 5000))]);
    const res = parseHead(Buffer.concat(chunks));
    expect(res.status).toBe(200);
    expect((JSON.parse(res.rest.toString()) as { bodyBytes: number }).bodyBytes).toBe(5);
    sock.destroy();
  });

  const badRequests: Array<[string, string, number]> = [
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['an oversized header', `GET / HTTP/1.1\r\nHost: e\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 431],
    ['an invalid request target', 'GET not a target HTTP/1.1\r\nHost: e\r\n\r\n', 400],
  ];
  for (const [name, request, status] of badRequests) {
    it(`error response for ${name}`, async () => {
      const res = parseHead(await raw(`${ip('10.1')}:80`, request));
      expect(res.status).toBe(status);
      expect(res.headers.get('connection')).toBe('close');
    });
  }
});

describe('connect_originate pooling', () => {
  it("honours the peer's SETTINGS_MAX_CONCURRENT_STREAMS, opening more sessions when full", async () => {
    const cert = await mesh.issue('default', 'limited');
    const zt = new FakeZtunnel({ host: ip('3.1'), port: 0, tls: cert, maxConcurrentStreams: 2 });
    await zt.listen();
    const app = new EchoApp({ host: ip('3.1'), httpPort: 8080, tcpPort: 9000, pod: 'limited', namespace: 'default' });
    await app.listen();
    const wpCert = await mesh.issue('default', 'waypoint');
    const pool = new HboneClientPool({
      tls: new TlsSource({ certChainPem: wpCert.certChainPem, keyPem: wpCert.keyPem, rootCertPem: wpCert.rootCertPem, identity: wpCert.spiffe, notAfter: new Date(Date.now() + 3_600_000) }),
      trustDomains: ['cluster.local'],
      logger: captureLogs('silent').logger,
    });
    try {
      // Open one first so the peer's settings are known, then four more at once.
      const first = await pool.connect({ address: ip('3.1'), port: zt.port, authority: `${ip('3.1')}:9000`, expectedIdentity: 'spiffe://cluster.local/ns/default/sa/limited' });
      const more = await Promise.all(
        Array.from({ length: 4 }, () => pool.connect({ address: ip('3.1'), port: zt.port, authority: `${ip('3.1')}:9000`, expectedIdentity: 'spiffe://cluster.local/ns/default/sa/limited' })),
      );
      expect(pool.sessionCount).toBe(3);
      expect(zt.sessions).toBe(3);
      for (const s of [first, ...more]) s.close();
    } finally {
      await pool.close();
      await app.close();
      await zt.close();
    }
  });
});

describe('reloading', () => {
  it('serves a renewed certificate once the files change', async () => {
    const renewed = await issueWorkloadCert(mesh.ca, { spiffe: 'spiffe://cluster.local/ns/default/sa/waypoint-renewed' });
    await writeCertDir(join(mesh.dir, 'waypoint-certs'), renewed);
    const identity = async (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: mesh.hbone.host, port: mesh.hbone.port, ca: mesh.ca.certPem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
        s.once('secureConnect', () => {
          resolve(uriSansFromSubjectAltName(s.getPeerCertificate().subjectaltname)[0] ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
    const deadline = Date.now() + 5000;
    let id = await identity();
    while (id !== renewed.spiffe && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      id = await identity();
    }
    expect(id).toBe(renewed.spiffe);
    expect(logs.some((l) => l.msg === 'certificate reloaded')).toBe(true);
  });

  it('binds a Service added to the configuration, and keeps serving when a later edit is broken', async () => {
    const extra = join(mesh.dir, 'config', 'late.yaml');
    await writeFile(
      extra,
      `apiVersion: v1
kind: Service
metadata: { name: late, namespace: default }
spec:
  clusterIP: ${ip('10.7')}
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`,
    );
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.7')}:80` });
    const status = async (): Promise<number> => (await c.request({ path: '/late' }).catch(() => ({ status: 0 }))).status;
    const deadline = Date.now() + 5000;
    while ((await status()) !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await status()).toBe(200);

    await writeFile(extra, 'apiVersion: v1\nkind: Service\nmetadata: { name: late }\nspec:\n  ports: [{ port: 99999 }]\n');
    await eventually(() => logs.find((l) => String(l.msg).startsWith('configuration rejected')), 5000, 'rejection log');
    expect(await status()).toBe(200);
    await c.close();
  });
});
