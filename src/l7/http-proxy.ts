import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type IncomingHttpHeaders } from 'node:http2';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import type { ConfigSnapshot } from '../config/types.js';
import { formatAuthority } from '../hbone/authority.js';
import { HboneConnectError } from '../hbone/client-pool.js';
import type { AccessLog, AccessRecord } from '../metrics/access-log.js';
import type { Destination, WireProtocol } from './classify.js';
import { endToEndRequestHeaders, endToEndResponseHeaders, type HeaderMap } from './headers.js';
import type { RoundRobinState } from './load-balancer.js';
import { LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import { decideDefaultRoute } from './router.js';
import type { TunnelContext } from './tunnel-context.js';
import type { UpstreamEndpoint, Upstreams } from './upstreams.js';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;

export interface HttpProxyDeps {
  snapshot: () => ConfigSnapshot;
  upstreams: Upstreams;
  rr: RoundRobinState;
  accessLog: AccessLog;
  logger: Logger;
}

/** What the request handler learns as it goes, for the access log. */
interface Exchange {
  rec: AccessRecord;
  started: number;
  done: boolean;
}

/**
 * Proxies one HTTP request that arrived inside a tunnel: decide (route, endpoint, upstream
 * protocol), then forward over a kept-alive inner connection through HBONE, streaming both bodies
 * with backpressure.
 */
export function handleHttpRequest(deps: HttpProxyDeps, tunnel: TunnelContext, downstream: WireProtocol, req: DownstreamRequest, res: DownstreamResponse): void {
  const h2 = downstream === 'h2c';
  const headers = req.headers;
  const rawAuthority = h2 ? headers[':authority'] : headers.host;
  const authority = typeof rawAuthority === 'string' ? rawAuthority : '';
  const ex: Exchange = {
    started: Date.now(),
    done: false,
    rec: {
      type: 'http',
      start_time: new Date().toISOString(),
      duration_ms: 0,
      method: req.method,
      authority,
      path: req.url,
      protocol: h2 ? 'HTTP/2' : 'HTTP/1.1',
      response_flags: '-',
      bytes_received: 0,
      bytes_sent: 0,
      connect_authority: tunnel.authorityText,
      chain: tunnel.chain,
      source_principal: tunnel.peer.identity,
      source_address: formatAuthority(tunnel.peer.address, tunnel.peer.port),
    },
  };
  const xrid = headers['x-request-id'];
  if (typeof xrid === 'string') ex.rec.x_request_id = xrid;
  const tp = headers.traceparent;
  if (typeof tp === 'string') ex.rec.traceparent = tp;
  res.once('close', () => finish(deps, ex, res));

  const dest = currentDestination(deps.snapshot(), tunnel);
  if (dest === undefined) {
    localReply(ex, res, LOCAL_REPLIES.noRoute, 'service no longer bound to this waypoint');
    return;
  }
  const decision = decideDefaultRoute(dest, downstream, deps.rr);
  ex.rec.upstream_cluster = decision.cluster;
  if (!decision.ok) {
    localReply(ex, res, decision.reply, 'no ready endpoint');
    return;
  }
  const ep: UpstreamEndpoint = { ip: decision.endpoint.ip, port: decision.endpoint.port, identity: decision.endpoint.workload?.identity };
  ex.rec.upstream_host = formatAuthority(ep.ip, ep.port);
  const fwd = endToEndRequestHeaders(headers);
  const hasBody = requestHasBody(req, h2);
  if (decision.upstream === 'http1') forwardHttp1(deps, ex, ep, req, res, authority, fwd, hasBody);
  else forwardH2c(deps, ex, ep, req, res, authority, fwd, hasBody);
}

/** Re-reads a service destination from the current snapshot so endpoint changes apply at once. */
function currentDestination(snap: ConfigSnapshot, tunnel: TunnelContext): Destination | undefined {
  const dest = tunnel.destination;
  if (dest.kind === 'workload') return dest;
  const fresh = snap.byVip.get(tunnel.key);
  if (fresh === undefined) return undefined;
  return fresh === dest.binding ? dest : { kind: 'service', binding: fresh, mode: dest.mode };
}

function requestHasBody(req: DownstreamRequest, h2: boolean): boolean {
  if (h2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function forwardHttp1(
  deps: HttpProxyDeps,
  ex: Exchange,
  ep: UpstreamEndpoint,
  req: DownstreamRequest,
  res: DownstreamResponse,
  authority: string,
  fwd: HeaderMap,
  hasBody: boolean,
): void {
  fwd.host = authority;
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  deps.upstreams
    .http1(ep)
    .request({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: fwd,
      body: hasBody ? req : null,
      signal: abort.signal,
    })
    .then(
      (up) => {
        if (res.destroyed) {
          up.body.destroy();
          return;
        }
        ex.rec.response_code = up.statusCode;
        res.writeHead(up.statusCode, endToEndResponseHeaders(up.headers));
        pipeline(up.body, res, (err) => {
          if (err && !res.destroyed) {
            setFlag(ex, 'UC', `upstream body: ${err.message}`);
            res.destroy();
          }
        });
      },
      (err: Error & { code?: string }) => upstreamFailed(ex, res, err, abort.signal.aborted),
    );
}

function forwardH2c(
  deps: HttpProxyDeps,
  ex: Exchange,
  ep: UpstreamEndpoint,
  req: DownstreamRequest,
  res: DownstreamResponse,
  authority: string,
  fwd: HeaderMap,
  hasBody: boolean,
): void {
  deps.upstreams.h2c(ep).then(
    (session) => {
      if (res.destroyed) return;
      const reqHeaders: http2.OutgoingHttpHeaders = {
        ...fwd,
        ':method': req.method ?? 'GET',
        ':path': req.url ?? '/',
        ':scheme': 'http',
        ':authority': authority,
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(reqHeaders, { endStream: !hasBody });
      } catch (err) {
        upstreamFailed(ex, res, err as Error, false);
        return;
      }
      res.once('close', () => {
        if (!res.writableFinished && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      if (hasBody) {
        pipeline(req, stream, (err) => {
          if (err && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        });
      }
      stream.on('error', () => undefined);
      stream.once('response', (h: IncomingHttpHeaders) => {
        const status = Number(h[':status']);
        if (status < 200) return;
        ex.rec.response_code = status;
        res.writeHead(status, endToEndResponseHeaders(h));
        stream.on('trailers', (t: IncomingHttpHeaders) => res.addTrailers(endToEndResponseHeaders(t) as Record<string, string>));
        pipeline(stream, res, (err) => {
          if (err && !res.destroyed) {
            setFlag(ex, 'UR', `upstream stream: ${err.message}`);
            res.destroy();
          }
        });
      });
      stream.once('close', () => {
        if (!res.headersSent && !res.destroyed) {
          const code = stream.rstCode;
          localReply(ex, res, code === http2.constants.NGHTTP2_REFUSED_STREAM ? LOCAL_REPLIES.remoteReset : LOCAL_REPLIES.connectionTermination, `upstream stream closed before headers (code ${code ?? 'none'})`);
        }
      });
    },
    (err: Error) => upstreamFailed(ex, res, err, false),
  );
}

/** Maps an upstream failure before response headers to Envoy's reply and flag. */
export function replyForUpstreamError(err: Error & { code?: string }): LocalReply {
  if (err instanceof HboneConnectError) return LOCAL_REPLIES.connectFailure;
  switch (err.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return LOCAL_REPLIES.timeout;
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
    case 'ECONNRESET':
    case 'ERR_TUNNEL_RESET':
      return LOCAL_REPLIES.connectionTermination;
    default:
      return LOCAL_REPLIES.connectionTermination;
  }
}

function upstreamFailed(ex: Exchange, res: DownstreamResponse, err: Error & { code?: string }, downstreamGone: boolean): void {
  if (downstreamGone || res.destroyed) {
    setFlag(ex, 'DC', 'downstream closed');
    return;
  }
  const reply = replyForUpstreamError(err);
  if (res.headersSent) {
    setFlag(ex, reply.flag, err.message);
    res.destroy();
    return;
  }
  localReply(ex, res, reply, err.message);
}

function setFlag(ex: Exchange, flag: string, details: string): void {
  ex.rec.response_flags = ex.rec.response_flags === '-' ? flag : `${ex.rec.response_flags},${flag}`;
  ex.rec.details ??= details;
}

/** Sends an Envoy-style local reply. */
function localReply(ex: Exchange, res: DownstreamResponse, reply: LocalReply, details: string): void {
  setFlag(ex, reply.flag, details);
  ex.rec.response_code = reply.status;
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(reply.body);
  res.writeHead(reply.status, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}

function finish(deps: HttpProxyDeps, ex: Exchange, res: DownstreamResponse): void {
  if (ex.done) return;
  ex.done = true;
  if (!res.writableFinished && ex.rec.response_flags === '-') setFlag(ex, 'DC', 'downstream closed before the response completed');
  ex.rec.duration_ms = Date.now() - ex.started;
  ex.rec.response_code ??= 0;
  deps.accessLog.write(ex.rec);
}
