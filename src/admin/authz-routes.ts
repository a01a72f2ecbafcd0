import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConfigSnapshot } from '../snapshot/types.js';
import { canonicalIp } from '../config/address.js';
import { explain, type RequestAttributes } from '../policy/index.js';
import type { AdminRoute } from './servers.js';

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const EXPLAIN_HELP =
  'GET /authz/explain?service=<host>&principal=<spiffe id>&ip=<source ip>&port=<service port>[&method=&host=&path=&header=name:value...][&tcp=1]';

/**
 * Admin routes for AuthorizationPolicy: `/authz` lists the compiled policies and where they
 * attach; `/authz/explain` answers which policies apply to a request and what the decision would
 * be, and why, without sending traffic.
 */
export function authzRoutes(snapshot: () => ConfigSnapshot): Map<string, AdminRoute> {
  return new Map<string, AdminRoute>([
    ['/authz', (_req: IncomingMessage, res: ServerResponse) => json(res, 200, snapshot().policies?.describe() ?? { policies: [] })],
    [
      '/authz/explain',
      (_req: IncomingMessage, res: ServerResponse, url: URL) => {
        const q = url.searchParams;
        const policies = snapshot().policies;
        const port = Number(q.get('port') ?? '');
        const ip = canonicalIp(q.get('ip') ?? '');
        if (!Number.isInteger(port) || port < 1 || port > 65535 || ip === undefined) {
          json(res, 400, { error: 'give ip (the source IP) and port (the service port)', usage: EXPLAIN_HELP });
          return;
        }
        if (policies === undefined) {
          json(res, 200, { decision: { allowed: true, reason: 'allowed: no policy applies' }, applicable: [] });
          return;
        }
        const headers: Record<string, string> = {};
        for (const h of q.getAll('header')) {
          const i = h.indexOf(':');
          if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        }
        const attrs: RequestAttributes = {
          sourcePrincipal: q.get('principal') ?? '',
          sourceIp: ip,
          destinationIp: canonicalIp(q.get('destination') ?? '') ?? ip,
          destinationPort: port,
          http: q.get('tcp') === '1' ? undefined : { method: q.get('method') ?? 'GET', host: q.get('host') ?? q.get('service') ?? '', path: q.get('path') ?? '/', headers },
        };
        const service = q.get('service');
        json(res, 200, explain(policies, service === null ? {} : { serviceHostname: service }, attrs));
      },
    ],
  ]);
}
