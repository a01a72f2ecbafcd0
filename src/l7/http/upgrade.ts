/**
 * HTTP/1.1 upgrades (WebSocket and others) as Istio's Envoy waypoint passes them
 * (`upgrade_configs: websocket`): the upgrade request is decided like any request (decide.ts:
 * routes, policy, header edits, faults), so a denial or a direct reply is an ordinary response
 * before anything goes upstream. A forwarded upgrade gets one attempt (never retried, never
 * mirrored) on its own upstream HBONE tunnel; on `101` both connections become one byte tunnel
 * with half-close and backpressure; any other status is relayed as an ordinary response and the
 * connection closes after it. The route timeout covers the wait for the response head only; once
 * upgraded, the idle timeout applies. One access-log line covers the whole upgraded connection.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatAuthority } from '../../hbone/authority.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
import { tunnelRecord, type TunnelContext } from '../tunnel.js';
import type { UpstreamEndpoint } from '../upstream/connections.js';
import { decide } from './decide.js';
import { Exchange } from './exchange.js';
import { execute, recordPlan, responseHeaders } from './execute.js';
import { FAILURE_REPLIES, LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import type { ForwardPlan, HttpRequestHead } from './plan.js';
import type { HttpProxyDeps } from './proxy.js';
import { randomUUID } from 'node:crypto';

export interface UpgradeDeps extends HttpProxyDeps {
  /** Idle time after which an upgraded connection is closed (no bytes either way); 0: none. */
  idleTimeoutMs: number;
}

/** Handles one HTTP/1.1 request with `Connection: upgrade` (the socket is the server's no more). */
export function handleUpgrade(deps: UpgradeDeps, tunnel: TunnelContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => undefined);
  const rh: HttpRequestHead = {
    method: req.method ?? 'GET',
    authority: req.headers.host ?? '',
    target: req.url ?? '/',
    headers: req.headers,
    requestId: typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'] !== '' ? req.headers['x-request-id'] : randomUUID(),
    // Bytes after the head belong to the upgraded protocol, not to a request body.
    hasBody: false,
    tunnel,
    downstream: 'http1',
  };
  const ex = new Exchange(tunnelRecord(tunnel, 'http', 'HTTP/1.1', Date.now()), tunnel.destination);
  const plan = decide(rh, deps.snapshot(), deps.decide);
  const rec = ex.rec;
  rec.method = rh.method;
  rec.authority = rh.authority;
  rec.path = plan.base.path;
  rec.x_request_id = rh.requestId;
  // A response on the detached socket: replies, redirects and non-101 answers are written as for
  // any request, and the connection closes after them.
  const res = new http.ServerResponse(req);
  res.assignSocket(socket as Socket);
  res.shouldKeepAlive = false;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    const report = ex.complete(tunnel, req, res);
    if (report === undefined) return;
    deps.accessLog.write(report.rec);
    deps.report?.(report);
  };
  const closeAfterResponse = (): void => {
    res.once('finish', () => {
      socket.end();
      finish();
    });
    socket.once('close', finish);
  };
  if (plan.kind !== 'forward') {
    closeAfterResponse();
    execute(deps, ex, plan, req, res);
    return;
  }
  // The bookkeeping execute() does for every plan, then the fault delay, then one attempt.
  recordPlan(ex, plan);
  const go = (): void => void forwardUpgrade(deps, ex, plan, req, res, socket, head, closeAfterResponse, finish);
  if (plan.base.delayMs === undefined) go();
  else {
    const onClose = (): void => {
      clearTimeout(t);
      ex.flag('DC', 'downstream closed during the fault delay');
      finish();
    };
    const t = setTimeout(() => {
      socket.off('close', onClose);
      go();
    }, plan.base.delayMs);
    socket.once('close', onClose);
  }
}

async function forwardUpgrade(
  deps: UpgradeDeps,
  ex: Exchange,
  plan: ForwardPlan,
  req: IncomingMessage,
  res: http.ServerResponse,
  socket: Duplex,
  head: Buffer,
  closeAfterResponse: () => void,
  finish: () => void,
): Promise<void> {
  const reply = (r: LocalReply, details: string): void => {
    if (r.flag !== undefined) ex.flag(r.flag, details);
    else ex.detail(details);
    ex.rec.response_code = r.status;
    closeAfterResponse();
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
  const timedOut = (): boolean => abort.signal.aborted && !socket.destroyed;
  /** The response head arrived or the attempt failed: the head timer and the abort hook go. */
  const settled = (): void => {
    if (headTimer !== undefined) clearTimeout(headTimer);
    socket.off('close', onDownClose);
  };
  /** The attempt failed before a response head: a local reply, or nothing if the client left. */
  const failed = (local: LocalReply, details: string, stage: string): void => {
    settled();
    if (socket.destroyed) {
      ex.flag('DC', `downstream closed before ${stage}`);
      finish();
    } else if (timedOut()) reply(LOCAL_REPLIES.timeout, 'request timeout');
    else reply(local, details);
  };
  function onDownClose(): void {
    abort.abort();
  }
  socket.once('close', onDownClose);
  let stream;
  try {
    stream = await deps.forward.upstreams.tunnel(ep, abort.signal);
  } catch (err) {
    release();
    if (!socket.destroyed) clusters.report(target.cluster, epKey, timedOut() ? 'gateway-error' : 'connect-failure');
    failed(FAILURE_REPLIES['connect-failure'], (err as Error).message, 'the upstream connected');
    return;
  }
  const s = stream.session?.socket;
  const up = new StreamSocket(stream, { remoteAddress: ep.ip, remotePort: ep.port, localAddress: s?.localAddress ?? '', localPort: s?.localPort ?? 0 });
  up.on('error', () => undefined);
  up.once('close', release);
  abort.signal.addEventListener('abort', () => up.destroy(), { once: true });
  // Upgrades always go upstream as HTTP/1.1 (the backend's h2c port protocol does not apply).
  const headers: OutgoingHttpHeaders = { ...plan.head.headers, host: plan.head.authority, connection: 'Upgrade', upgrade: req.headers.upgrade ?? '' };
  const creq = http.request({ method: plan.head.method, path: plan.head.path, headers, setHost: false, createConnection: () => up });
  creq.on('error', (err: Error) => failed(FAILURE_REPLIES.reset, err.message, 'the response'));
  creq.on('response', (ures: IncomingMessage) => {
    settled();
    clusters.report(target.cluster, epKey, ures.statusCode !== undefined && ures.statusCode >= 500 ? '5xx' : 'success');
    ex.rec.response_code = ures.statusCode ?? 0;
    closeAfterResponse();
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
    if (socket.destroyed) {
      usock.destroy();
      ex.flag('DC', 'downstream closed before the upgrade');
      finish();
      return;
    }
    const out = responseHeaders(ures.headers, plan.responseHeaders, plan.backendResponseHeaders);
    out.connection = 'Upgrade';
    if (ures.headers.upgrade !== undefined) out.upgrade = ures.headers.upgrade;
    res.writeHead(101, out);
    res.end();
    res.detachSocket(socket as Socket);
    splice(deps, ex, socket, usock, head, uhead, finish);
  });
  creq.end();
}

/** Joins the two upgraded connections: bytes both ways, half-close carried, idle timeout. */
function splice(deps: UpgradeDeps, ex: Exchange, down: Duplex, up: Duplex, downHead: Buffer, upHead: Buffer, finish: () => void): void {
  if (upHead.length > 0) {
    ex.responseBodyBytes += upHead.length;
    down.write(upHead);
  }
  if (downHead.length > 0) up.write(downHead);
  up.on('data', (c: Buffer) => {
    ex.responseBodyBytes += c.length;
  });
  down.pipe(up);
  up.pipe(down);
  let closed = 0;
  const onClose = (a: Duplex, b: Duplex) => (): void => {
    if (!a.readableEnded) {
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
  if (deps.idleTimeoutMs > 0 && down instanceof StreamSocket) {
    const idle = (): void => {
      ex.flag('SI', 'upgraded connection idle');
      down.destroy();
      up.destroy();
    };
    down.setTimeout(deps.idleTimeoutMs, idle);
  }
}
