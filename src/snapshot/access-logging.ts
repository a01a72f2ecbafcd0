/**
 * Which `Telemetry` resource's `accessLogging` applies to this waypoint, compiled to the one
 * setting the access log reads (`AccessLogSetting`, src/config/telemetry.ts).
 *
 * Istio's order, most specific first: a Telemetry in the waypoint's namespace whose `targetRefs`
 * name the waypoint's Gateway; then one without `selector`/`targetRefs` in the waypoint's
 * namespace; then one without them in the root namespace (mesh-wide). The most specific Telemetry
 * that has `accessLogging` decides. A `selector` Telemetry applies to workloads, not to a
 * waypoint (warned). The waypoint logs the inbound (server) side, so an entry with `match.mode:
 * CLIENT` does not apply here.
 */
import { apiGroup } from '../config/kinds.js';
import { parseTelemetrySpec, type AccessLoggingEntry, type AccessLogSetting, type TelemetrySpec } from '../config/telemetry.js';
import type { ConfigProblem, LoadedResource } from '../config/types.js';

export const TELEMETRY_GROUP = 'telemetry.istio.io';
const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** Istio's built-in access-log provider (a file, `/dev/stdout` by default). */
export const BUILTIN_PROVIDER = 'envoy';

export interface AccessLoggingContext {
  waypoint: { namespace: string; name: string };
  rootNamespace: string;
}

export interface AccessLoggingResult {
  setting: AccessLogSetting | undefined;
  problems: ConfigProblem[];
}

/** 3: targets the waypoint's Gateway; 2: its namespace; 1: mesh-wide; 0: does not apply. */
type Level = 0 | 1 | 2 | 3;

interface Candidate {
  r: LoadedResource;
  level: Level;
  entries: readonly AccessLoggingEntry[];
}

function ident(r: LoadedResource): Pick<ConfigProblem, 'file' | 'kind' | 'namespace' | 'name'> {
  return { file: r.file, kind: r.kind, namespace: r.namespace, name: r.name };
}

function levelOf(r: LoadedResource, spec: TelemetrySpec, ctx: AccessLoggingContext, problems: ConfigProblem[]): Level {
  const refs = spec.targetRefs ?? (spec.targetRef != null ? [spec.targetRef] : []);
  if (refs.length > 0) {
    const here = refs.some(
      (ref) =>
        ref.kind === 'Gateway' &&
        (ref.group ?? GATEWAY_GROUP) === GATEWAY_GROUP &&
        ref.name === ctx.waypoint.name &&
        (ref.namespace ?? r.namespace) === ctx.waypoint.namespace &&
        r.namespace === ctx.waypoint.namespace,
    );
    return here ? 3 : 0;
  }
  if (spec.selector != null) {
    if (spec.accessLogging != null) {
      problems.push({ severity: 'warning', ...ident(r), field: 'spec.selector', message: 'a selector Telemetry applies to workloads, not to a waypoint; use targetRefs to the waypoint Gateway' });
    }
    return 0;
  }
  if (r.namespace === ctx.waypoint.namespace) return 2;
  if (r.namespace === ctx.rootNamespace) return 1;
  return 0;
}

/** The entries that apply on the waypoint's (server) side. */
function serverSide(entries: readonly AccessLoggingEntry[]): AccessLoggingEntry[] {
  return entries.filter((e) => e.match?.mode == null || e.match.mode !== 'CLIENT');
}

function settingOf(c: Candidate, problems: ConfigProblem[]): AccessLogSetting {
  const on = new Set<string>();
  const off = new Set<string>();
  c.entries.forEach((e, i) => {
    const names = e.providers == null || e.providers.length === 0 ? [BUILTIN_PROVIDER] : e.providers.map((p) => p.name);
    for (const n of names) (e.disabled === true ? off : on).add(n);
    if (e.filter?.expression != null && e.filter.expression !== '') {
      problems.push({ severity: 'warning', ...ident(c.r), field: `spec.accessLogging[${i}].filter.expression`, message: 'filter expressions are not evaluated; every request is logged' });
    }
  });
  const providers = [...on].filter((n) => !off.has(n));
  for (const n of providers) {
    if (n !== BUILTIN_PROVIDER) {
      problems.push({ severity: 'warning', ...ident(c.r), field: 'spec.accessLogging', message: `provider ${JSON.stringify(n)} is not known here; lines are written as the built-in ${BUILTIN_PROVIDER} provider's` });
    }
  }
  return { enabled: providers.length > 0, source: `Telemetry ${c.r.namespace}/${c.r.name}`, providers };
}

export function compileAccessLogging(resources: readonly LoadedResource[], ctx: AccessLoggingContext): AccessLoggingResult {
  const problems: ConfigProblem[] = [];
  const candidates: Candidate[] = [];
  for (const r of resources) {
    if (r.kind !== 'Telemetry' || apiGroup(r.apiVersion) !== TELEMETRY_GROUP) continue;
    const parsed = parseTelemetrySpec(r.raw['spec']);
    if (!parsed.ok) {
      for (const issue of parsed.issues) problems.push({ severity: 'error', resourceSkipped: true, ...ident(r), field: issue.field, message: issue.message });
      continue;
    }
    const level = levelOf(r, parsed.spec, ctx, problems);
    if (level === 0 || parsed.spec.accessLogging == null) continue;
    candidates.push({ r, level, entries: serverSide(parsed.spec.accessLogging) });
  }
  if (candidates.length === 0) return { setting: undefined, problems };
  const top = Math.max(...candidates.map((c) => c.level));
  const [chosen, ...others] = candidates
    .filter((c) => c.level === top)
    .sort((a, b) => `${a.r.namespace}/${a.r.name}`.localeCompare(`${b.r.namespace}/${b.r.name}`));
  if (chosen === undefined) return { setting: undefined, problems };
  for (const o of others) {
    problems.push({ severity: 'warning', ...ident(o.r), field: 'spec.accessLogging', message: `ignored: Telemetry ${chosen.r.namespace}/${chosen.r.name} applies to this waypoint at the same level` });
  }
  return { setting: settingOf(chosen, problems), problems };
}
