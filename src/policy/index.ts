/** AuthorizationPolicy at the waypoint: compile once per snapshot, evaluate per request, explain. */
export {
  compilePolicies,
  CompiledPolicies,
  type CompilePoliciesOptions,
  CompiledPolicy,
  DEFAULT_ROOT_NAMESPACE,
  PolicySet,
  WAYPOINT_GATEWAY_CLASS,
  type PolicyAttachment,
  type PolicyDump,
} from './compile.js';
export { evaluate, evaluateAfterCustom } from './evaluate.js';
export { explain, type ExplainedPolicy, type Explanation } from './explain.js';
export type { AuthzDecision, DryRunResult, PolicyAction, PolicyContext, RequestAttributes } from './types.js';
