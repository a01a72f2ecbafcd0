/**
 * Reads configuration files into resources: YAML (multi-document) or JSON, `List`s unpacked,
 * kinds the waypoint does not use skipped with a warning, each resource checked against its
 * kind's schema. Every problem names the file and, where known, the resource and the field.
 */
import { readFile } from 'node:fs/promises';
import { errorText, listConfigFiles } from './files.js';
import { apiGroup, isListKind, KINDS } from './kinds.js';
import { parseConfigText } from './parse.js';
import { validateResource } from './schemas.js';
import type { ConfigProblem, LoadedResource } from './types.js';

export interface LoadResult {
  resources: LoadedResource[];
  problems: ConfigProblem[];
}

/** Where a document sits in its file, for problems about documents that cannot name themselves. */
interface Location {
  file: string;
  /** e.g. `document 2 (line 14)` or `document 1 (line 1), items[3]`. */
  where: string;
}

export async function loadResources(paths: string[]): Promise<LoadResult> {
  const listing = await listConfigFiles(paths);
  const loader = new ResourceCollector();
  loader.problems.push(...listing.problems);
  for (const file of listing.files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      loader.problems.push({ severity: 'error', file, message: `cannot read: ${errorText(err)}` });
      continue;
    }
    loader.addText(file, text);
  }
  return { resources: loader.resources, problems: loader.problems };
}

/** Loads resources from in-memory text (tests, the bundled example). */
export function loadResourcesFromText(files: ReadonlyArray<{ file: string; text: string }>): LoadResult {
  const loader = new ResourceCollector();
  for (const { file, text } of files) loader.addText(file, text);
  return { resources: loader.resources, problems: loader.problems };
}

class ResourceCollector {
  readonly resources: LoadedResource[] = [];
  readonly problems: ConfigProblem[] = [];
  /** `kind/namespace/name` → file of the first definition. */
  private readonly seen = new Map<string, string>();

  addText(file: string, text: string): void {
    const parsed = parseConfigText(file, text);
    this.problems.push(...parsed.problems);
    for (const doc of parsed.documents) {
      this.addDocument(doc.value, { file, where: `document ${doc.index} (line ${doc.line})` });
    }
  }

  private addDocument(value: unknown, loc: Location): void {
    if (!isRecord(value)) {
      this.error(loc, {}, `${loc.where}: expected a Kubernetes resource (a mapping with apiVersion, kind and metadata), got ${describe(value)}`);
      return;
    }
    const kind = value['kind'];
    if (typeof kind !== 'string' || kind === '') {
      this.error(loc, { field: 'kind' }, `${loc.where}: kind is required`);
      return;
    }
    const items = value['items'];
    if (isListKind(kind) && (Array.isArray(items) || items === null || items === undefined)) {
      (items ?? []).forEach((item: unknown, i: number) => this.addDocument(item, { file: loc.file, where: `${loc.where}, items[${i}]` }));
      return;
    }

    const metadata = isRecord(value['metadata']) ? value['metadata'] : {};
    const name = typeof metadata['name'] === 'string' && metadata['name'] !== '' ? metadata['name'] : undefined;
    const apiVersion = typeof value['apiVersion'] === 'string' ? value['apiVersion'] : undefined;
    const info = KINDS.get(kind);
    if (info === undefined || (apiVersion !== undefined && !info.groups.includes(apiGroup(apiVersion)))) {
      const what = info === undefined ? `kind ${kind}` : `kind ${kind} of apiVersion ${apiVersion ?? ''}`;
      this.problems.push({
        severity: 'warning',
        file: loc.file,
        kind,
        ...(name !== undefined ? { name } : {}),
        message: `skipped: ${what} is not used by the waypoint`,
      });
      return;
    }
    const declaredNs = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : undefined;
    const namespace = info.namespaced ? (declaredNs ?? 'default') : '';
    const ident = { kind, ...(info.namespaced ? { namespace } : {}), ...(name !== undefined ? { name } : {}) };

    if (name === undefined) {
      this.error(loc, { ...ident, field: 'metadata.name' }, `is required (${loc.where})`);
      return;
    }
    const key = `${kind}/${namespace}/${name}`;
    const first = this.seen.get(key);
    if (first !== undefined) {
      const where = first === loc.file ? 'earlier in the same file' : `in ${first}`;
      this.error(loc, ident, `duplicate ${kind} ${namespace === '' ? name : `${namespace}/${name}`}: already defined ${where}`);
      return;
    }
    this.seen.set(key, loc.file);

    const issues = validateResource(kind, value);
    if (issues.length > 0) {
      for (const issue of issues) {
        this.error(loc, { ...ident, ...(issue.field !== '' ? { field: issue.field } : {}) }, issue.message);
      }
      return;
    }
    this.resources.push(
      Object.freeze({
        file: loc.file,
        apiVersion: apiVersion ?? '',
        kind,
        namespace,
        name,
        raw: deepFreeze(value),
      }),
    );
  }

  private error(loc: Location, ident: Omit<ConfigProblem, 'severity' | 'file' | 'message'>, message: string): void {
    this.problems.push({ severity: 'error', file: loc.file, ...ident, message });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return 'a string';
  return typeof v;
}

/** Freezes parsed JSON-like data all the way down. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
