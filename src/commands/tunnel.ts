import type { Logger } from 'pino';
import { HboneClientPool } from '../hbone/client-pool.js';
import { parseAuthority } from '../hbone/authority.js';
import { parseSpiffeId } from '../hbone/spiffe.js';
import { TlsSource } from '../hbone/tls-source.js';
import { Tunnel } from '../testkit/tunnel.js';
import { parseHostPort } from './address.js';

/** `waypoint tunnel`: a local outbound ztunnel; runs until SIGTERM/SIGINT. */
export async function tunnelCommand(
  flags: { listen: string; to: string; authority: string; certs: string; expectIdentity?: string | undefined },
  logger: Logger,
): Promise<void> {
  const listen = parseHostPort(flags.listen, '--listen');
  const to = parseHostPort(flags.to, '--to');
  const authority = parseAuthority(flags.authority);
  if (!authority.ok) throw new Error(`--authority: ${authority.reason} ("${flags.authority}"); expected IP:PORT`);
  const tls = await TlsSource.fromDir(flags.certs);
  const td = tls.current.identity === undefined ? undefined : parseSpiffeId(tls.current.identity)?.trustDomain;
  if (td === undefined) throw new Error(`${flags.certs}: the certificate has no SPIFFE identity`);
  const pool = new HboneClientPool({ tls, trustDomains: [td], logger });
  const tunnel = new Tunnel({ listen, to, authority: flags.authority, expectedIdentity: flags.expectIdentity, pool, logger });
  const addr = await tunnel.listen();
  logger.info({ listen: `${addr.host}:${addr.port}`, to: flags.to, authority: flags.authority, identity: tls.current.identity }, 'tunnel listening');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void tunnel
        .close()
        .then(() => pool.close())
        .finally(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
