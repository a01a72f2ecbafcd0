import type { Endpoint } from '../../config/types.js';
import { upstreamEndpoint } from './endpoint.js';
import { sendAttempt, type UpstreamRequest } from './attempt.js';
import type { WireProtocol } from './protocol.js';
import { Cancellation } from './cancellation.js';
import type { UpstreamConnections } from './connections.js';

/** How long a shadow copy may take before it is cancelled. */
const MIRROR_TIMEOUT_MS = 30_000;

/**
 * Sends a shadow copy of a request and forgets it (RequestMirror / VirtualService mirror): its
 * response is read and dropped, its failure ignored.
 */
export function sendMirror(upstreams: UpstreamConnections, endpoint: Endpoint, protocol: WireProtocol, req: UpstreamRequest): void {
  const controller = new Cancellation();
  const timer = setTimeout(() => controller.abort(), MIRROR_TIMEOUT_MS);
  void sendAttempt(upstreams, upstreamEndpoint(endpoint), protocol, req, { signal: controller }).then((r) => {
    if (r.ok) {
      r.body.resume();
      r.body.once('close', () => clearTimeout(timer));
    } else clearTimeout(timer);
  });
}
