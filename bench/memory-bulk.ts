/**
 * `node dist/bench/memory-bulk.js [--starts N] [--settle-s N] [--sessions N] [--bulk-mib N] [--rounds N] [--skip-bulk]`:
 * the memory and bulk-TCP parts of `npm run bench` alone (issue 14 items 3 and 5), for hand
 * measurement: idle RSS of the main waypoint over `--starts` fresh starts, RSS with idle HBONE
 * sessions, and bulk TCP through the Node peer's tunnels, direct and through the waypoint,
 * alternating. BENCH_NET moves every address (see bench/config.ts). Prints one JSON line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_IP, SVC_PORTS, VIP, WAYPOINT_IPS, WAYPOINT_PORTS } from './config.js';
import { bulkTransfer, cpuSeconds, median, openIdleSessions, rssMb } from './measure.js';
import { startMesh, tunnelsReady } from './mesh.js';
import { BULK, tunnelSpecs, WAYPOINTS } from './modes.js';
import { killAllNow, stopAll } from './processes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? undefined : Number(process.argv[i + 1]);
  return v === undefined || !Number.isFinite(v) ? fallback : v;
}

async function main(): Promise<void> {
  const starts = flag('starts', 3);
  const sessions = flag('sessions', 1000);
  const bulkBytes = flag('bulk-mib', 512) * 1024 * 1024;
  const rounds = flag('rounds', 2);
  const skipBulk = process.argv.includes('--skip-bulk');
  const waypoints = WAYPOINTS.filter((w) => w.key === 'main');
  const bulkKeys: string[] = [BULK.baseline.key, BULK.waypoint.key];
  const specs = tunnelSpecs('node').filter((t) => bulkKeys.includes(t.key));
  const idle: number[] = [];
  const perThousand: number[] = [];
  const baseline: number[] = [];
  const through: number[] = [];
  for (let i = 0; i < starts; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'waypoint-memory-bulk-'));
    try {
      const mesh = await startMesh(dir, waypoints, i === starts - 1 && !skipBulk ? specs : [], log);
      const main = mesh.waypoints.get('main');
      if (main === undefined) throw new Error(`the waypoint did not start: ${mesh.refused.get('main') ?? 'unknown'}`);
      // Sampled each second for --settle-s seconds (default 1); the last sample counts.
      const settle = flag('settle-s', 1);
      const samples: number[] = [];
      for (let t = 0; t < settle; t++) {
        await sleep(1000);
        samples.push(Math.round(rssMb(main.pid) * 10) / 10);
      }
      if (settle > 1) log(`idle RSS each second: ${samples.join(' ')}`);
      idle.push(samples.at(-1) ?? rssMb(main.pid));
      log(`start ${i + 1}: idle RSS ${idle.at(-1)?.toFixed(1)} MB`);
      if (i === starts - 1) {
        if (sessions > 0) {
          const s = await openIdleSessions(WAYPOINT_IPS.main, WAYPOINT_PORTS.hbone, `${VIP}:${SVC_PORTS.http}`, mesh.clientCert, sessions, 120_000);
          await sleep(1000);
          const withSessions = rssMb(main.pid);
          perThousand.push(((withSessions - (idle.at(-1) ?? 0)) * 1000) / s.opened);
          log(`RSS with ${s.opened} idle sessions ${withSessions.toFixed(1)} MB (+${perThousand.at(-1)?.toFixed(1)} MB per 1,000)`);
          await s.close();
          await sleep(500);
        }
        if (!skipBulk) {
          const tunnels = await tunnelsReady(mesh, specs);
          const port = (key: string): number => {
            const spec = specs.find((t) => t.key === key);
            if (spec === undefined || !tunnels.has(key)) throw new Error(`no tunnel for ${key}`);
            return spec.port;
          };
          const timeoutMs = 30_000 + bulkBytes / 5_000;
          // CPU seconds of each process in the path during one transfer: where the time goes.
          const pids = (key: string): Record<string, number> => ({ tunnel: tunnels.get(key)?.pid ?? 0, waypoint: main.pid, backends: mesh.backends.pid, harness: process.pid });
          const timed = async (key: string, into: number[]): Promise<string> => {
            const ps = Object.entries(pids(key)).filter(([name]) => key === BULK.waypoint.key || name !== 'waypoint');
            const cpu0 = ps.map(([, pid]) => (pid === process.pid ? process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 : cpuSeconds(pid)));
            into.push(await bulkTransfer(CLIENT_IP, port(key), bulkBytes, timeoutMs));
            const cpu = ps.map(([name, pid], i) => `${name} ${((pid === process.pid ? process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 : cpuSeconds(pid)) - (cpu0[i] ?? 0)).toFixed(1)} s`);
            return `${into.at(-1)?.toFixed(0)} MB/s (CPU ${cpu.join(', ')})`;
          };
          for (let r = 0; r < rounds; r++) {
            const direct = await timed(BULK.baseline.key, baseline);
            const via = await timed(BULK.waypoint.key, through);
            log(`bulk round ${r + 1}: direct ${direct}; through the waypoint ${via}`);
          }
        }
      }
    } finally {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    }
  }
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({
      idleRssMb: idle.map(round1),
      idleRssMedianMb: round1(median(idle)),
      perThousandSessionsMb: perThousand.map(round1),
      bulkMiB: bulkBytes / 1048576,
      bulkDirectMBps: baseline.map(Math.round),
      bulkWaypointMBps: through.map(Math.round),
      bulkRatio: baseline.length === 0 ? undefined : Math.round((median(through) / median(baseline)) * 100) / 100,
    })}\n`,
  );
}

process.once('exit', killAllNow);
main().catch(async (err: unknown) => {
  log(`memory-bulk: ${(err as Error).message}`);
  await stopAll();
  process.exit(1);
});
