/**
 * HTTP/1.1 upgrades (WebSocket and others) as Istio's Envoy waypoint passes them
 * (`upgrade_configs: websocket`): the upgrade request is planned like any request
 * (plan-request.ts: RequestAuthentication, routes, policy, the CUSTOM ext_authz check, header
 * edits, faults), so a 401, a denial or a direct reply is an ordinary response before anything
 * goes upstream. A forwarded upgrade gets one attempt (never retried, never mirrored) on its own
 * upstream HBONE tunnel; on `101` both connections become one byte tunnel with half-close and
 * backpressure; any other status is relayed as an ordinary response and the connection closes
 * after it. The route timeout covers the wait for the response head only; once upgraded, the idle
 * timeout applies, and a new snapshot whose policies deny the recorded upgrade request closes it
 * (the policy re-check, src/l7/open-connections.ts). One access-log line covers the whole
 * upgraded connection. HTTP/2 extended
 * CONNECT (RFC 8441) on an inner h2c session is handled as the HTTP/1.1 upgrade it stands for
 * (`handleExtendedConnect`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RecordedUpgrade } from '../recheck.js';
import { tunnelRecord, type TunnelContext } from '../tunnel.js';
import { Exchange, type DownstreamRequest, type DownstreamResponse } from './exchange.js';
import { execute, recordPlan } from './execute.js';
import { extendedConnectResponseHeaders, upgradeRequestOf, upstreamUpgradeExtras } from './extended-connect.js';
import type { HttpRequestHead } from './plan.js';
import { planRequest } from './plan-request.js';
import { forwardUpgrade, type UpgradeDeps, type UpgradeDownstream } from './upgrade-relay.js';

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
  const { protocol, headers } = upgradeRequestOf(req.headers);
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
    upstreamHeaders: upstreamUpgradeExtras(protocol, () => randomBytes(16)),
    closeAfterResponse: () => res.once('close', finish),
    accept: (out) => {
      res.writeHead(200, extendedConnectResponseHeaders(out));
      return stream;
    },
  });
}

/** Plans the upgrade request like any request (plan-request.ts), then answers it or forwards it. */
function run(deps: UpgradeDeps, ex: Exchange, rh: HttpRequestHead, finish: () => void, down: UpgradeDownstream): void {
  const conn = down.conn;
  // The client may leave while the token is verified or the CUSTOM provider is asked.
  conn.once('close', finish);
  const decidedOn = deps.snapshot();
  planRequest(deps, rh, decidedOn, down.res, {
    decided: (plan) => {
      ex.rec.path = plan.base.path;
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
      // What the policy re-check of the upgraded connection re-authorises (open-connections.ts).
      const authorised: RecordedUpgrade = {
        tunnel: rh.tunnel,
        destination: plan.base.destination,
        http: { method: rh.method, host: rh.authority, path: plan.base.path, headers: rh.headers },
        jwt: rh.jwt?.kind === 'verified' ? rh.jwt.jwt : undefined,
        decidedOn,
      };
      const go = (): void => void forwardUpgrade(deps, ex, plan, down, authorised, finish);
      if (plan.base.delayMs === undefined) go();
      else {
        const onClose = (): void => {
          clearTimeout(t);
          ex.flag('DC', 'downstream closed during the fault delay');
          finish();
        };
        const t = setTimeout(() => {
          conn.off('close', onClose);
          go();
        }, plan.base.delayMs);
        conn.once('close', onClose);
      }
    },
  });
}
