/**
 * HTTP/1.1 upgrades (WebSocket and others) as Istio's Envoy waypoint passes them
 * (`upgrade_configs: websocket`): the upgrade request is planned like any request
 * (plan-request.ts: RequestAuthentication, routes, policy, the CUSTOM ext_authz check, header
 * edits, faults), so a 401, a denial or a direct reply is an ordinary response before anything
 * goes upstream. A forwarded upgrade gets one attempt (never retried, never mirrored) on its own
 * upstream HBONE tunnel; on `101` both connections become one byte tunnel with half-close and
 * backpressure; any other status is relayed as an ordinary response and the connection closes
 * after it. The route timeout covers the wait for the response head only; once upgraded, the idle
 * timeout applies. One access-log line covers the whole upgraded connection. HTTP/2 extended
 * CONNECT (RFC 8441) on an inner h2c session is handled as the HTTP/1.1 upgrade it stands for
 * (`handleExtendedConnect`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatAuthority } from '../../hbone/authority.js';
import { StreamSocket } from '../../hbone/stream-socket.js';
import { tunnelRecord, type TunnelContext } from '../tunnel.js';
import type { UpstreamEndpoint } from '../upstream/connections.js';
import type { HeaderMap } from '../upstream/attempt.js';
import { Exchange, type DownstreamRequest, type DownstreamResponse } from './exchange.js';
import { execute, recordPlan, responseHeaders } from './execute.js';
import { FAILURE_REPLIES, LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import type { ForwardPlan, HttpRequestHead } from './plan.js';
import type { HttpProxyDeps } from './proxy.js';
import { planRequest } from './plan-request.js';

export interface UpgradeDeps extends HttpProxyDeps {
  /** Idle time after which an upgraded connection is closed (no bytes either way); 0: none. */
  idleTimeoutMs: number;
}

/** The client's side of one upgrade: HTTP/1.1 (a detached socket) or HTTP/2 (an extended CONNECT stream). */
interface UpgradeDownstream {
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

/** The exchange of one upgrade and its one-shot completion (access-log line, telemetry). */
function exchangeFor(deps: UpgradeDeps, tunnel: TunnelContext, rh: HttpRequestHead, req: DownstreamRequest, res: DownstreamResponse): { ex: Exchange; finish: () => void } {
  const ex = new Exchange(tunnelRecord(tunnel, 'http', rh.downstream === 'h2c' ? 'HTTP/2' : 'HTTP/1.1', Date.now()), tunnel.destination);
  const rec = ex.rec;
  rec.method = rh.method;
  rec.authority = rh.authority;
  rec.path = rh.target;
  rec.x_request_id = rh.requestId;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    const report = ex.complete(tunnel, req, res);
    if (report === undefined) return;
    deps.accessLog.write(report.rec);
    deps.report?.(report);
  };
  return { ex, finish };
}

const requestId = (headers: IncomingHttpHeaders): string => {
  const v = headers['x-request-id'];
  return typeof v === 'string' && v !== '' ? v : randomUUID();
};

/** Handles one HTTP/1.1 request with `Connection: upgrade` (the socket is the server's no more). */
export function handleUpgrade(deps: UpgradeDeps, tunnel: TunnelContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => undefined);
  const rh: HttpRequestHead = {
    method: req.method ?? 'GET',
    authority: req.headers.host ?? '',
    target: req.url ?? '/',
    headers: req.headers,
    requestId: requestId(req.headers),
    // Bytes after the head belong to the upgraded protocol, not to a request body.
    hasBody: false,
    tunnel,
    downstream: 'http1',
  };
  // A response on the detached socket: replies, redirects and non-101 answers are written as for
  // any request, and the connection closes after them.
  const res = new http.ServerResponse(req);
  res.assignSocket(socket as Socket);
  res.shouldKeepAlive = false;
  const { ex, finish } = exchangeFor(deps, tunnel, rh, req, res);
  run(deps, ex, rh, finish, {
    req,
    res,
    conn: socket,
    head,
    protocol: req.headers.upgrade ?? '',
    upstreamHeaders: {},
    closeAfterResponse: () => {
      res.once('finish', () => {
        socket.end();
        finish();
      });
      socket.once('close', finish);
    },
    accept: (headers, ures) => {
      headers.connection = 'Upgrade';
      if (ures.headers.upgrade !== undefined) headers.upgrade = ures.headers.upgrade;
      res.writeHead(101, headers);
      res.end();
      res.detachSocket(socket as Socket);
      return socket;
    },
  });
}

/**
 * Handles one HTTP/2 extended CONNECT (RFC 8441) from an inner h2c session, as Envoy's codec does
 * with `allow_connect`: it is decided as the HTTP/1.1 upgrade it stands for (`GET` with
 * `Upgrade: <:protocol>`), goes upstream as that HTTP/1.1 upgrade (a WebSocket one with a fresh
 * `Sec-WebSocket-Key`, RFC 8441 §5 having none), and the upstream's 101 becomes a 200 on the
 * stream, which then carries the upgraded bytes both ways.
 */
export function handleExtendedConnect(deps: UpgradeDeps, tunnel: TunnelContext, req: Http2ServerRequest, res: Http2ServerResponse): void {
  const stream = res.stream;
  stream.on('error', () => undefined);
  const protocol = String(req.headers[':protocol'] ?? '');
  const headers: IncomingHttpHeaders = { ...req.headers, connection: 'upgrade', upgrade: protocol };
  delete headers[':protocol'];
  headers[':method'] = 'GET';
  const rh: HttpRequestHead = {
    method: 'GET',
    authority: req.headers[':authority'] ?? '',
    target: req.headers[':path'] ?? '/',
    headers,
    requestId: requestId(req.headers),
    hasBody: false,
    tunnel,
    downstream: 'h2c',
  };
  const { ex, finish } = exchangeFor(deps, tunnel, rh, req, res);
  run(deps, ex, rh, finish, {
    req,
    res,
    conn: stream,
    head: Buffer.alloc(0),
    protocol,
    upstreamHeaders: protocol.toLowerCase() === 'websocket' ? { 'sec-websocket-key': randomBytes(16).toString('base64') } : {},
    closeAfterResponse: () => res.once('close', finish),
    accept: (out) => {
      // The key was ours, so its answer means nothing to the client (RFC 8441 §5).
      delete out['sec-websocket-accept'];
      res.writeHead(200, out);
      return stream;
    },
  });
}

/** Plans the upgrade request like any request (plan-request.ts), then answers it or forwards it. */
function run(deps: UpgradeDeps, ex: Exchange, rh: HttpRequestHead, finish: () => void, down: UpgradeDownstream): void {
  const conn = down.conn;
  // The client may leave while the token is verified or the CUSTOM provider is asked.
  conn.once('close', finish);
  planRequest(deps, rh, deps.snapshot(), down.res, {
    decided: (plan) => {
      ex.rec.path = plan.path;
    },
    ready: (plan) => {
      conn.off('close', finish);
      if (plan.kind !== 'forward') {
        down.closeAfterResponse();
        execute(deps, ex, plan, down.req, down.res);
        return;
      }
      // The bookkeeping execute() does for every plan, then the fault delay, then one attempt.
      recordPlan(ex, plan);
      const go = (): void => void forwardUpgrade(deps, ex, plan, down, finish);
      if (plan.delayMs === undefined) go();
      else {
        const onClose = (): void => {
          clearTimeout(t);
          ex.flag('DC', 'downstream closed during the fault delay');
          finish();
        };
        const t = setTimeout(() => {
          conn.off('close', onClose);
          go();
        }, plan.delayMs);
        conn.once('close', onClose);
      }
    },
  });
}

async function forwardUpgrade(deps: UpgradeDeps, ex: Exchange, plan: ForwardPlan, down: UpgradeDownstream, finish: () => void): Promise<void> {
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
    splice(deps, ex, joined, usock, down.head, uhead, finish);
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
  // An HTTP/2 downstream counts its upgraded bytes here (an HTTP/1.1 one by its socket).
  down.on('data', (c: Buffer) => {
    ex.requestBodyBytes += c.length;
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
}
