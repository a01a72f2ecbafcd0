import { formatProblem, hasErrors } from '../config/problems.js';
import { validateConfig } from '../snapshot/validate.js';

/** `waypoint validate`: prints one line per problem; resolves to the exit code. */
export async function validateCommand(flags: { config: string[]; namespace?: string | undefined; name?: string | undefined; trustDomain: string; rootNamespace: string }): Promise<number> {
  if (flags.config.length === 0) throw new Error('give at least one --config PATH');
  const problems = await validateConfig(flags.config, { namespace: flags.namespace, name: flags.name, trustDomain: flags.trustDomain, rootNamespace: flags.rootNamespace });
  for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
  const errors = problems.filter((p) => p.severity === 'error').length;
  process.stderr.write(`${errors} error(s), ${problems.length - errors} warning(s)\n`);
  return hasErrors(problems) ? 1 : 0;
}
