/**
 * The benchmark modes and how one is measured, once per peer (Node and Go on both ends): warm-up,
 * closed loop, autocannon's bursty fixed rate, then the same rate paced (bench/paced.ts), with
 * the waypoint's and the source peer's CPU time read around each fixed-rate run and the peer's
 * frame counters around the paced one.
 */
import { CLIENT_IP, peerPodIp, peerVip, SVC_PORTS, type Backend, type Peer, type WaypointKey } from './config.js';
import { diffLeg, frameStats, type FrameStats, type LegCounts } from './frames.js';
import { h1Load, h2cLoad, type LoadOptions, type LoadResult } from './load.js';
import { cpuSeconds, foreignCpu, probe, rssMb, syscallCounts } from './measure.js';
import type { TunnelSpec, WaypointSpec } from './mesh.js';
import { h1Paced, h2cPaced, type PacedResult } from './paced.js';

export interface Settings {
  quick: boolean;
  warmSeconds: number;
  closedSeconds: number;
  closedConnections: number;
  fixedSeconds: number;
  /** The paced (fortio-like) run at the same rate and connections. */
  pacedSeconds: number;
  /** The Node peer's frame-counting pass (through TLS taps), per mode. */
  countSeconds: number;
  fixedConnections: number;
  fixedRate: number;
  path: string;
  responseBytes: number;
  bulkBytes: number;
  idleSessions: number;
}

export function settings(quick: boolean): Settings {
  return {
    quick,
    warmSeconds: quick ? 0.5 : 3,
    closedSeconds: quick ? 2 : 10,
    closedConnections: 64,
    fixedSeconds: quick ? 2 : 15,
    pacedSeconds: quick ? 2.5 : 15,
    countSeconds: quick ? 1 : 3,
    fixedConnections: 16,
    fixedRate: 1000,
    path: '/?raw=1024',
    responseBytes: 1024,
    bulkBytes: (quick ? 64 : 512) * 1024 * 1024,
    idleSessions: 1000,
  };
}

export interface ModeSpec {
  key: string;
  label: string;
  waypoint: WaypointKey | undefined;
  /** CONNECT authority for a backend's pods or Service. */
  authority: (backend: Backend) => string;
  protocol: 'h1' | 'h2c';
}

export const WAYPOINTS: WaypointSpec[] = [
  { key: 'main', config: 'base', workers: 1 },
  { key: 'loaded', config: 'loaded', workers: 1 },
  { key: 'workers', config: 'base', workers: 2 },
];

export const MODES: ModeSpec[] = [
  { key: 'baseline', label: 'baseline (no waypoint)', waypoint: undefined, authority: (p) => `${peerPodIp(p, 0)}:8080`, protocol: 'h1' },
  { key: 'l4', label: 'L4 floor (tcp port)', waypoint: 'main', authority: (p) => `${peerVip(p)}:${SVC_PORTS.tcp}`, protocol: 'h1' },
  { key: 'l7', label: 'L7 HTTP/1.1', waypoint: 'main', authority: (p) => `${peerVip(p)}:${SVC_PORTS.http}`, protocol: 'h1' },
  { key: 'l7-loaded', label: 'L7 loaded (100 routes, 1k rules)', waypoint: 'loaded', authority: (p) => `${peerVip(p)}:${SVC_PORTS.http}`, protocol: 'h1' },
  { key: 'h2c', label: 'L7 h2c', waypoint: 'main', authority: (p) => `${peerVip(p)}:${SVC_PORTS.h2c}`, protocol: 'h2c' },
  { key: 'workers', label: 'L7 HTTP/1.1 --workers 2', waypoint: 'workers', authority: (p) => `${peerVip(p)}:${SVC_PORTS.http}`, protocol: 'h1' },
];

/** Bulk-transfer tunnels: to the pod's byte sink directly, and through the waypoint's tcp port. */
export const BULK = {
  baseline: { key: 'bulk-baseline', waypoint: undefined },
  waypoint: { key: 'bulk-waypoint', waypoint: 'main' },
} as const;

/**
 * Every tunnel of a peer: one per mode and per bulk target, each on its own port of CLIENT_IP
 * (16000 + i for the Node peer's `waypoint tunnel` processes, 17000 + i for the Go peer's).
 */
export function tunnelSpecs(peer: Peer = 'node'): TunnelSpec[] {
  const pod = peerPodIp(peer, 0);
  const specs: Array<Omit<TunnelSpec, 'port'>> = [
    ...MODES.map((m) => ({ key: m.key, waypoint: m.waypoint, podIp: pod, authority: m.authority(peer) })),
    { key: BULK.baseline.key, waypoint: undefined, podIp: pod, authority: `${pod}:${SVC_PORTS.sink}` },
    { key: BULK.waypoint.key, waypoint: BULK.waypoint.waypoint, authority: `${peerVip(peer)}:${SVC_PORTS.sink}` },
  ];
  return specs.map((s, i) => ({ ...s, port: (peer === 'go' ? 17000 : 16000) + i }));
}

export interface ModeResult {
  key: string;
  label: string;
  /** Which HTTP/2 stack stands on both ends (source and destination ztunnel). */
  peer: Peer;
  /** Why the mode was not measured. */
  na?: string;
  closed?: LoadResult;
  /** CPU use during the closed loop, % of one core: who saturates. */
  closedCpuPct?: { waypoint: number | undefined; tunnel: number; harness: number };
  fixed?: LoadResult;
  /** Waypoint CPU (user + system, all its processes) per request over the fixed-rate run. */
  waypointCpuUsPerReq?: number;
  /** The tunnel client's CPU per request over the same run (the HBONE client half, for scale). */
  tunnelCpuUsPerReq?: number;
  /** CPU used by processes outside the benchmark during the mode, % of one core. */
  otherCpuPct?: number;
  /** Waypoint RSS after the fixed-rate run, MB. */
  rssMb?: number;
  /** The paced run (fortio's model) at the same rate and connections. */
  paced?: PacedResult;
  pacedWaypointCpuUsPerReq?: number;
  pacedTunnelCpuUsPerReq?: number;
  /** Frames per request on both HBONE legs over the paced run, when the peer counts them. */
  frames?: FrameStats;
}

export const failures = (r: LoadResult): number => r.errors + r.non2xx;

export interface ModeContext {
  peer: Peer;
  port: number;
  /** The source peer's process (its CPU is reported per request, for scale). */
  tunnelPid: number;
  waypointPid: number | undefined;
  /** The peer's cumulative frame counters, when it counts them. */
  counts?: () => Promise<{ up?: LegCounts; down?: LegCounts }>;
}

export async function runMode(m: ModeSpec, s: Settings, ctx: ModeContext, log: (line: string) => void): Promise<ModeResult> {
  const label = `${m.label} [${ctx.peer}]`;
  const id = { key: m.key, label: m.label, peer: ctx.peer };
  const load = (o: Omit<LoadOptions, 'host' | 'port' | 'path'>): Promise<LoadResult> =>
    (m.protocol === 'h2c' ? h2cLoad : h1Load)({ host: CLIENT_IP, port: ctx.port, path: s.path, ...o });
  if (m.protocol === 'h1') {
    const p = await probe(CLIENT_IP, ctx.port, s.path);
    if (p.status !== 200 || p.bytes !== s.responseBytes) {
      return { ...id, na: `preflight GET ${s.path}: status ${p.status}, ${p.bytes} bytes${p.error === undefined ? '' : ` (${p.error})`}` };
    }
  }
  log(`${label}: warm-up ${s.warmSeconds} s`);
  const warm = await load({ connections: s.closedConnections, seconds: s.warmSeconds });
  if (warm.ok === 0) return { ...id, na: `warm-up: no 2xx response (${failures(warm)} failures)` };
  log(`${label}: closed loop, ${s.closedConnections} connections, ${s.closedSeconds} s`);
  const foreign = foreignCpu();
  const before = { wp: ctx.waypointPid === undefined ? 0 : cpuSeconds(ctx.waypointPid), tn: cpuSeconds(ctx.tunnelPid), me: process.cpuUsage() };
  const closed = await load({ connections: s.closedConnections, seconds: s.closedSeconds });
  const harness = process.cpuUsage(before.me);
  const pct = (seconds: number): number => (seconds / closed.seconds) * 100;
  const closedCpuPct = {
    waypoint: ctx.waypointPid === undefined ? undefined : pct(cpuSeconds(ctx.waypointPid) - before.wp),
    tunnel: pct(cpuSeconds(ctx.tunnelPid) - before.tn),
    harness: pct((harness.user + harness.system) / 1e6),
  };
  log(`${label}: ${Math.round(closed.rps)} req/s; bursty fixed ${s.fixedRate} req/s, ${s.fixedConnections} connections, ${s.fixedSeconds} s`);
  const wp0 = ctx.waypointPid === undefined ? 0 : cpuSeconds(ctx.waypointPid);
  const tn0 = cpuSeconds(ctx.tunnelPid);
  const fixed = await load({ connections: s.fixedConnections, seconds: s.fixedSeconds, rate: s.fixedRate });
  const done = fixed.ok + fixed.non2xx;
  const perReq = (seconds: number): number => (done === 0 ? NaN : (seconds / done) * 1e6);
  const result: ModeResult = { ...id, closed, closedCpuPct, fixed, tunnelCpuUsPerReq: perReq(cpuSeconds(ctx.tunnelPid) - tn0) };
  if (ctx.waypointPid !== undefined) {
    result.waypointCpuUsPerReq = perReq(cpuSeconds(ctx.waypointPid) - wp0);
    result.rssMb = rssMb(ctx.waypointPid);
  }

  log(`${label}: paced ${s.fixedRate} req/s, ${s.fixedConnections} connections, ${s.pacedSeconds} s`);
  const counts0 = await ctx.counts?.();
  const pwp0 = ctx.waypointPid === undefined ? 0 : cpuSeconds(ctx.waypointPid);
  const ptn0 = cpuSeconds(ctx.tunnelPid);
  const sys0 = ctx.waypointPid === undefined ? undefined : syscallCounts(ctx.waypointPid);
  const paced = await (m.protocol === 'h2c' ? h2cPaced : h1Paced)({ host: CLIENT_IP, port: ctx.port, path: s.path, connections: s.fixedConnections, seconds: s.pacedSeconds, rate: s.fixedRate });
  const pacedDone = paced.ok + paced.non2xx;
  const pacedPerReq = (seconds: number): number => (pacedDone === 0 ? NaN : (seconds / pacedDone) * 1e6);
  result.paced = paced;
  result.pacedTunnelCpuUsPerReq = pacedPerReq(cpuSeconds(ctx.tunnelPid) - ptn0);
  if (ctx.waypointPid !== undefined) result.pacedWaypointCpuUsPerReq = pacedPerReq(cpuSeconds(ctx.waypointPid) - pwp0);
  if (ctx.waypointPid !== undefined && sys0 !== undefined && pacedDone > 0) {
    const sys1 = syscallCounts(ctx.waypointPid);
    const per = (n: number): string => (n / pacedDone).toFixed(2);
    log(`${label}: waypoint per request (paced): ${per(sys1.reads - sys0.reads)} read and ${per(sys1.writes - sys0.writes)} write system calls, ${per(sys1.wakeups - sys0.wakeups)} wake-ups`);
  }
  const counts1 = await ctx.counts?.();
  if (counts0 !== undefined && counts1 !== undefined) {
    const d = (a: LegCounts | undefined, b: LegCounts | undefined): LegCounts | undefined => (a === undefined || b === undefined ? undefined : diffLeg(a, b));
    result.frames = frameStats(pacedDone, d(counts0.up, counts1.up), m.waypoint === undefined ? undefined : d(counts0.down, counts1.down));
  }

  result.otherCpuPct = foreign();
  if (result.otherCpuPct > 10) {
    log(`!!! ${label}: processes outside the benchmark used ${Math.round(result.otherCpuPct)}% of a core meanwhile; these figures are skewed`);
  }
  for (const [what, r] of [
    ['bursty fixed-rate', fixed],
    ['paced', paced],
  ] as const) {
    if (r.rps < 0.95 * s.fixedRate) {
      log(`!!! ${label}: the ${what} run reached only ${Math.round(r.rps)} of ${s.fixedRate} req/s; its latency is that of an overloaded path`);
    }
  }
  for (const [what, r] of [
    ['closed loop', closed],
    ['fixed rate', fixed],
    ['paced', paced],
  ] as const) {
    if (failures(r) > 0) {
      log(`!!! ${label} ${what}: ${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx — must be zero`);
    }
  }
  return result;
}
