import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPackageFile } from '../../../src/config/files.js';

// A package laid out as installed: examples/ and proto/ beside dist/, modules at several depths.
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'waypoint-package-file-'));
  await mkdir(join(root, 'examples'), { recursive: true });
  await writeFile(join(root, 'examples', 'demo-mesh.yaml'), 'kind: List\n');
  await mkdir(join(root, 'dist', 'src', 'commands', 'examples'), { recursive: true });
  await mkdir(join(root, 'dist', 'bin'), { recursive: true });
  // A nearer copy wins over the package's own.
  await writeFile(join(root, 'dist', 'src', 'commands', 'examples', 'near.yaml'), 'kind: List\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('findPackageFile', () => {
  const cases: Array<{ name: string; module: string[]; relative: string; found: string[] | undefined }> = [
    { name: 'tsc output, three levels down', module: ['dist', 'src', 'commands', 'example.js'], relative: 'examples/demo-mesh.yaml', found: ['examples', 'demo-mesh.yaml'] },
    { name: 'the bundle, two levels down', module: ['dist', 'bin', 'chunk-ABC.js'], relative: 'examples/demo-mesh.yaml', found: ['examples', 'demo-mesh.yaml'] },
    { name: 'a module beside the directory', module: ['main.js'], relative: 'examples/demo-mesh.yaml', found: ['examples', 'demo-mesh.yaml'] },
    { name: 'the nearest directory that holds it', module: ['dist', 'src', 'commands', 'example.js'], relative: 'examples/near.yaml', found: ['dist', 'src', 'commands', 'examples', 'near.yaml'] },
    { name: 'nowhere above', module: ['dist', 'bin', 'waypoint.js'], relative: 'examples/no-such-file-anywhere.yaml', found: undefined },
  ];
  it.each(cases)('$name', ({ module, relative, found }) => {
    const url = pathToFileURL(join(root, ...module)).href;
    expect(findPackageFile(relative, url)).toBe(found === undefined ? undefined : join(root, ...found));
  });

  it('finds the files this checkout ships from the source tree', () => {
    expect(findPackageFile('examples/demo-mesh.yaml', import.meta.url)).toMatch(/examples\/demo-mesh\.yaml$/);
    expect(findPackageFile('proto/istio/v1/auth/ca.proto', import.meta.url)).toMatch(/proto\/istio\/v1\/auth\/ca\.proto$/);
  });
});
