/**
 * Reads the YAML fixtures under `test/fixtures/`. Paths are relative to that folder, so a test
 * names a fixture the way it appears in the tree (`istio/bookinfo.yaml`).
 */
import { readdir, readFile } from 'node:fs/promises';

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** The text of one fixture file. */
export function readFixture(path: string): Promise<string> {
  return readFile(new URL(path, FIXTURES), 'utf8');
}

/** Every `.yaml` file directly in a fixture folder, by file name. */
export async function readFixtureFolder(folder: string): Promise<Readonly<Record<string, string>>> {
  const dir = new URL(folder.endsWith('/') ? folder : `${folder}/`, FIXTURES);
  const names = (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort();
  const texts = await Promise.all(names.map((n) => readFile(new URL(n, dir), 'utf8')));
  return Object.freeze(Object.fromEntries(names.map((n, i) => [n, texts[i]!])));
}
