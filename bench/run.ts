/**
 * `npm run bench [-- --quick]`: the waypoint benchmark (issue 6). Builds the loopback mesh as
 * separate processes, measures every mode in one run, prints the table and writes the results.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_IP, PEERS, PROBES, SVC_PORTS, VIP, WAYPOINT_IPS, WAYPOINT_PORTS, type Peer } from './config.js';
import { bulkTransfer, openIdleSessions, probe, rssMb } from './measure.js';
import { startMesh, tunnelsReady } from './mesh.js';
import { BULK, MODES, runMode, settings, tunnelSpecs, WAYPOINTS, type ModeContext, type ModeResult } from './modes.js';
import { buildGoPeer } from './peers/go/build.js';
import { NodeFrameCounter } from './peers/node/counting.js';
import { startGoPeer, type GoPeer } from './peers/go/peer.js';
import { killAllNow, stopAll, waitForPort } from './processes.js';
import { machine, printReport, writeJson, writeMarkdown, type BulkFigures, type Report } from './report.js';

const t0 = Date.now();
const log = (line: string): void => {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function enforcement(port: number | undefined): Promise<Report['enforcement']> {
  if (port === undefined) return { routes: 'n/a (no loaded waypoint)', authorization: 'n/a (no loaded waypoint)' };
  const route = await probe(CLIENT_IP, port, PROBES.routePath);
  const authz = await probe(CLIENT_IP, port, PROBES.authzPath);
  const says = (status: number, expected: number): string =>
    status === expected ? `enforced (${status} on the probe)` : status === 200 ? 'not enforced (200 on the probe)' : `unclear (${status} on the probe, expected ${expected})`;
  return { routes: says(route.status, 302), authorization: says(authz.status, 403) };
}

/** The temporary directory (certificates, configuration), removed at the end and on signals. */
let tempDir: string | undefined;
/** Closes the Node peer's frame-counting taps. */
let stopCounter: () => Promise<void> = () => Promise.resolve();

async function cleanup(): Promise<void> {
  await stopCounter();
  await stopAll();
  if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
}

/** BENCH_PEERS=go (or node) runs one peer only; for profiling one peer's traffic alone. */
function onlyPeers(): readonly Peer[] {
  const only = process.env.BENCH_PEERS?.split(',');
  return only === undefined ? PEERS : PEERS.filter((p) => only.includes(p));
}

/** BENCH_MODES=l7-http1,… runs those modes only (keys from bench/modes.ts); for profiling. */
function onlyModes<M extends { key: string }>(modes: readonly M[]): readonly M[] {
  const only = process.env.BENCH_MODES?.split(',');
  return only === undefined ? modes : modes.filter((m) => only.includes(m.key));
}

async function main(): Promise<void> {
  const s = settings(process.argv.includes('--quick'));
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-bench-'));
  tempDir = dir;
  const notes: string[] = [];
  try {
    const goBuild = await buildGoPeer(log);
    if ('na' in goBuild) log(`!!! Go peer: ${goBuild.na}`);
    else notes.push(...goBuild.notes);
    const specs = tunnelSpecs('node');
    const goSpecs = tunnelSpecs('go');
    const mesh = await startMesh(dir, WAYPOINTS, specs, log);
    const main = mesh.waypoints.get('main');
    if (main === undefined) throw new Error(`the waypoint did not start: ${mesh.refused.get('main') ?? 'unknown'}`);
    for (const [key, why] of mesh.refused) log(`waypoint ${key} refused to start: ${why}`);

    // Memory before any traffic, then with idle HBONE sessions.
    await sleep(300);
    const memory: Report['memory'] = { sessions: s.idleSessions, idleMb: rssMb(main.pid) };
    log(`RSS idle ${memory.idleMb?.toFixed(1)} MB; opening ${s.idleSessions} idle HBONE sessions`);
    try {
      const idle = await openIdleSessions(WAYPOINT_IPS.main, WAYPOINT_PORTS.hbone, `${VIP}:${SVC_PORTS.http}`, mesh.clientCert, s.idleSessions, 60_000);
      await sleep(300);
      memory.withSessionsMb = rssMb(main.pid);
      memory.perThousandMb = ((memory.withSessionsMb - (memory.idleMb ?? 0)) * 1000) / idle.opened;
      log(`RSS with ${idle.opened} idle sessions ${memory.withSessionsMb.toFixed(1)} MB`);
      await idle.close();
    } catch (err) {
      memory.error = (err as Error).message;
      log(`!!! idle sessions: ${memory.error}`);
    }

    const tunnels = await tunnelsReady(mesh, specs);
    let go: GoPeer | undefined;
    let goNa = 'na' in goBuild ? goBuild.na : undefined;
    if (!('na' in goBuild)) {
      try {
        go = await startGoPeer(goBuild.binary, dir, goSpecs);
        await Promise.all(goSpecs.map((t) => waitForPort((go as GoPeer).src, CLIENT_IP, t.port)));
      } catch (err) {
        goNa = `Go peer did not start: ${(err as Error).message.split('\n')[0] ?? ''}`;
        log(`!!! ${goNa}`);
        go = undefined;
      }
    }
    let counter: NodeFrameCounter | undefined;
    try {
      counter = await NodeFrameCounter.start(dir);
      stopCounter = () => counter?.close() ?? Promise.resolve();
    } catch (err) {
      notes.push(`The Node peer's frames were not counted: ${(err as Error).message.split('\n')[0] ?? ''}`);
    }
    const portOf = (peer: Peer, key: string): number | undefined =>
      peer === 'go' ? (go === undefined ? undefined : goSpecs.find((t) => t.key === key)?.port) : tunnels.has(key) ? specs.find((t) => t.key === key)?.port : undefined;

    const enforced = await enforcement(portOf('node', 'l7-loaded'));
    log(`L7 loaded: routes ${enforced.routes}; AuthorizationPolicy ${enforced.authorization}`);
    if (go !== undefined) {
      const goEnforced = await enforcement(portOf('go', 'l7-loaded'));
      log(`L7 loaded, Go peer: routes ${goEnforced.routes}; AuthorizationPolicy ${goEnforced.authorization}`);
      if (goEnforced.routes !== enforced.routes || goEnforced.authorization !== enforced.authorization) {
        notes.push(`L7 loaded enforcement differs for the Go peer: routes ${goEnforced.routes}; AuthorizationPolicy ${goEnforced.authorization}`);
      }
    }

    const modes: ModeResult[] = [];
    for (const m of onlyModes(MODES)) {
      for (const peer of onlyPeers()) {
        const waypoint = m.waypoint === undefined ? undefined : mesh.waypoints.get(m.waypoint);
        if (m.waypoint !== undefined && waypoint === undefined) {
          modes.push({ key: m.key, label: m.label, peer, na: mesh.refused.get(m.waypoint) ?? 'waypoint not running' });
          continue;
        }
        const port = portOf(peer, m.key);
        let ctx: ModeContext;
        if (peer === 'go') {
          if (go === undefined || port === undefined) {
            modes.push({ key: m.key, label: m.label, peer, na: goNa ?? 'Go peer not running' });
            continue;
          }
          ctx = { peer, port, tunnelPid: go.src.pid, waypointPid: waypoint?.pid, counts: () => go.counts() };
        } else {
          const tunnel = tunnels.get(m.key);
          if (tunnel === undefined || port === undefined) throw new Error(`no tunnel for ${m.key}`);
          ctx = { peer, port, tunnelPid: tunnel.pid, waypointPid: waypoint?.pid };
        }
        const r = await runMode(m, s, ctx, log);
        if (r.na !== undefined) log(`!!! ${m.label} [${peer}]: ${r.na}`);
        else if (peer === 'node' && counter !== undefined) {
          log(`${m.label} [node]: counting frames through TLS taps, paced ${s.countSeconds} s`);
          try {
            r.frames = await counter.pass(m, MODES.indexOf(m), s);
            if (r.frames === undefined) log(`!!! ${m.label} [node]: the taps found no key log lines; frames not counted`);
          } catch (err) {
            log(`!!! ${m.label} [node]: frame counting failed: ${(err as Error).message.split('\n')[0] ?? ''}`);
          }
        }
        modes.push(r);
      }
    }

    const bulk: Report['bulk'] = { bytes: s.bulkBytes };
    for (const peer of onlyPeers()) {
      const b: BulkFigures = {};
      bulk[peer] = b;
      if (peer === 'go' && go === undefined) {
        b.error = goNa ?? 'Go peer not running';
        continue;
      }
      try {
        const timeoutMs = 30_000 + s.bulkBytes / 5_000;
        log(`bulk ${s.bulkBytes / 1024 / 1024} MiB [${peer}], baseline`);
        b.baselineMBps = await bulkTransfer(CLIENT_IP, portOf(peer, BULK.baseline.key) ?? 0, s.bulkBytes, timeoutMs);
        log(`bulk ${s.bulkBytes / 1024 / 1024} MiB [${peer}], through the waypoint's tcp port`);
        b.waypointMBps = await bulkTransfer(CLIENT_IP, portOf(peer, BULK.waypoint.key) ?? 0, s.bulkBytes, timeoutMs);
      } catch (err) {
        b.error = (err as Error).message;
        log(`!!! bulk [${peer}]: ${b.error}`);
      }
    }

    notes.push(
      'Latency percentiles come from autocannon\'s per-response timings (sub-millisecond); its own histogram keeps whole milliseconds.',
      'Two peers in the same run, on both ends of every mode: "node" is `waypoint tunnel` with FakeZtunnel + EchoApp (src/testkit); "go" is bench/peers/go/hbone-peer on Go\'s x/net/http2 (Debian golang-go 1.19, x/net 0.7.0) as source ztunnel and as destination ztunnel serving the echo inside each CONNECT stream. Each peer\'s baseline is its own source talking straight to its own destination.',
      'Paced latency (bench/paced.ts) follows fortio: request j is due at start + j/rate on connection j mod 16, so each connection sends at a fixed 16 ms interval, staggered by 1 ms; a request whose connection is still busy goes on a spare connection or waits, counts as late and is timed from when it was due. Timers have 1 ms resolution, so "lag p99" shows how evenly requests actually left.',
      'Frames per request: the Go peer parses HTTP/2 frame headers on the plaintext side of each of its TLS connections and TLS record headers on the TCP side, over the measured paced run; flushes are its own writes. Node writes HTTP/2 from nghttp2 to TLS in C++, out of reach of a JS wrapper, so the Node peer\'s frames come from a separate paced counting pass per mode (Service echo-count): a key-logging `waypoint tunnel` and FakeZtunnel, with TLS taps (bench/peers/node/tls-tap.ts) on both legs decrypting with the key log; it sees TLS records, not the writes behind them.',
      'autocannon\'s overallRate is a per-connection quota per second: each of the 16 connections sends its ~63 requests back to back at the start of every second, then waits (checked against a plain server: all 1,000 requests of a second arrive within its first ~100 ms). "Fixed-rate" latency is therefore that of 16 concurrent requests in bursts, not of evenly spaced ones as fortio measures Istio.',
      'The waypoints run with --log-level warn, so no access-log lines are written.',
      'Idle RSS is read before any traffic with the benchmark configuration (three Services: echo, echo-go, echo-count; five pods); idle sessions each hold one open CONNECT to the http port and are closed before the load modes.',
      'h2c is driven by a small node:http2 loop in the harness (one connection per client, the same per-connection rate quota as autocannon); its client costs more CPU than autocannon\'s, so its closed-loop req/s is not directly comparable.',
      `All processes share this machine's ${machine().cores} cores; closed-loop req/s is bounded by whichever process saturates first.`,
    );
    for (const [key, why] of mesh.refused) notes.push(`Waypoint "${key}" could not start: ${why}`);
    const report: Report = { date: new Date().toISOString(), machine: machine(), settings: s, modes, bulk, memory, enforcement: enforced, notes };
    printReport(report);
    const file = await writeJson(report);
    log(`wrote ${file}`);
    if (!s.quick) {
      await writeMarkdown(report);
      log('wrote bench/RESULTS.md and bench/latency.svg');
    }
    const failed = modes.filter(
      (m) => m.na === undefined && [m.closed, m.fixed, m.paced].some((r) => r !== undefined && r.errors + r.non2xx > 0),
    );
    if (failed.length > 0) {
      process.stderr.write(`\n!!! ERRORS in ${failed.map((m) => `${m.label} [${m.peer}]`).join(', ')}: every mode must finish with zero errors and zero non-2xx\n`);
      process.exitCode = 1;
    }
  } finally {
    await cleanup();
  }
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every child`);
    void cleanup().finally(() => process.exit(130));
  });
}
const watchdog = setTimeout(
  () => {
    log('!!! the benchmark overran its time limit; stopping');
    void cleanup().finally(() => process.exit(1));
  },
  process.argv.includes('--quick') ? 180_000 : 30 * 60_000,
);
watchdog.unref();

main().catch((err: unknown) => {
  process.stderr.write(`\nbench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});

