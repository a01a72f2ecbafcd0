/**
 * Load generators: autocannon for HTTP/1.1, and a small node:http2 loop for h2c with the same
 * semantics (one connection per client, one request in flight per connection, and with a rate
 * the same per-connection quota per second that autocannon's `overallRate` applies).
 */
import http2, { type ClientHttp2Session } from 'node:http2';
import autocannon from 'autocannon';

export interface LoadOptions {
  host: string;
  port: number;
  path: string;
  connections: number;
  seconds: number;
  /** Requests per second over all connections; closed loop when absent. */
  rate?: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

export interface LoadResult {
  /** Responses with a 2xx status. */
  ok: number;
  seconds: number;
  rps: number;
  /** Per-request latency in ms, from each 2xx response (microsecond resolution). */
  latency: Percentiles;
  /** Transport errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** Nearest-rank percentiles of latencies in ms. */
export function percentiles(samples: number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number): number => (sorted.length === 0 ? NaN : (sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN));
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9) };
}

/**
 * HTTP/1.1 with autocannon. Latency comes from autocannon's per-response event (sub-ms
 * resolution): its own histogram records whole milliseconds, too coarse for a 0.3 ms target.
 */
export function h1Load(o: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const samples: number[] = [];
    const started = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: `http://${o.host}:${o.port}${o.path}`,
        connections: o.connections,
        duration: o.seconds,
        timeout: 10,
        // autocannon ends a run at a sample tick: 1 s ticks would round every run up to whole seconds.
        sampleInt: 250,
        ...(o.rate === undefined ? {} : { overallRate: o.rate }),
      },
      (err, r) => {
        if (err !== null) return reject(err);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        resolve({
          ok: r['2xx'],
          seconds,
          rps: r['2xx'] / seconds,
          latency: percentiles(samples),
          errors: r.errors,
          timeouts: r.timeouts,
          non2xx: r.non2xx,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) samples.push(ms);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function connectH2c(host: string, port: number, timeoutMs: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://${host}:${port}`);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`h2c connect to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One GET on an h2c session: the status, or an error kind. */
export function h2Request(s: ClientHttp2Session, path: string, timeoutMs: number): Promise<{ status: number } | { error: 'timeout' | 'reset' }> {
  return new Promise((resolve) => {
    let status = 0;
    let done = false;
    const finish = (r: { status: number } | { error: 'timeout' | 'reset' }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = s.request({ ':path': path });
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      finish({ error: 'timeout' });
    }, timeoutMs);
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', () => undefined);
    req.once('end', () => finish({ status }));
    req.once('error', () => finish({ error: 'reset' }));
    req.once('close', () => finish(status === 0 ? { error: 'reset' } : { status }));
  });
}

/** h2c load over `connections` separate h2c connections, one request in flight on each. */
export async function h2cLoad(o: LoadOptions): Promise<LoadResult> {
  const sessions = await Promise.all(Array.from({ length: o.connections }, () => connectH2c(o.host, o.port, 10_000)));
  for (const s of sessions) s.on('error', () => undefined);
  const samples: number[] = [];
  const r = { ok: 0, errors: 0, timeouts: 0, non2xx: 0 };
  // autocannon's rate: each connection may start rate/connections requests per second.
  const quota = (i: number): number =>
    o.rate === undefined ? Infinity : Math.floor(o.rate / o.connections) + (i < o.rate % o.connections ? 1 : 0);
  const started = process.hrtime.bigint();
  const end = Date.now() + o.seconds * 1000;
  const client = async (s: ClientHttp2Session, i: number): Promise<void> => {
    let second = Date.now();
    let made = 0;
    while (Date.now() < end) {
      if (made >= quota(i)) {
        await sleep(second + 1000 - Date.now());
        second += 1000;
        made = 0;
        continue;
      }
      made++;
      const t0 = process.hrtime.bigint();
      const res = await h2Request(s, o.path, 10_000);
      if ('error' in res) {
        r.errors++;
        if (res.error === 'timeout') r.timeouts++;
        if (s.destroyed || s.closed) return;
      } else if (res.status >= 200 && res.status < 300) {
        r.ok++;
        samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } else {
        r.non2xx++;
      }
    }
  };
  try {
    await Promise.all(sessions.map((s, i) => client(s, i)));
  } finally {
    for (const s of sessions) s.destroy();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { ...r, seconds, rps: r.ok / seconds, latency: percentiles(samples) };
}
