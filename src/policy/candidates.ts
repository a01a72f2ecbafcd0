/**
 * Per-client candidate rules. The source side of a rule (`from` entries and `source.*` /
 * `remote.ip` conditions) depends only on the peer's identity and address, and a waypoint sees a
 * bounded set of clients, so the rules whose source side holds are computed once per
 * (principal, source IP) and cached; a request then evaluates only the destination side of
 * those candidates. Cache hits allocate nothing. Order is preserved, so the first matching rule
 * is the same as with a full scan.
 */
import { sourceMatches, type RequestView, type RuleVariant } from './rules.js';

/** What the index reads of a compiled policy: its live rules per protocol. */
export interface PolicyRuleVariants {
  readonly httpLive: readonly RuleVariant[];
  readonly tcpLive: readonly RuleVariant[];
}

export interface Candidates {
  readonly custom: readonly RuleVariant[];
  readonly deny: readonly RuleVariant[];
  readonly allow: readonly RuleVariant[];
  /** Signatures of the rules above, three int32 per rule (method, port, path), contiguous. */
  readonly customSig: Int32Array;
  readonly denySig: Int32Array;
  readonly allowSig: Int32Array;
}

function signatures(rules: readonly RuleVariant[]): Int32Array {
  const sig = new Int32Array(rules.length * 3);
  rules.forEach((r, i) => {
    sig[i * 3] = r.sigMethod;
    sig[i * 3 + 1] = r.sigPort;
    sig[i * 3 + 2] = r.sigPath;
  });
  return sig;
}

function candidates(custom: readonly RuleVariant[], deny: readonly RuleVariant[], allow: readonly RuleVariant[]): Candidates {
  return Object.freeze({ custom, deny, allow, customSig: signatures(custom), denySig: signatures(deny), allowSig: signatures(allow) });
}

/** Cached clients per policy set and protocol before the cache is cleared. */
export const MAX_CACHED_CLIENTS = 4096;

export class SourceIndex {
  private readonly full: Candidates;
  private readonly sourceDependent: boolean;
  private readonly cache = new Map<string, Map<string, Candidates>>();
  private cached = 0;

  constructor(
    groups: { custom: readonly PolicyRuleVariants[]; deny: readonly PolicyRuleVariants[]; allow: readonly PolicyRuleVariants[] },
    protocol: 'http' | 'tcp',
  ) {
    const flat = (ps: readonly PolicyRuleVariants[]): readonly RuleVariant[] => Object.freeze(ps.flatMap((p) => (protocol === 'tcp' ? p.tcpLive : p.httpLive)));
    this.full = candidates(flat(groups.custom), flat(groups.deny), flat(groups.allow));
    this.sourceDependent = [...this.full.custom, ...this.full.deny, ...this.full.allow].some((r) => r.sourceDependent);
  }

  /** The rules whose source side matches the view's peer. */
  candidates(v: RequestView): Candidates {
    if (!this.sourceDependent) return this.full;
    const principal = v.attrs.sourcePrincipal;
    const ip = v.attrs.sourceIp;
    let byIp = this.cache.get(principal);
    if (byIp !== undefined) {
      const hit = byIp.get(ip);
      if (hit !== undefined) return hit;
    }
    const keep = (rules: readonly RuleVariant[]): readonly RuleVariant[] => {
      const out = rules.filter((r) => !r.sourceDependent || sourceMatches(r, v));
      return out.length === rules.length ? rules : Object.freeze(out);
    };
    const c = candidates(keep(this.full.custom), keep(this.full.deny), keep(this.full.allow));
    if (this.cached >= MAX_CACHED_CLIENTS) {
      this.cache.clear();
      this.cached = 0;
      byIp = undefined;
    }
    if (byIp === undefined) {
      byIp = new Map();
      this.cache.set(principal, byIp);
    }
    byIp.set(ip, c);
    this.cached++;
    return c;
  }

  /** Number of cached clients (for tests and admin dumps). */
  get cachedClients(): number {
    return this.cached;
  }
}
