/**
 * The benchmark modes and how one is measured: warm-up, closed loop, then a fixed rate with the
 * waypoint's CPU time read around it.
 */
import { CLIENT_IP, podIp, SVC_PORTS, VIP, type WaypointKey } from './config.js';
import { h1Load, h2cLoad, type LoadOptions, type LoadResult } from './load.js';
import { cpuSeconds, foreignCpu, probe, rssMb } from './measure.js';
import type { TunnelSpec, WaypointSpec } from './mesh.js';

export interface Settings {
  quick: boolean;
  warmSeconds: number;
  closedSeconds: number;
  closedConnections: number;
  fixedSeconds: number;
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
    closedSeconds: quick ? 3 : 10,
    closedConnections: 64,
    fixedSeconds: quick ? 4 : 15,
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
  authority: string;
  protocol: 'h1' | 'h2c';
}

export const WAYPOINTS: WaypointSpec[] = [
  { key: 'main', config: 'base', workers: 1 },
  { key: 'loaded', config: 'loaded', workers: 1 },
  { key: 'workers', config: 'base', workers: 2 },
];

export const MODES: ModeSpec[] = [
  { key: 'baseline', label: 'baseline (no waypoint)', waypoint: undefined, authority: `${podIp(0)}:8080`, protocol: 'h1' },
  { key: 'l4', label: 'L4 floor (tcp port)', waypoint: 'main', authority: `${VIP}:${SVC_PORTS.tcp}`, protocol: 'h1' },
  { key: 'l7', label: 'L7 HTTP/1.1', waypoint: 'main', authority: `${VIP}:${SVC_PORTS.http}`, protocol: 'h1' },
  { key: 'l7-loaded', label: 'L7 loaded (100 routes, 1k rules)', waypoint: 'loaded', authority: `${VIP}:${SVC_PORTS.http}`, protocol: 'h1' },
  { key: 'h2c', label: 'L7 h2c', waypoint: 'main', authority: `${VIP}:${SVC_PORTS.h2c}`, protocol: 'h2c' },
  { key: 'workers', label: 'L7 HTTP/1.1 --workers 2', waypoint: 'workers', authority: `${VIP}:${SVC_PORTS.http}`, protocol: 'h1' },
];

/** Bulk-transfer tunnels: to the pod's byte sink directly, and through the waypoint's tcp port. */
export const BULK = {
  baseline: { key: 'bulk-baseline', waypoint: undefined, podIp: podIp(0), authority: `${podIp(0)}:${SVC_PORTS.sink}` },
  waypoint: { key: 'bulk-waypoint', waypoint: 'main', authority: `${VIP}:${SVC_PORTS.sink}` },
} as const;

/** Every tunnel process: one per mode and per bulk target, each on its own port of CLIENT_IP. */
export function tunnelSpecs(): TunnelSpec[] {
  const specs: Array<Omit<TunnelSpec, 'port'>> = [
    ...MODES.map((m) => ({ key: m.key, waypoint: m.waypoint, podIp: podIp(0), authority: m.authority })),
    BULK.baseline,
    BULK.waypoint,
  ];
  return specs.map((s, i) => ({ ...s, port: 16000 + i }));
}

export interface ModeResult {
  key: string;
  label: string;
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
}

export const failures = (r: LoadResult): number => r.errors + r.non2xx;

export async function runMode(
  m: ModeSpec,
  s: Settings,
  ctx: { port: number; tunnelPid: number; waypointPid: number | undefined },
  log: (line: string) => void,
): Promise<ModeResult> {
  const load = (o: Omit<LoadOptions, 'host' | 'port' | 'path'>): Promise<LoadResult> =>
    (m.protocol === 'h2c' ? h2cLoad : h1Load)({ host: CLIENT_IP, port: ctx.port, path: s.path, ...o });
  if (m.protocol === 'h1') {
    const p = await probe(CLIENT_IP, ctx.port, s.path);
    if (p.status !== 200 || p.bytes !== s.responseBytes) {
      return { key: m.key, label: m.label, na: `preflight GET ${s.path}: status ${p.status}, ${p.bytes} bytes${p.error === undefined ? '' : ` (${p.error})`}` };
    }
  }
  log(`${m.label}: warm-up ${s.warmSeconds} s`);
  const warm = await load({ connections: s.closedConnections, seconds: s.warmSeconds });
  if (warm.ok === 0) return { key: m.key, label: m.label, na: `warm-up: no 2xx response (${failures(warm)} failures)` };
  log(`${m.label}: closed loop, ${s.closedConnections} connections, ${s.closedSeconds} s`);
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
  log(`${m.label}: ${Math.round(closed.rps)} req/s; fixed ${s.fixedRate} req/s, ${s.fixedConnections} connections, ${s.fixedSeconds} s`);
  const wp0 = ctx.waypointPid === undefined ? 0 : cpuSeconds(ctx.waypointPid);
  const tn0 = cpuSeconds(ctx.tunnelPid);
  const fixed = await load({ connections: s.fixedConnections, seconds: s.fixedSeconds, rate: s.fixedRate });
  const done = fixed.ok + fixed.non2xx;
  const perReq = (seconds: number): number => (done === 0 ? NaN : (seconds / done) * 1e6);
  const result: ModeResult = { key: m.key, label: m.label, closed, closedCpuPct, fixed, tunnelCpuUsPerReq: perReq(cpuSeconds(ctx.tunnelPid) - tn0) };
  if (ctx.waypointPid !== undefined) {
    result.waypointCpuUsPerReq = perReq(cpuSeconds(ctx.waypointPid) - wp0);
    result.rssMb = rssMb(ctx.waypointPid);
  }
  result.otherCpuPct = foreign();
  if (result.otherCpuPct > 10) {
    log(`!!! ${m.label}: processes outside the benchmark used ${Math.round(result.otherCpuPct)}% of a core meanwhile; these figures are skewed`);
  }
  if (fixed.rps < 0.95 * s.fixedRate) {
    log(`!!! ${m.label}: the fixed-rate run reached only ${Math.round(fixed.rps)} of ${s.fixedRate} req/s; its latency is that of an overloaded path`);
  }
  for (const [what, r] of [
    ['closed loop', closed],
    ['fixed rate', fixed],
  ] as const) {
    if (failures(r) > 0) {
      log(`!!! ${m.label} ${what}: ${r.errors} errors (${r.timeouts} timeouts), ${r.non2xx} non-2xx — must be zero`);
    }
  }
  return result;
}
