/**
 * A preload for a measured process (`node --expose-gc --import dist/bench/memory-report.js …`):
 * on SIGUSR2 it collects garbage (when `gc` is exposed), writes a heap snapshot when
 * MEMORY_REPORT_SNAPSHOT names a file prefix, and prints one line on stderr:
 * `memory-report {"seq":N,"rss":…,"heapTotal":…,"heapUsed":…,"external":…,"arrayBuffers":…,"spaces":{…}}`
 * (bytes; `spaces` is each V8 heap space's committed size). bench/session-memory.ts reads it.
 */
import v8 from 'node:v8';

interface MemoryReport extends NodeJS.MemoryUsage {
  seq: number;
  gc: boolean;
  spaces: Record<string, number>;
  snapshot?: string;
}

const gc = (globalThis as { gc?: () => void }).gc;
let seq = 0;

process.on('SIGUSR2', () => {
  if (gc !== undefined) {
    // Twice: weakly held objects (WeakMap entries, finalizers) go only on the second pass.
    gc();
    gc();
  }
  seq++;
  const prefix = process.env.MEMORY_REPORT_SNAPSHOT;
  // Read before the snapshot, which allocates a lot of its own.
  const report: MemoryReport = {
    seq,
    gc: gc !== undefined,
    ...process.memoryUsage(),
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size])),
  };
  if (prefix !== undefined && prefix !== '') report.snapshot = v8.writeHeapSnapshot(`${prefix}-${process.pid}-${seq}.heapsnapshot`);
  process.stderr.write(`memory-report ${JSON.stringify(report)}\n`);
});
