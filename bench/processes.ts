/**
 * Child processes of the benchmark: the waypoint(s), the backends and the `waypoint tunnel`
 * clients. Every wait is bounded; every child is killed at the end, on errors and on SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `waypoint` command as the package's bin runs it (the bundle, scripts/bundle.mjs);
 * BENCH_CLI=dist/src/cli.js runs the module files instead, for CPU profiles per source module.
 */
export const CLI = process.env.BENCH_CLI !== undefined && process.env.BENCH_CLI !== '' ? resolve(process.env.BENCH_CLI) : fileURLToPath(new URL('../bin/waypoint.js', import.meta.url));
const BACKENDS = fileURLToPath(new URL('./backends.js', import.meta.url));

const children = new Set<Child>();

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #output = '';

  /**
   * A Node script (with `extraNodeArgs`, e.g. `--tls-keylog=…`), or with `executable` a program
   * run directly (the Go peer).
   */
  constructor(name: string, script: string, args: string[], executable = false, extraNodeArgs: string[] = []) {
    this.name = name;
    // BENCH_WAYPOINT_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the waypoints.
    const nodeArgs = [...(name.startsWith('waypoint') ? (process.env.BENCH_WAYPOINT_NODE_ARGS ?? '').split(' ').filter((a) => a !== '') : []), ...extraNodeArgs];
    // BENCH_WAYPOINT_CLI (another build's dist/src/cli.js) runs that build's waypoints against this
    // harness, peers and backends: two builds compared with everything else the same.
    const run = name.startsWith('waypoint') && script === CLI ? (process.env.BENCH_WAYPOINT_CLI ?? script) : script;
    this.proc = executable
      ? spawn(run, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, [...nodeArgs, run, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer): void => {
      // Only the tail matters (for error messages); never let a chatty child grow the harness.
      this.#output = (this.#output + d.toString()).slice(-8192);
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.once('exit', () => children.delete(this));
    children.add(this);
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error(`${this.name}: not started`);
    return this.proc.pid;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last output lines, for error reports. */
  get output(): string {
    return this.#output.trim().split('\n').slice(-12).join('\n');
  }

  async stop(timeoutMs = 3000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export const spawnCli = (name: string, args: string[]): Child => new Child(name, CLI, args);
export const spawnBackends = (certsRoot: string): Child => new Child('backends', BACKENDS, [certsRoot]);
export const spawnExecutable = (name: string, file: string, args: string[]): Child => new Child(name, file, args, true);
/** `waypoint <args>` or a bench script, with extra Node options. */
export const spawnCliWith = (name: string, args: string[], nodeArgs: string[]): Child => new Child(name, CLI, args, false, nodeArgs);
export const spawnScript = (name: string, script: string, args: string[], nodeArgs: string[] = []): Child => new Child(name, script, args, false, nodeArgs);

export async function stopAll(): Promise<void> {
  await Promise.allSettled([...children].map((c) => c.stop()));
}

/** Last resort (process exit, crash): SIGKILL synchronously. */
export function killAllNow(): void {
  for (const c of children) if (c.alive) c.proc.kill('SIGKILL');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it resolves true; fails on timeout or when `child` exits first. */
async function until(what: string, child: Child, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.alive) throw new Error(`${child.name} exited before ${what}:\n${child.output}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${child.name}: no ${what} after ${timeoutMs} ms:\n${child.output}`);
    await sleep(100);
  }
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1000, () => s.destroy());
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('close', () => resolve(false));
    s.once('error', () => undefined);
  });
}

function httpStatus(host: string, port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export const waitForPort = (child: Child, host: string, port: number, timeoutMs = 15_000): Promise<void> =>
  until(`listener on ${host}:${port}`, child, timeoutMs, () => tcpOpen(host, port));

export const waitForReady = (child: Child, host: string, port: number, timeoutMs = 20_000): Promise<void> =>
  until(`200 from http://${host}:${port}/healthz/ready`, child, timeoutMs, async () => (await httpStatus(host, port, '/healthz/ready')) === 200);

/** Waits for a line on the child's stdout (the backends print `ready`). */
export function waitForLine(child: Child, line: string, timeoutMs = 20_000): Promise<void> {
  return until(`"${line}" on stdout`, child, timeoutMs, () => Promise.resolve(child.output.split('\n').includes(line)));
}
