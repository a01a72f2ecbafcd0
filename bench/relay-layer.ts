/**
 * `node dist/bench/relay-layer.js [--mib N] [--rounds N]`: the CPU cost of the layer that relays
 * an opaque TCP tunnel's bytes between two HTTP/2 streams (issue 14 item 5), both ways of doing it
 * in one process, interleaved, so that a busy machine weighs on both alike: `socket`, each stream
 * wrapped in a StreamSocket (Duplex) and piped to the other, as TCP tunnels were relayed before;
 * `stream`, the StreamRelay (src/l7/tcp/stream-relay.ts) pumping one stream into the other.
 * One h2c client session (to NET.0.30, loopback) opens two CONNECT streams per
 * transfer; the server relays them to each other; the client writes N MiB into one and reads them
 * from the other. CPU is this process's user + system time per GiB (client and server included,
 * the same for both ways; the difference is the relay layer's). Prints one JSON line.
 */
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { StreamSocket } from '../src/hbone/stream-socket.js';
import { StreamRelay } from '../src/l7/tcp/stream-relay.js';

/** 127.200 unless BENCH_NET moves it, as every benchmark address (bench/config.ts). */
const NET = /^127\.\d{1,3}$/.test(process.env.BENCH_NET ?? '') ? (process.env.BENCH_NET as string) : '127.200';
const HOST = `${NET}.0.30`;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? undefined : Number(process.argv[i + 1]);
  return v === undefined || !Number.isFinite(v) ? fallback : v;
}

const ADDR = { remoteAddress: HOST, remotePort: 0, localAddress: HOST, localPort: 0 };

/** The former TCP relay: StreamSockets piped to each other, each closed when the other closes. */
function socketRelay(a: ServerHttp2Stream, b: ServerHttp2Stream): void {
  const x = new StreamSocket(a, ADDR);
  const y = new StreamSocket(b, ADDR);
  x.on('error', () => undefined);
  y.on('error', () => undefined);
  x.pipe(y);
  y.pipe(x);
  const closeTogether = (p: Duplex, q: Duplex): void => {
    p.once('close', () => {
      if (q.destroyed) return;
      if (!p.readableEnded) q.destroy();
      else if (!q.readableEnded) {
        if (q.writableFinished) q.destroy();
        else q.once('finish', () => q.destroy());
      }
    });
  };
  closeTogether(x, y);
  closeTogether(y, x);
}

const WAYS = {
  socket: socketRelay,
  stream: (a: ServerHttp2Stream, b: ServerHttp2Stream): void => void new StreamRelay(a, b),
  stream1m: (a: ServerHttp2Stream, b: ServerHttp2Stream): void => void new StreamRelay(a, b, { bufferBytes: 1024 * 1024 }),
} as const;
type Way = keyof typeof WAYS;

async function main(): Promise<void> {
  const mib = flag('mib', 256);
  const rounds = flag('rounds', 4);
  const settings = { initialWindowSize: 4 * 1024 * 1024, maxFrameSize: 1024 * 1024 };
  let way: Way = 'socket';
  const waiting: ServerHttp2Stream[] = [];
  const server = http2.createServer({ settings });
  server.on('session', (s) => s.setLocalWindowSize(16 * 1024 * 1024));
  server.on('stream', (s) => {
    s.on('error', () => undefined);
    s.respond({ ':status': 200 });
    waiting.push(s);
    if (waiting.length === 2) WAYS[way](waiting[0]!, waiting[1]!);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const session: ClientHttp2Session = http2.connect(`http://${HOST}:${(server.address() as AddressInfo).port}`, { settings });
  session.on('error', () => undefined);
  await once(session, 'connect');
  session.setLocalWindowSize(16 * 1024 * 1024);
  const chunk = Buffer.alloc(1024 * 1024, 0x61);

  const transfer = async (w: Way): Promise<number> => {
    way = w;
    waiting.length = 0;
    const open = async (): Promise<ClientHttp2Stream> => {
      const s = session.request({ ':method': 'CONNECT', ':authority': `${HOST}:9` }, { endStream: false });
      s.on('error', () => undefined);
      await once(s, 'response');
      return s;
    };
    const a = await open();
    const b = await open();
    const cpu0 = process.cpuUsage();
    let got = 0;
    b.on('data', (d: Buffer) => (got += d.length));
    const ended = once(b, 'end');
    const bytes = mib * 1024 * 1024;
    let sent = 0;
    while (sent < bytes) {
      sent += chunk.length;
      if (!a.write(chunk)) await once(a, 'drain');
    }
    a.end();
    await ended;
    b.end();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
    const cpu = process.cpuUsage(cpu0);
    if (got !== bytes) throw new Error(`${w}: ${got} bytes arrived of ${bytes}`);
    return ((cpu.user + cpu.system) / 1e6) * (1024 / mib);
  };

  await transfer('stream');
  await transfer('socket');
  const out: Record<Way, number[]> = { socket: [], stream: [], stream1m: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Way[] = r % 2 === 0 ? ['socket', 'stream', 'stream1m'] : ['stream1m', 'stream', 'socket'];
    for (const w of order) {
      out[w].push(Math.round((await transfer(w)) * 100) / 100);
    }
    log(`round ${r + 1}: CPU s per GiB relayed: socket ${out.socket.at(-1)}, stream ${out.stream.at(-1)}, stream1m ${out.stream1m.at(-1)}`);
  }
  session.destroy();
  server.close();
  const median = (xs: number[]): number => {
    const s = [...xs].sort((x, y) => x - y);
    return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
  };
  process.stdout.write(`${JSON.stringify({ mib, rounds, cpuSecondsPerGiB: out, median: { socket: median(out.socket), stream: median(out.stream), stream1m: median(out.stream1m) } })}\n`);
}

main().catch((err: unknown) => {
  log(`relay-layer: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
