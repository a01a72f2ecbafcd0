import type { Endpoint } from '../../config/types.js';
import type { UpstreamEndpoint } from './connections.js';
import type { UpstreamTlsPolicy } from '../../routes/types.js';

/**
 * How the upstream side reaches a configured endpoint: over HBONE to a mesh workload, or directly
 * (plain TCP, or TLS when `tls` is given) to a Pod outside the ambient data plane
 * (`src/config/dataplane.ts`) or a ServiceEntry endpoint. TLS origination applies only to direct
 * endpoints: HBONE already carries mTLS.
 */
export function upstreamEndpoint(endpoint: Endpoint, tls?: UpstreamTlsPolicy): UpstreamEndpoint {
  const direct = endpoint.external === true || endpoint.workload?.hbone === false;
  return {
    ip: endpoint.ip,
    port: endpoint.port,
    identity: endpoint.workload?.identity,
    ...(direct ? { direct: { hostname: endpoint.hostname, tls: tls === undefined ? undefined : { ...tls, alpn: undefined } } } : {}),
  };
}
