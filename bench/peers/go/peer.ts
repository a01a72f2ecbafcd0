/**
 * Runs the Go peer for the benchmark: one `hbone-peer src` process holding every Go tunnel (a
 * listener per mode on the client address) and one `hbone-peer dst` process serving the `echo-go`
 * pods, and reads their frame counters.
 */
import http from 'node:http';
import { join } from 'node:path';
import { GO_STATS, goPodIp, POD_COUNT, podCertDir, WAYPOINT_IPS, WAYPOINT_PORTS, CLIENT_IP } from '../../config.js';
import type { LegCounts } from '../../frames.js';
import type { TunnelSpec } from '../../mesh.js';
import { spawnExecutable, waitForLine, type Child } from '../../processes.js';

export interface GoPeer {
  src: Child;
  dst: Child;
  /** Cumulative counters: `up` from the source (its leg to the waypoint), `down` from the destination. */
  counts(): Promise<{ up: LegCounts; down: LegCounts }>;
}

function getJson(hostPort: string, path: string, timeoutMs: number): Promise<unknown> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: Number(port), path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (body.length > 1 << 20) req.destroy(new Error('stats answer too large'));
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${hostPort}${path} timed out`)));
    req.on('error', reject);
  });
}

async function leg(hostPort: string, key: 'up' | 'down'): Promise<LegCounts> {
  const all = (await getJson(hostPort, '/stats', 5000)) as Record<string, LegCounts | undefined>;
  const l = all[key];
  if (l === undefined) throw new Error(`${hostPort}/stats: no "${key}" leg`);
  return l;
}

/** Starts both Go processes for `tunnels` (listening on CLIENT_IP) and waits until they listen. */
export async function startGoPeer(binary: string, dir: string, tunnels: TunnelSpec[]): Promise<GoPeer> {
  const dst = spawnExecutable('go-dst', binary, [
    'dst',
    ...['--stats', GO_STATS.dst],
    ...Array.from({ length: POD_COUNT }, (_, i) => ['--pod', `${goPodIp(i)},${podCertDir(join(dir, 'pods'), i)},echo-go-${i + 1}`]).flat(),
  ]);
  const src = spawnExecutable('go-src', binary, [
    'src',
    ...['--certs', join(dir, 'client'), '--stats', GO_STATS.src],
    ...tunnels.flatMap((t) => {
      const to = t.waypoint === undefined ? `${t.podIp ?? ''}:15008` : `${WAYPOINT_IPS[t.waypoint]}:${WAYPOINT_PORTS.hbone}`;
      return ['--tunnel', `${CLIENT_IP}:${t.port},${to},${t.authority}`];
    }),
  ]);
  await Promise.all([waitForLine(dst, 'ready'), waitForLine(src, 'ready')]);
  return {
    src,
    dst,
    counts: async () => {
      const [up, down] = await Promise.all([leg(GO_STATS.src, 'up'), leg(GO_STATS.dst, 'down')]);
      return { up, down };
    },
  };
}
