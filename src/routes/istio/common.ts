/**
 * Pieces shared by the VirtualService and DestinationRule compilers: Istio host resolution and
 * matching, durations, StringMatch, regular expressions (RE2 via the shared linear-time engine in
 * `../match.ts`, full match as Envoy's `safe_regex`), the order Istio
 * applies configuration in, and turning zod issues into `ConfigProblem`s.
 */
import * as z from 'zod';
import { canonicalIp } from '../../config/address.js';
import { formatFieldPath, friendlyIssueMessage, showValue } from '../../config/fields.js';
import { CLUSTER_DOMAIN } from '../../config/services.js';
import type { ConfigProblem, LoadedResource } from '../../config/types.js';
import { compileRegex, type LinearRegex } from '../match.js';

// ---- hosts ------------------------------------------------------------------------------------------

/**
 * Istio's `ResolveShortnameToFQDN` (`pilot/pkg/model/config.go`): a name without a dot is a
 * short name in the resource's namespace (`reviews` → `reviews.<ns>.svc.cluster.local`); `*`, IP
 * literals and anything with a dot are taken as they are. So `reviews.bookinfo` is *not* expanded
 * (it names no Kubernetes Service), exactly as in Istio.
 */
export function resolveShortname(host: string, namespace: string): string {
  const h = host.toLowerCase();
  if (h === '*' || h === '') return h;
  if (canonicalIp(h) !== undefined) return h;
  if (!h.includes('.')) return `${h}.${namespace}.svc.${CLUSTER_DOMAIN}`;
  return h;
}

/**
 * When a resolved host looks like `name.ns` or `name.ns.svc` (which Istio does not expand), the
 * FQDN the author probably meant, for a hint in the warning.
 */
export function probableFqdn(host: string): string | undefined {
  const parts = host.split('.');
  if (host.startsWith('*') || parts.some((p) => p === '')) return undefined;
  if (parts.length === 2) return `${host}.svc.${CLUSTER_DOMAIN}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${host}.${CLUSTER_DOMAIN}`;
  return undefined;
}

/** Istio `host.Name.Matches` for a concrete hostname: exact, or a `*`-prefixed suffix wildcard. */
export function hostMatches(pattern: string, hostname: string): boolean {
  if (pattern.startsWith('*')) return hostname.endsWith(pattern.slice(1));
  return pattern === hostname;
}

/** Istio `host.MoreSpecific`-style rank: exact beats wildcard, longer wildcard beats shorter. */
export function hostSpecificity(pattern: string): number {
  return pattern.startsWith('*') ? pattern.length - 1 : Number.MAX_SAFE_INTEGER;
}

// ---- durations --------------------------------------------------------------------------------------

const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as Istio's CRDs accept it (`1h`, `1m30s`, `1.5s`, `250ms`; Go `time.ParseDuration`
 * syntax, which is also what protobuf JSON `"1.5s"` is) in milliseconds, or undefined.
 */
export function parseDurationMs(text: string): number | undefined {
  if (text === '' || text === '0') return text === '0' ? 0 : undefined;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(text);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    pos = DURATION_PART.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

export const durationSchema = z.string().refine((v) => parseDurationMs(v) !== undefined, {
  error: (iss) => `must be a duration such as 10s, 1m or 250ms (got ${showValue(iss.input)})`,
});

/** `{value: 0-100}` (Istio `Percent`). */
export const percentSchema = z.looseObject({
  value: z.number().min(0).max(100).nullish(),
});

// ---- regular expressions ----------------------------------------------------------------------------

/**
 * Checks an RE2 pattern (what Envoy's `safe_regex` takes) with the shared linear-time engine;
 * returns the problem, or undefined when it compiles.
 */
export function re2Problem(pattern: string): string | undefined {
  if (pattern.length > 1024) return 'regex is longer than 1024 characters';
  const r = compileRegex(pattern);
  return r.ok ? undefined : r.message;
}

/** An RE2 pattern compiled for full matches (route paths, header and query values). */
export function fullMatchRegex(pattern: string): LinearRegex {
  const r = compileRegex(pattern);
  // Validation already rejected bad patterns; a never-matching regex is the safe fallback.
  return r.ok ? r.regex : { source: pattern, fullMatch: () => false };
}

/**
 * A JS RegExp for an RE2 pattern, for the one place the shared types want a `RegExp` (CORS
 * origins): `(?i)` at the start becomes the `i` flag, `(?P<name>` becomes `(?<name>`. The
 * pattern must also be valid RE2 (checked separately), so it has no look-around or back-references.
 */
export function re2ToJsRegExp(pattern: string, anchored: boolean): RegExp | undefined {
  let src = pattern;
  let flags = '';
  if (src.startsWith('(?i)')) {
    src = src.slice(4);
    flags += 'i';
  }
  src = src.replace(/\(\?P</g, '(?<').replace(/\\z/g, '$').replace(/\\A/g, '^');
  try {
    return new RegExp(anchored ? `^(?:${src})$` : src, flags);
  } catch {
    return undefined;
  }
}

// ---- StringMatch ------------------------------------------------------------------------------------

export const stringMatchSchema = z
  .looseObject({
    exact: z.string().nullish(),
    prefix: z.string().nullish(),
    regex: z.string().nullish(),
  })
  .superRefine((m, ctx) => {
    const set = (['exact', 'prefix', 'regex'] as const).filter((k) => m[k] !== undefined && m[k] !== null);
    if (set.length > 1) ctx.addIssue({ code: 'custom', message: `only one of exact, prefix and regex may be set (got ${set.join(', ')})` });
    if (m.regex !== undefined && m.regex !== null && m.regex !== '*') {
      const problem = re2Problem(m.regex);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['regex'], message: problem });
    }
  });

export type StringMatchSpec = z.infer<typeof stringMatchSchema>;

/** A compiled Envoy StringMatcher. `present` is Istio's translation of an empty match and of `regex: "*"`. */
export type StringMatcher =
  | { kind: 'present' }
  | { kind: 'exact'; value: string; ignoreCase: boolean }
  | { kind: 'prefix'; value: string; ignoreCase: boolean }
  | { kind: 'regex'; re: LinearRegex };

export function compileStringMatch(m: StringMatchSpec | null | undefined, ignoreCase = false): StringMatcher {
  if (m === null || m === undefined) return { kind: 'present' };
  if (m.exact !== undefined && m.exact !== null) {
    return { kind: 'exact', value: ignoreCase ? m.exact.toLowerCase() : m.exact, ignoreCase };
  }
  if (m.prefix !== undefined && m.prefix !== null) {
    return { kind: 'prefix', value: ignoreCase ? m.prefix.toLowerCase() : m.prefix, ignoreCase };
  }
  if (m.regex !== undefined && m.regex !== null && m.regex !== '*') return { kind: 'regex', re: fullMatchRegex(m.regex) };
  return { kind: 'present' };
}

/** Matches a present value (`undefined` = absent: only an inverted matcher can accept it). */
export function stringMatches(m: StringMatcher, value: string): boolean {
  switch (m.kind) {
    case 'present':
      return true;
    case 'exact':
      return (m.ignoreCase ? value.toLowerCase() : value) === m.value;
    case 'prefix':
      return (m.ignoreCase ? value.toLowerCase() : value).startsWith(m.value);
    case 'regex':
      return m.re.fullMatch(value);
  }
}

export function describeStringMatcher(m: StringMatcher): string {
  switch (m.kind) {
    case 'present':
      return 'present';
    case 'exact':
      return `exact ${JSON.stringify(m.value)}`;
    case 'prefix':
      return `prefix ${JSON.stringify(m.value)}`;
    case 'regex':
      return `regex ${m.re.source}`;
  }
}

// ---- ordering and visibility ------------------------------------------------------------------------

/** `metadata.creationTimestamp` in ms since the epoch; 0 (the oldest) when absent. */
export function creationTime(r: LoadedResource): number {
  const meta = r.raw['metadata'];
  if (typeof meta !== 'object' || meta === null) return 0;
  const ts = (meta as Record<string, unknown>)['creationTimestamp'];
  if (typeof ts !== 'string') return 0;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Istio's `configCompareByCreationTime`: oldest first, then name, then namespace. A resource
 * without `metadata.creationTimestamp` counts as the oldest (Go's zero time).
 */
export function compareByCreation(a: LoadedResource, b: LoadedResource): number {
  const d = creationTime(a) - creationTime(b);
  if (d !== 0) return d;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return 0;
}

/**
 * Whether a resource's `exportTo` makes it visible to `clientNamespace`. Empty means everywhere
 * (mesh default `*`); `.` is the resource's own namespace; `~` is nowhere.
 */
export function exportedTo(exportTo: readonly string[] | null | undefined, ownNamespace: string, clientNamespace: string): boolean {
  if (exportTo === null || exportTo === undefined || exportTo.length === 0) return true;
  if (exportTo.includes('~')) return false;
  return exportTo.some((e) => e === '*' || e === clientNamespace || (e === '.' && ownNamespace === clientNamespace));
}

// ---- problems ---------------------------------------------------------------------------------------

/** Runs a zod schema over a resource, turning issues into errors on that resource. */
export function parseResource<T>(schema: z.ZodType<T>, r: LoadedResource, problems: ConfigProblem[]): T | undefined {
  const result = schema.safeParse(r.raw, { error: friendlyIssueMessage });
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    problems.push(problemFor(r, 'error', formatFieldPath(issue.path), issue.message));
  }
  return undefined;
}

export function problemFor(r: LoadedResource, severity: ConfigProblem['severity'], field: string, message: string): ConfigProblem {
  return {
    severity,
    file: r.file,
    kind: r.kind,
    namespace: r.namespace,
    name: r.name,
    ...(field !== '' ? { field } : {}),
    message,
  };
}

/** Lower-case header names Istio accepts in matches: pseudo-headers and RFC 7230 tokens. */
export const HEADER_NAME = /^(:(method|scheme|authority|path|status)|[-!#$%&'*+.^_`|~0-9a-zA-Z]+)$/;
