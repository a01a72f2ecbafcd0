import type { ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { formatAuthority } from '../../hbone/authority.js';
import type { AccessLog, AccessRecord } from '../../metrics/access-log.js';
import { TcpReporter, type IstioMetrics } from '../../metrics/istio-metrics.js';
import type { Endpoint } from '../../config/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import { authorizeConnection, denialDetails } from '../authorize.js';
import { DEFAULT_TRAFFIC_POLICY } from '../../routes/default-route.js';
import type { ClusterAccess } from '../cluster/access.js';
import { withResponseFlag, type ResponseFlag } from '../../metrics/response-flags.js';
import { clusterName, tunnelRecord, type Destination, type TunnelContext } from '../tunnel.js';
import type { UpstreamConnections } from '../upstream/connections.js';
import { upstreamEndpoint } from '../upstream/endpoint.js';
import { recordRecheckClose, type OpenConnection, type OpenConnections } from '../open-connections.js';
import { recheckTunnel } from '../recheck.js';
import type { UpstreamTlsPolicy } from '../../routes/types.js';
import { resetEnd, StreamRelay, type RelayEnd } from './stream-relay.js';

export interface TcpRelayDeps {
  snapshot: () => ConfigSnapshot;
  upstreams: UpstreamConnections;
  /** The same per-cluster runtime as HTTP: load balancer and outlier detection. */
  clusters: ClusterAccess;
  accessLog: AccessLog;
  logger: Logger;
  metrics?: IstioMetrics | undefined;
  /** ext_authz providers a TCP connection cannot ask: a CUSTOM rule naming one is skipped, as Istio does. */
  ignoredOnTcp: (provider: string) => boolean;
  /** Admitted tunnels are kept here while open, for the policy re-check (absent: not re-checked). */
  openConnections?: OpenConnections | undefined;
}

/**
 * Opaque TCP: one upstream tunnel per downstream tunnel, bytes relayed as they are from one
 * HTTP/2 stream (or socket) to the other by a `StreamRelay`, with nothing between them; half-close
 * carried both ways (END_STREAM), resets passed on, backpressure per direction. `prefix` holds
 * bytes already read from `down` while its protocol was sniffed; they go upstream first.
 */
export function relayTcp(deps: TcpRelayDeps, tunnel: TunnelContext, down: ServerHttp2Stream, prefix?: Buffer): void {
  const started = Date.now();
  const rec = tunnelRecord(tunnel, 'tcp', 'tcp', started);
  let connected = false;
  // Flags accumulate as HTTP's do (Envoy's StreamInfo); the first details given are kept.
  const flag = (f: ResponseFlag, details: string): void => {
    rec.response_flags = withResponseFlag(rec.response_flags, f);
    rec.details ??= details;
  };
  // Bytes from and to the downstream: the sniffed prefix now, the rest as the relay passes them.
  const early = prefix?.length ?? 0;
  let relay: StreamRelay | undefined;
  const bytesReceived = (): number => (relay === undefined ? early : relay.countsA.read);
  const bytesSent = (): number => relay?.countsA.written ?? 0;
  // eslint-disable-next-line prefer-const -- the metrics labels closure reads it before the endpoint is chosen
  let endpoint: Endpoint | undefined;
  const dest = tunnel.destination;
  const reporter =
    deps.metrics === undefined
      ? undefined
      : new TcpReporter(deps.metrics, {
          labels: () => ({
            sourceWorkload: tunnel.sourceWorkload,
            sourcePrincipal: tunnel.peer.identity,
            destinationWorkload: endpoint?.workload,
            destinationService: dest.kind === 'service' ? dest.binding.service : undefined,
            responseFlags: rec.response_flags,
          }),
          bytesReceived,
          bytesSent,
        });
  // Nothing is read until the upstream is there: the stream's window holds the peer back meanwhile.
  down.pause();
  down.on('error', (err) => flag('DC', err.message));
  const downClosed = (): void => {
    if (!connected) flag('DC', 'downstream closed before the upstream connected');
    reporter?.close();
    rec.duration_ms = Date.now() - started;
    rec.bytes_received = bytesReceived();
    rec.bytes_sent = bytesSent();
    deps.accessLog.write(rec);
  };
  if (down.destroyed) process.nextTick(downClosed);
  else down.once('close', downClosed);

  // Network RBAC: L4 attributes only; a denied tunnel closes before any byte goes upstream.
  const snap = deps.snapshot();
  const verdict = authorizeConnection(snap, tunnel, deps.ignoredOnTcp);
  if (verdict.dryRun.length > 0) rec.dry_run = verdict.dryRun;
  if (!verdict.allowed) {
    connected = true;
    rec.policy = verdict.policy;
    rec.response_code_details = denialDetails(verdict);
    rec.details = verdict.reason;
    resetEnd(down);
    return;
  }
  if (deps.openConnections !== undefined) track(deps.openConnections, tunnel, deps.ignoredOnTcp, down, () => relay, rec, () => (connected = true));

  const choice = chooseEndpoint(deps, tunnel.destination);
  rec.upstream_cluster = choice.cluster;
  if (choice.endpoint === undefined) {
    flag('UH', 'no ready endpoint');
    resetEnd(down);
    return;
  }
  const ep = choice.endpoint;
  const epKey = formatAuthority(ep.ip, ep.port);
  endpoint = ep;
  rec.upstream_host = formatAuthority(ep.ip, ep.port);
  const upstream = upstreamEndpoint(ep, choice.tls);
  const direct = upstream.direct;
  const opening: Promise<RelayEnd> = direct !== undefined ? deps.upstreams.direct({ ...upstream, direct }) : deps.upstreams.tunnel(upstream);
  opening.then(
    (up) => {
      connected = true;
      deps.clusters.report(choice.cluster, epKey, 'success');
      if (down.destroyed || down.closed) {
        resetEnd(up);
        return;
      }
      up.on('error', (err: Error) => flag('UR', err.message));
      relay = new StreamRelay(down, up, { prefix });
    },
    (err: Error) => {
      deps.logger.debug({ err: err.message, upstream: rec.upstream_host }, 'upstream connect failed');
      flag('UF', err.message);
      deps.clusters.report(choice.cluster, epKey, 'connect-failure');
      connected = true;
      resetEnd(down);
    },
  );
}

/**
 * Keeps an admitted tunnel in `open` until it closes. Closed by the re-check, its access record
 * names the policy (as a denial at admission does) and says why in `details`.
 */
function track(
  open: OpenConnections,
  tunnel: TunnelContext,
  ignoredOnTcp: (provider: string) => boolean,
  down: ServerHttp2Stream,
  relay: () => StreamRelay | undefined,
  rec: AccessRecord,
  settled: () => void,
): void {
  const entry: OpenConnection = {
    tunnel,
    recheck: (snap) => recheckTunnel(snap, tunnel, ignoredOnTcp),
    close: (denial) => {
      settled();
      recordRecheckClose(rec, denial);
      const r = relay();
      if (r !== undefined) r.reset();
      else resetEnd(down);
    },
  };
  open.add(entry);
  down.once('close', () => open.delete(entry));
}

/**
 * The endpoint for a TCP tunnel: the workload itself for pod-IP traffic (`encap`); otherwise the
 * Service's TCP cluster, chosen by its DestinationRule load balancer (round robin by default).
 */
function chooseEndpoint(deps: TcpRelayDeps, dest: Destination): { cluster: string; endpoint: Endpoint | undefined; tls?: UpstreamTlsPolicy | undefined } {
  const cluster = clusterName(dest, 'tcp');
  if (dest.kind === 'workload') return { cluster, endpoint: { ip: dest.workload.ip, port: dest.port, workload: dest.workload, ready: true } };
  const b = dest.binding;
  const policy = deps.snapshot().destinations?.forCluster(b.service.hostname, b.port.port).policy ?? DEFAULT_TRAFFIC_POLICY;
  return { cluster, endpoint: deps.clusters.pick(cluster, b.endpoints, policy, undefined, {}), tls: policy.tls };
}
