/**
 * The entry for one HTTP request that arrived inside a tunnel: read the head, `decide`
 * (decide.ts), `execute` (execute.ts), and once the response closes, complete the exchange
 * (exchange.ts): the access-log line and the telemetry report.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { AccessLog } from '../../metrics/access-log.js';
import type { TunnelContext } from '../tunnel.js';
import { tunnelRecord } from '../tunnel.js';
import type { WireProtocol } from '../upstream/protocol.js';
import { decide } from './decide.js';
import { Exchange, type DownstreamRequest, type DownstreamResponse, type HttpExchangeReport } from './exchange.js';
import { execute, type ExecuteDeps } from './execute.js';
import type { ExtAuthz } from '../ext-authz/custom.js';
import type { DecideOptions, HttpRequestHead } from './plan.js';
import { requestHasBody } from './request-body.js';
import type { JwtAuthenticator } from '../authn/authenticator.js';

export interface HttpProxyDeps extends ExecuteDeps {
  snapshot: () => ConfigSnapshot;
  /** Random source and body limit for `decide`; built once, shared by every request. */
  decide: DecideOptions;
  accessLog: AccessLog;
  logger: Logger;
  report?: ((r: HttpExchangeReport) => void) | undefined;
  /** The mesh config's ext_authz providers, for CUSTOM AuthorizationPolicies; absent: none. */
  extAuthz?: ExtAuthz | undefined;
  /** RequestAuthentication (src/l7/authn); absent: tokens are not looked at. */
  authn?: JwtAuthenticator | undefined;
}

/**
 * Handles one HTTP request that arrived inside a tunnel: authorize, match a route, then redirect,
 * answer directly, or forward (weighted backend, retries, timeouts, mirrors) over HBONE,
 * streaming both bodies with backpressure.
 */
export function handleHttpRequest(deps: HttpProxyDeps, tunnel: TunnelContext, downstream: WireProtocol, req: DownstreamRequest, res: DownstreamResponse): void {
  const h2 = downstream === 'h2c';
  const headers = req.headers;
  const rawAuthority = h2 ? headers[':authority'] : headers.host;
  const xrid = headers['x-request-id'];
  const head: HttpRequestHead = {
    method: req.method ?? 'GET',
    authority: typeof rawAuthority === 'string' ? rawAuthority : '',
    target: req.url ?? '/',
    headers,
    requestId: typeof xrid === 'string' && xrid !== '' ? xrid : randomUUID(),
    hasBody: requestHasBody(req, h2),
    tunnel,
    downstream,
  };
  const ex = new Exchange(tunnelRecord(tunnel, 'http', h2 ? 'HTTP/2' : 'HTTP/1.1', Date.now()), tunnel.destination);
  const snap = deps.snapshot();
  // JWT verification is I/O (keys may be fetched), so it runs before `decide` and hands it the outcome.
  const authn = deps.authn?.authenticate(snap, tunnel.destination, { headers, target: head.target });
  if (authn === undefined) return proceed(deps, ex, tunnel, head, snap, req, res);
  authn.then(
    (a) => {
      head.headers = a.headers;
      head.jwt = a.check;
      if (!res.destroyed) proceed(deps, ex, tunnel, head, snap, req, res);
    },
    (err: unknown) => {
      deps.logger.error({ err }, 'JWT authentication failed unexpectedly');
      res.destroy();
    },
  );
}

function proceed(deps: HttpProxyDeps, ex: Exchange, tunnel: TunnelContext, head: HttpRequestHead, snap: ConfigSnapshot, req: DownstreamRequest, res: DownstreamResponse): void {
  const headers = head.headers;
  const plan = decide(head, snap, deps.decide);
  const rec = ex.rec;
  rec.method = head.method;
  rec.authority = head.authority;
  rec.path = plan.base.path;
  rec.x_request_id = head.requestId;
  const tp = headers.traceparent;
  if (typeof tp === 'string') rec.traceparent = tp;
  res.once('close', () => finish(deps, ex, tunnel, req, res));
  const extAuthz = deps.extAuthz;
  if (extAuthz?.handles(plan) === true) {
    // CUSTOM: the provider's answer decides before anything is forwarded (the body waits, paused).
    extAuthz.check(plan, head, snap, deps.decide, res).then(
      (next) => {
        if (!res.destroyed) execute(deps, ex, next, req, res);
      },
      (err: unknown) => {
        deps.logger.error({ err }, 'ext_authz check threw');
        res.destroy();
      },
    );
    return;
  }
  execute(deps, ex, plan, req, res);
}

function finish(deps: HttpProxyDeps, ex: Exchange, tunnel: TunnelContext, req: DownstreamRequest, res: DownstreamResponse): void {
  const report = ex.complete(tunnel, req, res);
  if (report === undefined) return;
  deps.accessLog.write(report.rec);
  deps.report?.(report);
}
