/**
 * `BENCH_NET=127.161 node dist/bench/session-memory.js [--sessions N] [--rounds N] [--settle-s N] [--semi-space-mb N] [--only KEY,…] [--snapshot]`:
 * what one idle HBONE session holds in the waypoint (issue 14 item 3), against a bare Node TLS +
 * HTTP/2 server with the same TLS options (bench/h2-reference.ts). Each variant runs in a fresh
 * process started with `--expose-gc`, the bench/memory-report.ts preload and, unless
 * `--semi-space-mb 0`, V8's young generation pinned at `--semi-space-mb` MB (default 1): the
 * young generation otherwise grows to 32 MB with the handshake burst and shrinks again when V8
 * sees fit, swinging a 1,000-session figure by ±30 MB whatever each session holds.
 *
 * - base: 2 s after readiness, the median of 3 reads (each: SIGUSR2 → two full GCs → one line of
 *   `process.memoryUsage()` and V8 space sizes → VmRSS from /proc/PID/status), 1 s apart;
 * - then N idle sessions from this process (bench/measure.ts `openIdleSessions`: mTLS 1.3 + h2,
 *   and one CONNECT to the http port answered 200 and left open, or no stream at all), and after
 *   `--settle-s` seconds (default 8: past the waypoint's 5 s sniff timeout) the same 3 reads.
 *
 * Prints per variant the median over `--rounds` fresh starts of the growth per 1,000 sessions: RSS,
 * V8 heap used (live objects) and committed (of which the young generation), Node's external memory
 * (ArrayBuffers apart), and the rest of RSS (OpenSSL, nghttp2, Node's C++ objects, malloc).
 * `--snapshot` adds one round per variant (not counted in the RSS figures) that writes a heap snapshot before and after in each
 * and prints the growth per session by type and constructor, Node's native objects included
 * (`Node / nghttp2_memory`, `Node / TLSWrap`, …; OpenSSL's own memory is not). BENCH_WAYPOINT_ARGS adds `waypoint run` flags. One JSON line on stdout.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NET_PREFIX, SVC_PORTS, VIP, WAYPOINT_IPS, WAYPOINT_PORTS } from './config.js';
import { flag, median, openIdleSessions, rssMb } from './measure.js';
import { startWaypoint, writeMeshFiles } from './mesh.js';
import { killAllNow, spawnScript, stopAll, waitForLine, waitForReady, type Child } from './processes.js';

const PRELOAD = pathToFileURL(fileURLToPath(new URL('./memory-report.js', import.meta.url))).href;
const REFERENCE = fileURLToPath(new URL('./h2-reference.js', import.meta.url));
/** Where the reference server listens (the waypoint is on WAYPOINT_IPS.main). */
const REFERENCE_IP = `${NET_PREFIX}.0.20`;
const REFERENCE_PORT = 15008;

interface Variant {
  key: string;
  label: string;
  server: 'waypoint' | 'reference' | 'reference-hbone-h2';
  /** One CONNECT per session, or none. */
  stream: boolean;
}

const VARIANTS: readonly Variant[] = [
  { key: 'waypoint', label: 'waypoint, one idle CONNECT (http port) per session', server: 'waypoint', stream: true },
  { key: 'waypoint-no-stream', label: 'waypoint, sessions without a stream', server: 'waypoint', stream: false },
  { key: 'reference', label: 'bare node:http2 secure server, one idle CONNECT per session', server: 'reference', stream: true },
  { key: 'reference-no-stream', label: 'bare node:http2 secure server, sessions without a stream', server: 'reference', stream: false },
  { key: 'reference-hbone-h2', label: "bare server with the waypoint's HTTP/2 settings, one idle CONNECT", server: 'reference-hbone-h2', stream: true },
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** One read: VmRSS from /proc and what the preload reported, in MB (2^20 bytes). */
interface Read {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  newSpace: number;
  external: number;
  arrayBuffers: number;
}
const FIELDS = ['rss', 'heapUsed', 'heapTotal', 'newSpace', 'external', 'arrayBuffers'] as const;

interface ReportLine {
  seq: number;
  gc: boolean;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, number>;
  snapshot?: string;
}

/** Reads the preload's report lines from a child's stderr. */
class Reporter {
  readonly #child: Child;
  readonly #lines: ReportLine[] = [];
  #partial = '';

  constructor(child: Child) {
    this.#child = child;
    child.proc.stderr?.on('data', (d: Buffer) => {
      const text = this.#partial + d.toString();
      const lines = text.split('\n');
      this.#partial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('memory-report ')) this.#lines.push(JSON.parse(l.slice('memory-report '.length)) as ReportLine);
    });
  }

  /** Signals the child and waits for its report; VmRSS is read right after it. */
  async read(timeoutMs = 120_000): Promise<{ read: Read; line: ReportLine }> {
    const before = this.#lines.length;
    this.#child.proc.kill('SIGUSR2');
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === before) {
      if (!this.#child.alive) throw new Error(`${this.#child.name} exited:\n${this.#child.output}`);
      if (Date.now() > deadline) throw new Error(`${this.#child.name}: no memory report after ${timeoutMs} ms`);
      await sleep(20);
    }
    const rss = rssMb(this.#child.pid);
    const line = this.#lines[this.#lines.length - 1]!;
    if (!line.gc) throw new Error(`${this.#child.name}: gc is not exposed`);
    const mb = (b: number): number => b / 1048576;
    return {
      line,
      read: {
        rss,
        heapUsed: mb(line.heapUsed),
        heapTotal: mb(line.heapTotal),
        newSpace: mb(line.spaces.new_space ?? 0),
        external: mb(line.external),
        arrayBuffers: mb(line.arrayBuffers),
      },
    };
  }

  /** The median of `count` reads, 1 s apart. */
  async median(count: number): Promise<Read> {
    const reads: Read[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(1000);
      reads.push((await this.read()).read);
    }
    return Object.fromEntries(FIELDS.map((f) => [f, median(reads.map((r) => r[f]))])) as unknown as Read;
  }
}

/**
 * Growth per 1,000 sessions, MB; `external` here is external − arrayBuffers (nghttp2's allocations
 * are not in it: see the snapshot's `Node / nghttp2_memory`).
 */
interface Growth extends Read {
  /** rss − heapTotal − external: OpenSSL, nghttp2, Node's C++ objects, sockets, malloc. */
  otherNative: number;
}

function growth(base: Read, after: Read, sessions: number): Growth {
  const d = (f: (typeof FIELDS)[number]): number => ((after[f] - base[f]) * 1000) / sessions;
  return {
    rss: d('rss'),
    heapUsed: d('heapUsed'),
    heapTotal: d('heapTotal'),
    newSpace: d('newSpace'),
    external: d('external') - d('arrayBuffers'),
    arrayBuffers: d('arrayBuffers'),
    otherNative: d('rss') - d('heapTotal') - d('external'),
  };
}

// ---------------------------------------------------------------------------------------------
// Heap snapshots

interface Bucket {
  count: number;
  bytes: number;
}

/** Self sizes of a heap snapshot's nodes by type and name (strings and code as one bucket each). */
async function summarise(file: string): Promise<Map<string, Bucket>> {
  const snap = JSON.parse(await readFile(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const out = new Map<string, Bucket>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!] ?? '?';
    const name = snap.strings[snap.nodes[i + iName]!] ?? '?';
    const key = ['string', 'concatenated string', 'sliced string', 'code', 'number'].includes(type) ? `(${type})` : `${type}: ${name.slice(0, 70)}`;
    const b = out.get(key) ?? { count: 0, bytes: 0 };
    b.count++;
    b.bytes += snap.nodes[i + iSize]!;
    out.set(key, b);
  }
  return out;
}

/** Per session: the buckets that grew most. */
function diffSnapshots(before: Map<string, Bucket>, after: Map<string, Bucket>, sessions: number, top = 45): Array<{ what: string; bytesPerSession: number; countPerSession: number }> {
  const rows = [...after].map(([what, a]) => {
    const b = before.get(what) ?? { count: 0, bytes: 0 };
    return { what, bytesPerSession: (a.bytes - b.bytes) / sessions, countPerSession: (a.count - b.count) / sessions };
  });
  const total = rows.reduce((s, r) => s + r.bytesPerSession, 0);
  rows.sort((x, y) => y.bytesPerSession - x.bytesPerSession);
  return [{ what: '(total)', bytesPerSession: total, countPerSession: rows.reduce((s, r) => s + r.countPerSession, 0) }, ...rows.slice(0, top)];
}

// ---------------------------------------------------------------------------------------------

async function startServer(dir: string, v: Variant, snapshotPrefix: string | undefined): Promise<Child> {
  const semi = flag('semi-space-mb', 1);
  const nodeArgs = ['--expose-gc', '--import', PRELOAD, ...(semi > 0 ? [`--min-semi-space-size=${semi}`, `--max-semi-space-size=${semi}`] : [])];
  if (snapshotPrefix !== undefined) process.env.MEMORY_REPORT_SNAPSHOT = snapshotPrefix;
  try {
    if (v.server === 'waypoint') {
      const child = startWaypoint(dir, { key: 'main', config: 'base', workers: 1 }, nodeArgs);
      await waitForReady(child, WAYPOINT_IPS.main, WAYPOINT_PORTS.readiness);
      return child;
    }
    const args = [join(dir, 'waypoint'), REFERENCE_IP, String(REFERENCE_PORT), ...(v.server === 'reference-hbone-h2' ? ['--hbone-h2'] : [])];
    const child = spawnScript(v.key, REFERENCE, args, nodeArgs);
    await waitForLine(child, 'ready');
    return child;
  } finally {
    delete process.env.MEMORY_REPORT_SNAPSHOT;
  }
}

async function main(): Promise<void> {
  const sessions = flag('sessions', 1000);
  const rounds = flag('rounds', 3);
  const settleMs = flag('settle-s', 8) * 1000;
  const withSnapshots = process.argv.includes('--snapshot');
  const i = process.argv.indexOf('--only');
  const only = i < 0 ? undefined : (process.argv[i + 1] ?? '').split(',');
  const variants = only === undefined ? VARIANTS : VARIANTS.filter((v) => only.includes(v.key));
  const dir = await mkdtemp(join(tmpdir(), 'waypoint-session-memory-'));
  const results: Record<string, { label: string; perThousandMb: Growth; roundsRssMb: number[]; baseRssMb: number; snapshot?: ReturnType<typeof diffSnapshots> }> = {};
  try {
    const clientCert = await writeMeshFiles(dir);
    for (const v of variants) {
      const growths: Growth[] = [];
      const bases: number[] = [];
      let snapshot: ReturnType<typeof diffSnapshots> | undefined;
      // With --snapshot, one more round for the waypoint variants whose RSS is not counted: a
      // snapshot allocates a lot of its own.
      const total = rounds + (withSnapshots ? 1 : 0);
      for (let r = 0; r < total; r++) {
        const snap = r === rounds ? join(dir, v.key) : undefined;
        const child = await startServer(dir, v, snap);
        try {
          const reporter = new Reporter(child);
          await sleep(2000);
          const base = snap === undefined ? await reporter.median(3) : undefined;
          const before = snap === undefined ? undefined : (await reporter.read()).line.snapshot;
          const host = v.server === 'waypoint' ? WAYPOINT_IPS.main : REFERENCE_IP;
          const port = v.server === 'waypoint' ? WAYPOINT_PORTS.hbone : REFERENCE_PORT;
          const t0 = Date.now();
          const idle = await openIdleSessions(host, port, v.stream ? `${VIP}:${SVC_PORTS.http}` : undefined, clientCert, sessions, 120_000);
          const openMs = Date.now() - t0;
          await sleep(settleMs);
          if (base !== undefined) {
            const after = await reporter.median(3);
            const show = (x: Read): string => FIELDS.map((f) => `${f} ${x[f].toFixed(1)}`).join(', ');
            log(`  base: ${show(base)}\n  after: ${show(after)}`);
            const g = growth(base, after, idle.opened);
            growths.push(g);
            bases.push(base.rss);
            log(
              `${v.key} round ${r + 1}: RSS ${base.rss.toFixed(1)} → ${after.rss.toFixed(1)} MB with ${idle.opened} sessions (opened in ${(openMs / 1000).toFixed(1)} s): ` +
                `+${g.rss.toFixed(1)} MB per 1,000 (heap used +${g.heapUsed.toFixed(1)}, committed +${g.heapTotal.toFixed(1)} of which new space +${g.newSpace.toFixed(1)}; ` +
                `external +${g.external.toFixed(1)}; array buffers +${g.arrayBuffers.toFixed(1)}; other native +${g.otherNative.toFixed(1)})`,
            );
          }
          const after = snap === undefined ? undefined : (await reporter.read()).line.snapshot;
          await idle.close();
          if (before !== undefined && after !== undefined) {
            snapshot = diffSnapshots(await summarise(before), await summarise(after), idle.opened);
            log(`${v.key}: heap snapshot growth per session (self size in bytes, count, type: name):`);
            for (const row of snapshot) log(`  ${row.bytesPerSession.toFixed(0).padStart(7)} B  ${row.countPerSession.toFixed(2).padStart(6)}  ${row.what}`);
          }
        } finally {
          await child.stop();
        }
      }
      const med = Object.fromEntries((Object.keys(growths[0] ?? {}) as Array<keyof Growth>).map((k) => [k, Math.round(median(growths.map((g) => g[k])) * 10) / 10])) as unknown as Growth;
      results[v.key] = { label: v.label, perThousandMb: med, roundsRssMb: growths.map((g) => Math.round(g.rss * 10) / 10), baseRssMb: Math.round(median(bases) * 10) / 10, ...(snapshot === undefined ? {} : { snapshot }) };
      if (growths.length > 0) log(`${v.key}: median +${med.rss} MB RSS per 1,000 sessions (rounds ${results[v.key]!.roundsRssMb.join(', ')})`);
    }
  } finally {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ sessions, rounds, settleS: settleMs / 1000, waypointArgs: process.env.BENCH_WAYPOINT_ARGS ?? '', results })}\n`);
}

process.once('exit', killAllNow);
main().catch(async (err: unknown) => {
  log(`session-memory: ${(err as Error).stack ?? String(err)}`);
  await stopAll();
  process.exit(1);
});
