/**
 * The benchmark's TLS tap (bench/peers/node/tls-tap.ts) counts HTTP/2 frames inside a real
 * TLS 1.3 + h2 connection from the key log, and counts only records when the key log is missing.
 */
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hkdfExpandLabel, secretsFor, TlsTap } from '../../bench/peers/node/tls-tap.js';
import { createTestMesh, type WorkloadCert } from '../../src/hbone/certs.js';

const HOST = '127.158.40.1';
const TAP_HOST = '127.158.40.2';

let dir: string;
let server: http2.Http2SecureServer;
let serverPort = 0;
let client: WorkloadCert;
const keylog = (): string => join(dir, 'keylog.txt');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-tap-'));
  const mesh = await createTestMesh();
  const serverCert = await mesh.issue('bench', 'echo');
  client = await mesh.issue('bench', 'client');
  server = http2.createSecureServer({
    cert: serverCert.certChainPem,
    key: serverCert.keyPem,
    ca: serverCert.rootCertPem,
    requestCert: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
  });
  server.on('keylog', (line: Buffer) => void appendFile(keylog(), line));
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(Buffer.alloc(1024, 0x78));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  const a = server.address();
  serverPort = typeof a === 'object' && a !== null ? a.port : 0;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

/** `requests` GETs on one h2 session through the tap; resolves once all bodies are in. */
async function throughTap(tap: TlsTap, port: number, requests: number): Promise<number> {
  const s = http2.connect(`https://${TAP_HOST}:${port}`, {
    ca: client.rootCertPem,
    cert: client.certChainPem,
    key: client.keyPem,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
  });
  let bytes = 0;
  try {
    for (let i = 0; i < requests; i++) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('request through the tap timed out')), 5000);
        const req = s.request({ ':path': '/' });
        req.on('data', (d: Buffer) => (bytes += d.length));
        req.once('end', () => {
          clearTimeout(timer);
          resolve();
        });
        req.once('error', reject);
      });
    }
  } finally {
    s.close();
  }
  // Let the tap's key lookup and the last records settle.
  for (let i = 0; i < 50 && (tap.counts.recv.frames.DATA?.frames ?? 0) < requests && tap.undecrypted === 0; i++) await new Promise((r) => setTimeout(r, 20));
  return bytes;
}

describe('TLS tap', () => {
  it('counts the frames in each direction of a TLS 1.3 h2 session from the key log', async () => {
    const tap = new TlsTap({ listen: { host: TAP_HOST, port: 0 }, target: { host: HOST, port: serverPort }, keylog: keylog(), peerSide: 'client' });
    await tap.listen();
    try {
      const bytes = await throughTap(tap, tap.port, 3);
      expect(bytes).toBe(3 * 1024);
      const { sent, recv } = tap.counts;
      expect(tap.undecrypted).toBe(0);
      expect(tap.counts.sessions).toBe(1);
      // The client sent three requests (one HEADERS each, with END_STREAM) and its SETTINGS.
      expect(sent.frames.HEADERS?.frames).toBe(3);
      expect(sent.frames.SETTINGS?.frames).toBeGreaterThanOrEqual(1);
      expect(sent.frames.DATA).toBeUndefined();
      // The server answered three 1 KiB bodies.
      expect(recv.frames.HEADERS?.frames).toBe(3);
      expect(recv.frames.DATA?.bytes).toBeGreaterThanOrEqual(3 * (1024 + 9));
      expect(recv.tlsRecords).toBeGreaterThan(3);
      expect(recv.tcpBytes).toBeGreaterThan(3 * 1024);
    } finally {
      await tap.close();
    }
  });

  it('counts records but no frames when the key log has no line for the session', async () => {
    const tap = new TlsTap({ listen: { host: TAP_HOST, port: 0 }, target: { host: HOST, port: serverPort }, keylog: join(dir, 'absent.txt'), peerSide: 'client', keyWaitMs: 200 });
    await tap.listen();
    try {
      expect(await throughTap(tap, tap.port, 1)).toBe(1024);
      for (let i = 0; i < 50 && tap.undecrypted === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(tap.undecrypted).toBe(1);
      expect(tap.counts.recv.tlsRecords).toBeGreaterThan(0);
      expect(tap.counts.recv.frames.DATA).toBeUndefined();
    } finally {
      await tap.close();
    }
  });
});

describe('TLS 1.3 key schedule pieces', () => {
  it('derives HKDF-Expand-Label as RFC 8448 §3 does (server handshake key and iv)', () => {
    // RFC 8448 "Simple 1-RTT Handshake": server_handshake_traffic_secret → key, iv.
    const secret = Buffer.from('b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38', 'hex');
    expect(hkdfExpandLabel('sha256', secret, 'key', 16).toString('hex')).toBe('3fce516009c21727d0f2e4e86ee403bc');
    expect(hkdfExpandLabel('sha256', secret, 'iv', 12).toString('hex')).toBe('5d313eb2671276ee13000b30');
  });

  it.each([
    ['both secrets present', 'CLIENT_TRAFFIC_SECRET_0 aa 01\nSERVER_TRAFFIC_SECRET_0 aa 02\n', 'aa', true],
    ['another session only', 'CLIENT_TRAFFIC_SECRET_0 bb 01\nSERVER_TRAFFIC_SECRET_0 bb 02\n', 'aa', false],
    ['server secret missing', 'CLIENT_TRAFFIC_SECRET_0 aa 01\n', 'aa', false],
  ])('finds a session in the key log: %s', (_name, log, random, found) => {
    expect(secretsFor(log, random) !== undefined).toBe(found);
  });
});
