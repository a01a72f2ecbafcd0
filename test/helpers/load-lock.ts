/**
 * One load test at a time on this machine. The files that drive a steady load and count every
 * failure (zero-error changes, the soak, parallel integrity) starve each other on two cores when
 * Vitest runs them side by side, so each holds this lock for its whole file. A lock left by a
 * process that is gone is taken over. Waiting is bounded.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const LOCK = join(tmpdir(), 'ts-waypoint-load-test.lock');
const WAIT_MS = 10 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquire(): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const fh = await open(LOCK, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(LOCK, 'utf8').catch(() => '')).trim());
    // No pid yet (being written) or a live holder: wait; a dead holder's lock is removed.
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) await rm(LOCK, { force: true });
    else if (Date.now() > deadline) throw new Error(`load-test lock ${LOCK} still held by pid ${holder} after ${WAIT_MS} ms`);
    else await new Promise((r) => setTimeout(r, 250));
  }
}

async function release(): Promise<void> {
  const holder = Number((await readFile(LOCK, 'utf8').catch(() => '')).trim());
  if (holder === process.pid) await rm(LOCK, { force: true });
}

/** Call at the top of a test file: holds the machine-wide load-test lock for the whole file. */
export function holdLoadLock(): void {
  beforeAll(acquire, WAIT_MS + 5_000);
  afterAll(release);
}
