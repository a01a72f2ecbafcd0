/**
 * An object from the API server → the `LoadedResource` a file would have produced, checked by the
 * same schemas (`src/config/schemas.ts`), or the problems that keep it out. Pure.
 */
import { deepFreeze } from '../load.js';
import { validateResource } from '../schemas.js';
import type { ConfigProblem, LoadedResource } from '../types.js';
import type { WatchedKind } from './kinds.js';

export type ObjectOutcome =
  | { ok: true; resource: LoadedResource }
  | { ok: false; namespace: string; name: string; problems: ConfigProblem[] };

/**
 * `obj` is already slimmed (`slim.ts`): `apiVersion` and `kind` are set. `origin` names where it
 * came from in problems (`ConfigProblem.file`), e.g. `kubernetes`.
 */
export function toLoadedResource(k: WatchedKind, obj: Readonly<Record<string, unknown>>, origin: string): ObjectOutcome {
  const metadata = (typeof obj['metadata'] === 'object' && obj['metadata'] !== null ? obj['metadata'] : {}) as Record<string, unknown>;
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
  const declaredNs = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : undefined;
  const namespace = k.namespaced ? (declaredNs ?? 'default') : '';
  const issues = validateResource(k.kind, obj);
  if (name === '' || issues.length > 0) {
    const ident = { file: origin, kind: k.kind, ...(k.namespaced ? { namespace } : {}), ...(name !== '' ? { name } : {}) };
    const list = issues.length > 0 ? issues : [{ field: 'metadata.name', message: 'is required' }];
    return {
      ok: false,
      namespace,
      name,
      problems: list.map((i) => ({ severity: 'warning', ...ident, ...(i.field !== '' ? { field: i.field } : {}), message: `rejected, the object is skipped: ${i.message}` })),
    };
  }
  return {
    ok: true,
    resource: Object.freeze({ file: origin, apiVersion: String(obj['apiVersion']), kind: k.kind, namespace, name, raw: deepFreeze(obj) }),
  };
}
