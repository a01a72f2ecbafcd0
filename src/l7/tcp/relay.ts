import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatAuthority } from '../../hbone/authority.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
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
 * Opaque TCP: one upstream tunnel per downstream tunnel, bytes relayed as they are, half-close
 * carried both ways (END_STREAM), backpressure through the streams' flow control.
 */
export function relayTcp(deps: TcpRelayDeps, tunnel: TunnelContext, down: StreamSocket): void {
  const started = Date.now();
  const rec = tunnelRecord(tunnel, 'tcp', 'tcp', started);
  let connected = false;
  // Flags accumulate as HTTP's do (Envoy's StreamInfo); the first details given are kept.
  const flag = (f: ResponseFlag, details: string): void => {
    rec.response_flags = withResponseFlag(rec.response_flags, f);
    rec.details ??= details;
  };
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
          bytesReceived: () => down.bytesRead,
          bytesSent: () => down.bytesWritten,
        });
  down.on('error', (err) => flag('DC', err.message));
  down.once('close', () => {
    if (!connected) flag('DC', 'downstream closed before the upstream connected');
    reporter?.close();
    rec.duration_ms = Date.now() - started;
    rec.bytes_received = down.bytesRead;
    rec.bytes_sent = down.bytesWritten;
    deps.accessLog.write(rec);
  });

  // Network RBAC: L4 attributes only; a denied tunnel closes before any byte goes upstream.
  const snap = deps.snapshot();
  const verdict = authorizeConnection(snap, tunnel, deps.ignoredOnTcp);
  if (verdict.dryRun.length > 0) rec.dry_run = verdict.dryRun;
  if (!verdict.allowed) {
    connected = true;
    rec.policy = verdict.policy;
    rec.response_code_details = denialDetails(verdict);
    rec.details = verdict.reason;
    down.destroy();
    return;
  }
  if (deps.openConnections !== undefined) track(deps.openConnections, tunnel, deps.ignoredOnTcp, down, rec, () => (connected = true));

  const choice = chooseEndpoint(deps, tunnel.destination);
  rec.upstream_cluster = choice.cluster;
  if (choice.endpoint === undefined) {
    flag('UH', 'no ready endpoint');
    down.destroy();
    return;
  }
  const ep = choice.endpoint;
  const epKey = formatAuthority(ep.ip, ep.port);
  endpoint = ep;
  rec.upstream_host = formatAuthority(ep.ip, ep.port);
  const upstream = upstreamEndpoint(ep, choice.tls);
  const direct = upstream.direct;
  const opening: Promise<Duplex> =
    direct !== undefined
      ? deps.upstreams.direct({ ...upstream, direct })
      : deps.upstreams.tunnel(upstream).then((stream) => {
          const s = stream.session?.socket;
          return new StreamSocket(stream, { remoteAddress: ep.ip, remotePort: ep.port, localAddress: s?.localAddress ?? '', localPort: s?.localPort ?? 0 });
        });
  opening.then(
    (up) => {
      connected = true;
      deps.clusters.report(choice.cluster, epKey, 'success');
      if (down.destroyed) {
        up.destroy();
        return;
      }
      up.on('error', (err) => flag('UR', err.message));
      down.pipe(up);
      up.pipe(down);
      closeTogether(up, down);
      closeTogether(down, up);
    },
    (err: Error) => {
      deps.logger.debug({ err: err.message, upstream: rec.upstream_host }, 'upstream connect failed');
      flag('UF', err.message);
      deps.clusters.report(choice.cluster, epKey, 'connect-failure');
      connected = true;
      down.destroy();
    },
  );
}

/**
 * Keeps an admitted tunnel in `open` until it closes. Closed by the re-check, its access record
 * names the policy (as a denial at admission does) and says why in `details`.
 */
function track(open: OpenConnections, tunnel: TunnelContext, ignoredOnTcp: (provider: string) => boolean, down: StreamSocket, rec: AccessRecord, settled: () => void): void {
  const entry: OpenConnection = {
    tunnel,
    recheck: (snap) => recheckTunnel(snap, tunnel, ignoredOnTcp),
    close: (denial) => {
      settled();
      recordRecheckClose(rec, denial);
      down.destroy();
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

/**
 * When `a` closes: if it failed, tear `b` down; if it ended cleanly, `b`'s write side was ended
 * by the pipe, and `b` is closed once that output has flushed (its peer can send nowhere now).
 */
function closeTogether(a: Duplex, b: Duplex): void {
  a.once('close', () => {
    if (b.destroyed) return;
    if (!a.readableEnded) {
      b.destroy();
      return;
    }
    if (b.readableEnded) return;
    if (b.writableFinished) b.destroy();
    else b.once('finish', () => b.destroy());
  });
}
