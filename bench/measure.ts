/**
 * Measurements other than request load: process CPU time and RSS from /proc, bulk TCP throughput,
 * memory held by idle HBONE sessions, and single probe requests.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import type { WorkloadCert } from '../src/hbone/certs.js';

// ---------------------------------------------------------------------------------------------
// Command line and statistics of the hand-measurement scripts

/** The number after `--name` on the command line, or `fallback`. */
export function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? undefined : Number(process.argv[i + 1]);
  return v === undefined || !Number.isFinite(v) ? fallback : v;
}

// ---------------------------------------------------------------------------------------------
// /proc

export const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** `pid` and all its descendants (a `--workers N` waypoint is a primary with N children). */
function processTree(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const p = Number(name);
    if (!Number.isInteger(p)) continue;
    const st = readStat(p);
    if (st === undefined) continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push(p);
    byParent.set(st.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of byParent.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** User + system CPU seconds of the process tree rooted at `pid`. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) ticks += readStat(p)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

/**
 * Read and write system calls (/proc/PID/io syscr, syscw) and the main thread's voluntary context
 * switches (event-loop wake-ups) of the process tree rooted at `pid`: counts that do not depend on
 * how busy the machine is, so two builds compare by them where CPU time is too noisy.
 */
export function syscallCounts(pid: number): { reads: number; writes: number; wakeups: number } {
  const out = { reads: 0, writes: 0, wakeups: 0 };
  for (const p of processTree(pid)) {
    try {
      const io = readFileSync(`/proc/${p}/io`, 'utf8');
      out.reads += Number(/^syscr:\s+(\d+)/m.exec(io)?.[1] ?? 0);
      out.writes += Number(/^syscw:\s+(\d+)/m.exec(io)?.[1] ?? 0);
      out.wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal) since boot. */
export function machineBusySeconds(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  return (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) / CLK_TCK;
}

/**
 * CPU used by processes outside the benchmark (anything not the harness or its children) from
 * now until the returned function is called, as % of one core: a busy neighbour skews every figure.
 */
export function foreignCpu(): () => number {
  const busy0 = machineBusySeconds();
  const ours0 = cpuSeconds(process.pid);
  const t0 = process.hrtime.bigint();
  return () => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const foreign = machineBusySeconds() - busy0 - (cpuSeconds(process.pid) - ours0);
    return Math.max(0, (foreign / seconds) * 100);
  };
}

/** The median of `xs` (the mean of the two middle values for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : ((s[(s.length - 1) >> 1] ?? NaN) + (s[s.length >> 1] ?? NaN)) / 2;
}

/** Resident memory (VmRSS) of the process tree rooted at `pid`, in MB (2^20 bytes). */
export function rssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return kb / 1024;
}

// ---------------------------------------------------------------------------------------------
// Bulk TCP throughput

/**
 * Sends `bytes` through a tunnel to a byte sink (which answers the count at half-close) and
 * returns MB/s (10^6 bytes per second), timed from the first write to the sink's answer.
 */
export function bulkTransfer(host: string, port: number, bytes: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const socket = net.connect({ host, port });
    let reply = '';
    let started = 0n;
    const timer = setTimeout(() => socket.destroy(new Error(`bulk transfer via ${host}:${port} not done after ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      started = process.hrtime.bigint();
      let sent = 0;
      const write = (): void => {
        while (sent < bytes) {
          const n = Math.min(chunk.length, bytes - sent);
          sent += n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            socket.once('drain', write);
            return;
          }
        }
        socket.end();
      };
      write();
    });
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.once('end', () => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const received = Number(reply.trim());
      if (received !== bytes) reject(new Error(`bulk transfer via ${host}:${port}: the sink counted ${reply.trim() || 'nothing'}, sent ${bytes}`));
      else resolve(bytes / seconds / 1e6);
      socket.destroy();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Idle HBONE sessions

export interface IdleSessions {
  opened: number;
  close(): Promise<void>;
}

/**
 * Opens `count` separate TLS 1.3 + h2 sessions to an HBONE server with the client certificate,
 * each completing one CONNECT to `authority` (the stream is then left open and idle); with no
 * authority, each session only waits for the server's SETTINGS and opens no stream.
 */
export async function openIdleSessions(
  host: string,
  port: number,
  authority: string | undefined,
  cert: WorkloadCert,
  count: number,
  timeoutMs: number,
): Promise<IdleSessions> {
  const sessions: ClientHttp2Session[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled(
      sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            s.destroy();
          }),
      ),
    );
  };
  const openOne = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = http2.connect(`https://${host}:${port}`, {
        ca: cert.rootCertPem,
        cert: cert.certChainPem,
        key: cert.keyPem,
        minVersion: 'TLSv1.3',
        ALPNProtocols: ['h2'],
        servername: '',
        checkServerIdentity: () => undefined,
      });
      sessions.push(s);
      s.on('error', reject);
      if (authority === undefined) {
        s.once('remoteSettings', () => resolve());
        return;
      }
      const stream = s.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
      stream.on('error', reject);
      stream.once('response', (headers) => {
        const status = headers[':status'];
        if (status === 200) resolve();
        else reject(new Error(`idle session CONNECT ${authority}: status ${String(status)}`));
      });
    });
  const deadline = Date.now() + timeoutMs;
  try {
    // A few handshakes at a time: the point is the memory they hold, not a connection storm.
    const batch = 100;
    for (let i = 0; i < count; i += batch) {
      if (Date.now() > deadline) throw new Error(`opened only ${i} of ${count} idle sessions in ${timeoutMs} ms`);
      await Promise.all(Array.from({ length: Math.min(batch, count - i) }, openOne));
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { opened: sessions.length, close: closeAll };
}

// ---------------------------------------------------------------------------------------------
// Probes

/** One plain HTTP/1.1 GET through a tunnel: status and body length (0 status on failure). */
export function probe(host: string, port: number, path: string): Promise<{ status: number; bytes: number; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: 5000 }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', (err) => resolve({ status: 0, bytes, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ status: 0, bytes: 0, error: err.message }));
  });
}
