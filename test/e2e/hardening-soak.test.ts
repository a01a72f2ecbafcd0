/**
 * Hardening, item 7: the soak, CI-sized. Ten seconds of mixed load through a `waypoint run`
 * process (bench/soak.ts, the same code as `npm run soak`), then a settle period: no mismatch,
 * no error, nothing left open downstream, only the pooled upstream h2c tunnels upstream, no extra
 * socket or timer, and memory back within bounds. Needs the built CLI (`npm test` builds first).
 */
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../bench/soak.js';
import { holdLoadLock } from '../helpers/load-lock.js';

holdLoadLock();

describe('soak (CI-sized)', () => {
  it('10 s of load, then everything the load opened is released', async () => {
    const lines: string[] = [];
    const r = await runSoak({ seconds: 10, settleSeconds: 6, concurrency: 8, sampleSeconds: 2, slot: 1, log: (l) => lines.push(l) });
    console.log(lines.join('\n'));
    expect(r.problems).toStrictEqual([]);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toStrictEqual({});
    expect(r.requests).toBeGreaterThan(500);
    expect(r.final.sessions).toBe(0);
    expect(r.final.streams).toBe(0);
    expect(r.final.tunnels).toBeLessThanOrEqual(2);
    // Listeners, pipes and file watches as before the load; no socket left (timers may tick).
    const { Timeout: _a, ...after } = r.handlesAfter;
    const { Timeout: _b, ...before } = r.handlesBefore;
    expect(after).toStrictEqual(before);
    expect(r.endRssMb).toBeLessThan(r.startRssMb * 1.25 + 16);
    expect(r.endHeapMb).toBeLessThan(r.startHeapMb * 1.25 + 8);
  }, 40_000);
});
