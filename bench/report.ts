/**
 * Output: the table on stdout, `bench/results/<date>.json`, and for full runs `bench/RESULTS.md`
 * with `bench/latency.svg` (hand-written grouped bars of paced latency percentiles per mode and peer).
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PEERS, type Peer } from './config.js';
import type { DirPerRequest, FrameStats, FrameType } from './frames.js';
import type { Percentiles } from './load.js';
import { failures, type ModeResult, type Settings } from './modes.js';

/** The source folder `bench/` (this file runs from `dist/bench/`). */
const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));

export interface BulkFigures {
  baselineMBps?: number;
  waypointMBps?: number;
  error?: string;
}

export interface Report {
  date: string;
  machine: { cpu: string; cores: number; node: string; platform: string };
  settings: Settings;
  modes: ModeResult[];
  /** Bulk TCP per peer: to the pod's sink directly, and through the waypoint's tcp port. */
  bulk: { bytes: number } & Partial<Record<Peer, BulkFigures>>;
  memory: { idleMb?: number; withSessionsMb?: number; sessions: number; perThousandMb?: number; error?: string };
  enforcement: { routes: string; authorization: string };
  notes: string[];
}

export function machine(): Report['machine'] {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  return { cpu, cores: cpus().length, node: process.version, platform: `${process.platform} ${process.arch}` };
}

// ---------------------------------------------------------------------------------------------
// Targets (issue 14: both peers, 1,000 req/s, 1 KiB, HTTP/1.1 in HBONE, same run)

export type Verdict = 'stretch met' | 'met' | 'missed' | 'n/a';

export interface TargetRow {
  figure: string;
  /** The issue's "today" figure, for comparison. */
  today: string;
  target: string;
  stretch: string;
  unit: string;
  byPeer: Record<Peer, { value: number | undefined; verdict: Verdict; skewed: boolean }>;
}

const mode = (r: Report, key: string, peer: Peer): ModeResult | undefined => r.modes.find((m) => m.key === key && m.peer === peer && m.na === undefined);
type Run = 'fixed' | 'paced';
const added = (r: Report, key: string, peer: Peer, run: Run, p: keyof Percentiles): number | undefined => {
  const a = mode(r, key, peer)?.[run]?.latency[p];
  const b = mode(r, 'baseline', peer)?.[run]?.latency[p];
  return a === undefined || b === undefined ? undefined : a - b;
};
const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a / b);

interface TargetSpec {
  figure: string;
  today: string;
  target: string;
  stretch: string;
  unit: string;
  lower: boolean;
  t: number;
  s: number;
  value: (peer: Peer) => number | undefined;
  /** Modes the value comes from (for the busy-neighbour flag). */
  from: string[];
}

const TARGETS: Array<(r: Report) => TargetSpec> = [
  (r) => ({ figure: 'waypoint CPU per request (L7 HTTP/1.1, paced)', today: '209–244 µs (Go peer)', target: '≤ 150 µs', stretch: '≤ 100 µs', unit: 'µs', lower: true, t: 150, s: 100, value: (p) => mode(r, 'l7', p)?.pacedWaypointCpuUsPerReq, from: ['l7'] }),
  (r) => ({ figure: 'h2c CPU per request ÷ HTTP/1.1 (paced)', today: '2.4 (own peer)', target: '≤ 1.3', stretch: '≤ 1.1', unit: '', lower: true, t: 1.3, s: 1.1, value: (p) => ratio(mode(r, 'h2c', p)?.pacedWaypointCpuUsPerReq, mode(r, 'l7', p)?.pacedWaypointCpuUsPerReq), from: ['l7', 'h2c'] }),
  (r) => ({ figure: 'added p50, paced (L7 − baseline)', today: '0.34 ms (bursty)', target: '≤ 0.3 ms', stretch: '≤ 0.15 ms', unit: 'ms', lower: true, t: 0.3, s: 0.15, value: (p) => added(r, 'l7', p, 'paced', 'p50'), from: ['l7', 'baseline'] }),
  (r) => ({ figure: 'added p99, paced (L7 − baseline)', today: '~0 ms (bursty)', target: '≤ 1 ms', stretch: '≤ 0.5 ms', unit: 'ms', lower: true, t: 1, s: 0.5, value: (p) => added(r, 'l7', p, 'paced', 'p99'), from: ['l7', 'baseline'] }),
  (r) => ({ figure: 'idle RSS (before any traffic)', today: '79–82 MB', target: '≤ 64 MB', stretch: '≤ 50 MB', unit: 'MB', lower: true, t: 64, s: 50, value: () => r.memory.idleMb, from: [] }),
  (r) => ({ figure: 'RSS per 1,000 idle HBONE sessions', today: '90 MB', target: '≤ 64 MB', stretch: '≤ 40 MB', unit: 'MB', lower: true, t: 64, s: 40, value: (p) => (p === 'node' ? r.memory.perThousandMb : undefined), from: [] }),
  (r) => ({ figure: 'L7 ÷ L4 throughput (closed loop)', today: '0.66–0.73', target: '≥ 0.8', stretch: '≥ 0.9', unit: '', lower: false, t: 0.8, s: 0.9, value: (p) => ratio(mode(r, 'l7', p)?.closed?.rps, mode(r, 'l4', p)?.closed?.rps), from: ['l7', 'l4'] }),
  (r) => ({ figure: 'bulk TCP ÷ direct', today: '0.50', target: '≥ 0.8', stretch: '≥ 0.9', unit: '', lower: false, t: 0.8, s: 0.9, value: (p) => ratio(r.bulk[p]?.waypointMBps, r.bulk[p]?.baselineMBps), from: [] }),
  (r) => ({ figure: 'CPU per request, --workers 2 ÷ --workers 1 (paced)', today: '1.03 (issue 6)', target: '≤ 1.10', stretch: '≤ 1.05', unit: '', lower: true, t: 1.1, s: 1.05, value: (p) => ratio(mode(r, 'workers', p)?.pacedWaypointCpuUsPerReq, mode(r, 'l7', p)?.pacedWaypointCpuUsPerReq), from: ['l7', 'workers'] }),
];

export function targets(r: Report): TargetRow[] {
  return TARGETS.map((make) => {
    const { lower, t, s, value, from, ...row } = make(r);
    const judge = (peer: Peer): TargetRow['byPeer'][Peer] => {
      const v = value(peer);
      const ok = (limit: number): boolean => v !== undefined && (lower ? v <= limit : v >= limit);
      const verdict: Verdict = v === undefined || Number.isNaN(v) ? 'n/a' : ok(s) ? 'stretch met' : ok(t) ? 'met' : 'missed';
      const skewed = verdict !== 'n/a' && from.some((k) => (mode(r, k, peer)?.otherCpuPct ?? 0) > 10);
      return { value: v, verdict, skewed };
    };
    return { ...row, byPeer: { node: judge('node'), go: judge('go') } };
  });
}

// ---------------------------------------------------------------------------------------------
// Text

const f = (v: number | undefined, digits = 2): string => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));
const fi = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : String(Math.round(v)));
const rowLabel = (m: ModeResult): string => `${m.label} [${m.peer}]`;

const COLUMNS = ['mode [peer]', 'req/s', 'wp CPU%', 'rate', 'p50', 'p90', 'p99', 'p99.9', '+p50', '+p99', 'wp µs/req', 'tun µs/req', 'RSS MB', 'other CPU%', 'err+non2xx'];
const PACED_COLUMNS = ['mode [peer]', 'rate', 'p50', 'p90', 'p99', 'p99.9', '+p50', '+p99', 'late', 'lag p99', 'wp µs/req', 'tun µs/req'];

function modeCells(r: Report, m: ModeResult): string[] {
  if (m.na !== undefined) return [rowLabel(m), `n/a: ${m.na}`];
  const l = m.fixed?.latency;
  const errs = [m.closed, m.fixed, m.paced].reduce((n, x) => n + (x === undefined ? 0 : failures(x)), 0);
  const base = m.key === 'baseline';
  return [
    rowLabel(m),
    fi(m.closed?.rps),
    fi(m.closedCpuPct?.waypoint),
    fi(m.fixed?.rps),
    f(l?.p50),
    f(l?.p90),
    f(l?.p99),
    f(l?.p999),
    base ? '' : f(added(r, m.key, m.peer, 'fixed', 'p50')),
    base ? '' : f(added(r, m.key, m.peer, 'fixed', 'p99')),
    fi(m.waypointCpuUsPerReq),
    fi(m.tunnelCpuUsPerReq),
    f(m.rssMb, 1),
    m.otherCpuPct !== undefined && m.otherCpuPct > 10 ? `${fi(m.otherCpuPct)} !!!` : fi(m.otherCpuPct),
    errs === 0 ? '0' : `${errs} !!!`,
  ];
}

function pacedCells(r: Report, m: ModeResult): string[] {
  if (m.na !== undefined) return [rowLabel(m), `n/a: ${m.na}`];
  const p = m.paced;
  const l = p?.latency;
  const base = m.key === 'baseline';
  return [
    rowLabel(m),
    fi(p?.rps),
    f(l?.p50),
    f(l?.p90),
    f(l?.p99),
    f(l?.p999),
    base ? '' : f(added(r, m.key, m.peer, 'paced', 'p50')),
    base ? '' : f(added(r, m.key, m.peer, 'paced', 'p99')),
    p === undefined ? '–' : String(p.late),
    f(p?.sendLag.p99),
    fi(m.pacedWaypointCpuUsPerReq),
    fi(m.pacedTunnelCpuUsPerReq),
  ];
}

const FRAME_COLUMNS = ['mode [peer]', 'leg', 'direction', 'DATA', 'HEADERS', 'WINDOW_UPDATE', 'PING', 'SETTINGS', 'RST_STREAM', 'other', 'TLS records', 'flushes', 'TCP bytes'];

/** Frames per request × their mean size, of one type. */
function frameCell(d: DirPerRequest, t: FrameType | 'rest'): string {
  const c =
    t === 'rest'
      ? Object.entries(d.frames)
          .filter(([k]) => !['DATA', 'HEADERS', 'WINDOW_UPDATE', 'PING', 'SETTINGS', 'RST_STREAM'].includes(k))
          .reduce((a, [, v]) => ({ frames: a.frames + (v?.frames ?? 0), bytes: a.bytes + (v?.bytes ?? 0) }), { frames: 0, bytes: 0 })
      : d.frames[t];
  return c === undefined || c.frames === 0 ? '0' : `${f(c.frames)} × ${fi(c.bytes / c.frames)} B`;
}

/** One row per mode, peer, leg and direction: frames per request as the Go peer counts them. */
function frameRows(r: Report): string[][] {
  const rows: string[][] = [];
  for (const m of r.modes) {
    const fs = m.frames;
    if (fs === undefined) continue;
    const legs: Array<[string, FrameStats['in']]> = [
      [m.key === 'baseline' ? 'source ↔ destination' : 'source ↔ waypoint', fs.in],
      ['waypoint ↔ destination', fs.out],
    ];
    for (const [leg, l] of legs) {
      if (l === undefined) continue;
      for (const [dir, d] of [
        [m.key === 'baseline' ? 'to destination' : 'to waypoint', l.toWaypoint],
        [m.key === 'baseline' ? 'from destination' : 'from waypoint', l.fromWaypoint],
      ] as const) {
        rows.push([
          rowLabel(m),
          leg,
          dir,
          frameCell(d, 'DATA'),
          frameCell(d, 'HEADERS'),
          frameCell(d, 'WINDOW_UPDATE'),
          frameCell(d, 'PING'),
          frameCell(d, 'SETTINGS'),
          frameCell(d, 'RST_STREAM'),
          frameCell(d, 'rest'),
          f(d.tlsRecords),
          d.flushes === undefined ? '' : f(d.flushes),
          fi(d.tcpBytes),
        ]);
      }
    }
  }
  return rows;
}

/** Plain-text table: widths from the content, numbers right-aligned. */
function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r.length === 2 && i > 0 ? 0 : (r[i] ?? '').length))));
  const line = (cells: string[]): string =>
    cells.length === 2 && header.length > 2
      ? `${(cells[0] ?? '').padEnd(widths[0] ?? 0)}  ${cells[1] ?? ''}`
      : cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function extras(r: Report): string[] {
  const mib = r.bulk.bytes / 1024 / 1024;
  const m = r.memory;
  const bulkLine = (peer: Peer): string => {
    const b = r.bulk[peer];
    if (b === undefined) return `bulk TCP ${mib} MiB [${peer}]: not run`;
    return b.error !== undefined
      ? `bulk TCP ${mib} MiB [${peer}]: failed: ${b.error}`
      : `bulk TCP ${mib} MiB [${peer}]: baseline ${f(b.baselineMBps, 0)} MB/s, through the waypoint ${f(b.waypointMBps, 0)} MB/s (${f(ratio(b.waypointMBps, b.baselineMBps))}× baseline)`;
  };
  return [
    ...PEERS.map(bulkLine),
    m.error !== undefined
      ? `RSS idle ${f(m.idleMb, 1)} MB; idle sessions failed: ${m.error}`
      : `RSS idle ${f(m.idleMb, 1)} MB; with ${m.sessions} idle HBONE sessions (Node client) ${f(m.withSessionsMb, 1)} MB (+${f(m.perThousandMb, 1)} MB per 1,000)`,
    `L7 loaded enforcement: routes ${r.enforcement.routes}; AuthorizationPolicy ${r.enforcement.authorization}`,
  ];
}

const verdictText = (v: TargetRow['byPeer'][Peer]): string => `${v.verdict}${v.skewed ? ' (skewed)' : ''}`;
const TARGET_COLUMNS = ['figure', 'today', 'target', 'stretch', 'Node peer', 'verdict', 'Go peer', 'verdict'];
const targetCells = (t: TargetRow): string[] => [
  t.figure,
  t.today,
  t.target,
  t.stretch,
  `${f(t.byPeer.node.value)} ${t.unit}`.trim(),
  verdictText(t.byPeer.node),
  `${f(t.byPeer.go.value)} ${t.unit}`.trim(),
  verdictText(t.byPeer.go),
];

export function printReport(r: Report): void {
  const out: string[] = [
    '',
    `req/s: closed loop (${r.settings.closedConnections} connections, ${r.settings.closedSeconds} s), wp CPU% = waypoint CPU during it (% of one core)`,
    'other CPU%: CPU used by processes outside the benchmark during the mode (% of one core; above 10 the figures are skewed)',
    `rate: achieved req/s of autocannon's bursty fixed-rate run (${r.settings.fixedRate} req/s asked, ${r.settings.fixedConnections} connections, ${r.settings.fixedSeconds} s); latency in ms during it; +pXX = added vs the same peer's baseline`,
    '',
    textTable(COLUMNS, r.modes.map((m) => modeCells(r, m))),
    '',
    `paced (fortio's model): ${r.settings.fixedRate} req/s evenly spaced over ${r.settings.fixedConnections} connections, ${r.settings.pacedSeconds} s; late = requests whose connection was busy when due; lag p99 = how late requests left (ms)`,
    '',
    textTable(PACED_COLUMNS, r.modes.map((m) => pacedCells(r, m))),
    '',
    'frames per request (× mean frame size incl. the 9-byte header) on each HBONE leg: Go peer over its paced run, Node peer over a paced counting pass through TLS taps; TLS records and TCP bytes per request; flushes = the Go peer\'s own writes',
    '',
    textTable(FRAME_COLUMNS, frameRows(r)),
    '',
    ...extras(r),
    '',
    'targets (issue 14):',
    textTable(TARGET_COLUMNS, targets(r).map(targetCells)),
    '',
    ...r.notes.map((n) => `note: ${n}`),
    '',
  ];
  process.stdout.write(out.join('\n'));
}

export async function writeJson(r: Report): Promise<string> {
  const dir = join(BENCH_DIR, 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${r.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}${r.settings.quick ? '-quick' : ''}.json`);
  await writeFile(file, `${JSON.stringify({ ...r, targets: targets(r) }, null, 2)}\n`);
  return file;
}

// ---------------------------------------------------------------------------------------------
// RESULTS.md and latency.svg

function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/** Pads an n/a row (two cells) to the header's width for Markdown. */
const padRow = (cells: string[], width: number): string[] => (cells.length === 2 ? [cells[0] ?? '', cells[1] ?? '', ...Array.from({ length: width - 2 }, () => '')] : cells);

export async function writeMarkdown(r: Report): Promise<void> {
  const md = `# Benchmark results

Regenerated by \`npm run bench\` (full run); do not edit by hand. Raw figures: \`bench/results/\`.

- date: ${r.date}
- machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.platform}
- Node.js ${r.machine.node}
- load: ${r.settings.responseBytes}-byte responses (\`${r.settings.path}\`); closed loop ${r.settings.closedConnections} connections × ${r.settings.closedSeconds} s;
  latency at ${r.settings.fixedRate} req/s over ${r.settings.fixedConnections} connections, bursty (autocannon \`overallRate\`, ${r.settings.fixedSeconds} s) and paced
  (fortio's model, bench/paced.ts, ${r.settings.pacedSeconds} s), after a ${r.settings.warmSeconds} s warm-up
- two peers, each on both ends of every mode in the same run: **node** = \`waypoint tunnel\` + FakeZtunnel/EchoApp;
  **go** = bench/peers/go (Go x/net/http2 source and destination ztunnel + echo)
- everything runs on this one machine over loopback: the load generators (harness), the peers, the waypoints

## Modes: closed loop and bursty fixed rate

req/s is the closed loop, with the waypoint's CPU use during it (% of one core); rate is the
achieved rate of autocannon's fixed-rate run, with its latency in ms; +p50/+p99 added vs the same
peer's baseline; CPU per request is user + system time of the waypoint (and of the source peer,
for scale) over the fixed-rate run; RSS after it; other CPU% is what processes outside the
benchmark used meanwhile (% of one core; above 10 the figures are skewed).

${markdownTable(COLUMNS, r.modes.map((m) => padRow(modeCells(r, m), COLUMNS.length)))}

## Modes: paced

The same rate evenly spaced (each connection at its own fixed interval, staggered); late =
requests whose connection was busy when due (sent on a spare connection or queued, latency from
the due time); lag p99 = how late requests left (timer resolution and event-loop lag, ms).

${markdownTable(PACED_COLUMNS, r.modes.map((m) => padRow(pacedCells(r, m), PACED_COLUMNS.length)))}

![paced latency percentiles per mode](latency.svg)

## Frames per request (paced run)

Frames per request × their mean size (9-byte header included) on each HBONE leg, with TLS records
and TCP bytes per request. The Go peer counts its own connections over the paced run (flushes are
its writes); the Node peer's legs are counted by TLS taps decrypting with a key log over a
separate paced counting pass (see the notes).

${markdownTable(FRAME_COLUMNS, frameRows(r))}

${extras(r)
  .map((l) => `- ${l}`)
  .join('\n')}

## Targets (issue 14)

${markdownTable(TARGET_COLUMNS, targets(r).map(targetCells))}

## Notes

${r.notes.map((n) => `- ${n}`).join('\n')}
`;
  await writeFile(join(BENCH_DIR, 'RESULTS.md'), md + (await handMeasured()));
  await writeFile(join(BENCH_DIR, 'latency.svg'), latencySvg(r));
}

/** Where RESULTS.md's hand-measured part starts; a full run keeps everything from it on. */
export const HAND_MEASURED_MARKER = '<!-- hand-measured: kept by npm run bench -->';

async function handMeasured(): Promise<string> {
  const old = await readFile(join(BENCH_DIR, 'RESULTS.md'), 'utf8').catch(() => '');
  const at = old.indexOf(HAND_MEASURED_MARKER);
  return at < 0 ? '' : `\n${old.slice(at)}`;
}

/** Grouped bars (p50, p90, p99, p99.9) per mode on a log scale; no dependencies. */
export function latencySvg(r: Report): string {
  const modes = r.modes.filter((m) => m.paced !== undefined && m.na === undefined);
  const keys: Array<[keyof Percentiles, string, string]> = [
    ['p50', 'p50', '#4c78a8'],
    ['p90', 'p90', '#72b7b2'],
    ['p99', 'p99', '#f58518'],
    ['p999', 'p99.9', '#e45756'],
  ];
  const values = modes.flatMap((m) => keys.map(([k]) => m.paced?.latency[k] ?? NaN)).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, lo * 10))));
  const W = Math.max(860, 80 + modes.length * 90);
  const H = 400;
  const left = 60;
  const top = 40;
  const bottom = 70;
  const plotH = H - top - bottom;
  const groupW = (W - left - 20) / Math.max(1, modes.length);
  const barW = Math.min(28, (groupW - 20) / keys.length);
  const y = (v: number): number => top + plotH * (1 - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
  const el: string[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    el.push(`<line x1="${left}" x2="${W - 20}" y1="${y(d).toFixed(1)}" y2="${y(d).toFixed(1)}" stroke="#ddd"/>`);
    el.push(`<text x="${left - 6}" y="${(y(d) + 4).toFixed(1)}" text-anchor="end">${d >= 1 ? d : d.toFixed(-Math.log10(d))} ms</text>`);
  }
  modes.forEach((m, i) => {
    const x0 = left + i * groupW + (groupW - barW * keys.length) / 2;
    keys.forEach(([k, name, color], j) => {
      const v = m.paced?.latency[k] ?? NaN;
      if (!(v > 0)) return;
      const yy = y(v);
      el.push(`<rect x="${(x0 + j * barW).toFixed(1)}" y="${yy.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" fill="${color}"><title>${escapeXml(rowLabel(m))} ${name}: ${v.toFixed(3)} ms</title></rect>`);
      el.push(`<text x="${(x0 + j * barW + barW / 2 - 1).toFixed(1)}" y="${(yy - 3).toFixed(1)}" text-anchor="middle" font-size="9">${v < 10 ? v.toFixed(2) : v.toFixed(0)}</text>`);
    });
    const label = m.label.replace(/ \(.*\)$/, '');
    const cx = (left + i * groupW + groupW / 2).toFixed(1);
    el.push(`<text x="${cx}" y="${top + plotH + 18}" text-anchor="middle">${escapeXml(label)}</text>`);
    el.push(`<text x="${cx}" y="${top + plotH + 32}" text-anchor="middle">[${m.peer}]</text>`);
  });
  keys.forEach(([, name, color], j) => {
    el.push(`<rect x="${left + j * 80}" y="${H - 28}" width="12" height="12" fill="${color}"/><text x="${left + j * 80 + 16}" y="${H - 18}">${name}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${left}" y="22" font-size="14" font-weight="bold">Latency at ${r.settings.fixedRate} req/s, paced (ms, log scale)</text>
<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>
${el.join('\n')}
</svg>
`;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
