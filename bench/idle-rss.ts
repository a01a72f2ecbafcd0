/**
 * `node dist/bench/idle-rss.js [--starts N] [--samples N] [--settle-ms MS] [--configs base,loaded,example] [--cli FILE]`:
 * idle RSS of `waypoint run` before any traffic (issue 14 item 3), alone and repeatable. For each
 * configuration it starts the waypoint `--starts` times (default 3): `base` is the benchmark's file
 * configuration (`npm run bench`'s main waypoint, with certificates from files), `loaded` the
 * benchmark's loaded one (100 HTTPRoutes, 1,000 authorization rules), `example` the built-in
 * example (`run` with neither `--config` nor `--certs`: development certificates made at start).
 * Each start waits for `/healthz/ready`, then `--settle-ms` (default 1000), then reads VmRSS
 * `--samples` times (default 5) 200 ms apart and keeps their median; the figure printed per
 * configuration is the median over the starts. `--cli` runs another entry point (default: the
 * one the benchmark runs). BENCH_NET moves every address (bench/config.ts). Nothing is dialled
 * but the waypoint's own readiness port. Prints one line per start to stderr and one JSON line.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createMeshCa, issueWorkloadCert, writeCertDir } from '../src/hbone/certs.js';
import { spiffeId } from '../src/hbone/spiffe.js';
import { baseConfig, loadedConfig, NAMESPACE, WAYPOINT_IPS, WAYPOINT_NAME, WAYPOINT_PORTS } from './config.js';
import { median, rssMb } from './measure.js';
import { CLI, killAllNow, spawnScript, stopAll, waitForReady } from './processes.js';

type ConfigKey = 'base' | 'loaded' | 'example';
const CONFIGS: readonly ConfigKey[] = ['base', 'loaded', 'example'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

function intOption(name: string, fallback: number): number {
  const v = Number(option(name));
  return Number.isInteger(v) && v >= 0 ? v : fallback;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Writes the waypoint's certificates and both benchmark configurations under `dir`. */
async function prepare(dir: string): Promise<void> {
  const ca = await createMeshCa({ trustDomain: 'cluster.local' });
  await writeCertDir(join(dir, 'certs'), await issueWorkloadCert(ca, { spiffe: spiffeId('cluster.local', NAMESPACE, WAYPOINT_NAME) }));
  for (const [name, yaml] of [
    ['base', baseConfig()],
    ['loaded', loadedConfig()],
  ] as const) {
    await mkdir(join(dir, name), { recursive: true });
    await writeFile(join(dir, name, 'mesh.yaml'), yaml);
  }
}

function runArgs(dir: string, config: ConfigKey): string[] {
  const ip = WAYPOINT_IPS.main;
  const listeners = [
    ...['--hbone', `${ip}:${WAYPOINT_PORTS.hbone}`, '--admin', `${ip}:${WAYPOINT_PORTS.admin}`],
    ...['--metrics', `${ip}:${WAYPOINT_PORTS.metrics}`, '--readiness', `${ip}:${WAYPOINT_PORTS.readiness}`],
  ];
  const files = config === 'example' ? [] : ['--config', join(dir, config), '--certs', join(dir, 'certs'), '--namespace', NAMESPACE, '--name', WAYPOINT_NAME];
  return ['run', ...files, ...listeners, '--drain-ms', '0', '--log-level', 'warn'];
}

/** One start: ready, settle, the median of the samples (MB). */
async function idleOnce(cli: string, dir: string, config: ConfigKey, settleMs: number, samples: number): Promise<{ mb: number; samples: number[] }> {
  const child = spawnScript(`waypoint-${config}`, cli, runArgs(dir, config));
  try {
    await waitForReady(child, WAYPOINT_IPS.main, WAYPOINT_PORTS.readiness, 30_000);
    await sleep(settleMs);
    const read: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (i > 0) await sleep(200);
      read.push(round1(rssMb(child.pid)));
    }
    return { mb: median(read), samples: read };
  } finally {
    await child.stop();
  }
}

async function main(): Promise<void> {
  const starts = Math.max(1, intOption('starts', 3));
  const samples = Math.max(1, intOption('samples', 5));
  const settleMs = intOption('settle-ms', 1000);
  const cli = resolve(option('cli') ?? CLI);
  const configs = (option('configs')?.split(',') ?? CONFIGS).filter((c): c is ConfigKey => (CONFIGS as readonly string[]).includes(c));
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-idle-rss-'));
  const result: Record<string, { medianMb: number; startsMb: number[] }> = {};
  try {
    await prepare(dir);
    for (const config of configs) {
      const each: number[] = [];
      for (let i = 0; i < starts; i++) {
        const once = await idleOnce(cli, dir, config, settleMs, samples);
        log(`${config} start ${i + 1}: ${once.mb.toFixed(1)} MB (samples ${once.samples.join(' ')})`);
        each.push(once.mb);
      }
      result[config] = { medianMb: round1(median(each)), startsMb: each };
      log(`${config}: idle RSS ${median(each).toFixed(1)} MB (median of ${starts} starts)`);
    }
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ cli, settleMs, samples, starts, idleRss: result })}\n`);
}

process.once('SIGINT', () => {
  killAllNow();
  process.exit(130);
});
main().catch((err: unknown) => {
  killAllNow();
  log(`idle-rss: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
