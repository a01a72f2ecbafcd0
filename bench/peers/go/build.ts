/**
 * Builds `hbone-peer` (bench/peers/go/hbone-peer) offline: Debian's Go 1.19 and x/net from
 * /usr/share/gocode in GOPATH mode, no module downloads. Installs `golang-go` and
 * `golang-golang-x-net-dev` with apt-get when they are missing. The binary, the build cache and a
 * patched copy of x/net/http2 (the client's connection window set to ztunnel's 16 MiB: Go's
 * Transport hard-codes 1 GiB) live in the gitignored bench/peers/go/bin/.
 */
import { execFile } from 'node:child_process';
import { access, cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The source folder bench/peers/go/ (this file runs from dist/bench/peers/go/). */
const GO_DIR = fileURLToPath(new URL('../../../../bench/peers/go/', import.meta.url));
const SOURCES = join(GO_DIR, 'hbone-peer');
const OUT = join(GO_DIR, 'bin');
export const PEER_BINARY = join(OUT, 'hbone-peer');
const GOCODE = '/usr/share/gocode';
const XNET_HTTP2 = join(GOCODE, 'src/golang.org/x/net/http2');
const PACKAGES = ['golang-go', 'golang-golang-x-net-dev'];

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

async function haveGo(): Promise<boolean> {
  try {
    await run('go', ['version'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function aptInstall(log: (line: string) => void): Promise<void> {
  log(`installing ${PACKAGES.join(' ')} with apt-get`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], {
    timeout: 300_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** Newest modification time of the Go sources, to skip a build that is up to date. */
async function newestSource(): Promise<number> {
  let newest = 0;
  for (const name of await readdir(SOURCES)) {
    if (name.endsWith('.go')) newest = Math.max(newest, (await stat(join(SOURCES, name))).mtimeMs);
  }
  return newest;
}

/**
 * Copies x/net/http2 into the first GOPATH entry with the Transport's connection window at
 * 16 MiB; returns a note when the constant was not found (the copy then keeps Go's default).
 */
async function patchedHttp2(gopath: string): Promise<string | undefined> {
  const dest = join(gopath, 'src/golang.org/x/net/http2');
  await mkdir(dest, { recursive: true });
  await cp(XNET_HTTP2, dest, { recursive: true });
  const file = join(dest, 'transport.go');
  const text = await readFile(file, 'utf8');
  const patched = text.replace(/transportDefaultConnFlow = 1 << 30/, 'transportDefaultConnFlow = 16 << 20');
  if (patched === text) return 'x/net/http2 Transport connection window left at its default (constant not found)';
  await writeFile(file, patched);
  return undefined;
}

export type PeerBuild = { binary: string; notes: string[] } | { na: string };

/** Makes sure the Go peer is built; never throws (the Go peer is then reported as n/a). */
export async function buildGoPeer(log: (line: string) => void): Promise<PeerBuild> {
  try {
    if (!(await haveGo()) || !(await exists(XNET_HTTP2))) await aptInstall(log);
    if (!(await haveGo())) return { na: 'no `go` after apt-get install' };
    const notes: string[] = [];
    if ((await exists(PEER_BINARY)) && (await stat(PEER_BINARY)).mtimeMs > (await newestSource())) return { binary: PEER_BINARY, notes };
    const gopath = join(OUT, 'gopath');
    const note = await patchedHttp2(gopath);
    if (note !== undefined) notes.push(note);
    log('building the Go peer (bench/peers/go/hbone-peer)');
    await run('go', ['build', '-o', PEER_BINARY, '.'], {
      cwd: SOURCES,
      timeout: 300_000,
      env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${GOCODE}`, GOFLAGS: '', GOPROXY: 'off', GOCACHE: join(OUT, 'cache') },
    });
    return { binary: PEER_BINARY, notes };
  } catch (err) {
    const e = err as Error & { stderr?: string };
    return { na: `Go peer build failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' ')}` };
  }
}
