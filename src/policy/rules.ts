/**
 * Compiled rules and the per-request view they are evaluated against. A rule is kept in two
 * variants, one for HTTP and one for TCP traffic, because HTTP-only attributes on TCP change a rule
 * differently under ALLOW and under DENY/AUDIT/CUSTOM (Istio's rule for HTTP-only fields on TCP).
 */
import type { AuthzDecision, RequestAttributes } from './types.js';
import { jwtAttributeOf, jwtValues, type JwtAttribute } from './authn/claims.js';
import { normalizedPathRange, pathPartEnd } from '../config/path-normalization.js';
import {
  asciiLower,
  ipInRanges,
  parseIpInto,
  type CidrRange,
  type IpFamily,
  type StringPatterns,
} from './values.js';

/** The request attribute a field reads. */
export const Attr = {
  principal: 0,
  namespace: 1,
  serviceAccount: 2,
  trustDomain: 3,
  sourceIp: 4,
  remoteIp: 5,
  destinationIp: 6,
  port: 7,
  host: 8,
  method: 9,
  path: 10,
  header: 11,
  sni: 12,
  /** `experimental.envoy.filters.*`: Envoy dynamic metadata, which this waypoint never has. */
  metadata: 13,
  /** `requestPrincipals`, `request.auth.*`: the verified JWT (`FieldMatcher.header` names which part). */
  jwt: 14,
} as const;
export type AttrId = (typeof Attr)[keyof typeof Attr];

/**
 * One attribute of a `from` entry, `to` entry or `when` condition: `(OR values) ∧ ¬(OR notValues)`.
 * A positive list never matches an absent attribute; a negative list always does.
 */
export class FieldMatcher {
  constructor(
    // Hot fields first: they are read on every evaluation.
    readonly attr: AttrId,
    /** Header name for `Attr.header` (lower case); the key (`requestPrincipals`, `request.auth.…`) for `Attr.jwt`. */
    readonly header: string,
    readonly posStr: StringPatterns | null,
    readonly negStr: StringPatterns | null,
    readonly posIp: readonly CidrRange[] | null,
    readonly negIp: readonly CidrRange[] | null,
    readonly posPort: ReadonlySet<number> | null,
    readonly negPort: ReadonlySet<number> | null,
    /** HTTP-only for the Envoy builder (GEN `... is HTTP only`). */
    readonly httpOnly: boolean,
    /** Needs a validated JWT. */
    readonly jwt: boolean,
    /** The positive list, e.g. `source.principals`, `operation.paths`, `when request.headers[x-user] values`. */
    readonly label: string,
    /** The negative list, e.g. `source.notPrincipals`, `when request.headers[x-user] notValues`. */
    readonly notLabel: string,
    /** Dotted path of the positive list (or of the condition) in the policy document. */
    readonly field: string,
    readonly values: readonly string[],
    readonly notValues: readonly string[],
  ) {}

  test(v: RequestView): boolean {
    switch (this.attr) {
      case Attr.sourceIp:
      case Attr.remoteIp: {
        const fam = v.sourceFamily();
        if (this.posIp !== null && !ipInRanges(fam, v.sourceWords, this.posIp)) return false;
        return this.negIp === null || !ipInRanges(fam, v.sourceWords, this.negIp);
      }
      case Attr.destinationIp: {
        const fam = v.destinationFamily();
        if (this.posIp !== null && !ipInRanges(fam, v.destinationWords, this.posIp)) return false;
        return this.negIp === null || !ipInRanges(fam, v.destinationWords, this.negIp);
      }
      case Attr.port: {
        const port = v.attrs.destinationPort;
        if (this.posPort !== null && !this.posPort.has(port)) return false;
        return this.negPort === null || !this.negPort.has(port);
      }
      case Attr.path: {
        const path = v.pathString();
        if (path === undefined) return this.posStr === null;
        const end = v.pathEnd;
        if (this.posStr !== null && !this.posStr.matchesRange(path, end)) return false;
        return this.negStr === null || !this.negStr.matchesRange(path, end);
      }
      case Attr.jwt: {
        const values = v.jwtValues(this.header);
        if (this.posStr !== null && !anyMatches(this.posStr, values)) return false;
        return this.negStr === null || !anyMatches(this.negStr, values);
      }
      default: {
        const s = v.stringAttr(this.attr, this.header);
        if (this.posStr !== null && !this.posStr.matches(s)) return false;
        return this.negStr === null || !this.negStr.matches(s);
      }
    }
  }

  /** The attribute's value as text, for explanations. */
  describeValue(v: RequestView): string {
    switch (this.attr) {
      case Attr.sourceIp:
      case Attr.remoteIp:
        return `source IP ${JSON.stringify(v.attrs.sourceIp)}`;
      case Attr.destinationIp:
        return `destination IP ${JSON.stringify(v.attrs.destinationIp)}`;
      case Attr.port:
        return `destination port ${v.attrs.destinationPort}`;
      case Attr.principal:
      case Attr.namespace:
      case Attr.serviceAccount:
      case Attr.trustDomain:
        return v.attrs.sourcePrincipal === '' ? 'no peer identity' : `peer ${JSON.stringify(v.attrs.sourcePrincipal)}`;
      case Attr.host:
        return v.stringAttr(Attr.host, '') === undefined ? 'no host' : `host ${JSON.stringify(v.attrs.http?.host ?? '')}`;
      case Attr.method:
        return v.stringAttr(Attr.method, '') === undefined ? 'no method' : `method ${JSON.stringify(v.attrs.http?.method ?? '')}`;
      case Attr.path: {
        const p = v.stringAttr(Attr.path, '');
        return p === undefined ? 'no path' : `normalised path ${JSON.stringify(p)}`;
      }
      case Attr.header: {
        const h = v.stringAttr(Attr.header, this.header);
        return h === undefined ? `no ${this.header} header` : `header ${this.header}: ${JSON.stringify(h)}`;
      }
      case Attr.sni: {
        const s = v.stringAttr(Attr.sni, '');
        return s === undefined ? 'no SNI' : `SNI ${JSON.stringify(s)}`;
      }
      case Attr.metadata:
        return 'no Envoy filter metadata at this waypoint';
      default: {
        if (v.attrs.jwt === undefined) return 'no validated JWT';
        const values = v.jwtValues(this.header);
        return values === undefined ? `no ${this.header} in the JWT` : `${this.header} ${list(values)}`;
      }
    }
  }

  /** Why `test` failed, in words (call only when it did). */
  explainMismatch(v: RequestView): string {
    const value = this.describeValue(v);
    const posOk = this.matchesPositive(v);
    if (!posOk && this.isAbsent(v)) return `${this.label}: ${value}, so none of ${list(this.values)} can match`;
    if (!posOk) return `${this.label}: ${value} matches none of ${list(this.values)}`;
    return `${this.notLabel}: ${value} matches one of ${list(this.notValues)}`;
  }

  private isAbsent(v: RequestView): boolean {
    switch (this.attr) {
      case Attr.sourceIp:
      case Attr.remoteIp:
        return v.sourceFamily() === 0;
      case Attr.destinationIp:
        return v.destinationFamily() === 0;
      case Attr.port:
        return false;
      case Attr.jwt:
        return v.jwtValues(this.header) === undefined;
      default:
        return v.stringAttr(this.attr, this.header) === undefined;
    }
  }

  private matchesPositive(v: RequestView): boolean {
    switch (this.attr) {
      case Attr.sourceIp:
      case Attr.remoteIp:
        return this.posIp === null || ipInRanges(v.sourceFamily(), v.sourceWords, this.posIp);
      case Attr.destinationIp:
        return this.posIp === null || ipInRanges(v.destinationFamily(), v.destinationWords, this.posIp);
      case Attr.port:
        return this.posPort === null || this.posPort.has(v.attrs.destinationPort);
      case Attr.jwt:
        return this.posStr === null || anyMatches(this.posStr, v.jwtValues(this.header));
      default:
        return this.posStr === null || this.posStr.matches(v.stringAttr(this.attr, this.header));
    }
  }
}

function anyMatches(p: StringPatterns, values: readonly string[] | undefined): boolean {
  if (values === undefined) return false;
  for (let i = 0; i < values.length; i++) if (p.matches(values[i])) return true;
  return false;
}

const jwtAttributes = new Map<string, JwtAttribute | undefined>();

/** The JWT attribute a `requestPrincipals` / `request.auth.*` key reads (parsed once per key). */
function jwtAttribute(key: string): JwtAttribute | undefined {
  if (!jwtAttributes.has(key)) jwtAttributes.set(key, jwtAttributeOf(key));
  return jwtAttributes.get(key);
}

function list(values: readonly string[]): string {
  return `[${values.map((x) => JSON.stringify(x)).join(', ')}]`;
}

/** A `from` or `to` entry: AND of its fields; no fields matches anything. */
export interface Entry {
  /** `from[0]`, `to[1]`. */
  readonly label: string;
  readonly fields: readonly FieldMatcher[];
}

/** A rule as it applies to one protocol. */
export interface RuleVariant {
  readonly index: number;
  /** OR of entries; null when the rule has no `from` (any source). */
  readonly from: readonly Entry[] | null;
  /** OR of entries; null when the rule has no `to` (any operation). */
  readonly to: readonly Entry[] | null;
  /** AND (all conditions, for explanations). */
  readonly when: readonly FieldMatcher[];
  /** The conditions on the source (peer identity, source IP): `from` and these depend on nothing else. */
  readonly sourceWhen: readonly FieldMatcher[];
  /** The other conditions (destination, HTTP attributes). */
  readonly destinationWhen: readonly FieldMatcher[];
  /**
   * True when the rule constrains the source at all (`from` or a source condition) and that
   * depends on the peer only, so it can be cached per client (see candidates.ts).
   */
  readonly sourceDependent: boolean;
  /** `from` reads the request's JWT (`requestPrincipals`): it is checked per request with `to`. */
  readonly fromPerRequest: boolean;
  /** The decision when this rule decides (shared, frozen). */
  readonly decision: AuthzDecision;
  /** Attributes left out of this variant and why (TCP HTTP-only fields, JWT fields under DENY). */
  readonly notes: readonly string[];
  /** True when a path matcher is used (the request path must be normalised). */
  readonly usesPath: boolean;
  /**
   * Necessary conditions as 32-bit masks (-1 = no constraint): the request's method bit, service
   * port bit and first-path-segment bit must each intersect them for the rule to possibly match.
   * Kept in typed arrays next to candidate lists so a scan skips most rules without touching them.
   */
  readonly sigMethod: number;
  readonly sigPort: number;
  readonly sigPath: number;
}

// ---- signatures ----------------------------------------------------------------------------------

const METHOD_BITS: Readonly<Record<string, number>> = {
  GET: 1,
  HEAD: 2,
  POST: 4,
  PUT: 8,
  DELETE: 16,
  PATCH: 32,
  OPTIONS: 64,
  CONNECT: 128,
  TRACE: 256,
};
const OTHER_METHOD = 512;
/** The bit of a request without a method: only unconstrained rules (-1) include it. */
const NO_METHOD = 1024;

/** The signature bit of a request method ('' for none). */
export function methodBit(method: string): number {
  switch (method) {
    case 'GET':
      return 1;
    case 'HEAD':
      return 2;
    case 'POST':
      return 4;
    case 'PUT':
      return 8;
    case 'DELETE':
      return 16;
    case 'PATCH':
      return 32;
    case 'OPTIONS':
      return 64;
    case 'CONNECT':
      return 128;
    case 'TRACE':
      return 256;
    default:
      return OTHER_METHOD;
  }
}

export function portBit(port: number): number {
  return 1 << (port & 31);
}

/** Bit of the first segment of `path` (from index 1 up to the next `/`), by FNV-1a. */
export function pathSegmentBit(path: string, end = path.length): number {
  let h = 0x811c9dc5;
  for (let i = 1; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 47) break;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return 1 << (h & 31);
}

/** The signature of a list of positive method values (-1 when a wildcard form is used). */
export function methodMask(values: readonly string[]): number {
  let mask = 0;
  for (const v of values) {
    if (v.startsWith('*') || v.endsWith('*')) return -1;
    mask |= METHOD_BITS[v] ?? OTHER_METHOD;
  }
  return mask;
}

export function portMask(ports: Iterable<number>): number {
  let mask = 0;
  for (const p of ports) mask |= portBit(p);
  return mask;
}

/**
 * The signature of a list of positive path values: exact paths and prefixes that fix the whole
 * first segment contribute its bit; any other form (suffix, `*`, template, short prefix) is -1.
 */
export function pathMask(values: readonly string[]): number {
  let mask = 0;
  for (const v of values) {
    if (v.includes('{') || v.startsWith('*') || !v.startsWith('/')) return -1;
    if (v.endsWith('*')) {
      const literal = v.slice(0, -1);
      const slash = literal.indexOf('/', 1);
      if (slash < 0) return -1;
      mask |= pathSegmentBit(literal, slash);
    } else mask |= pathSegmentBit(v);
  }
  return mask;
}

/** A rule that can never match for a protocol (ALLOW with an attribute it cannot evaluate). */
export interface DroppedRule {
  readonly index: number;
  readonly dropped: string;
}

export type RuleSlot = RuleVariant | DroppedRule;

export function isDropped(r: RuleSlot): r is DroppedRule {
  return (r as DroppedRule).dropped !== undefined;
}

function entryMatches(e: Entry, v: RequestView): boolean {
  const fields = e.fields;
  for (let i = 0; i < fields.length; i++) if (!fields[i]!.test(v)) return false;
  return true;
}

function anyEntry(entries: readonly Entry[], v: RequestView): boolean {
  for (let i = 0; i < entries.length; i++) if (entryMatches(entries[i]!, v)) return true;
  return false;
}

/** Attributes that depend only on the peer (identity and address). */
export function isSourceAttr(attr: AttrId): boolean {
  return (
    attr === Attr.principal ||
    attr === Attr.namespace ||
    attr === Attr.serviceAccount ||
    attr === Attr.trustDomain ||
    attr === Attr.sourceIp ||
    attr === Attr.remoteIp
  );
}

/** The source side of a rule: its `from` entries and source conditions. */
export function sourceMatches(r: RuleVariant, v: RequestView): boolean {
  if (r.from !== null && !anyEntry(r.from, v)) return false;
  const when = r.sourceWhen;
  for (let i = 0; i < when.length; i++) if (!when[i]!.test(v)) return false;
  return true;
}

/** The destination side of a rule: its `to` entries and the other conditions. */
export function destinationMatches(r: RuleVariant, v: RequestView): boolean {
  if (r.to !== null && !anyEntry(r.to, v)) return false;
  if (r.fromPerRequest && r.from !== null && !anyEntry(r.from, v)) return false;
  const when = r.destinationWhen;
  for (let i = 0; i < when.length; i++) if (!when[i]!.test(v)) return false;
  return true;
}

export function ruleMatches(r: RuleVariant, v: RequestView): boolean {
  return destinationMatches(r, v) && sourceMatches(r, v);
}

/** Why a rule variant does or does not match, in words. */
export function explainRule(r: RuleVariant, v: RequestView): { matched: boolean; why: string } {
  const notes = r.notes.length > 0 ? `; ${r.notes.join('; ')}` : '';
  const failures: string[] = [];
  const explainEntries = (entries: readonly Entry[], what: string): void => {
    if (anyEntry(entries, v)) return;
    const per = entries.map((e) => `${e.label}: ${e.fields.find((f) => !f.test(v))!.explainMismatch(v)}`);
    failures.push(`no ${what} entry matched (${per.join('; ')})`);
  };
  if (r.from !== null) explainEntries(r.from, 'from');
  if (r.to !== null) explainEntries(r.to, 'to');
  for (const w of r.when) if (!w.test(v)) failures.push(w.explainMismatch(v));
  if (failures.length === 0) {
    const empty = r.from === null && r.to === null && r.when.length === 0;
    return { matched: true, why: `${empty ? 'matched: an empty rule matches every request' : 'matched'}${notes}` };
  }
  return { matched: false, why: `not matched: ${failures.join('; ')}${notes}` };
}

// ---- the request view ----------------------------------------------------------------------------

/**
 * Lazily derived attributes of one request. One instance is reused for every evaluation
 * (evaluation is synchronous), so deriving an attribute allocates nothing on the common path.
 */
export class RequestView {
  attrs!: RequestAttributes;
  tcp = true;
  readonly sourceWords = new Int32Array(4);
  readonly destinationWords = new Int32Array(4);
  private srcFamily: IpFamily | -1 = -1;
  private dstFamily: IpFamily | -1 = -1;
  private host: string | undefined | null = null;
  private path: string | undefined | null = null;
  /** End of the path part of `pathString()`. */
  pathEnd = 0;
  /** Signature bits of the request (see `RuleVariant.sigMethod`); -1 where not applicable. */
  methodBit = -1;
  portBit = -1;
  pathBit = -1;

  reset(attrs: RequestAttributes): this {
    this.attrs = attrs;
    this.tcp = attrs.http === undefined;
    this.srcFamily = -1;
    this.dstFamily = -1;
    this.host = null;
    this.path = null;
    this.portBit = portBit(attrs.destinationPort);
    this.methodBit = -1;
    this.pathBit = -1;
    return this;
  }

  /**
   * Computes the HTTP signature bits. The path bit needs the normalised path, so it is computed
   * only when `withPath` (some rule has a path signature); otherwise it stays -1.
   */
  computeHttpBits(withPath: boolean): void {
    const http = this.attrs.http;
    if (http === undefined) return;
    this.methodBit = http.method === '' ? NO_METHOD : methodBit(http.method);
    if (withPath) {
      const path = this.pathString();
      this.pathBit = path === undefined ? -1 : pathSegmentBit(path, this.pathEnd);
    }
  }

  sourceFamily(): IpFamily {
    if (this.srcFamily === -1) this.srcFamily = parseIpInto(this.attrs.sourceIp, this.sourceWords);
    return this.srcFamily;
  }

  destinationFamily(): IpFamily {
    if (this.dstFamily === -1) this.dstFamily = parseIpInto(this.attrs.destinationIp, this.destinationWords);
    return this.dstFamily;
  }

  /**
   * The normalised path, possibly followed by the query: the path is its first `pathEnd`
   * characters. Undefined for TCP, or when Envoy would reject the path.
   */
  pathString(): string | undefined {
    if (this.path === null) {
      this.path = this.attrs.http === undefined ? undefined : normalizedPathRange(this.attrs.http.path);
      this.pathEnd = this.path === undefined ? 0 : this.path === this.attrs.http?.path ? pathPartEnd(this.path) : this.path.length;
    }
    return this.path;
  }

  /** The normalised path without query (allocates when there is a query: explanations only). */
  normalizedPath(): string | undefined {
    const p = this.pathString();
    return p === undefined || this.pathEnd === p.length ? p : p.slice(0, this.pathEnd);
  }

  /** The strings a JWT attribute (`requestPrincipals`, `request.auth.…`) holds; undefined when absent. */
  jwtValues(key: string): readonly string[] | undefined {
    const attr = jwtAttribute(key);
    return attr === undefined ? undefined : jwtValues(this.attrs.jwt, attr);
  }

  stringAttr(attr: AttrId, header: string): string | undefined {
    const a = this.attrs;
    switch (attr) {
      case Attr.principal:
      case Attr.namespace:
      case Attr.serviceAccount:
      case Attr.trustDomain:
        return a.sourcePrincipal === '' ? undefined : a.sourcePrincipal;
      case Attr.host:
        if (this.host === null) this.host = a.http === undefined || a.http.host === '' ? undefined : asciiLower(a.http.host);
        return this.host;
      case Attr.method:
        return a.http === undefined || a.http.method === '' ? undefined : a.http.method;
      case Attr.path:
        return this.normalizedPath();
      case Attr.header:
        return a.http === undefined ? undefined : headerValue(a.http, header);
      case Attr.sni:
        return a.sni === undefined || a.sni === '' ? undefined : a.sni;
      default:
        return undefined;
    }
  }
}

/**
 * A request header as Envoy's header matcher sees it: repeated headers joined with `,`; the
 * pseudo-headers `:authority` (also `host`), `:method` and `:path` from the request line when the
 * header map does not carry them.
 */
function headerValue(http: NonNullable<RequestAttributes['http']>, name: string): string | undefined {
  const raw = http.headers[name];
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) return raw.join(',');
  switch (name) {
    case ':authority':
    case 'host':
      return http.host === '' ? undefined : http.host;
    case ':method':
      return http.method;
    case ':path':
      return http.path;
    default:
      return undefined;
  }
}
