/**
 * Hardening, item 1: TLS and mTLS admission on the HBONE port, beyond hbone-admission.test.ts
 * (which covers no certificate, another CA, another trust domain, no URI SAN and an expired
 * certificate). Each refusal happens at or right after the handshake, is logged exactly once with
 * its reason, and the waypoint keeps serving a good client.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkloadCert, type WorkloadCert } from '../../src/hbone/certs.js';
import { HardeningMesh, VIP } from '../helpers/hardening-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { RawH2, connectHeaders } from '../helpers/h2-raw.js';

let mesh: HardeningMesh;
let logs: LogLine[];

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await HardeningMesh.start({ slot: 0, logger: cap.logger, limits: { handshakeTimeoutMs: 800 } });
});

afterAll(async () => {
  await mesh?.close();
});

/** Admission log lines of connect_terminate (handshake refusals and post-handshake refusals). */
const admission = (from: number): LogLine[] => logs.slice(from).filter((l) => /^HBONE (handshake|connection) refused/.test(l.msg));

/** A good client still gets `:status 200` on a fresh session. */
async function stillServing(): Promise<void> {
  const cert = await mesh.issue('default', 'sleep');
  const raw = await RawH2.connect({ ...mesh.hbone, ca: mesh.ca.certPem, cert: cert.certChainPem, key: cert.keyPem });
  try {
    raw.request(1, connectHeaders(`${VIP.echo}:80`));
    await raw.until(() => raw.status(1) !== undefined, 5000, 'CONNECT response');
    expect(raw.status(1)).toBe(200);
  } finally {
    raw.destroy();
  }
}

interface TlsOutcome {
  /** The client-side error, if the handshake failed. */
  error?: string;
  alpn?: string | false | null;
  /** The server closed the connection after the handshake. */
  closedByServer: boolean;
}

/** Completes (or fails) a TLS handshake with these options and waits for the server's verdict. */
function tlsAttempt(opts: tls.ConnectionOptions, waitMs = 3000): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    const s = tls.connect({ ...mesh.hbone, ca: mesh.ca.certPem, checkServerIdentity: () => undefined, ...opts });
    let alpn: string | false | null | undefined;
    let error: string | undefined;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ error, alpn, closedByServer: false });
    }, waitMs);
    s.on('secureConnect', () => {
      alpn = s.alpnProtocol;
    });
    s.on('error', (e: Error & { code?: string }) => {
      error = `${e.code ?? ''} ${e.message}`;
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ error, alpn, closedByServer: true });
    });
    s.resume();
  });
}

const withCert = (c: WorkloadCert): tls.ConnectionOptions => ({ cert: c.certChainPem, key: c.keyPem, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'] });

describe('connect_terminate refuses, logs once, keeps serving', () => {
  it('plaintext HTTP/1.1 on the HBONE port', async () => {
    const from = logs.length;
    const reply = await new Promise<{ bytes: Buffer; closed: boolean }>((resolve) => {
      const s = net.connect(mesh.hbone);
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ bytes: Buffer.concat(chunks), closed: false });
      }, 3000);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ bytes: Buffer.concat(chunks), closed: true });
      });
      s.write('GET / HTTP/1.1\r\nHost: 127.48.10.1\r\n\r\n');
    });
    expect(reply.closed).toBe(true);
    // Nothing readable as HTTP comes back: at most a TLS alert record (content type 21).
    expect(reply.bytes.toString('latin1')).not.toContain('HTTP/');
    if (reply.bytes.length > 0) expect(reply.bytes[0]).toBe(21);
    const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/^HBONE handshake refused: /);
    expect(String(lines[0]!.reason)).toMatch(/ERR_SSL_(HTTP_REQUEST|WRONG_VERSION_NUMBER)/);
    await stillServing();
  });

  it('plaintext h2c prior knowledge on the HBONE port', async () => {
    const from = logs.length;
    await new Promise<void>((resolve) => {
      const s = net.connect(mesh.hbone);
      s.on('error', () => undefined);
      s.on('close', () => resolve());
      s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      s.resume();
      setTimeout(() => s.destroy(), 3000);
    });
    const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
    expect(lines).toHaveLength(1);
    expect(String(lines[0]!.reason)).toMatch(/^ERR_SSL_/);
    await stillServing();
  });

  it('a TCP connection that never starts the handshake is dropped after the handshake timeout', async () => {
    const from = logs.length;
    const t0 = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const s = net.connect(mesh.hbone);
      s.on('error', () => undefined);
      s.on('close', () => resolve(Date.now() - t0));
      setTimeout(() => s.destroy(), 5000);
    });
    expect(closedAfter).toBeGreaterThanOrEqual(700);
    expect(closedAfter).toBeLessThan(3000);
    const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.reason).toBe('ERR_TLS_HANDSHAKE_TIMEOUT');
  });

  it('a TLS 1.2-only client: handshake alert, logged once', async () => {
    const from = logs.length;
    const out = await tlsAttempt({ ...withCert(await mesh.issue()), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    expect(out.error).toMatch(/protocol version|ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION/i);
    expect(out.alpn).toBeUndefined();
    const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
    expect(lines).toHaveLength(1);
    expect(String(lines[0]!.reason)).toMatch(/UNSUPPORTED_PROTOCOL|VERSION/);
    await stillServing();
  });

  it('a client offering only ALPN http/1.1: no_application_protocol alert, logged once', async () => {
    const from = logs.length;
    const out = await tlsAttempt({ ...withCert(await mesh.issue()), ALPNProtocols: ['http/1.1'] });
    expect(out.error).toMatch(/no application protocol|ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL/i);
    const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
    expect(lines).toHaveLength(1);
    expect(String(lines[0]!.reason)).toMatch(/NO_APPLICATION_PROTOCOL|ALPN/i);
    await stillServing();
  });

  it('a client offering no ALPN at all: handshake completes, then the connection is closed, logged once', async () => {
    const from = logs.length;
    const c = await mesh.issue();
    const out = await tlsAttempt({ cert: c.certChainPem, key: c.keyPem, minVersion: 'TLSv1.3' });
    expect(out.error).toBeUndefined();
    expect(out.alpn).toBe(false);
    expect(out.closedByServer).toBe(true);
    const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe('HBONE connection refused: ALPN h2 not negotiated');
    await stillServing();
  });

  const certCases: Array<[string, () => Promise<WorkloadCert>, RegExp]> = [
    [
      'a certificate that is not yet valid',
      () => issueWorkloadCert(mesh.ca, { spiffe: 'spiffe://cluster.local/ns/default/sa/future', notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 3 * 86_400_000) }),
      /client certificate not verified: .*CERT_NOT_YET_VALID|not yet valid/i,
    ],
    ['a certificate whose only URI SAN is not SPIFFE', () => issueWorkloadCert(mesh.ca, { uris: ['https://sleep.default.example/'] }), /^client certificate has no SPIFFE URI SAN$/],
    ['a certificate with an upper-case SPIFFE scheme', () => issueWorkloadCert(mesh.ca, { uris: ['SPIFFE://cluster.local/ns/default/sa/sleep'] }), /^client certificate has no SPIFFE URI SAN$/],
    [
      'a SPIFFE id from another trust domain ahead of a good one (the first SPIFFE id is the identity)',
      () => issueWorkloadCert(mesh.ca, { uris: ['spiffe://evil.example/ns/default/sa/sleep', 'spiffe://cluster.local/ns/default/sa/sleep'] }),
      /outside trust domain cluster\.local/,
    ],
  ];
  for (const [name, make, reason] of certCases) {
    it(`${name}: refused after the handshake, logged once`, async () => {
      const from = logs.length;
      const out = await tlsAttempt(withCert(await make()));
      expect(out.alpn).toBe('h2');
      expect(out.closedByServer).toBe(true);
      const lines = await eventually(() => (admission(from).length > 0 ? admission(from) : undefined), 3000, 'refusal log');
      expect(lines).toHaveLength(1);
      expect(lines[0]!.msg).toMatch(/^HBONE connection refused: /);
      expect(String(lines[0]!.reason)).toMatch(reason);
      await stillServing();
    });
  }

  it('a burst of 40 bad clients at once: each refused and logged once, good clients unaffected', async () => {
    const from = logs.length;
    const bad = await issueWorkloadCert(mesh.ca, { uris: ['https://nobody.example/'] });
    const attempts = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? tlsAttempt(withCert(bad)) : tlsAttempt({ ...withCert(bad), maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' }),
    );
    const [results] = await Promise.all([Promise.all(attempts), stillServing()]);
    expect(results.every((r) => r.closedByServer)).toBe(true);
    await eventually(() => admission(from).length >= 40, 5000, '40 refusal lines');
    await new Promise((r) => setTimeout(r, 200));
    expect(admission(from)).toHaveLength(40);
    expect(mesh.waypoint.hbone.sessionCount).toBe(0);
    await stillServing();
  });
});
