/**
 * Output: the table on stdout, `bench/results/<date>.json`, and for full runs `bench/RESULTS.md`
 * with `bench/latency.svg` (hand-written grouped bars of latency percentiles per mode).
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Percentiles } from './load.js';
import { failures, type ModeResult, type Settings } from './modes.js';

/** The source folder `bench/` (this file runs from `dist/bench/`). */
const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));

export interface Report {
  date: string;
  machine: { cpu: string; cores: number; node: string; platform: string };
  settings: Settings;
  modes: ModeResult[];
  bulk: { baselineMBps?: number; waypointMBps?: number; bytes: number; error?: string };
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
// Targets (issue 6)

export interface TargetRow {
  figure: string;
  envoy: string;
  target: string;
  stretch: string;
  value: number | undefined;
  unit: string;
  verdict: 'stretch met' | 'met' | 'missed' | 'n/a';
  /** A mode the figure comes from ran while other processes used more than 10% of a core. */
  skewed: boolean;
}

const mode = (r: Report, key: string): ModeResult | undefined => r.modes.find((m) => m.key === key && m.na === undefined);
const added = (r: Report, key: string, p: keyof Percentiles): number | undefined => {
  const a = mode(r, key)?.fixed?.latency[p];
  const b = mode(r, 'baseline')?.fixed?.latency[p];
  return a === undefined || b === undefined ? undefined : a - b;
};

export function targets(r: Report): TargetRow[] {
  const l7 = mode(r, 'l7');
  const l4 = mode(r, 'l4');
  const w2 = mode(r, 'workers');
  const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a / b);
  const rows: Array<Omit<TargetRow, 'verdict' | 'skewed'> & { lower: boolean; t: number; s: number; from?: string[] }> = [
    { figure: 'waypoint CPU per request (L7 HTTP/1.1)', envoy: '~250 µs', target: '≤ 200 µs', stretch: '≤ 120 µs', value: l7?.waypointCpuUsPerReq, unit: 'µs', lower: true, t: 200, s: 120, from: ['l7'] },
    { figure: 'added latency p50 vs baseline', envoy: '~0.1 ms per hop', target: '≤ 0.3 ms', stretch: '≤ 0.15 ms', value: added(r, 'l7', 'p50'), unit: 'ms', lower: true, t: 0.3, s: 0.15, from: ['l7', 'baseline'] },
    { figure: 'added latency p99 vs baseline', envoy: '~0.15 ms per hop', target: '≤ 1 ms', stretch: '≤ 0.5 ms', value: added(r, 'l7', 'p99'), unit: 'ms', lower: true, t: 1, s: 0.5, from: ['l7', 'baseline'] },
    { figure: 'RSS idle', envoy: '~60 MB', target: '≤ 64 MB', stretch: '≤ 50 MB', value: r.memory.idleMb, unit: 'MB', lower: true, t: 64, s: 50 },
    { figure: 'RSS per 1,000 idle HBONE sessions', envoy: 'n/a', target: '≤ 64 MB', stretch: '≤ 40 MB', value: r.memory.perThousandMb, unit: 'MB', lower: true, t: 64, s: 40 },
    { figure: 'L7 req/s ÷ L4-floor req/s (closed loop)', envoy: 'n/a', target: '≥ 0.6', stretch: '≥ 0.8', value: ratio(l7?.closed?.rps, l4?.closed?.rps), unit: '', lower: false, t: 0.6, s: 0.8, from: ['l7', 'l4'] },
    { figure: 'CPU per request, --workers 2 ÷ --workers 1', envoy: 'n/a', target: '≤ 1.10', stretch: '≤ 1.05', value: ratio(w2?.waypointCpuUsPerReq, l7?.waypointCpuUsPerReq), unit: '', lower: true, t: 1.1, s: 1.05, from: ['l7', 'workers'] },
  ];
  return rows.map(({ lower, t, s, from, ...row }) => {
    const v = row.value;
    const ok = (limit: number): boolean => v !== undefined && (lower ? v <= limit : v >= limit);
    const verdict = v === undefined || Number.isNaN(v) ? 'n/a' : ok(s) ? 'stretch met' : ok(t) ? 'met' : 'missed';
    const skewed = verdict !== 'n/a' && (from ?? []).some((k) => (mode(r, k)?.otherCpuPct ?? 0) > 10);
    return { ...row, verdict, skewed };
  });
}

// ---------------------------------------------------------------------------------------------
// Text

const f = (v: number | undefined, digits = 2): string => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));
const fi = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : String(Math.round(v)));

const COLUMNS = ['mode', 'req/s', 'wp CPU%', 'rate', 'p50', 'p90', 'p99', 'p99.9', '+p50', '+p99', 'wp µs/req', 'tun µs/req', 'RSS MB', 'other CPU%', 'err+non2xx'];

function modeCells(r: Report, m: ModeResult): string[] {
  if (m.na !== undefined) return [m.label, `n/a: ${m.na}`];
  const l = m.fixed?.latency;
  const errs = (m.closed === undefined ? 0 : failures(m.closed)) + (m.fixed === undefined ? 0 : failures(m.fixed));
  const base = m.key === 'baseline';
  return [
    m.label,
    fi(m.closed?.rps),
    fi(m.closedCpuPct?.waypoint),
    fi(m.fixed?.rps),
    f(l?.p50),
    f(l?.p90),
    f(l?.p99),
    f(l?.p999),
    base ? '' : f(added(r, m.key, 'p50')),
    base ? '' : f(added(r, m.key, 'p99')),
    fi(m.waypointCpuUsPerReq),
    fi(m.tunnelCpuUsPerReq),
    f(m.rssMb, 1),
    m.otherCpuPct !== undefined && m.otherCpuPct > 10 ? `${fi(m.otherCpuPct)} !!!` : fi(m.otherCpuPct),
    errs === 0 ? '0' : `${errs} !!!`,
  ];
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
  const b = r.bulk;
  const m = r.memory;
  return [
    b.error !== undefined
      ? `bulk TCP ${mib} MiB: failed: ${b.error}`
      : `bulk TCP ${mib} MiB: baseline ${f(b.baselineMBps, 0)} MB/s, through the waypoint ${f(b.waypointMBps, 0)} MB/s (${f(b.waypointMBps !== undefined && b.baselineMBps !== undefined ? b.waypointMBps / b.baselineMBps : undefined)}× baseline)`,
    m.error !== undefined
      ? `RSS idle ${f(m.idleMb, 1)} MB; idle sessions failed: ${m.error}`
      : `RSS idle ${f(m.idleMb, 1)} MB; with ${m.sessions} idle HBONE sessions ${f(m.withSessionsMb, 1)} MB (+${f(m.perThousandMb, 1)} MB per 1,000)`,
    `L7 loaded enforcement: routes ${r.enforcement.routes}; AuthorizationPolicy ${r.enforcement.authorization}`,
  ];
}

export function printReport(r: Report): void {
  const out: string[] = [
    '',
    `req/s: closed loop (${r.settings.closedConnections} connections, ${r.settings.closedSeconds} s), wp CPU% = waypoint CPU during it (% of one core)`,
    'other CPU%: CPU used by processes outside the benchmark during the mode (% of one core; above 10 the figures are skewed)',
    `rate: achieved req/s of the fixed-rate run (${r.settings.fixedRate} req/s asked, ${r.settings.fixedConnections} connections, ${r.settings.fixedSeconds} s); latency in ms during it; +pXX = added vs baseline`,
    '',
    textTable(COLUMNS, r.modes.map((m) => modeCells(r, m))),
    '',
    ...extras(r),
    '',
    'targets (issue 6):',
    ...targets(r).map((t) => `  ${t.figure.padEnd(44)} ${`${f(t.value)} ${t.unit}`.padStart(12)}  target ${t.target.padEnd(9)} stretch ${t.stretch.padEnd(10)} ${t.verdict}${t.skewed ? ' (skewed: a busy neighbour)' : ''}`),
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

export async function writeMarkdown(r: Report): Promise<void> {
  const modeRows = r.modes.map((m) => {
    const cells = modeCells(r, m);
    return cells.length === 2 ? [cells[0] ?? '', cells[1] ?? '', ...COLUMNS.slice(2).map(() => '')] : cells;
  });
  const md = `# Benchmark results

Regenerated by \`npm run bench\` (full run); do not edit by hand. Raw figures: \`bench/results/\`.

- date: ${r.date}
- machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.platform}
- Node.js ${r.machine.node}
- load: ${r.settings.responseBytes}-byte responses (\`${r.settings.path}\`); closed loop ${r.settings.closedConnections} connections × ${r.settings.closedSeconds} s;
  latency at a fixed ${r.settings.fixedRate} req/s (autocannon \`overallRate\`), ${r.settings.fixedConnections} connections × ${r.settings.fixedSeconds} s, after a ${r.settings.warmSeconds} s warm-up
- everything runs on this one machine over loopback: autocannon (harness), \`waypoint tunnel\` clients, the waypoint, the backends

## Modes

req/s is the closed loop, with the waypoint's CPU use during it (% of one core); rate is the
achieved rate of the fixed-rate run, with its latency in ms; +p50/+p99 added vs baseline; CPU per
request is user + system time of the waypoint (and of the tunnel client, for scale) over the
fixed-rate run; RSS after it; other CPU% is what processes outside the benchmark used meanwhile
(% of one core; above 10 the figures are skewed).

${markdownTable(COLUMNS, modeRows)}

![latency percentiles per mode](latency.svg)

${extras(r)
  .map((l) => `- ${l}`)
  .join('\n')}

## Targets (issue 6)

${markdownTable(
  ['figure', 'Envoy waypoint', 'target', 'stretch', 'measured', 'verdict'],
  targets(r).map((t) => [t.figure, t.envoy, t.target, t.stretch, `${f(t.value)} ${t.unit}`.trim(), t.skewed ? `${t.verdict} (skewed)` : t.verdict]),
)}

## Notes

${r.notes.map((n) => `- ${n}`).join('\n')}
`;
  await writeFile(join(BENCH_DIR, 'RESULTS.md'), md);
  await writeFile(join(BENCH_DIR, 'latency.svg'), latencySvg(r));
}

/** Grouped bars (p50, p90, p99, p99.9) per mode on a log scale; no dependencies. */
export function latencySvg(r: Report): string {
  const modes = r.modes.filter((m) => m.fixed !== undefined && m.na === undefined);
  const keys: Array<[keyof Percentiles, string, string]> = [
    ['p50', 'p50', '#4c78a8'],
    ['p90', 'p90', '#72b7b2'],
    ['p99', 'p99', '#f58518'],
    ['p999', 'p99.9', '#e45756'],
  ];
  const values = modes.flatMap((m) => keys.map(([k]) => m.fixed?.latency[k] ?? NaN)).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, lo * 10))));
  const W = 860;
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
      const v = m.fixed?.latency[k] ?? NaN;
      if (!(v > 0)) return;
      const yy = y(v);
      el.push(`<rect x="${(x0 + j * barW).toFixed(1)}" y="${yy.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" fill="${color}"><title>${escapeXml(m.label)} ${name}: ${v.toFixed(3)} ms</title></rect>`);
      el.push(`<text x="${(x0 + j * barW + barW / 2 - 1).toFixed(1)}" y="${(yy - 3).toFixed(1)}" text-anchor="middle" font-size="9">${v < 10 ? v.toFixed(2) : v.toFixed(0)}</text>`);
    });
    const label = m.label.replace(/ \(.*\)$/, '');
    el.push(`<text x="${(left + i * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle">${escapeXml(label)}</text>`);
  });
  keys.forEach(([, name, color], j) => {
    el.push(`<rect x="${left + j * 80}" y="${H - 28}" width="12" height="12" fill="${color}"/><text x="${left + j * 80 + 16}" y="${H - 18}">${name}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${left}" y="22" font-size="14" font-weight="bold">Latency at a fixed ${r.settings.fixedRate} req/s (ms, log scale)</text>
<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>
${el.join('\n')}
</svg>
`;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
