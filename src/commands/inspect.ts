/**
 * `waypoint inspect listeners|routes|clusters|authz|explain|config`: asks a running waypoint's
 * admin listener and prints what it says, as tables shaped like `istioctl proxy-config`, or as
 * JSON or YAML (`-o`). Fetching is here; turning answers into tables is pure (`render*`).
 */
import { request } from 'undici';
import { stringify } from 'yaml';
import type { ClusterView, ListenerView } from '../admin/views.js';
import { listenersText } from '../admin/views.js';
import { routesText, type RouteView } from '../admin/route-views.js';
import { table } from '../admin/table.js';
import { parseHostPort } from './address.js';

export const INSPECT_TOPICS = ['listeners', 'routes', 'clusters', 'authz', 'explain', 'config'] as const;
export type InspectTopic = (typeof INSPECT_TOPICS)[number];
export type OutputFormat = 'table' | 'json' | 'yaml';

export interface InspectFlags {
  admin: string;
  output: OutputFormat;
  /** `explain` only. */
  service?: string | undefined;
  principal?: string | undefined;
  ip?: string | undefined;
  port?: number | undefined;
  method?: string | undefined;
  path?: string | undefined;
  host?: string | undefined;
  header?: string[] | undefined;
  tcp?: boolean | undefined;
  timeoutMs?: number | undefined;
}

const PATHS: Record<InspectTopic, string> = {
  listeners: '/listeners?format=json',
  routes: '/routes?format=json',
  clusters: '/clusters?format=json',
  authz: '/authz',
  explain: '/authz/explain',
  config: '/config_dump',
};

/** The admin URL path for a topic (explain carries its query). */
export function inspectPath(topic: InspectTopic, flags: InspectFlags): string {
  if (topic !== 'explain') return PATHS[topic];
  const q = new URLSearchParams();
  const put = (k: string, v: string | number | undefined): void => {
    if (v !== undefined && v !== '') q.set(k, String(v));
  };
  put('service', flags.service);
  put('principal', flags.principal);
  put('ip', flags.ip);
  put('port', flags.port);
  put('method', flags.method);
  put('path', flags.path);
  put('host', flags.host);
  for (const h of flags.header ?? []) q.append('header', h);
  if (flags.tcp === true) q.set('tcp', '1');
  return `${PATHS.explain}?${q.toString()}`;
}

/** Runs the command; returns the text to print and the exit code. */
export async function inspectCommand(topic: InspectTopic, flags: InspectFlags): Promise<{ text: string; code: number }> {
  const addr = parseHostPort(flags.admin, '--admin');
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  const url = `http://${host}:${addr.port}${inspectPath(topic, flags)}`;
  let status: number;
  let body: string;
  try {
    const res = await request(url, { headersTimeout: flags.timeoutMs ?? 5000, bodyTimeout: flags.timeoutMs ?? 5000 });
    status = res.statusCode;
    body = await res.body.text();
  } catch (err) {
    return { text: `cannot reach the waypoint admin listener at ${addr.host}:${addr.port} (${(err as Error).message}); is it running, and is --admin right?\n`, code: 1 };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { text: `${url} answered ${status} with something that is not JSON:\n${body}`, code: 1 };
  }
  if (status !== 200) {
    const e = value as { error?: string; known?: string[]; usage?: string };
    const lines = [`error: ${e.error ?? `HTTP ${status}`}`];
    if (e.known !== undefined) lines.push('known services:', ...e.known.map((k) => `  ${k}`));
    if (e.usage !== undefined) lines.push(`usage: ${e.usage}`);
    return { text: `${lines.join('\n')}\n`, code: 1 };
  }
  if (flags.output === 'json') return { text: `${JSON.stringify(value, null, 2)}\n`, code: 0 };
  if (flags.output === 'yaml') return { text: stringify(value), code: 0 };
  return { text: render(topic, value), code: 0 };
}

/** The table for a topic's JSON answer. Pure. */
export function render(topic: InspectTopic, value: unknown): string {
  switch (topic) {
    case 'listeners':
      return listenersText(value as ListenerView[]);
    case 'routes':
      return routesText(value as RouteView[]);
    case 'clusters':
      return renderClusters(value as ClusterView[]);
    case 'authz':
      return renderAuthz(value as AuthzDump);
    case 'explain':
      return renderExplain(value as ExplainAnswer);
    case 'config':
      return renderConfig(value as ConfigDump);
  }
}

/** Like `istioctl proxy-config endpoints`: ENDPOINT STATUS OUTLIER CHECK CLUSTER. */
export function renderClusters(views: readonly ClusterView[]): string {
  const rows: string[][] = [['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'SUBSET', 'IDENTITY', 'CLUSTER']];
  for (const c of views) {
    if (c.endpoints.length === 0) rows.push(['(none)', '-', '-', c.subset ?? '-', '-', c.name]);
    for (const e of c.endpoints) {
      rows.push([e.address, e.health === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY', e.health === 'EJECTED' ? 'FAILED' : 'OK', c.subset ?? '-', e.identity ?? '-', c.name]);
    }
  }
  return table(rows);
}

interface AuthzDump {
  waypoint: string;
  policies: Array<{ policy: string; action: string; dryRun: boolean; rules: number; appliesTo: string[]; file: string }>;
}

export function renderAuthz(dump: AuthzDump): string {
  const rows: string[][] = [['POLICY', 'ACTION', 'RULES', 'APPLIES TO', 'FILE']];
  for (const p of dump.policies) rows.push([p.policy, `${p.action}${p.dryRun ? ' (dry-run)' : ''}`, String(p.rules), p.appliesTo.length === 0 ? '(nowhere)' : p.appliesTo.join(', '), p.file]);
  return rows.length === 1 ? `no AuthorizationPolicy applies at waypoint ${dump.waypoint ?? ''}\n` : table(rows);
}

interface ExplainAnswer {
  target: string;
  principal?: string;
  protocol?: string;
  decision: { allowed: boolean; action?: string; policy?: string; reason?: string };
  applicable: Array<{ policy: string; action: string; dryRun: boolean; rules: Array<{ index: number; matched: boolean; why: string }> }>;
}

export function renderExplain(e: ExplainAnswer): string {
  const verdict = e.decision.allowed ? 'ALLOW' : 'DENY';
  const head = [`TARGET    ${e.target}`, `PRINCIPAL ${e.principal === undefined || e.principal === '' ? '(none)' : e.principal}`, `DECISION  ${verdict}${e.decision.policy !== undefined ? ` by ${e.decision.policy}` : ''}${e.decision.reason !== undefined ? ` (${e.decision.reason})` : ''}`, ''];
  const rows: string[][] = [['POLICY', 'ACTION', 'RULE', 'MATCHED', 'WHY']];
  for (const p of e.applicable) {
    for (const r of p.rules) rows.push([p.policy, `${p.action}${p.dryRun ? ' (dry-run)' : ''}`, String(r.index), r.matched ? 'yes' : 'no', r.why]);
  }
  return `${head.join('\n')}\n${rows.length === 1 ? 'no policy applies\n' : table(rows)}`;
}

interface ConfigDump {
  waypoint: { namespace: string; name: string; waypointFor?: string };
  configuration: { version: number; loadedAt: string | null; servingOlder?: boolean; lastRejected: { at: string; errors: string[] } | null };
  certificate: { identity?: string; notAfter?: string };
  boundVips: Array<{ key: string; service: string }>;
  boundWorkloads: string[];
  warnings: Array<{ message: string }>;
  resources: Array<{ kind: string; namespace: string; name: string; file: string }>;
}

export function renderConfig(d: ConfigDump): string {
  const c = d.configuration;
  const rows: string[][] = [
    ['WAYPOINT', `${d.waypoint.namespace}/${d.waypoint.name}${d.waypoint.waypointFor !== undefined ? ` (waypoint-for: ${d.waypoint.waypointFor})` : ''}`],
    ['VERSION', `${c.version}${c.servingOlder === true ? ' (the last change was rejected: serving this older version)' : ''}`],
    ['LOADED AT', c.loadedAt ?? '-'],
    ['IDENTITY', d.certificate.identity ?? '(none)'],
    ['CERT EXPIRES', d.certificate.notAfter ?? '-'],
    ['RESOURCES', String(d.resources.length)],
    ['BOUND VIPS', String(d.boundVips.length)],
    ['BOUND WORKLOADS', String(d.boundWorkloads.length)],
    ['WARNINGS', String(d.warnings.length)],
    ['LAST REJECTED', c.lastRejected === null ? '-' : c.lastRejected.at],
  ];
  const out = [table(rows)];
  if (c.lastRejected !== null) out.push(`\nLast rejected configuration (${c.lastRejected.at}):\n${c.lastRejected.errors.map((e) => `  ${e}`).join('\n')}\n`);
  if (d.boundVips.length > 0) out.push(`\n${table([['VIP', 'SERVICE'], ...d.boundVips.map((v) => [v.key, v.service])])}`);
  return out.join('');
}
