export type * from './types.js';
export { canonicalIp, vipKey } from './address.js';
export { loadResources, loadResourcesFromText, type LoadResult } from './load.js';
export { validateResource, parseKind } from './schemas.js';
export { resolvePortProtocol, isHttpProtocol } from './protocol.js';
export {
  decideBinding,
  parseUseWaypoint,
  allowsAttachment,
  namespaceMeta,
  type BindingDecision,
  type BindingSubject,
  type WaypointPolicy,
} from './binding.js';
export { selectWaypoint, waypointPolicyFor } from './waypoint.js';
export { compileSnapshot, emptySnapshot, type CompileOptions, type CompileResult } from '../snapshot/compile.js';
export { validateConfig, formatProblem, hasErrors, DEFAULT_TRUST_DOMAIN, DEFAULT_CLUSTER_ID, type ValidateOptions } from '../snapshot/validate.js';
export { ConfigStore, type ConfigStoreOptions, type ConfigStoreEvents, type ReloadResult } from '../snapshot/store.js';
