/**
 * `waypoint demo --kube` as a user runs it: the built CLI as a child process, moved to 127.173.x.y
 * with --base. It starts the fake Kubernetes API server and the fake Istio CA, runs the waypoint
 * as its own child in Kubernetes mode, and prints tunnels; the test waits for them, sends a
 * request through the HTTP tunnel and sees the echo pod's answer and the access-log line, then
 * stops the demo with SIGTERM and checks that it exits 0, that the waypoint process is gone and
 * that nothing listens any more.
 *
 * Needs the build (`npm run build`; `npm test` builds first).
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { eventually } from '../helpers/log-capture.js';
import { CLI, CliProcess } from '../helpers/process.js';

const BASE = '127.173';
const STARTUP_MS = 60_000;

let demo: CliProcess | undefined;

afterAll(async () => {
  await demo?.stop('SIGKILL');
});

/** Whether something accepts connections on host:port (bounded: 1 s). */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('waypoint demo --kube', () => {
  it('serves the example through the in-cluster path, then SIGTERM stops everything it started', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const d = new CliProcess(['demo', '--kube', '--base', BASE]);
    demo = d;
    await eventually(() => d.stderr.includes('Ctrl-C stops the demo.') || d.child.exitCode !== null, STARTUP_MS, 'the demo to print its curl commands').catch((err: Error) => {
      throw new Error(`${err.message}\nstderr: ${d.stderr}\nstdout: ${d.stdout.slice(-4000)}`);
    });
    expect(d.child.exitCode, d.stderr).toBeNull();
    const api = /fake Kubernetes API http:\/\/(127\.\d+\.\d+\.\d+):(\d+)/.exec(d.stderr);
    const pid = /waypoint demo\/waypoint \(pid (\d+)\)/.exec(d.stderr);
    const tunnel = new RegExp(`^\\s+(${BASE.replace('.', '\\.')}\\.0\\.1):(\\d+) -> ${BASE.replace('.', '\\.')}\\.20\\.1:80\\s`, 'm').exec(d.stderr);
    expect(api?.[1]).toBe(`${BASE}.30.1`);
    expect(pid).not.toBeNull();
    expect(tunnel).not.toBeNull();
    const waypointPid = Number(pid![1]);
    expect(alive(waypointPid)).toBe(true);
    // The waypoint is ready (the demo waited for it): configuration from the API, certificate from the CA.
    const ready = await request(`http://${BASE}.0.1:15021/healthz/ready`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    expect(ready.statusCode).toBe(200);
    await ready.body.dump();

    const res = await request(`http://${tunnel![1]}:${tunnel![2]}/hello-kube`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    expect(res.statusCode).toBe(200);
    const echo = (await res.body.json()) as EchoReply;
    expect(echo.pod).toMatch(/^echo-v[12]-/);
    expect(echo.path).toBe('/hello-kube');
    expect(echo.peerIdentity).toBe('spiffe://cluster.local/ns/demo/sa/waypoint');
    await eventually(() => d.stdout.split('\n').some((l) => l.includes('"msg":"access"') && l.includes('/hello-kube')), 10_000, 'the access-log line of the request');
    expect(d.stdout).toContain('every kind listed: in sync with the Kubernetes API');

    const code = await d.stop('SIGTERM', 15_000);
    expect(code, d.stderr).toBe(0);
    await eventually(() => !alive(waypointPid), 5_000, 'the waypoint process gone');
    expect(await listening(api![1]!, Number(api![2]))).toBe(false);
    expect(await listening(tunnel![1]!, Number(tunnel![2]))).toBe(false);
    expect(await listening(`${BASE}.10.1`, 15008)).toBe(false);
    expect(await listening(`${BASE}.11.1`, 8080)).toBe(false);
  }, 120_000);
});
