/**
 * The authorization decision for one request, in Istio's order: CUSTOM (a matching CUSTOM rule
 * denies, naming its ext_authz provider; the HTTP path asks the provider (src/l7/ext-authz/) and on
 * allow continues with `evaluateAfterCustom`), then DENY, then ALLOW; AUDIT never
 * changes the outcome; dry-run policies are evaluated and reported but never enforced. HTTP-only
 * attributes on TCP traffic have already been handled per protocol at compile time (`variantFor` in compile.ts).
 *
 * The common path allocates nothing: decisions are precomputed per rule and per policy set, the
 * request's derived attributes live in one reused view, candidate rules are cached per client,
 * and paths are matched in place (query excluded by index). Allocation happens only when a client
 * is seen for the first time, a path needs normalising (dot segments, escapes, backslashes), a
 * header is repeated (values joined with `,`), the host has upper-case letters, a multi-pattern
 * path matcher meets a query string, or dry-run policies apply (their per-request report).
 */
import type { CompiledPolicy, PolicySet } from './compile.js';
import { destinationMatches, RequestView, ruleMatches, type RuleVariant } from './rules.js';
import type { AuthzDecision, DryRunResult, RequestAttributes } from './types.js';

const view = new RequestView();

/** The first rule of `policy` that matches, for the view's protocol. */
export function firstMatchingRule(policy: CompiledPolicy, v: RequestView): RuleVariant | undefined {
  const rules = v.tcp ? policy.tcpLive : policy.httpLive;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (ruleMatches(r, v)) return r;
  }
  return undefined;
}

/** The decision with `v` already reset to the request. */
export function decide(set: PolicySet, v: RequestView, skipCustom = false): AuthzDecision {
  let decision = enforcedDecision(set, v, skipCustom);
  if (set.dryRun.length > 0) {
    const dryRun: DryRunResult[] = set.dryRun.map((p) => ({ policy: p.id, action: p.action, matched: firstMatchingRule(p, v) !== undefined }));
    decision = { ...decision, dryRun };
  }
  return decision;
}

/**
 * The first candidate whose destination side matches (its source side already does). The
 * signature array rules out most non-matching rules without reading the rule objects.
 */
function firstDestinationMatch(rules: readonly RuleVariant[], sig: Int32Array, v: RequestView): RuleVariant | undefined {
  const mb = v.methodBit;
  const pb = v.portBit;
  const xb = v.pathBit;
  for (let i = 0, o = 0; i < rules.length; i++, o += 3) {
    if ((sig[o]! & mb) === 0 || (sig[o + 1]! & pb) === 0 || (sig[o + 2]! & xb) === 0) continue;
    const r = rules[i]!;
    if (destinationMatches(r, v)) return r;
  }
  return undefined;
}

function enforcedDecision(set: PolicySet, v: RequestView, skipCustom: boolean): AuthzDecision {
  if (!v.tcp && set.needsPath && v.pathString() === undefined) return set.decisions.badPath;
  if (!v.tcp) v.computeHttpBits(set.needsPath);
  const c = (v.tcp ? set.tcpIndex : set.httpIndex).candidates(v);
  const custom = skipCustom ? undefined : firstDestinationMatch(c.custom, c.customSig, v);
  if (custom !== undefined) return custom.decision;
  const deny = firstDestinationMatch(c.deny, c.denySig, v);
  if (deny !== undefined) return deny.decision;
  if (set.allow.length === 0) return set.decisions.noAllowPolicies;
  const allow = firstDestinationMatch(c.allow, c.allowSig, v);
  return allow !== undefined ? allow.decision : set.decisions.noAllowMatched;
}

/**
 * Decides whether `attrs` is allowed by the policies in `set` (from `CompiledPolicies.forService`
 * or `forWorkload`). The returned object may be shared between requests: do not mutate it.
 */
export function evaluate(set: PolicySet, attrs: RequestAttributes): AuthzDecision {
  return decide(set, view.reset(attrs));
}

/**
 * The DENY and ALLOW layers alone: what decides once the CUSTOM layer's ext_authz provider has
 * allowed the request (Envoy runs the RBAC filters after ext_authz).
 */
export function evaluateAfterCustom(set: PolicySet, attrs: RequestAttributes): AuthzDecision {
  return decide(set, view.reset(attrs), true);
}
