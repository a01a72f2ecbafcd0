/**
 * `waypoint validate`: load and compile, report every problem, one line each.
 */
import { loadResources } from '../config/load.js';
import { compileSnapshot } from './compile.js';
import type { ConfigProblem } from '../config/types.js';

export interface ValidateOptions {
  namespace?: string | undefined;
  name?: string | undefined;
  /** Default `cluster.local`. */
  trustDomain?: string | undefined;
  /** Default `Kubernetes`. */
  clusterId?: string | undefined;
  /** Default `istio-system`. */
  rootNamespace?: string | undefined;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_CLUSTER_ID = 'Kubernetes';

/** Every problem in the configuration at `paths`: loading problems first, then compilation's. */
export async function validateConfig(paths: string[], opts: ValidateOptions = {}): Promise<ConfigProblem[]> {
  const loaded = await loadResources(paths);
  const compiled = compileSnapshot(loaded.resources, {
    namespace: opts.namespace,
    name: opts.name,
    trustDomain: opts.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    clusterId: opts.clusterId ?? DEFAULT_CLUSTER_ID,
    rootNamespace: opts.rootNamespace,
    version: 0,
  });
  return [...loaded.problems, ...compiled.problems];
}
