/**
 * The reference of bench/session-memory.ts: `node dist/bench/h2-reference.js <cert-dir> <host> <port> [--hbone-h2]`,
 * a bare `http2.createSecureServer` with the HBONE listener's TLS options (src/hbone/server.ts
 * `HBONE_SERVER_TLS`) and the waypoint's certificate, answering every CONNECT with 200 and leaving
 * the stream open, nothing else. Node's HTTP/2 defaults, or with `--hbone-h2` the waypoint's HTTP/2
 * settings (windows, frame size, session memory). Prints `ready` on stdout; serves until SIGTERM.
 */
import http2 from 'node:http2';
import { readCertDir } from '../src/hbone/certs.js';
import { HBONE_SERVER_TLS } from '../src/hbone/server.js';
import { CONNECTION_WINDOW, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE, MAX_SESSION_MEMORY_MB, SERVER_MAX_CONCURRENT_STREAMS, STREAM_WINDOW } from '../src/hbone/settings.js';

async function main(): Promise<void> {
  const [certDir, host, port] = process.argv.slice(2);
  if (certDir === undefined || host === undefined || port === undefined) throw new Error('usage: h2-reference.js <cert-dir> <host> <port> [--hbone-h2]');
  const hboneH2 = process.argv.includes('--hbone-h2');
  const cert = await readCertDir(certDir);
  const server = http2.createSecureServer({
    cert: cert.certChainPem,
    key: cert.keyPem,
    ca: cert.rootCertPem,
    ...HBONE_SERVER_TLS,
    ...(hboneH2
      ? {
          maxSessionMemory: MAX_SESSION_MEMORY_MB,
          settings: { maxConcurrentStreams: SERVER_MAX_CONCURRENT_STREAMS, initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME_SIZE, maxHeaderListSize: MAX_HEADER_LIST_SIZE, enablePush: false },
        }
      : {}),
  });
  if (hboneH2) server.on('session', (s) => s.setLocalWindowSize(CONNECTION_WINDOW));
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200 }, { endStream: false });
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve());
  });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`h2-reference: ${(err as Error).message}\n`);
  process.exit(1);
});
