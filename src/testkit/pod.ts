import type { TlsMaterial } from '../hbone/tls-source.js';
import { EchoApp } from './echo-app.js';
import { FakeZtunnel, type ZtunnelBehaviour } from './fake-ztunnel.js';

export interface ServePodOptions {
  name: string;
  namespace: string;
  /** Loopback pod IP (127.x.y.z). */
  ip: string;
  /** The pod's certificate, which its destination ztunnel presents. */
  tls: Pick<TlsMaterial, 'certChainPem' | 'keyPem' | 'rootCertPem'>;
  /** Port the destination ztunnel listens on; 0 picks a free one. */
  ztunnelPort: number;
  /** Echo app HTTP/1.1 + h2c port. */
  httpPort: number;
  /** Echo app raw TCP port. */
  tcpPort?: number | undefined;
  behaviour?: ZtunnelBehaviour | undefined;
  strictZtunnel?: boolean | undefined;
  /** Run the echo app (default); false: only the ztunnel, the caller serves the pod's ports. */
  echo?: boolean | undefined;
}

/** One pod on loopback: its destination ztunnel and, behind it, the echo app. */
export interface ServedPod {
  ztunnel: FakeZtunnel;
  app: EchoApp | undefined;
  close(): Promise<void>;
}

/**
 * Starts a pod's destination ztunnel and echo app. The echo app reports the HBONE peer behind
 * each connection (the waypoint's identity) as the ztunnel saw it.
 */
export async function servePod(opts: ServePodOptions): Promise<ServedPod> {
  const ztunnel = new FakeZtunnel({ host: opts.ip, port: opts.ztunnelPort, tls: opts.tls, behaviour: opts.behaviour, strict: opts.strictZtunnel });
  await ztunnel.listen();
  if (opts.echo === false) return { ztunnel, app: undefined, close: () => ztunnel.close() };
  const app = new EchoApp({
    host: opts.ip,
    httpPort: opts.httpPort,
    tcpPort: opts.tcpPort,
    pod: opts.name,
    namespace: opts.namespace,
    peerIdentity: (port) => ztunnel.peerForLocalPort(port),
  });
  try {
    await app.listen();
  } catch (err) {
    await ztunnel.close();
    throw err;
  }
  return { ztunnel, app, close: async () => void (await Promise.allSettled([ztunnel.close(), app.close()])) };
}
