/**
 * `node dist/bench/profile-summary.js FILE.cpuprofile [N] [FROM-TO]`: self time per function and
 * per module from a V8 CPU profile (`node --cpu-prof`), from its samples and timeDeltas. Prints the
 * top N (default 25) of each, as % of the non-idle time. FROM-TO (seconds since the profile
 * started, e.g. 29.5-35.5) keeps only the samples of that window: the load phase of one mode,
 * without start-up and handshakes.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time (µs) per node id, of the samples taken between fromUs and toUs after the start. */
export function selfTimes(p: CpuProfile, fromUs = 0, toUs = Infinity): Map<number, number> {
  const self = new Map<number, number>();
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    const id = p.samples[i]!;
    // Each sample's delta is the time since the previous one; attribute the next delta to it.
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  return self;
}

/** A module name from a script URL: node:internal/… kept, project files relative, packages by name. */
export function moduleOf(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 14).split('/').slice(0, url.slice(nm + 14).startsWith('@') ? 2 : 1).join('/');
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 6);
  return url.replace(/^file:\/\//, '');
}

const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

function top(m: Map<string, number>, total: number, n: number): string[] {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)} %  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

function main(): void {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: profile-summary FILE.cpuprofile [N]');
  const n = Number(process.argv[3] ?? 25);
  const window = (process.argv[4] ?? '0-Infinity').split('-').map((x) => Number(x) * 1e6);
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const fns = new Map<string, number>();
  const mods = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of selfTimes(p, window[0], window[1])) {
    const cf = byId.get(id)?.callFrame;
    if (cf === undefined) continue;
    const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const mod = IDLE.has(name) ? name : moduleOf(cf.url);
    const key = `${name} ${mod}:${cf.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    mods.set(mod, (mods.get(mod) ?? 0) + us);
  }
  process.stdout.write(`${file}: busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms\n\nself time per function\n`);
  process.stdout.write(`${top(fns, busy, n).join('\n')}\n\nself time per module\n${top(mods, busy, n).join('\n')}\n`);
}

if (process.argv[1]?.endsWith('profile-summary.js') === true) main();
