/**
 * Open-loop paced load, fortio's model (as Istio's published latency uses): request j is due at
 * start + j / rate and goes to connection j mod N, so each connection sends at its own fixed
 * interval N / rate and the connections are evenly staggered; requests never bunch. A request
 * whose HTTP/1.1 connection is still busy is sent on a spare connection, or queued until one
 * frees; either way it counts as late and its latency runs from when it was due (no coordinated
 * omission). h2c sends every request on schedule on its connection's session (streams multiplex).
 */
import net from 'node:net';
import type { ClientHttp2Session } from 'node:http2';
import { connectH2c, h2Request, percentiles, type LoadOptions, type LoadResult } from './load.js';

export interface PacedResult extends LoadResult {
  /** Requests that could not leave on schedule on their own connection (sent on a spare or queued). */
  late: number;
  /** How far after its due time each request actually left, ms (timer resolution and event-loop lag). */
  sendLag: { p50: number; p99: number };
}

const REQUEST_TIMEOUT_MS = 10_000;
/** Largest response head accepted. */
const MAX_HEAD = 64 * 1024;

type Outcome = { status: number } | { error: 'timeout' | 'reset' };

/**
 * A keep-alive HTTP/1.1 connection with one request in flight and a minimal response reader
 * (status line, content-length body): cheaper than a client library, so the harness adds little.
 */
class H1Connection {
  readonly #socket: net.Socket;
  readonly #request: Buffer;
  #head: Buffer[] = [];
  #headBytes = 0;
  #bodyLeft = -1;
  #status = 0;
  #done: ((o: Outcome) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly ready: Promise<void>;
  closed = false;
  /** Taken by a request (set synchronously when chosen, cleared when its response is in). */
  reserved = false;

  constructor(host: string, port: number, path: string) {
    this.#request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: bench-paced\r\n\r\n`);
    this.#socket = net.connect({ host, port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
    this.#socket.on('error', () => undefined);
    this.#socket.on('data', (d: Buffer) => this.#onData(d));
    this.#socket.once('close', () => {
      this.closed = true;
      this.#finish({ error: 'reset' });
    });
  }

  send(): Promise<Outcome> {
    return new Promise((resolve) => {
      this.#done = resolve;
      this.#head = [];
      this.#headBytes = 0;
      this.#bodyLeft = -1;
      this.#status = 0;
      this.#timer = setTimeout(() => {
        this.#finish({ error: 'timeout' });
        this.#socket.destroy();
      }, REQUEST_TIMEOUT_MS);
      this.#socket.write(this.#request);
    });
  }

  #finish(o: Outcome): void {
    const done = this.#done;
    if (done === undefined) return;
    this.#done = undefined;
    clearTimeout(this.#timer);
    done(o);
  }

  #onData(d: Buffer): void {
    if (this.#done === undefined) {
      this.#socket.destroy(); // bytes nobody asked for
      return;
    }
    if (this.#bodyLeft < 0) {
      this.#head.push(d);
      this.#headBytes += d.length;
      const all = this.#head.length === 1 ? d : Buffer.concat(this.#head);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#headBytes > MAX_HEAD) this.#socket.destroy();
        return;
      }
      const head = all.subarray(0, end).toString('latin1');
      this.#status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length === null) {
        this.#socket.destroy(); // chunked or close-delimited: not what the echo backends send
        return;
      }
      this.#bodyLeft = Number(length[1]);
      d = all.subarray(end + 4);
    }
    this.#bodyLeft -= d.length;
    if (this.#bodyLeft === 0) this.#finish({ status: this.#status });
    else if (this.#bodyLeft < 0) this.#socket.destroy();
  }

  close(): void {
    this.#socket.destroy();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Tally {
  ok: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  late: number;
  samples: number[];
  lags: number[];
}

function record(t: Tally, o: Outcome, ms: number): void {
  if ('error' in o) {
    t.errors++;
    if (o.error === 'timeout') t.timeouts++;
  } else if (o.status >= 200 && o.status < 300) {
    t.ok++;
    t.samples.push(ms);
  } else {
    t.non2xx++;
  }
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Runs the schedule: calls `dispatch(j, dueMs)` for every request j as it falls due, from one
 * timer loop, then waits for every request in flight (bounded).
 */
async function schedule(o: LoadOptions & { rate: number }, dispatch: (j: number, due: number) => Promise<void>): Promise<{ seconds: number }> {
  const total = Math.round(o.seconds * o.rate);
  const start = nowMs() + 5;
  const inFlight = new Set<Promise<void>>();
  let j = 0;
  while (j < total) {
    const now = nowMs();
    while (j < total && start + (j * 1000) / o.rate <= now) {
      const p = dispatch(j, start + (j * 1000) / o.rate);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      j++;
    }
    if (j < total) await sleep(Math.max(0, start + (j * 1000) / o.rate - nowMs()));
  }
  await Promise.race([Promise.allSettled([...inFlight]), sleep(REQUEST_TIMEOUT_MS + 1000)]);
  return { seconds: (nowMs() - start) / 1000 };
}

function result(t: Tally, seconds: number): PacedResult {
  const lag = percentiles(t.lags);
  return {
    ok: t.ok,
    errors: t.errors,
    timeouts: t.timeouts,
    non2xx: t.non2xx,
    late: t.late,
    seconds,
    rps: t.ok / seconds,
    latency: percentiles(t.samples),
    sendLag: { p50: lag.p50, p99: lag.p99 },
  };
}

/** Paced HTTP/1.1 over `connections` keep-alive connections, plus up to as many spares. */
export async function h1Paced(o: LoadOptions & { rate: number }): Promise<PacedResult> {
  const open = (): H1Connection => new H1Connection(o.host, o.port, o.path);
  const main = Array.from({ length: o.connections }, open);
  const spares: H1Connection[] = [];
  await Promise.all(main.map((c) => c.ready));
  const t: Tally = { ok: 0, errors: 0, timeouts: 0, non2xx: 0, late: 0, samples: [], lags: [] };
  const waiting: Array<(c: H1Connection) => void> = [];
  const free = (c: H1Connection | undefined): c is H1Connection => c !== undefined && !c.reserved && !c.closed;
  const take = (c: H1Connection): H1Connection => {
    c.reserved = true;
    return c;
  };
  /** A request is done with `c`: the oldest queued request gets it, else it is free again. */
  const release = (c: H1Connection): void => {
    c.reserved = false;
    if (c.closed) return;
    const next = waiting.shift();
    if (next !== undefined) next(take(c));
  };
  const run = async (c: H1Connection, due: number, late: boolean): Promise<void> => {
    try {
      await c.ready;
    } catch {
      record(t, { error: 'reset' }, 0);
      c.reserved = false;
      return;
    }
    const sent = nowMs();
    t.lags.push(sent - due);
    const outcome = await c.send();
    record(t, outcome, nowMs() - (late ? due : sent));
    release(c);
  };
  const { seconds } = await schedule(o, (j, due) => {
    const i = j % o.connections;
    let c = main[i];
    if (c === undefined || c.closed) {
      c = open();
      c.ready.catch(() => undefined);
      main[i] = c;
    }
    if (free(c)) return run(take(c), due, false);
    t.late++;
    const spare = spares.find(free);
    if (spare !== undefined) return run(take(spare), due, true);
    if (spares.length < o.connections) {
      const s = take(open());
      s.ready.catch(() => undefined);
      spares.push(s);
      return run(s, due, true);
    }
    return new Promise<H1Connection>((resolve) => waiting.push(resolve)).then((got) => run(got, due, true));
  });
  for (const c of [...main, ...spares]) c.close();
  return result(t, seconds);
}

/** Paced h2c: request j on session j mod N, always on schedule (streams multiplex). */
export async function h2cPaced(o: LoadOptions & { rate: number }): Promise<PacedResult> {
  const sessions: ClientHttp2Session[] = await Promise.all(Array.from({ length: o.connections }, () => connectH2c(o.host, o.port, 10_000)));
  for (const s of sessions) s.on('error', () => undefined);
  const t: Tally = { ok: 0, errors: 0, timeouts: 0, non2xx: 0, late: 0, samples: [], lags: [] };
  try {
    const { seconds } = await schedule(o, async (j, due) => {
      const s = sessions[j % o.connections];
      if (s === undefined || s.destroyed) {
        record(t, { error: 'reset' }, 0);
        return;
      }
      const sent = nowMs();
      t.lags.push(sent - due);
      const outcome = await h2Request(s, o.path, REQUEST_TIMEOUT_MS);
      record(t, outcome, nowMs() - sent);
    });
    return result(t, seconds);
  } finally {
    for (const s of sessions) s.destroy();
  }
}
