import type { PortProtocol } from '../../config/types.js';

/** The HTTP protocol spoken inside a tunnel, downstream or upstream. */
export type WireProtocol = 'http1' | 'h2c';

/**
 * Upstream HTTP protocol (Istio cluster_builder setUpstreamProtocol): h2c for HTTP2-family ports,
 * HTTP/1.1 for `http`, the downstream protocol when the port was sniffed.
 */
export function upstreamProtocolFor(protocol: PortProtocol | undefined, downstream: WireProtocol): WireProtocol {
  if (protocol === 'http2' || protocol === 'grpc') return 'h2c';
  if (protocol === 'http') return 'http1';
  return downstream;
}
