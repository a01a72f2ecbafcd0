/**
 * The backends process: `node dist/bench/backends.js <certs-root>`. Starts every echo pod of the
 * benchmark mesh behind its own fake destination ztunnel, plus a byte sink per pod, prints `ready`
 * on stdout and serves until SIGTERM/SIGINT.
 */
import net from 'node:net';
import { readCertDir } from '../src/hbone/certs.js';
import { servePod } from '../src/testkit/pod.js';
import { NAMESPACE, POD_COUNT, POD_PORTS, podCertDir, podIp } from './config.js';

/**
 * Counts every byte until the peer half-closes, then answers the count as a decimal line and
 * closes: a bulk-throughput target with no echo traffic flowing back.
 */
function startSink(host: string, port: number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let bytes = 0;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => socket.end(`${bytes}\n`));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function main(): Promise<void> {
  const root = process.argv[2];
  if (root === undefined) throw new Error('usage: backends.js <certs-root>');
  const closers: Array<() => Promise<void>> = [];
  for (let i = 0; i < POD_COUNT; i++) {
    const ip = podIp(i);
    const pod = await servePod({
      name: `echo-${i + 1}`,
      namespace: NAMESPACE,
      ip,
      tls: await readCertDir(podCertDir(root, i)),
      ztunnelPort: POD_PORTS.ztunnel,
      httpPort: POD_PORTS.http,
      tcpPort: POD_PORTS.tcpEcho,
    });
    closers.push(() => pod.close());
    const sink = await startSink(ip, POD_PORTS.sink);
    closers.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));
  }
  process.stdout.write('ready\n');
  const stop = (): void => {
    const timer = setTimeout(() => process.exit(0), 1000);
    timer.unref();
    void Promise.allSettled(closers.map((c) => c())).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`backends: ${(err as Error).message}\n`);
  process.exit(1);
});
