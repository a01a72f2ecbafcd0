/**
 * Protocol of a Service port, as Istio determines it (`istio/istio:pkg/config/kube/conversion.go`
 * `ConvertProtocol`, `pkg/config/protocol/instance.go` `Parse`): a recognised `appProtocol` wins;
 * otherwise the port name, cut at its first '-', case-insensitive; otherwise unknown (sniffed),
 * except a few well-known TCP ports.
 */
import type { PortProtocol } from './types.js';

/** Istio's `protocol.Parse`, folded onto what the waypoint distinguishes. */
const NAMED: ReadonlyMap<string, PortProtocol> = new Map<string, PortProtocol>([
  ['http', 'http'],
  ['http_proxy', 'http'],
  ['http2', 'http2'],
  ['grpc', 'grpc'],
  ['grpc-web', 'grpc'],
  ['https', 'tcp'],
  ['tls', 'tcp'],
  ['tcp', 'tcp'],
  ['mongo', 'tcp'],
  ['redis', 'tcp'],
  ['mysql', 'tcp'],
  // Istio skips UDP ports altogether; as far as this function goes they are not HTTP.
  ['udp', 'tcp'],
]);

/** Kubernetes-defined appProtocol values (KEP-3726). */
const KUBERNETES_APP_PROTOCOLS: ReadonlyMap<string, PortProtocol> = new Map<string, PortProtocol>([
  ['kubernetes.io/h2c', 'http2'],
  ['kubernetes.io/ws', 'http'],
  ['kubernetes.io/wss', 'tcp'],
]);

/** SMTP, DNS, MySQL, MongoDB: TCP even when their port name says nothing. */
const WELL_KNOWN_TCP_PORTS: ReadonlySet<number> = new Set([25, 53, 3306, 27017]);

export function resolvePortProtocol(port: { name?: string | undefined; appProtocol?: string | undefined; port: number }): PortProtocol {
  const app = port.appProtocol;
  if (app !== undefined && app !== '') {
    const parsed = NAMED.get(app.toLowerCase()) ?? KUBERNETES_APP_PROTOCOLS.get(app);
    if (parsed !== undefined) return parsed;
    // An unrecognised appProtocol falls through to the port name, as in Istio.
  }
  const name = (port.name ?? '').toLowerCase();
  if (name.startsWith('grpc-web')) return 'grpc';
  const dash = name.indexOf('-');
  const prefix = dash < 0 ? name : name.slice(0, dash);
  const parsed = NAMED.get(prefix);
  if (parsed !== undefined) return parsed;
  return WELL_KNOWN_TCP_PORTS.has(port.port) ? 'tcp' : 'unknown';
}

/** HTTP-family protocols get the HTTP chain; HTTP/2-family ones speak h2c upstream. */
export function isHttpProtocol(p: PortProtocol): boolean {
  return p === 'http' || p === 'http2' || p === 'grpc';
}
