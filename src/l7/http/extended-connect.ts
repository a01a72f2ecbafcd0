/**
 * RFC 8441 extended CONNECT as the HTTP/1.1 upgrade it stands for, as Envoy's HTTP/2 codec turns
 * one into the other (`Http::Utility::transformUpgradeRequestFromH2toH1` and
 * `transformUpgradeResponseFromH1toH2`). Pure; the I/O is in upgrade.ts and upgrade-relay.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../upstream/attempt.js';

export interface UpgradeRequestHead {
  /** The protocol asked for (`:protocol`, e.g. `websocket`). */
  protocol: string;
  /** The request headers as an HTTP/1.1 upgrade: `:method` GET, `connection: upgrade`, `upgrade`. */
  headers: IncomingHttpHeaders;
}

/** The HTTP/1.1 upgrade request an extended CONNECT's headers stand for. */
export function upgradeRequestOf(h2: IncomingHttpHeaders): UpgradeRequestHead {
  const raw = h2[':protocol'];
  const protocol = typeof raw === 'string' ? raw : '';
  const headers: IncomingHttpHeaders = { ...h2, ':method': 'GET', connection: 'upgrade', upgrade: protocol };
  delete headers[':protocol'];
  return { protocol, headers };
}

/**
 * Headers the upstream HTTP/1.1 upgrade needs beyond the client's: a WebSocket one its
 * `Sec-WebSocket-Key` (RFC 6455 §4.1; an RFC 8441 client sends none, §5), made from `nonce`
 * (16 random bytes).
 */
export function upstreamUpgradeExtras(protocol: string, nonce: () => Buffer): Record<string, string> {
  return protocol.toLowerCase() === 'websocket' ? { 'sec-websocket-key': nonce().toString('base64') } : {};
}

/**
 * The 200 that answers the extended CONNECT, from the backend's 101 headers (end-to-end, edited):
 * `Sec-WebSocket-Accept` goes, since it answers the key the waypoint made, not one of the client's.
 */
export function extendedConnectResponseHeaders(upgraded: HeaderMap): HeaderMap {
  const out = { ...upgraded };
  delete out['sec-websocket-accept'];
  return out;
}
