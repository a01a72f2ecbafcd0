/**
 * "Which policies apply to this request, what is the decision, and why" — without sending
 * traffic. For the admin endpoint; allocates freely.
 */
import type { CompiledPolicies } from './compile.js';
import { decide } from './evaluate.js';
import { explainRule, isDropped, RequestView } from './rules.js';
import type { AuthzDecision, RequestAttributes } from './types.js';

export interface ExplainedPolicy {
  policy: string;
  action: string;
  dryRun: boolean;
  rules: Array<{ index: number; matched: boolean; why: string }>;
}

export interface Explanation {
  /** `service <hostname>` or `waypoint` (workload-addressed traffic). */
  target: string;
  protocol: 'http' | 'tcp';
  applicable: ExplainedPolicy[];
  decision: AuthzDecision;
}

export function explain(
  policies: CompiledPolicies,
  target: { serviceHostname?: string | undefined },
  attrs: RequestAttributes,
): Explanation {
  const set = target.serviceHostname !== undefined && target.serviceHostname !== '' ? policies.forService(target.serviceHostname) : policies.forWorkload();
  const v = new RequestView().reset(attrs);
  const applicable = set.policies.map((p): ExplainedPolicy => {
    const slots = v.tcp ? p.tcp : p.http;
    const rules =
      slots.length === 0
        ? [
            {
              index: 0,
              matched: false,
              why:
                p.action === 'ALLOW'
                  ? 'the policy has no rules, so it never matches (an ALLOW policy without rules denies everything in its scope)'
                  : 'the policy has no rules, so it never matches',
            },
          ]
        : slots.map((slot) => (isDropped(slot) ? { index: slot.index, matched: false, why: slot.dropped } : { index: slot.index, ...explainRule(slot, v) }));
    return { policy: p.id, action: p.action, dryRun: p.dryRun, rules };
  });
  return { target: set.target, protocol: v.tcp ? 'tcp' : 'http', applicable, decision: decide(set, v) };
}
