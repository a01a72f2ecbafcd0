/**
 * `node dist/bench/bulk-cost.js [--mib N] [--rounds N] [--peers node,go] [--strace] [--strace-mib N]`: what bulk
 * TCP through the waypoint costs (issue 14 item 5), in figures that do not depend on how busy the
 * machine is: the waypoint's CPU seconds (utime + stime of every thread, /proc/PID/stat) per GiB
 * relayed, HTTP/2 frames per MiB on both of its legs (DATA frames and their size, WINDOW_UPDATEs,
 * TLS records; counted by the Go peer, which parses every frame on both ends), and with
 * `--strace` the waypoint's system calls per MiB (`strace -c -f -p PID` around one more transfer
 * per peer, of `--strace-mib`, default 128: strace slows every call down). Throughput direct and through the waypoint, alternating, and the load average around
 * each transfer are reported too. Only the main waypoint runs; BENCH_NET moves every address (see
 * bench/config.ts). Prints one JSON line; progress on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_IP, type Peer } from './config.js';
import { diffLeg, type DirCounts, type LegCounts } from './frames.js';
import { bulkTransfer, cpuSeconds } from './measure.js';
import { startMesh, tunnelsReady } from './mesh.js';
import { BULK, tunnelSpecs, WAYPOINTS } from './modes.js';
import { buildGoPeer } from './peers/go/build.js';
import { startGoPeer, type GoPeer } from './peers/go/peer.js';
import { killAllNow, stopAll, waitForPort } from './processes.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? undefined : Number(process.argv[i + 1]);
  return v === undefined || !Number.isFinite(v) ? fallback : v;
}

function listFlag(name: string, fallback: readonly string[]): string[] {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? [...fallback] : (process.argv[i + 1] ?? '').split(',').filter((s) => s !== '');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** One direction of one leg per MiB relayed: DATA frames and their mean payload, WINDOW_UPDATEs, TLS records. */
interface DirPerMiB {
  dataFrames: number;
  dataBytesPerFrame: number;
  windowUpdates: number;
  tlsRecords: number;
  /** The Go peer's own read or write calls on the TCP socket. */
  tcpCalls: number;
}

function perMiB(d: DirCounts, mib: number): DirPerMiB {
  const data = d.frames.DATA ?? { frames: 0, bytes: 0 };
  return {
    dataFrames: r2(data.frames / mib),
    dataBytesPerFrame: data.frames === 0 ? 0 : Math.round(data.bytes / data.frames),
    windowUpdates: r2((d.frames.WINDOW_UPDATE?.frames ?? 0) / mib),
    tlsRecords: r2(d.tlsRecords / mib),
    tcpCalls: r2(d.tcpCalls / mib),
  };
}

interface Transfer {
  peer: Peer;
  via: 'direct' | 'waypoint';
  MBps: number;
  /** 1-minute load average before and after. */
  load: [number, number];
  /** CPU seconds per GiB of each process in the path (the waypoint only when it is in the path). */
  cpuPerGiB: Record<string, number>;
  /**
   * Go peer, through the waypoint: per MiB, `in` is source ↔ waypoint, `out` is waypoint ↔
   * destination; `toWaypoint` / `fromWaypoint` say which way the frames went.
   */
  frames?: { in: { toWaypoint: DirPerMiB; fromWaypoint: DirPerMiB }; out: { toWaypoint: DirPerMiB; fromWaypoint: DirPerMiB } };
}

/** `strace -c -f -p pid` around `work`: calls per system call, from its summary table. */
async function straced(pid: number, work: () => Promise<unknown>): Promise<Record<string, number> | { error: string }> {
  const out = join(tmpdir(), `waypoint-bulk-strace-${pid}-${Date.now()}.txt`);
  const st = spawn('strace', ['-c', '-f', '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  st.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => st.once('exit', resolve));
  st.once('error', (e) => (err += e.message));
  // Attached once it says so for the process (one line per thread).
  for (let i = 0; i < 50 && !err.includes('attached'); i++) await sleep(100);
  if (!err.includes('attached')) {
    st.kill('SIGKILL');
    return { error: `strace did not attach: ${err.trim().split('\n').at(-1) ?? ''}` };
  }
  try {
    await work();
  } finally {
    st.kill('SIGINT');
    await exited;
  }
  const text = await readFile(out, 'utf8').catch(() => '');
  await rm(out, { force: true });
  const calls: Record<string, number> = {};
  // "% time     seconds  usecs/call     calls    errors syscall"
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^\d/.test(f[0] ?? '')) continue;
    const name = f.at(-1) ?? '';
    const n = Number(f[3]);
    if (name !== 'total' && Number.isFinite(n)) calls[name] = n;
  }
  return calls;
}

async function main(): Promise<void> {
  const mib = flag('mib', 512);
  const bytes = mib * 1024 * 1024;
  const rounds = flag('rounds', 3);
  const peers = listFlag('peers', ['node', 'go']) as Peer[];
  const withStrace = process.argv.includes('--strace');
  const straceMib = flag('strace-mib', 128);
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-bulk-cost-'));
  const bulkKeys: string[] = [BULK.baseline.key, BULK.waypoint.key];
  const specs = tunnelSpecs('node').filter((t) => bulkKeys.includes(t.key));
  const goSpecs = tunnelSpecs('go').filter((t) => bulkKeys.includes(t.key));
  const transfers: Transfer[] = [];
  const syscalls: Partial<Record<Peer, Record<string, number> | { error: string }>> = {};
  try {
    const mesh = await startMesh(
      dir,
      WAYPOINTS.filter((w) => w.key === 'main'),
      peers.includes('node') ? specs : [],
      log,
    );
    const main = mesh.waypoints.get('main');
    if (main === undefined) throw new Error(`the waypoint did not start: ${mesh.refused.get('main') ?? 'unknown'}`);
    const tunnels = await tunnelsReady(mesh, specs);
    let go: GoPeer | undefined;
    if (peers.includes('go')) {
      const build = await buildGoPeer(log);
      if ('na' in build) throw new Error(`Go peer: ${build.na}`);
      go = await startGoPeer(build.binary, dir, goSpecs);
      const g = go;
      await Promise.all(goSpecs.map((t) => waitForPort(g.src, CLIENT_IP, t.port)));
    }
    const port = (peer: Peer, key: string): number => {
      const spec = (peer === 'go' ? goSpecs : specs).find((t) => t.key === key);
      if (spec === undefined) throw new Error(`no tunnel for ${key}`);
      return spec.port;
    };
    /** The processes a transfer goes through, by name. */
    const pids = (peer: Peer, via: 'direct' | 'waypoint'): Record<string, number> => {
      const ends: Record<string, number> =
        peer === 'go' ? { 'go-src': go?.src.pid ?? 0, 'go-dst': go?.dst.pid ?? 0 } : { tunnel: tunnels.get(via === 'direct' ? BULK.baseline.key : BULK.waypoint.key)?.pid ?? 0, backends: mesh.backends.pid };
      return via === 'waypoint' ? { waypoint: main.pid, ...ends } : ends;
    };
    const timeoutMs = 30_000 + bytes / 5_000;
    const once = async (peer: Peer, via: 'direct' | 'waypoint'): Promise<Transfer> => {
      const ps = Object.entries(pids(peer, via));
      const load0 = loadavg()[0] ?? 0;
      const cpu0 = ps.map(([, pid]) => cpuSeconds(pid));
      const counts0 = via === 'waypoint' ? await go?.counts() : undefined;
      const MBps = await bulkTransfer(CLIENT_IP, port(peer, via === 'direct' ? BULK.baseline.key : BULK.waypoint.key), bytes, timeoutMs);
      const counts1 = counts0 === undefined ? undefined : await go?.counts();
      const cpuPerGiB: Record<string, number> = {};
      ps.forEach(([name, pid], i) => (cpuPerGiB[name] = r2(((cpuSeconds(pid) - (cpu0[i] ?? 0)) * 1024) / mib)));
      const t: Transfer = { peer, via, MBps: Math.round(MBps), load: [r2(load0), r2(loadavg()[0] ?? 0)], cpuPerGiB };
      if (peer === 'go' && counts0 !== undefined && counts1 !== undefined) {
        const up: LegCounts = diffLeg(counts0.up, counts1.up);
        const down: LegCounts = diffLeg(counts0.down, counts1.down);
        t.frames = {
          in: { toWaypoint: perMiB(up.sent, mib), fromWaypoint: perMiB(up.recv, mib) },
          out: { toWaypoint: perMiB(down.sent, mib), fromWaypoint: perMiB(down.recv, mib) },
        };
      }
      return t;
    };
    for (let r = 0; r < rounds; r++) {
      for (const peer of peers) {
        const direct = await once(peer, 'direct');
        const via = await once(peer, 'waypoint');
        transfers.push(direct, via);
        log(
          `round ${r + 1} [${peer}]: direct ${direct.MBps} MB/s, through the waypoint ${via.MBps} MB/s (${r2(via.MBps / direct.MBps)}×); ` +
            `waypoint ${via.cpuPerGiB.waypoint} CPU s/GiB; load ${via.load.join(' → ')}`,
        );
        if (via.frames !== undefined) {
          const f = via.frames;
          log(
            `  per MiB: in ${f.in.toWaypoint.dataFrames} DATA × ${f.in.toWaypoint.dataBytesPerFrame} B, ${f.in.fromWaypoint.windowUpdates} WINDOW_UPDATE back; ` +
              `out ${f.out.fromWaypoint.dataFrames} DATA × ${f.out.fromWaypoint.dataBytesPerFrame} B in ${f.out.fromWaypoint.tlsRecords} TLS records, ${f.out.toWaypoint.windowUpdates} WINDOW_UPDATE back`,
          );
        }
      }
    }
    if (withStrace) {
      for (const peer of peers) {
        const straceBytes = straceMib * 1024 * 1024;
        const calls = await straced(main.pid, () => bulkTransfer(CLIENT_IP, port(peer, BULK.waypoint.key), straceBytes, 4 * (30_000 + straceBytes / 5_000)));
        if ('error' in calls) syscalls[peer] = calls;
        else {
          const per: Record<string, number> = {};
          for (const [name, n] of Object.entries(calls).sort((a, b) => b[1] - a[1])) per[name] = r2(n / straceMib);
          syscalls[peer] = per;
        }
        log(`strace [${peer}], calls per MiB: ${JSON.stringify(syscalls[peer])}`);
      }
    }
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  const summary: Record<string, unknown> = {};
  for (const peer of peers) {
    const mine = transfers.filter((t) => t.peer === peer);
    const direct = mine.filter((t) => t.via === 'direct').map((t) => t.MBps);
    const via = mine.filter((t) => t.via === 'waypoint');
    summary[peer] = {
      ratio: r2(median(via.map((t) => t.MBps)) / median(direct)),
      waypointCpuPerGiB: r2(median(via.map((t) => t.cpuPerGiB.waypoint ?? NaN))),
      directMBps: direct,
      waypointMBps: via.map((t) => t.MBps),
    };
  }
  process.stdout.write(`${JSON.stringify({ mib, rounds, straceMib: withStrace ? straceMib : undefined, summary, syscallsPerMiB: syscalls, transfers })}\n`);
}

process.once('exit', killAllNow);
main().catch(async (err: unknown) => {
  log(`bulk-cost: ${(err as Error).stack ?? String(err)}`);
  await stopAll();
  process.exit(1);
});
