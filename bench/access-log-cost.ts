/**
 * `npm run build && node dist/bench/access-log-cost.js`: CPU time per access-log record, measured
 * in-process with `process.cpuUsage()` (user + system, so other processes on a loaded machine
 * skew it far less than wall time), for three ways of handling one L7 request's record:
 *
 * - `off`: the default now (src/metrics/access-log.ts with no target): nothing is written;
 * - `on`: `--access-log <file>`: one JSON.stringify per line, buffered non-blocking writes;
 * - `pino path (before)`: what every request paid before: a pino child with a serializer under
 *   the process logger's redaction paths (src/logger.ts), writing synchronously.
 *
 * Every line goes to /dev/null; the modes alternate over several rounds and the median is printed.
 */
import { pino } from 'pino';
import { AccessLog, type AccessRecord } from '../src/metrics/access-log.js';
import { formatResponseFlags, NO_RESPONSE_FLAGS } from '../src/metrics/response-flags.js';

const RECORDS = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 7);

function record(i: number): AccessRecord {
  return {
    type: 'http',
    start_time: new Date().toISOString(),
    duration_ms: 1,
    protocol: 'HTTP/1.1',
    method: 'GET',
    authority: 'echo.default.svc.cluster.local',
    path: `/?raw=1024&i=${i}`,
    response_code: 200,
    response_flags: NO_RESPONSE_FLAGS,
    bytes_received: 92,
    bytes_sent: 1222,
    upstream_host: '127.200.1.10:8080',
    upstream_cluster: 'inbound-vip|80|http|echo.default.svc.cluster.local',
    connect_authority: '127.200.100.1:80',
    chain: 'inbound-vip|80|http|echo.default.svc.cluster.local',
    source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
    source_address: '127.200.0.1:40000',
    x_request_id: '2f1b4c1e-7d0a-4d8e-9a7f-3c2b1a0f9e8d',
    route: 'default',
  };
}

type Write = (rec: AccessRecord) => void;

function before(): Write {
  // The former AccessLog: the process logger's options (src/logger.ts) and a serializing child.
  const root = pino(
    {
      level: 'info',
      base: { component: 'waypoint' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['*.keyPem', '*.key', 'keyPem', 'key'], censor: '[redacted]' },
    },
    pino.destination({ dest: '/dev/null', sync: true }),
  );
  const child = root.child({ log: 'access' }, { serializers: { response_flags: formatResponseFlags } });
  return (rec) => child.info(rec, 'access');
}

const logger = pino({ level: 'info', base: { component: 'waypoint' } });
const off = new AccessLog({ logger });
const on = new AccessLog({ logger, target: { kind: 'file', path: '/dev/null' } });
const modes: ReadonlyArray<[string, Write]> = [
  ['off (default)', (rec) => off.write(rec)],
  ['on (--access-log file)', (rec) => on.write(rec)],
  ['pino path (before)', before()],
];

function cpuMicros(write: Write): number {
  const recs = Array.from({ length: RECORDS }, (_, i) => record(i));
  const start = process.cpuUsage();
  for (const r of recs) write(r);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / RECORDS;
}

async function main(): Promise<void> {
  const samples = new Map<string, number[]>(modes.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, write] of modes) {
      samples.get(name)?.push(cpuMicros(write));
      // Let the buffered destination drain between samples.
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  on.flush();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  process.stdout.write(`access-log CPU per record, ${RECORDS} records × ${ROUNDS} rounds (median; min–max)\n`);
  for (const [name, xs] of samples) {
    process.stdout.write(`${name.padEnd(26)} ${median(xs).toFixed(2).padStart(6)} µs  (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})\n`);
  }
}

await main();
