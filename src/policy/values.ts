/**
 * Value matching primitives for AuthorizationPolicy: string patterns in the
 * forms Istio's generators produce, IPv4/IPv6 CIDR ranges as numeric words, exact port sets, and
 * Envoy's default (`BASE`) path normalisation. Everything here is built once per snapshot; the
 * `matches*` functions allocate nothing.
 */
import ipaddr from 'ipaddr.js';
import { canonicalIp } from '../config/address.js';

// ---- string patterns ----------------------------------------------------------------------------

/** The shared empty list of sealed patterns (never mutated: builders only push before `seal()`). */
const NONE: never[] = [];

/**
 * An OR of string patterns. Which Istio value form maps to which member depends on the field
 * (see the `add*Matcher` builders below); `matches(undefined)` (attribute absent) is always false.
 * Build with the `add*` functions, then `seal()` once: sealing picks a compact representation
 * (a single exact value or prefix is held directly, unused lists share one empty array), which
 * matters when thousands of rules are scanned per request.
 */
export class StringPatterns {
  /** The only exact value, when there is exactly one. */
  one: string | null = null;
  /** The only prefix, when there is exactly one. */
  onePrefix: string | null = null;
  /** True when `one` or `onePrefix` is the whole matcher. */
  simple = false;
  /** `*` for Envoy `present_match` (headers, hosts, methods): any present value, even empty. */
  present = false;
  /** `*` as regex `.+`: any non-empty value. */
  nonEmpty = false;
  /** Exact values, 2 to 4 of them (a scan beats hashing). */
  exactList: string[] = [];
  /** Exact values, more than 4 (also collects them before `seal()`). */
  exact: Set<string> | null = null;
  prefixes: string[] = [];
  suffixes: string[] = [];
  /** `[prefix, suffix]` pairs: both must hold on a long enough value (`spiffe://.*x`). */
  prefixSuffix: Array<readonly [string, string]> = [];
  /** Substrings (namespaces: `/ns/<ns>/` anywhere in the principal). */
  contains: string[] = [];
  regexes: RegExp[] = [];
  /** True when any prefix/suffix/contains/regex pattern exists. */
  private patterns = true;

  addExact(v: string): void {
    (this.exact ??= new Set()).add(v);
  }

  /** Call once when all patterns are added. */
  seal(): this {
    const exact = this.exact === null ? [] : [...this.exact];
    this.exact = exact.length > 4 ? this.exact : null;
    this.one = exact.length === 1 ? exact[0]! : null;
    this.exactList = exact.length >= 2 && exact.length <= 4 ? exact : NONE;
    const others = this.suffixes.length + this.prefixSuffix.length + this.contains.length + this.regexes.length;
    if (this.prefixes.length === 1) {
      this.onePrefix = this.prefixes[0]!;
      this.prefixes = NONE;
    } else if (this.prefixes.length === 0) this.prefixes = NONE;
    if (this.suffixes.length === 0) this.suffixes = NONE;
    if (this.prefixSuffix.length === 0) this.prefixSuffix = NONE;
    if (this.contains.length === 0) this.contains = NONE;
    if (this.regexes.length === 0) this.regexes = NONE;
    this.patterns = this.prefixes.length + others > 0;
    const anyForm = this.present || this.nonEmpty || this.exactList.length > 0 || this.exact !== null || this.patterns;
    this.simple = !anyForm && (this.one === null) !== (this.onePrefix === null);
    return this;
  }

  /**
   * `matches(v.slice(0, end))` without the slice in the common cases (one exact value or one
   * prefix): paths are matched without their query this way.
   */
  matchesRange(v: string, end: number): boolean {
    if (end === v.length) return this.matches(v);
    if (this.simple) {
      if (this.one !== null) return end === this.one.length && v.startsWith(this.one);
      return this.onePrefix!.length <= end && v.startsWith(this.onePrefix!);
    }
    return this.matches(v.slice(0, end));
  }

  matches(v: string | undefined): boolean {
    if (v === undefined) return false;
    if (this.simple) return this.one !== null ? v === this.one : v.startsWith(this.onePrefix!);
    if (this.present) return true;
    if (this.nonEmpty && v.length > 0) return true;
    if (this.one !== null && v === this.one) return true;
    if (this.onePrefix !== null && v.startsWith(this.onePrefix)) return true;
    const list = this.exactList;
    for (let i = 0; i < list.length; i++) if (list[i] === v) return true;
    if (this.exact !== null && this.exact.has(v)) return true;
    if (!this.patterns) return false;
    for (let i = 0; i < this.prefixes.length; i++) if (v.startsWith(this.prefixes[i]!)) return true;
    for (let i = 0; i < this.suffixes.length; i++) if (v.endsWith(this.suffixes[i]!)) return true;
    for (let i = 0; i < this.prefixSuffix.length; i++) {
      const pair = this.prefixSuffix[i]!;
      const p = pair[0];
      const s = pair[1];
      if (v.length >= p.length + s.length && v.startsWith(p) && v.endsWith(s)) return true;
    }
    for (let i = 0; i < this.contains.length; i++) if (v.includes(this.contains[i]!)) return true;
    for (let i = 0; i < this.regexes.length; i++) if (this.regexes[i]!.test(v)) return true;
    return false;
  }
}

/** Escapes a literal for use inside a RegExp. */
export function quoteRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Envoy `StringMatcher` as built by Istio's `StringMatcherWithPrefix(v, prefix)` (STRM):
 * `*` → regex `.+` (no prefix); `*x` → suffix `x` (or regex `prefix.*x` when a prefix is given);
 * `x*` → prefix `prefix+x`; anything else → exact `prefix+v` (a `*` in the middle is literal).
 * Used for principals (prefix `spiffe://`), paths, `connection.sni`, `experimental.*`.
 */
export function addStringMatcher(out: StringPatterns, v: string, prefix = ''): void {
  if (v === '*') out.nonEmpty = true;
  else if (v.startsWith('*')) {
    if (prefix === '') out.suffixes.push(v.slice(1));
    else out.prefixSuffix.push([prefix, v.slice(1)]);
  } else if (v.endsWith('*')) out.prefixes.push(prefix + v.slice(0, -1));
  else out.addExact(prefix + v);
}

/**
 * Envoy `HeaderMatcher` as built by Istio's `HeaderMatcher` / `HostMatcher` (HDRM): `*` →
 * present_match; `*x` suffix; `x*` prefix; else exact. With `ignoreCase` the patterns are stored
 * lower-cased and the caller passes a lower-cased value.
 */
export function addHeaderMatcher(out: StringPatterns, v: string, ignoreCase: boolean): void {
  const value = ignoreCase ? v.toLowerCase() : v;
  if (value === '*') out.present = true;
  else if (value.startsWith('*')) out.suffixes.push(value.slice(1));
  else if (value.endsWith('*')) out.prefixes.push(value.slice(0, -1));
  else out.addExact(value);
}

/**
 * `namespaces` / `source.namespace` (GEN `srcNamespaceGenerator`): regex `.*\/ns/<v>/.*` with
 * each `*` replaced by `.*`, full-matched against the peer principal. Values made only of
 * characters that are not regex syntax use a substring test; others are compiled as Istio writes
 * them (unescaped). Returns an error message when the resulting regex is invalid.
 */
export function addNamespaceMatcher(out: StringPatterns, v: string): string | undefined {
  if (/^[A-Za-z0-9_-]+$/.test(v)) {
    out.contains.push(`/ns/${v}/`);
    return undefined;
  }
  try {
    out.regexes.push(new RegExp(`^(?:.*/ns/${v.replace(/\*/g, '.*')}/.*)$`));
    return undefined;
  } catch {
    return `${JSON.stringify(v)} does not make a valid regular expression (Istio matches namespaces with the regex ".*/ns/<value>/.*")`;
  }
}

/**
 * `serviceAccounts` / `source.serviceAccount` (GEN `serviceAccountRegex`): `<ns>/<sa>` or `<sa>` in
 * the policy's namespace, regex `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?`.
 */
export function addServiceAccountMatcher(out: StringPatterns, v: string, policyNamespace: string): string | undefined {
  const slash = v.indexOf('/');
  const ns = slash < 0 ? policyNamespace : v.slice(0, slash);
  const sa = slash < 0 ? v : v.slice(slash + 1);
  try {
    out.regexes.push(new RegExp(`^(?:spiffe://.+/ns/${ns}/(.+/|)sa/${sa}(/.+)?)$`));
    return undefined;
  } catch {
    return `${JSON.stringify(v)} does not make a valid regular expression`;
  }
}

/**
 * `trustDomains` / `source.trustDomain` (GEN `srcTrustDomainGenerator`): `*` → prefix `spiffe://`;
 * no `*` → prefix `spiffe://<td>/`; one `*` → regex `spiffe://<a>[^/]*<b>/.*` (a, b quoted).
 */
export function addTrustDomainMatcher(out: StringPatterns, v: string): void {
  if (v === '*') out.prefixes.push('spiffe://');
  else if (!v.includes('*')) out.prefixes.push(`spiffe://${v}/`);
  else {
    const star = v.indexOf('*');
    const a = v.slice(0, star);
    const b = v.slice(star + 1);
    out.regexes.push(new RegExp(`^(?:spiffe://${quoteRegex(a)}[^/]*${quoteRegex(b)}/.*)$`));
  }
}

// ---- case-insensitive helpers --------------------------------------------------------------------

/** `v` lower-cased (ASCII only, as Envoy's `ignore_case`); returns `v` itself when already lower case. */
export function asciiLower(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 65 && c <= 90) return lowerFrom(v);
  }
  return v;
}

function lowerFrom(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : v[i];
  }
  return out;
}

// ---- ports ---------------------------------------------------------------------------------------

/** `ports` / `destination.port` value (SEC `ValidatePorts`: base-10 unsigned, at most 65535). */
export function parsePortValue(v: string): number | undefined {
  if (!/^[0-9]+$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 65535 ? n : undefined;
}

// ---- IP addresses and CIDR ranges ----------------------------------------------------------------

/** A CIDR range as four 32-bit words (IPv4 uses word 0 only), masked, with per-word masks. */
export interface CidrRange {
  readonly text: string;
  readonly v6: boolean;
  readonly net: Int32Array;
  readonly mask: Int32Array;
}

/**
 * Parses an `ipBlocks`-style value (SEC `ValidateIPs`: `netip.ParseAddr` or `netip.ParsePrefix`):
 * a single address (a /32 or /128) or a CIDR. Host bits are masked off, as Envoy's `CidrRange`
 * does. IPv4-mapped IPv6 ranges of /96 or longer become IPv4 ranges, because request addresses
 * are canonicalised the same way. Returns an error message when the value is not valid.
 */
export function parseCidr(text: string): CidrRange | string {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const canonical = canonicalIp(addrText);
  if (canonical === undefined || addrText.includes('%')) {
    return slash < 0 ? `bad IP address (${text})` : `bad CIDR range (${text}): bad address ${JSON.stringify(addrText)}`;
  }
  const parsed = ipaddr.parse(addrText);
  let v6 = parsed.kind() === 'ipv6';
  const maxLen = v6 ? 128 : 32;
  let len = maxLen;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]*)$/.test(lenText) || Number(lenText) > maxLen) {
      return `bad CIDR range (${text}): prefix length must be an integer between 0 and ${maxLen}`;
    }
    len = Number(lenText);
  }
  let bytes = parsed.toByteArray();
  if (v6 && (parsed as ipaddr.IPv6).isIPv4MappedAddress() && len >= 96) {
    bytes = bytes.slice(12);
    len -= 96;
    v6 = false;
  }
  const net = new Int32Array(4);
  const mask = new Int32Array(4);
  const words = v6 ? 4 : 1;
  for (let w = 0; w < words; w++) {
    const word = ((bytes[w * 4]! << 24) | (bytes[w * 4 + 1]! << 16) | (bytes[w * 4 + 2]! << 8) | bytes[w * 4 + 3]!) | 0;
    const bits = Math.max(0, Math.min(32, len - w * 32));
    const m = bits === 0 ? 0 : bits === 32 ? -1 : (~0 << (32 - bits)) | 0;
    mask[w] = m;
    net[w] = word & m;
  }
  return { text, v6, net, mask };
}

/** Family of a parsed address: 0 = not an IP, 4, 6. */
export type IpFamily = 0 | 4 | 6;

/**
 * Parses an IP literal into `out` (four int32 words; IPv4 in word 0) without allocating. IPv4-mapped
 * IPv6 addresses are unwrapped to IPv4 (as `canonicalIp` does); an IPv6 zone (`%eth0`) is ignored.
 */
export function parseIpInto(text: string, out: Int32Array): IpFamily {
  if (text.length === 0) return 0;
  let end = text.length;
  const pct = text.indexOf('%');
  if (pct >= 0) end = pct;
  if (text.indexOf(':') < 0) {
    const v4 = parseV4(text, 0, end);
    if (v4 === undefined) return 0;
    out[0] = v4;
    return 4;
  }
  return parseV6(text, end, out);
}

function parseV4(s: string, start: number, end: number): number | undefined {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let n = 0;
    let digits = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      digits++;
      i++;
      if (digits > 3) return undefined;
    }
    if (digits === 0 || n > 255) return undefined;
    value = (value << 8) | n;
    parts++;
    if (parts < 4) {
      if (i >= end || s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === end ? value | 0 : undefined;
}

const V6_GROUPS = new Uint16Array(8);

function parseV6(s: string, end: number, out: Int32Array): IpFamily {
  const groups = V6_GROUPS;
  groups.fill(0);
  let count = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (end < 2 || s.charCodeAt(1) !== 58) return 0;
    gap = 0;
    i = 2;
    if (i === end) {
      out[0] = 0; out[1] = 0; out[2] = 0; out[3] = 0;
      return 6;
    }
  }
  while (i < end) {
    if (count >= 8) return 0;
    // An embedded IPv4 tail?
    let j = i;
    let hex = 0;
    let digits = 0;
    let sawDot = false;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 46) { sawDot = true; break; }
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      hex = hex * 16 + d;
      digits++;
      j++;
    }
    if (sawDot) {
      if (count > 6) return 0;
      const v4 = parseV4(s, i, end);
      if (v4 === undefined) return 0;
      groups[count++] = (v4 >>> 16) & 0xffff;
      groups[count++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || digits > 4) return 0;
    groups[count++] = hex;
    i = j;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return 0;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return 0;
      gap = count;
      i++;
      if (i === end) break;
    } else if (i === end) return 0;
  }
  if (gap >= 0) {
    if (count === 8) return 0;
    const tail = count - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  } else if (count !== 8) return 0;
  // IPv4-mapped (::ffff:a.b.c.d) → IPv4.
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    out[0] = ((groups[6]! << 16) | groups[7]!) | 0;
    return 4;
  }
  for (let w = 0; w < 4; w++) out[w] = ((groups[w * 2]! << 16) | groups[w * 2 + 1]!) | 0;
  return 6;
}

/** True when the parsed address (`family`, `words`) lies in any of `ranges`. */
export function ipInRanges(family: IpFamily, words: Int32Array, ranges: readonly CidrRange[]): boolean {
  if (family === 0) return false;
  const v6 = family === 6;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (r.v6 !== v6) continue;
    if ((words[0]! & r.mask[0]!) !== r.net[0]) continue;
    if (v6) {
      if ((words[1]! & r.mask[1]!) !== r.net[1]) continue;
      if ((words[2]! & r.mask[2]!) !== r.net[2]) continue;
      if ((words[3]! & r.mask[3]!) !== r.net[3]) continue;
    }
    return true;
  }
  return false;
}

// ---- path templates ------------------------------------------------------------------------------

/** SEC `ContainsPathTemplate`. */
export function containsPathTemplate(v: string): boolean {
  return v.includes('{*}') || v.includes('{**}');
}

const VALID_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;
/** Envoy `uri_template` character class for a path glob (RFC 3986 pchar without `*` and `=`). */
const ENVOY_LITERAL_CLASS = "a-zA-Z0-9\\-._~%!$&'()+,;:@";

/**
 * SEC `CheckValidPathTemplate`, plus Envoy's own requirement that a template starts with `/`
 * (Envoy rejects the listener otherwise). Returns an error message or undefined.
 */
export function checkPathTemplate(path: string): string | undefined {
  const hasTemplate = containsPathTemplate(path);
  let foundAny = false;
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  for (const glob of trimmed.split('/')) {
    if (glob === '{*}' && !foundAny) continue;
    if (glob === '{**}' && !foundAny) {
      foundAny = true;
      continue;
    }
    if ((glob === '{**}' || glob === '{*}') && foundAny) return `invalid path template ${JSON.stringify(path)}: {**} must be the last operator`;
    if (/[{}]/.test(glob)) return `invalid path template ${JSON.stringify(path)}: '{' or '}' outside a {*} or {**} operator`;
    if (hasTemplate && !VALID_LITERAL.test(glob)) return `invalid path template ${JSON.stringify(path)}: segment ${JSON.stringify(glob)} is not a valid literal`;
  }
  if (hasTemplate && !path.startsWith('/')) return `invalid path template ${JSON.stringify(path)}: must start with '/'`;
  return undefined;
}

/**
 * An Envoy URI template matcher for an Istio path template (GEN `permissionPathTemplate`): `{*}`
 * is one non-empty segment of pchar, `{**}` is zero or more pchar or `/`; full match.
 */
export function pathTemplateRegex(path: string): RegExp {
  const parts = path.slice(1).split('/').map((seg) => {
    if (seg === '{*}') return `[${ENVOY_LITERAL_CLASS}]+`;
    if (seg === '{**}') return `[${ENVOY_LITERAL_CLASS}/]*`;
    return quoteRegex(seg);
  });
  return new RegExp(`^/${parts.join('/')}$`);
}
