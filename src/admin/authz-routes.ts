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
  'GET /authz/explain?service=<full hostname; leave out for workload-addressed traffic>&principal=<[spiffe://]td/ns/NS/sa/SA>&ip=<source ip>&port=<service port>[&method=&host=&path=&header=name:value...][&tcp=1]';

/** A principal as Istio writes it in policies (`cluster.local/ns/a/sa/b`) or as a SPIFFE id. */
export function normalizePrincipal(p: string): string {
  const t = p.trim();
  return t === '' || t.startsWith('spiffe://') ? t : `spiffe://${t}`;
}

/**
 * The Service hostname the explanation is for, or why not: an unknown or short name is an error
 * listing the known hostnames (those a short name could mean first), never a silent fallback.
 */
export function resolveService(snap: ConfigSnapshot, name: string): { hostname: string } | { error: string; known: string[]; candidates: string[] } {
  const known = [...new Set([...snap.services.map((s) => s.hostname), ...[...snap.byHostPort.values()].map((b) => b.service.hostname)])].sort();
  const wanted = name.trim().toLowerCase().replace(/\.$/, '');
  if (known.includes(wanted)) return { hostname: wanted };
  const candidates = known.filter((h) => h.startsWith(`${wanted}.`));
  const hint = candidates.length > 0 ? `; did you mean ${candidates.join(' or ')}?` : '';
  return { error: `unknown service ${JSON.stringify(name)}: give the full hostname (<name>.<namespace>.svc.<domain>) of a Service the waypoint knows${hint}`, known, candidates };
}

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
        const headers: Record<string, string> = {};
        for (const h of q.getAll('header')) {
          const i = h.indexOf(':');
          if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        }
        const service = q.get('service');
        let serviceHostname: string | undefined;
        if (service !== null && service !== '') {
          const resolved = resolveService(snapshot(), service);
          if ('error' in resolved) {
            json(res, 404, { ...resolved, usage: EXPLAIN_HELP });
            return;
          }
          serviceHostname = resolved.hostname;
        }
        const attrs: RequestAttributes = {
          sourcePrincipal: normalizePrincipal(q.get('principal') ?? ''),
          sourceIp: ip,
          destinationIp: canonicalIp(q.get('destination') ?? '') ?? ip,
          destinationPort: port,
          http: q.get('tcp') === '1' ? undefined : { method: q.get('method') ?? 'GET', host: q.get('host') ?? serviceHostname ?? '', path: q.get('path') ?? '/', headers },
        };
        if (policies === undefined) {
          json(res, 200, { target: serviceHostname === undefined ? 'waypoint' : `service ${serviceHostname}`, decision: { allowed: true, reason: 'allowed: no policy applies' }, applicable: [], principal: attrs.sourcePrincipal });
          return;
        }
        json(res, 200, { ...explain(policies, serviceHostname === undefined ? {} : { serviceHostname }, attrs), principal: attrs.sourcePrincipal });
      },
    ],
  ]);
}
