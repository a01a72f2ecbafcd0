/**
 * The entry for one HTTP request that arrived inside a tunnel: read the head, plan it
 * (plan-request.ts: authentication, `decide`, the CUSTOM check), `execute` (execute.ts), and once the response closes, complete the exchange
 * (exchange.ts): the access-log line and the telemetry report.
 */
import { randomUUID } from 'node:crypto';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { AccessLog } from '../../metrics/access-log.js';
import type { TunnelContext } from '../tunnel.js';
import { tunnelRecord } from '../tunnel.js';
import type { WireProtocol } from '../upstream/protocol.js';
import { Exchange, type DownstreamRequest, type DownstreamResponse, type HttpExchangeReport } from './exchange.js';
import { execute, type ExecuteDeps } from './execute.js';
import type { HttpRequestHead } from './plan.js';
import { planRequest, type PlanRequestDeps } from './plan-request.js';
import { requestHasBody } from './request-body.js';

export interface HttpProxyDeps extends ExecuteDeps, PlanRequestDeps {
  snapshot: () => ConfigSnapshot;
  accessLog: AccessLog;
  report?: ((r: HttpExchangeReport) => void) | undefined;
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
  planRequest(deps, head, deps.snapshot(), res, {
    decided: (plan) => {
      const rec = ex.rec;
      rec.method = head.method;
      rec.authority = head.authority;
      rec.path = plan.base.path;
      rec.x_request_id = head.requestId;
      const tp = head.headers.traceparent;
      if (typeof tp === 'string') rec.traceparent = tp;
      res.once('close', () => finish(deps, ex, tunnel, req, res));
    },
    ready: (plan) => execute(deps, ex, plan, req, res),
  });
}

function finish(deps: HttpProxyDeps, ex: Exchange, tunnel: TunnelContext, req: DownstreamRequest, res: DownstreamResponse): void {
  const report = ex.complete(tunnel, req, res);
  if (report === undefined) return;
  deps.accessLog.write(report.rec);
  deps.report?.(report);
}
