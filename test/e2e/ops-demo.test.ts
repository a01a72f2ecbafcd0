/**
 * `waypoint demo` as a process: its addresses and ports move with --base and --port-offset, and
 * stopping `npm start` with SIGTERM (or the demo with SIGINT) stops everything it started: no
 * listener is left on any of its addresses. The npm case runs package.json's real start script in
 * a scratch directory whose build step is a no-op and whose dist/ links to this checkout's build,
 * so the test does not rebuild dist/ under other running tests. Addresses: 127.157.x.y with
 * ports offset by 1000 (127.157.0.1, 127.157.10.1, 127.157.11.x).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { moveAddress, moveConfig, parseDemoBase } from '../../src/commands/demo.js';
import { CLI, waitForPort } from '../helpers/process.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after the signal`)), timeoutMs);
    child.once('exit', (code) => (clearTimeout(t), resolve(code)));
  });
}

/** Every listener the moved demo opens. */
const LISTENERS: Array<[string, number]> = [
  ['127.157.0.1', 16000],
  ['127.157.0.1', 16020],
  ['127.157.0.1', 16021],
  ['127.157.0.1', 16080],
  ['127.157.0.1', 16090],
  ['127.157.10.1', 16008],
  ['127.157.11.1', 16008],
];

async function exercise(output: () => string): Promise<void> {
  await waitForPort('127.157.0.1', 16080, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${output()}`);
  });
  const ready = await request('http://127.157.0.1:16021/healthz/ready', { headersTimeout: 5000 });
  expect(ready.statusCode).toBe(200);
  await ready.body.text();
  const hello = await request('http://127.157.0.1:16080/hello', { headersTimeout: 5000 });
  expect(hello.statusCode).toBe(200);
  expect(((await hello.body.json()) as { pod: string }).pod).toMatch(/^echo-/);
  for (const [host, port] of LISTENERS) expect(await refused(host, port), `${host}:${port} listening`).toBe(false);
}

async function allClosed(): Promise<void> {
  for (const [host, port] of LISTENERS) expect(await refused(host, port), `${host}:${port} still listening`).toBe(true);
}

describe('demo layout', () => {
  it.each([
    ['127.157', '127.157'],
    ['127.157.', '127.157'],
    ['127.157.0', '127.157'],
  ])('--base %s is 127.157', (text, base) => {
    expect(parseDemoBase(text)).toBe(base);
  });

  it.each(['10.0', '127.300', '127.1.2', 'x'])('refuses --base %s', (text) => {
    expect(() => parseDemoBase(text)).toThrow(/--base must be 127\.N/);
  });

  it('moves every address of the example configuration', async () => {
    const text = await readFile(join(REPO, 'examples/demo-mesh.yaml'), 'utf8');
    const moved = moveConfig(text, { base: '127.157', portOffset: 0 });
    expect(moved).not.toMatch(/\b127\.0\.\d+\.\d+\b/);
    expect(moved).toContain('clusterIP: 127.157.20.1');
    expect(moveAddress('127.0.10.1', { base: '127.157', portOffset: 0 })).toBe('127.157.10.1');
  });
});

describe('stopping the demo', () => {
  it('npm start -- --base 127.157 --port-offset 1000, then SIGTERM to npm: everything stops', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'waypoint-npm-start-'));
    try {
      const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { name: string; type: string; scripts: { start: string } };
      expect(pkg.scripts.start).toMatch(/^npm run --silent build && exec node dist\/bin\/waypoint\.js demo$/);
      await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'waypoint-start-check', private: true, type: pkg.type, scripts: { build: 'true', start: pkg.scripts.start } }));
      await symlink(join(REPO, 'dist'), join(scratch, 'dist'));
      let out = '';
      const npm = spawn('npm', ['start', '--silent', '--', '--base', '127.157', '--port-offset', '1000', '--log-level', 'warn'], { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(npm);
      npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
      npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
      await exercise(() => out);
      expect(out).toContain('curl -s http://127.157.0.1:16080/hello');
      npm.kill('SIGTERM');
      await exited(npm, 15_000);
      await allClosed();
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }, 90_000);

  it('SIGINT to waypoint demo: everything stops', async () => {
    let out = '';
    const demo = spawn(process.execPath, [CLI, 'demo', '--base', '127.157', '--port-offset', '1000', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(demo);
    demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await exercise(() => out);
    demo.kill('SIGINT');
    expect(await exited(demo, 15_000)).toBe(0);
    expect(out).toContain('"msg":"demo stopped"');
    await allClosed();
  }, 90_000);
});
