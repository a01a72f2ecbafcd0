/**
 * The published package, as a user gets it: `npm pack` the built checkout, install the tarball
 * into a scratch project, import it, run README.md's "Library" example and the CLI from it.
 *
 * How the tarball is installed: it is extracted into `scratch/node_modules/ts-waypoint` and each
 * of its declared `dependencies` is symlinked from this checkout's `node_modules`. That needs no
 * network and no npm cache: `npm install --offline <tarball>` would have to resolve version
 * ranges from cached registry metadata, which `npm ci` (installing from the lockfile's resolved
 * tarballs) does not leave behind on a clean CI machine. Linking only the declared dependencies
 * still catches a runtime import of an undeclared package (a devDependency, say): the scratch
 * project lives under the system temp directory, outside this checkout, so Node finds nothing
 * but what is linked.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = join(ROOT, 'README.md');
const EXPECTED_EXAMPLE_OUTPUT = '200 echo-1 /hello spiffe://cluster.local/ns/demo/sa/waypoint';

interface PackedFile {
  path: string;
}
interface PackResult {
  filename: string;
  files: PackedFile[];
}
interface PackageJson {
  name: string;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
}

/** The newest modification time of any file under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** The body of the first ```js block in README.md's "## Library" section. */
function libraryExample(readme: string): string {
  const section = /^## Library\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme);
  if (section === null) throw new Error('README.md has no "## Library" section');
  const block = /^```js\n([\s\S]*?)^```$/m.exec(section[1] ?? '');
  if (block === null) throw new Error('README.md "## Library" has no ```js block');
  return block[1] ?? '';
}

/** The environment for child processes: no inherited loader or option flags from the test runner. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

let work: string;
let scratch: string;
let packed: PackResult;

beforeAll(async () => {
  // `npm test` builds just before vitest; a standalone run of this file builds when dist is stale.
  const stale = (file: string): boolean => !existsSync(join(ROOT, file)) || statSync(join(ROOT, file)).mtimeMs < newestMtime(join(ROOT, 'src'));
  if (stale('dist/src/index.js')) {
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, timeout: 90_000 });
  }
  if (stale('dist/bin/waypoint.js')) await run(process.execPath, [join(ROOT, 'scripts/bundle.mjs')], { cwd: ROOT, timeout: 90_000 });
  work = await mkdtemp(join(tmpdir(), 'waypoint-package-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, env: childEnv(), timeout: 30_000 });
  const results = JSON.parse(stdout) as PackResult[];
  expect(results).toHaveLength(1);
  packed = results[0]!;

  scratch = join(work, 'scratch');
  const installed = join(scratch, 'node_modules', 'ts-waypoint');
  await mkdir(installed, { recursive: true });
  await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  // npm tarballs hold everything under `package/`.
  await run('tar', ['-xzf', join(work, packed.filename), '-C', installed, '--strip-components=1'], { timeout: 30_000 });
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as PackageJson;
  // The declared runtime dependencies, plus @types/node so a TypeScript consumer can be checked.
  for (const name of [...Object.keys(manifest.dependencies ?? {}), '@types/node']) {
    const target = await realpath(join(ROOT, 'node_modules', name));
    const link = join(scratch, 'node_modules', name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(target, link, 'dir');
  }
}, 120_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships the built library, its types, the CLI, the bundled `waypoint` bin and the example mesh, and no tests or benchmarks', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli.js', 'dist/bin/waypoint.js', 'examples/demo-mesh.yaml']),
    );
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
    expect(manifest.bin).toEqual({ waypoint: 'dist/bin/waypoint.js' });
    expect(paths.filter((p) => /^(dist\/)?(test|bench)\//.test(p) || p.startsWith('src/'))).toEqual([]);
  });

  it('ships no stale build output: every file under dist/src comes from a source file that exists', () => {
    const orphans = packed.files
      .map((f) => f.path)
      .filter((p) => p.startsWith('dist/src/'))
      .filter((p) => !existsSync(join(ROOT, p.replace(/^dist\//, '').replace(/(\.d\.ts|\.js\.map|\.d\.ts\.map|\.js)$/, '.ts'))));
    expect(orphans).toEqual([]);
  });

  it('imports as `ts-waypoint` from a project that installed it', async () => {
    await run(process.execPath, ['-e', "import('ts-waypoint')"], { cwd: scratch, env: childEnv(), timeout: 30_000 });
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('ts-waypoint'); console.log(Object.keys(m).sort().join(' '))"], {
      cwd: scratch,
      env: childEnv(),
      timeout: 30_000,
    });
    expect(stdout.trim().split(' ')).toEqual(
      expect.arrayContaining(['createMeshCa', 'issueWorkloadCert', 'writeCertDir', 'createTestMesh', 'Waypoint', 'LoopbackMesh', 'FakeZtunnel', 'EchoApp', 'HboneHttpClient', 'Tunnel']),
    );
  }, 60_000);

  it("runs README.md's library example and prints the echo pod's answer", async () => {
    const readme = readFileSync(README, 'utf8');
    expect(readme).toContain(EXPECTED_EXAMPLE_OUTPUT);
    await writeFile(join(scratch, 'example.mjs'), libraryExample(readme));
    const { stdout } = await run(process.execPath, ['example.mjs'], { cwd: scratch, env: childEnv(), timeout: 45_000 });
    expect(stdout.trim()).toBe(EXPECTED_EXAMPLE_OUTPUT);
  }, 60_000);

  it('type-checks a TypeScript consumer against the shipped declarations', async () => {
    await writeFile(
      join(scratch, 'consumer.ts'),
      [
        "import { LoopbackMesh, createTestMesh, type EchoReply, type LoopbackMeshOptions, type WaypointOptions } from 'ts-waypoint';",
        "const options: Pick<LoopbackMeshOptions, 'waypoint'> = { waypoint: { ip: '127.153.0.1', namespace: 'demo', name: 'waypoint' } };",
        'const start: (o: LoopbackMeshOptions) => Promise<LoopbackMesh> = LoopbackMesh.start;',
        "const port: WaypointOptions['upstreamHbonePort'] = 15008;",
        "const pod: EchoReply['pod'] = 'echo-1';",
        'void createTestMesh;',
        'export { options, start, port, pod };',
        '',
      ].join('\n'),
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', 'consumer.ts'];
    await expect(run(process.execPath, [tsc, ...args], { cwd: scratch, env: childEnv(), timeout: 45_000 })).resolves.toBeDefined();
  }, 60_000);

  it('runs the installed CLI, its module files and its bundled bin, against the shipped example mesh', async () => {
    const installed = join(scratch, 'node_modules/ts-waypoint');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as PackageJson;
    const example = join(installed, 'examples/demo-mesh.yaml');
    for (const cli of [join(installed, 'dist/src/cli.js'), join(installed, manifest.bin?.waypoint ?? 'no bin')]) {
      await expect(
        run(process.execPath, [cli, 'validate', '--config', example, '--namespace', 'demo', '--name', 'waypoint'], { cwd: scratch, env: childEnv(), timeout: 30_000 }),
      ).resolves.toBeDefined();
    }
  }, 60_000);
});
