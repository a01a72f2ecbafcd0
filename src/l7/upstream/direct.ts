/**
 * Connections to destinations outside the ambient mesh: plain TCP to a Pod that ztunnel does not
 * capture or to a ServiceEntry endpoint, or TLS when a DestinationRule `tls.mode: SIMPLE` applies
 * (TLS origination, the egress case). Beside the HBONE tunnels of `connections.ts`.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { DnsCache } from './dns-cache.js';

/** TLS the waypoint originates towards a destination outside the mesh. */
export interface TlsOrigination {
  /** Server name sent and verified; default the destination's host name. */
  sni: string | undefined;
  /** Path of a PEM CA bundle to verify the server with; default Node's root store. */
  caFile: string | undefined;
  /** Skip verifying the server certificate (DestinationRule `insecureSkipVerify`). */
  insecureSkipVerify: boolean;
  /** ALPN protocols offered. */
  alpn: string[] | undefined;
}

/** How a direct (non-HBONE) endpoint is reached. */
export interface DirectRoute {
  /** DNS name to resolve at connect time (ServiceEntry `resolution: DNS`), else the IP is dialled. */
  hostname: string | undefined;
  tls: TlsOrigination | undefined;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** CA bundles by path, read once (asynchronously) and kept for a minute. */
const caBundles = new Map<string, { pem: Promise<string>; at: number }>();
const CA_TTL_MS = 60_000;

function caBundle(path: string): Promise<string> {
  const hit = caBundles.get(path);
  if (hit !== undefined && Date.now() - hit.at < CA_TTL_MS) return hit.pem;
  const pem = readFile(path, 'utf8');
  pem.catch(() => caBundles.delete(path));
  caBundles.set(path, { pem, at: Date.now() });
  return pem;
}

/** Dials `host:port` (resolving a DNS name through `dns`), then TLS when asked; resolves once usable. */
export async function connectDirect(dns: DnsCache, host: string, port: number, route: DirectRoute, signal?: AbortSignal): Promise<net.Socket> {
  const ip = await dns.pick(route.hostname ?? host);
  signal?.throwIfAborted();
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: ip, port, noDelay: true, signal });
    const timer = setTimeout(() => s.destroy(new Error(`connect to ${ip}:${port} timed out`)), CONNECT_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  if (route.tls === undefined) return socket;
  const o = route.tls;
  const servername = o.sni ?? route.hostname;
  let ca: string | undefined;
  try {
    ca = o.caFile === undefined ? undefined : await caBundle(o.caFile);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const t = tls.connect({
      socket,
      ...(servername !== undefined && net.isIP(servername) === 0 ? { servername } : {}),
      ...(ca !== undefined ? { ca } : {}),
      rejectUnauthorized: !o.insecureSkipVerify,
      ...(o.alpn !== undefined ? { ALPNProtocols: o.alpn } : {}),
      // Verify against the SNI name (or the DNS name) rather than the dialled IP.
      ...(servername !== undefined ? { checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(servername, cert) } : {}),
    });
    t.once('secureConnect', () => {
      t.removeListener('error', reject);
      resolve(t);
    });
    t.once('error', (err: Error) => {
      socket.destroy();
      reject(err);
    });
  });
}
