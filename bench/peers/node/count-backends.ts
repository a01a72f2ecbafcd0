/**
 * The Node peer's counting destination: `node --tls-keylog=FILE dist/bench/peers/node/count-backends.js
 * <cert-dir>`. A FakeZtunnel on the counting pod's address (port COUNT_ZTUNNEL_PORT, behind the
 * TLS tap that holds :15008) and the same EchoApp as bench/backends.ts; prints `ready`.
 */
import { readCertDir } from '../../../src/hbone/certs.js';
import { EchoApp } from '../../../src/testkit/echo-app.js';
import { FakeZtunnel } from '../../../src/testkit/fake-ztunnel.js';
import { COUNT_POD_IP, COUNT_ZTUNNEL_PORT, NAMESPACE, POD_PORTS } from '../../config.js';

async function main(): Promise<void> {
  const certs = process.argv[2];
  if (certs === undefined) throw new Error('usage: count-backends.js <cert-dir>');
  const zt = new FakeZtunnel({ host: COUNT_POD_IP, port: COUNT_ZTUNNEL_PORT, tls: await readCertDir(certs) });
  await zt.listen();
  const app = new EchoApp({ host: COUNT_POD_IP, httpPort: POD_PORTS.http, tcpPort: POD_PORTS.tcpEcho, pod: 'echo-count-1', namespace: NAMESPACE });
  await app.listen();
  process.stdout.write('ready\n');
  const stop = (): void => {
    setTimeout(() => process.exit(0), 1000).unref();
    void Promise.allSettled([zt.close(), app.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`count-backends: ${(err as Error).message}\n`);
  process.exit(1);
});
