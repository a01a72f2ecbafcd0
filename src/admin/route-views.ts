/**
 * `/routes`: the compiled routes per Service port, in the order they are matched, as
 * `istioctl proxy-config routes` would show them: each rule's match, backends and weights,
 * filters, timeouts, retry policy and the object it came from. Built from the snapshot's route
 * tables (`RouteTables.describe()`); a bound port with no route shows Istio's default route.
 */
import type { ConfigSnapshot } from '../snapshot/types.js';
import { defaultServiceRule } from '../routes/default-route.js';
import { table } from './table.js';

export interface RouteRuleView {
  /** 1-based position in matching order. */
  order: number;
  /** `HTTPRoute/ns/name`, `VirtualService/ns/name` or `default`. */
  source: string;
  /** Rule name or index; the VirtualService field (`spec.http[0].match[0]`) when there is one. */
  rule: string;
  /** Who the rule applies to (Gateway API consumer routes apply to one namespace's clients). */
  appliesTo?: string;
  match: Record<string, unknown>;
  action: 'forward' | 'redirect' | 'direct';
  backends: Array<{ cluster: string; weight: number; subset?: string; missing?: string }>;
  filters: string[];
  timeoutMs?: number;
  backendTimeoutMs?: number;
  retry?: { retries: number; retryOn: string[]; perTryTimeoutMs?: number; statusCodes?: number[] };
  /** The raw description, for `-o json`. */
  detail: unknown;
}

export interface RouteView {
  /** `inbound-vip|<port>|http|<host>` (the route configuration's name on an Envoy waypoint). */
  name: string;
  service: string;
  port: number;
  /** The VIP:port keys this Service port is reached at, when bound. */
  vips: string[];
  bound: boolean;
  /** Objects that made these routes. */
  sources: string[];
  rules: RouteRuleView[];
}

interface DescribedTable {
  host: string;
  port: number;
  segments: Array<
    | { kind: 'gateway-api'; appliesTo: string; routes: string[]; rules: Array<{ route: string; rule: string; match: Record<string, unknown>; action: DescribedAction }> }
    | { kind: 'virtual-service'; source: string; routes?: Array<{ source: string; field: string; rule?: string; match: Record<string, unknown>; action: DescribedAction }> }
  >;
}

type Mutation = { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] };
interface DescribedAction {
  forward?: Array<{ cluster: string; weight: number; subset?: string; missing?: string; requestHeaders?: Mutation; responseHeaders?: Mutation }>;
  redirect?: Record<string, unknown>;
  direct?: { status: number };
  timeoutMs?: number;
  backendTimeoutMs?: number;
  retries?: number;
  retryPolicy?: { retries: number; retryOn: string[]; perTryTimeoutMs?: number; statusCodes?: number[] };
  urlRewrite?: { hostname?: string; path?: { type: string; value: string } };
  regexRewrite?: boolean;
  mirrors?: Array<{ cluster: string; percent: number }>;
  fault?: unknown;
  cors?: unknown;
  requestHeaders?: Mutation;
  responseHeaders?: Mutation;
}

function mutationText(where: string, m: Mutation | undefined): string[] {
  if (m === undefined) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(m.set ?? {})) out.push(`${where} set ${k}: ${v}`);
  for (const [k, v] of Object.entries(m.add ?? {})) out.push(`${where} add ${k}: ${v}`);
  for (const k of m.remove ?? []) out.push(`${where} remove ${k}`);
  return out;
}

function filtersOf(a: DescribedAction): string[] {
  const out = [...mutationText('request', a.requestHeaders), ...mutationText('response', a.responseHeaders)];
  for (const b of a.forward ?? []) out.push(...mutationText(`request(${b.cluster})`, b.requestHeaders), ...mutationText(`response(${b.cluster})`, b.responseHeaders));
  if (a.urlRewrite?.hostname !== undefined) out.push(`rewrite host ${a.urlRewrite.hostname}`);
  if (a.urlRewrite?.path !== undefined) out.push(`rewrite path ${a.urlRewrite.path.type} ${a.urlRewrite.path.value}`);
  if (a.regexRewrite === true) out.push('rewrite path (regex)');
  for (const m of a.mirrors ?? []) out.push(`mirror ${m.cluster} ${m.percent}%`);
  if (a.fault !== undefined) out.push(`fault ${JSON.stringify(a.fault)}`);
  if (a.cors !== undefined) out.push('cors');
  return out;
}

function ruleView(order: number, source: string, rule: string, match: Record<string, unknown>, a: DescribedAction, appliesTo?: string): RouteRuleView {
  const action = a.redirect !== undefined ? 'redirect' : a.direct !== undefined ? 'direct' : 'forward';
  return {
    order,
    source,
    rule,
    ...(appliesTo !== undefined ? { appliesTo } : {}),
    match,
    action,
    backends: (a.forward ?? []).map((b) => ({ cluster: b.cluster, weight: b.weight, ...(b.subset !== undefined ? { subset: b.subset } : {}), ...(b.missing !== undefined ? { missing: b.missing } : {}) })),
    filters: filtersOf(a),
    ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}),
    ...(a.backendTimeoutMs !== undefined ? { backendTimeoutMs: a.backendTimeoutMs } : {}),
    ...(a.retryPolicy !== undefined ? { retry: a.retryPolicy } : a.retries !== undefined ? { retry: { retries: a.retries, retryOn: [] } } : {}),
    detail: a,
  };
}

/** Every Service port with routes or a binding, sorted by service then port. */
export function routesView(snap: ConfigSnapshot): RouteView[] {
  const views = new Map<string, RouteView>();
  const vipsOf = new Map<string, string[]>();
  for (const [key, b] of snap.byVip) {
    const k = `${b.service.hostname}:${b.port.port}`;
    vipsOf.set(k, [...(vipsOf.get(k) ?? []), key]);
  }
  const described = (snap.routes?.describe() ?? []) as DescribedTable[];
  for (const t of described) {
    const rules: RouteRuleView[] = [];
    const sources: string[] = [];
    for (const seg of t.segments) {
      if (seg.kind === 'gateway-api') {
        sources.push(...seg.routes);
        for (const r of seg.rules) rules.push(ruleView(rules.length + 1, r.route, r.rule, r.match, r.action, seg.appliesTo));
      } else {
        sources.push(seg.source);
        for (const r of seg.routes ?? []) rules.push(ruleView(rules.length + 1, r.source ?? seg.source, r.field ?? r.rule ?? '', r.match, r.action));
      }
    }
    const k = `${t.host}:${t.port}`;
    views.set(k, { name: `inbound-vip|${t.port}|http|${t.host}`, service: t.host, port: t.port, vips: vipsOf.get(k) ?? [], bound: vipsOf.has(k), sources: [...new Set(sources)], rules });
  }
  for (const b of snap.byVip.values()) {
    const k = `${b.service.hostname}:${b.port.port}`;
    if (views.has(k) || b.port.protocol === 'tcp') continue;
    const rule = defaultServiceRule(b);
    const a = rule.action.kind === 'forward' ? rule.action : undefined;
    const retry = a?.retry;
    const action: DescribedAction = {
      forward: (a?.backends ?? []).map((x) => ({ cluster: x.cluster, weight: x.weight })),
      ...(retry !== undefined ? { retries: retry.retries, retryPolicy: { retries: retry.retries, retryOn: [...retry.retryOn], ...(retry.statusCodes.size > 0 ? { statusCodes: [...retry.statusCodes] } : {}) } } : {}),
    };
    views.set(k, { name: `inbound-vip|${b.port.port}|http|${b.service.hostname}`, service: b.service.hostname, port: b.port.port, vips: vipsOf.get(k) ?? [], bound: true, sources: ['default'], rules: [ruleView(1, 'default', 'the Service itself', { path: { prefix: '/' } }, action)] });
  }
  return [...views.values()].sort((x, y) => x.service.localeCompare(y.service) || x.port - y.port);
}

/** A match as one short line: `/v2*`, `GET`, `x-user=jason`, `?q~re`. */
export function matchText(m: Record<string, unknown>): string {
  const parts: string[] = [];
  const kinds = (o: unknown): string => {
    if (typeof o !== 'object' || o === null) return String(o);
    const [kind, value] = Object.entries(o as Record<string, unknown>).find(([k]) => k !== 'name' && k !== 'ignoreCase' && k !== 'invert') ?? ['', ''];
    const v = String(value);
    switch (kind) {
      case 'exact':
        return v;
      case 'prefix':
        return `${v}*`;
      case 'regex':
      case 'RegularExpression':
        return `~${v}`;
      case 'PathPrefix':
        return `${v}*`;
      case 'Exact':
        return v;
      default:
        return `${kind} ${v}`;
    }
  };
  for (const [k, v] of Object.entries(m)) {
    if (k === 'path') parts.push(kinds(v));
    else if (k === 'method') parts.push(String(v));
    else if (k === 'headers' && Array.isArray(v)) for (const h of v as Array<{ name: string; invert?: boolean }>) parts.push(`${h.name}${h.invert === true ? '!=' : '='}${kinds(h)}`);
    else if (k === 'queryParams' && Array.isArray(v)) for (const q of v as Array<{ name: string }>) parts.push(`?${q.name}=${kinds(q)}`);
    else parts.push(`${k}=${JSON.stringify(v)}`);
  }
  return parts.length === 0 ? '/*' : parts.join(' ');
}

/** Table text: one line per rule, in matching order, grouped by route name. */
export function routesText(views: readonly RouteView[]): string {
  const rows: string[][] = [['NAME', '#', 'MATCH', 'BACKENDS', 'FILTERS', 'TIMEOUT', 'RETRIES', 'SOURCE']];
  for (const v of views) {
    for (const r of v.rules) {
      const backends =
        r.action === 'forward'
          ? r.backends.length === 0
            ? '(none)'
            : r.backends.map((b) => `${b.cluster.replace(/^inbound-vip\|/, '')}${r.backends.length > 1 ? ` ${b.weight}` : ''}${b.missing !== undefined ? ' (missing)' : ''}`).join(', ')
          : r.action;
      const timeout = r.timeoutMs !== undefined ? `${r.timeoutMs / 1000}s` : '-';
      const retries = r.retry === undefined ? '-' : `${r.retry.retries}${r.retry.retryOn.length > 0 ? ` (${r.retry.retryOn.join(',')})` : ''}${r.retry.perTryTimeoutMs !== undefined ? ` per try ${r.retry.perTryTimeoutMs / 1000}s` : ''}`;
      rows.push([v.name, String(r.order), matchText(r.match), backends, r.filters.length === 0 ? '-' : r.filters.join('; '), timeout, retries, `${r.source}${r.appliesTo !== undefined && !r.appliesTo.startsWith('all') ? ` [${r.appliesTo}]` : ''}`]);
    }
  }
  return table(rows);
}
