import type { ConfigProblem } from './types.js';

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
