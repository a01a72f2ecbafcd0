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

export function hasErrors(problems: readonly ConfigProblem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}

/** Errors that reject the whole configuration (not those that only skip their own resource). */
export function hasFatalErrors(problems: readonly ConfigProblem[]): boolean {
  return problems.some((p) => p.severity === 'error' && p.resourceSkipped !== true);
}

/**
 * One line: `error: examples/broken.yaml: Service default/reviews: spec.ports[0].port: must be an
 * integer between 1 and 65535 (got 70000)`. Parts that are unknown are left out.
 */
export function formatProblem(p: ConfigProblem): string {
  const parts: string[] = [`${p.severity}: ${p.file}`];
  if (p.kind !== undefined) {
    const id = p.name === undefined ? '' : p.namespace ? `${p.namespace}/${p.name}` : p.name;
    parts.push(id === '' ? p.kind : `${p.kind} ${id}`);
  }
  if (p.field !== undefined && p.field !== '') parts.push(p.field);
  parts.push(p.message.replace(/\r?\n/g, ' '));
  return parts.join(': ');
}
