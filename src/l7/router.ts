import type { Endpoint } from '../config/types.js';
import { clusterName, upstreamProtocolFor, type Destination, type WireProtocol } from './classify.js';
import type { RoundRobinState } from './load-balancer.js';
import { LOCAL_REPLIES, type LocalReply } from './local-reply.js';

export type RouteDecision =
  | { ok: true; cluster: string; endpoint: Endpoint; upstream: WireProtocol }
  | { ok: false; cluster: string; reply: LocalReply };

/**
 * Default routing, as the Envoy waypoint does before any route is attached: a Service's catch-all
 * route to its own cluster, round-robin over ready endpoints; workload traffic to that workload.
 */
export function decideDefaultRoute(dest: Destination, downstream: WireProtocol, rr: RoundRobinState, kind: 'http' | 'tcp' = 'http'): RouteDecision {
  const cluster = clusterName(dest, kind);
  if (dest.kind === 'workload') {
    const endpoint: Endpoint = { ip: dest.workload.ip, port: dest.port, workload: dest.workload, ready: true };
    return { ok: true, cluster, endpoint, upstream: downstream };
  }
  const endpoint = rr.pick(cluster, dest.binding.endpoints);
  if (endpoint === undefined) return { ok: false, cluster, reply: LOCAL_REPLIES.noHealthyUpstream };
  return { ok: true, cluster, endpoint, upstream: upstreamProtocolFor(dest.binding.port.protocol, downstream) };
}
