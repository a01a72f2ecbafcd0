/**
 * The upstream half of an upgrade (upgrade.ts): one attempt on its own HBONE tunnel, always as an
 * HTTP/1.1 upgrade request; a non-101 answer relayed as an ordinary response; on `101` the
 * client's and the backend's byte streams joined both ways, with half-close, backpressure and the
 * idle timeout. The route timeout bounds only the wait for the response head.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { formatAuthority } from '../../hbone/authority.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
import { recordRecheckClose, type OpenConnection, type OpenConnections } from '../open-connections.js';
import { recheckUpgrade, type RecordedUpgrade } from '../recheck.js';
import type { HeaderMap } from '../upstream/attempt.js';
import type { UpstreamEndpoint } from '../upstream/connections.js';
import type { DownstreamRequest, DownstreamResponse, Exchange } from './exchange.js';
import { responseHeaders } from './execute.js';
import { FAILURE_REPLIES, LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import type { ForwardPlan } from './plan.js';
import type { HttpProxyDeps } from './proxy.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';

export interface UpgradeDeps extends HttpProxyDeps {
  /** Idle time after which an upgraded connection is closed (no bytes either way); 0: none. */
  idleTimeoutMs: number;
  /** Upgraded connections are kept here while open, for the policy re-check (absent: not re-checked). */
  openConnections?: OpenConnections | undefined;
}

/** The client's side of one upgrade: HTTP/1.1 (a detached socket) or HTTP/2 (an extended CONNECT stream). */
export interface UpgradeDownstream {
  req: DownstreamRequest;
  res: DownstreamResponse;
  /** The client's byte stream: the HTTP/1.1 socket, or the HTTP/2 stream. */
  conn: Duplex;
  /** Bytes the client sent after the head (HTTP/1.1). */
  head: Buffer;
  /** The protocol asked for (`Upgrade`, or `:protocol`). */
  protocol: string;
  /** More headers for the upstream HTTP/1.1 upgrade request. */
  upstreamHeaders: OutgoingHttpHeaders;
  /** Finishes the exchange once an ordinary (not upgraded) response is done. */
  closeAfterResponse(): void;
  /** Answers the upstream's 101 with `headers` (end-to-end, edited) and returns the byte stream to join. */
  accept(headers: HeaderMap, upstream: IncomingMessage): Duplex;
}

/** Forwards a planned upgrade (see the module comment). */
export async function forwardUpgrade(deps: UpgradeDeps, ex: Exchange, plan: ForwardPlan, down: UpgradeDownstream, authorised: RecordedUpgrade, finish: () => void): Promise<void> {
  const { res, conn } = down;
  const reply = (r: LocalReply, details: string): void => {
    if (r.flag !== undefined) ex.flag(r.flag, details);
    else ex.detail(details);
    ex.rec.response_code = r.status;
    down.closeAfterResponse();
    const body = Buffer.from(r.body);
    ex.responseBodyBytes = body.length;
    res.writeHead(r.status, { 'content-type': 'text/plain', 'content-length': String(body.length) });
    res.end(body);
  };
  const { target } = plan;
  const clusters = deps.forward.clusters;
  const endpoint = clusters.pick(target.cluster, target.endpoints, target.policy, target.subsetLabels, { hashKey: plan.hashKey });
  if (endpoint === undefined) {
    reply(FAILURE_REPLIES['no-healthy-upstream'], 'no healthy endpoint');
    return;
  }
  const release = clusters.acquire(target.cluster, endpoint, false);
  if (release === undefined) {
    reply(FAILURE_REPLIES.overflow, 'circuit breaker open');
    return;
  }
  ex.endpoint = endpoint;
  const epKey = formatAuthority(endpoint.ip, endpoint.port);
  ex.rec.upstream_host = epKey;
  const ep: UpstreamEndpoint = { ip: endpoint.ip, port: endpoint.port, identity: endpoint.workload?.identity };
  const abort = new AbortController();
  // The route timeout bounds the wait for the response head; an upgraded connection outlives it.
  const headTimer = plan.timeoutMs === undefined ? undefined : setTimeout(() => abort.abort(), plan.timeoutMs);
  const timedOut = (): boolean => abort.signal.aborted && !conn.destroyed;
  /** The response head arrived or the attempt failed: the head timer and the abort hook go. */
  const settled = (): void => {
    if (headTimer !== undefined) clearTimeout(headTimer);
    conn.off('close', onDownClose);
  };
  /** The attempt failed before a response head: a local reply, or nothing if the client left. */
  const failed = (local: LocalReply, details: string, stage: string): void => {
    settled();
    if (conn.destroyed) {
      ex.flag('DC', `downstream closed before ${stage}`);
      finish();
    } else if (timedOut()) reply(LOCAL_REPLIES.timeout, 'request timeout');
    else reply(local, details);
  };
  function onDownClose(): void {
    abort.abort();
  }
  conn.once('close', onDownClose);
  let stream;
  try {
    stream = await deps.forward.upstreams.tunnel(ep, abort.signal);
  } catch (err) {
    release();
    if (!conn.destroyed) clusters.report(target.cluster, epKey, timedOut() ? 'gateway-error' : 'connect-failure');
    failed(FAILURE_REPLIES['connect-failure'], (err as Error).message, 'the upstream connected');
    return;
  }
  const s = stream.session?.socket;
  const up = new StreamSocket(stream, { remoteAddress: ep.ip, remotePort: ep.port, localAddress: s?.localAddress ?? '', localPort: s?.localPort ?? 0 });
  up.on('error', () => undefined);
  up.once('close', release);
  abort.signal.addEventListener('abort', () => up.destroy(), { once: true });
  // Upgrades always go upstream as HTTP/1.1 (the backend's h2c port protocol does not apply).
  const headers: OutgoingHttpHeaders = { ...plan.head.headers, ...down.upstreamHeaders, host: plan.head.authority, connection: 'Upgrade', upgrade: down.protocol };
  const creq = http.request({ method: plan.head.method, path: plan.head.path, headers, setHost: false, createConnection: () => up });
  creq.on('error', (err: Error) => failed(FAILURE_REPLIES.reset, err.message, 'the response'));
  creq.on('response', (ures: IncomingMessage) => {
    settled();
    clusters.report(target.cluster, epKey, ures.statusCode !== undefined && ures.statusCode >= 500 ? '5xx' : 'success');
    ex.rec.response_code = ures.statusCode ?? 0;
    down.closeAfterResponse();
    res.writeHead(ures.statusCode ?? 502, responseHeaders(ures.headers, plan.responseHeaders, plan.backendResponseHeaders));
    ures.on('data', (c: Buffer) => {
      ex.responseBodyBytes += c.length;
    });
    ures.once('end', () => up.destroy());
    ures.pipe(res);
  });
  creq.on('upgrade', (ures: IncomingMessage, usock: Duplex, uhead: Buffer) => {
    settled();
    clusters.report(target.cluster, epKey, 'success');
    ex.rec.response_code = 101;
    if (conn.destroyed) {
      usock.destroy();
      ex.flag('DC', 'downstream closed before the upgrade');
      finish();
      return;
    }
    const joined = down.accept(responseHeaders(ures.headers, plan.responseHeaders, plan.backendResponseHeaders), ures);
    const stop = splice(deps, ex, joined, usock, down.head, uhead, finish);
    if (deps.openConnections !== undefined) track(deps.openConnections, ex, authorised, joined, stop, deps.snapshot());
  });
  creq.end();
}

/**
 * Keeps an upgraded connection in `open` until it closes. Closed by the re-check (`stop`: both
 * ways), its access record names the policy and says why in `details`.
 */
function track(open: OpenConnections, ex: Exchange, authorised: RecordedUpgrade, down: Duplex, stop: () => void, current: ConfigSnapshot): void {
  const { method, host, path } = authorised.http;
  const entry: OpenConnection = {
    tunnel: authorised.tunnel,
    request: { method, authority: host, path },
    recheck: (snap) => recheckUpgrade(snap, authorised),
    close: (denial) => {
      recordRecheckClose(ex.rec, denial);
      ex.closedHere = true;
      stop();
    },
  };
  down.once('close', () => open.delete(entry));
  // Authorised on an older snapshot: the re-checks since then did not see it yet.
  open.add(entry, authorised.decidedOn, current);
}

/**
 * Joins the two upgraded connections: bytes both ways, half-close carried, idle timeout. Returns
 * how to close both at once (the policy re-check), recorded as neither side's reset.
 */
function splice(deps: UpgradeDeps, ex: Exchange, down: Duplex, up: Duplex, downHead: Buffer, upHead: Buffer, finish: () => void): () => void {
  if (upHead.length > 0) {
    ex.responseBodyBytes += upHead.length;
    down.write(upHead);
  }
  if (downHead.length > 0) up.write(downHead);
  up.on('data', (c: Buffer) => {
    ex.responseBodyBytes += c.length;
  });
  // An HTTP/2 downstream counts its upgraded bytes here (an HTTP/1.1 one by its socket).
  down.on('data', (c: Buffer) => {
    ex.requestBodyBytes += c.length;
  });
  down.pipe(up);
  up.pipe(down);
  let closed = 0;
  let stopped = false;
  const onClose = (a: Duplex, b: Duplex) => (): void => {
    if (stopped) b.destroy();
    else if (!a.readableEnded) {
      ex.flag(a === down ? 'DC' : 'UC', a === down ? 'downstream reset the upgraded connection' : 'upstream reset the upgraded connection');
      b.destroy();
    } else if (!b.destroyed && b.readableEnded) {
      if (b.writableFinished) b.destroy();
      else b.once('finish', () => b.destroy());
    }
    if (++closed === 2) finish();
  };
  down.once('close', onClose(down, up));
  up.once('close', onClose(up, down));
  for (const sock of [down, up]) {
    sock.once('end', () => {
      // Both halves done on this side: nothing more can flow, close it.
      if (sock.writableFinished) sock.destroy();
      else sock.once('finish', () => sock.destroy());
    });
  }
  // Both kinds of downstream (a StreamSocket, an HTTP/2 stream) time out on inactivity.
  const timed = down as Duplex & Partial<{ setTimeout(ms: number, cb: () => void): unknown }>;
  if (deps.idleTimeoutMs > 0 && typeof timed.setTimeout === 'function') {
    const idle = (): void => {
      ex.flag('SI', 'upgraded connection idle');
      down.destroy();
      up.destroy();
    };
    timed.setTimeout(deps.idleTimeoutMs, idle);
  }
  return () => {
    stopped = true;
    down.destroy();
    up.destroy();
  };
}
