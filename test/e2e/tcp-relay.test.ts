/**
 * Opaque TCP through the waypoint's stream-to-stream relay (issue 14 item 5): a large echo keeps
 * every byte and counts each one (access log, istio_tcp_* metrics); while the client does not
 * read, the path holds a bounded amount and the client is held back; a client's reset reaches the
 * destination as a reset.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

// The core mesh moved to 127.162.100+ (127.162.1.1 → 127.162.101.1), clear of the benchmark's
// 127.162.0-10.x (BENCH_NET=127.162), so both can run at once.
const core = coreMesh(162);
const moved = (s: string): string => s.replace(/127\.162\.(\d+)\./g, (_m, third: string) => `127.162.${100 + Number(third)}.`);
const config = moved(core.config);
const pods = core.pods.map((p) => ({ ...p, ip: moved(p.ip) }));
const ip = (rest: string): string => moved(core.ip(rest));
let mesh: LoopbackMesh;
let client: HboneClientPool;
let logs: LogLine[];

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config,
    pods,
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: cap.logger,
  });
  client = await mesh.client('default', 'sleep', undefined, ip('0.1'));
});

afterAll(async () => {
  await mesh?.close();
});

function via(authority: string): HboneHttpClient {
  return new HboneHttpClient(client, { ...mesh.hbone, authority, expectedIdentity: mesh.waypointIdentity });
}

async function metric(name: string): Promise<number> {
  const m = mesh.waypoint.admin.addresses.metrics!;
  const res = await request(`http://${m.host}:${m.port}/stats/prometheus`);
  const lines = (await res.body.text()).split('\n').filter((l) => l.startsWith(`${name}{`));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const resets = (): number => [...mesh.ztunnels.values()].reduce((n, z) => n + z.resets, 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('opaque TCP relay', () => {
  it('a client that does not read holds the sender back (bounded); then every byte comes back, each counted', async () => {
    const total = 128 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
    const sentHash = createHash('sha256');
    const gotHash = createHash('sha256');
    const received0 = await metric('istio_tcp_received_bytes_total');
    const sent0 = await metric('istio_tcp_sent_bytes_total');
    const c = via(`${ip('10.1')}:9000`);
    const sock = await c.tunnel();
    sock.on('error', () => undefined);
    sock.pause();
    let sent = 0;
    let ended = false;
    const writeAll = (): void => {
      while (sent < total) {
        sent += chunk.length;
        sentHash.update(chunk);
        if (!sock.write(chunk)) {
          sock.once('drain', writeAll);
          return;
        }
      }
      ended = true;
      sock.end();
    };
    writeAll();
    // Nothing is read: the echo's answer fills every window and buffer back to the client, then
    // the client's own writes stop. Without backpressure at the waypoint it would take it all.
    let last = -1;
    for (let i = 0; i < 50 && sent !== last; i++) {
      last = sent;
      await sleep(200);
    }
    expect(ended).toBe(false);
    expect(sent).toBeLessThan(40 * 1024 * 1024);
    // Now read: everything comes back, in order.
    let got = 0;
    sock.on('data', (d: Buffer) => {
      got += d.length;
      gotHash.update(d);
    });
    sock.resume();
    await once(sock, 'end');
    expect(got).toBe(total);
    expect(gotHash.digest('hex')).toBe(sentHash.digest('hex'));
    sock.destroy();
    await c.close();
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.type === 'tcp' && l.bytes_received === total), 5000, 'access line');
    expect(line).toMatchObject({ bytes_received: total, bytes_sent: total, response_flags: '-' });
    await eventually(async () => ((await metric('istio_tcp_received_bytes_total')) - received0 === total ? true : undefined), 5000, 'received bytes counted');
    expect((await metric('istio_tcp_sent_bytes_total')) - sent0).toBe(total);
  }, 60_000);

  it('a client that resets its tunnel (INTERNAL_ERROR) gets the upstream tunnel reset; logged DC', async () => {
    const before = resets();
    const c = via(`${ip('10.1')}:9000`);
    const sock = await c.tunnel();
    sock.on('error', () => undefined);
    sock.write('reset-me');
    await once(sock, 'data');
    const opened = mesh.ztunnels.size;
    expect(opened).toBeGreaterThan(0);
    sock.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    await eventually(() => (resets() > before ? true : undefined), 5000, 'the destination ztunnel saw a reset');
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.type === 'tcp' && l.bytes_received === 8 && l.response_flags === 'DC'), 5000, 'access line');
    expect(line.bytes_sent).toBe(8);
    await c.close();
  });
});
