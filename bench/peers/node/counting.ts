/**
 * Frame counts for the Node peer. Node's HTTP/2 writes go from nghttp2 to TLS in C++, so they are
 * counted from outside: a counting pass per mode sends paced load through a `waypoint tunnel`
 * (started with `--tls-keylog`) whose HBONE connection passes a TLS tap, to the `echo-count`
 * Service whose pod's :15008 is another tap in front of a FakeZtunnel (count-backends.ts, also
 * logging keys). The taps decrypt and count frames on both legs (bench/peers/node/tls-tap.ts).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_IP, COUNT_POD_IP, COUNT_TAP_IP, COUNT_ZTUNNEL_PORT, podCertDir, POD_PORTS, WAYPOINT_IPS, WAYPOINT_PORTS } from '../../config.js';
import { diffLeg, frameStats, type FrameStats, type LegCounts } from '../../frames.js';
import type { ModeSpec, Settings } from '../../modes.js';
import { h1Paced, h2cPaced } from '../../paced.js';
import { spawnCliWith, spawnScript, waitForLine, waitForPort, type Child } from '../../processes.js';
import { TlsTap } from './tls-tap.js';

const COUNT_BACKENDS = fileURLToPath(new URL('./count-backends.js', import.meta.url));
const copy = (l: LegCounts): LegCounts => structuredClone(l);

export class NodeFrameCounter {
  readonly #dir: string;
  readonly #backends: Child;
  readonly #podTap: TlsTap;

  private constructor(dir: string, backends: Child, podTap: TlsTap) {
    this.#dir = dir;
    this.#backends = backends;
    this.#podTap = podTap;
  }

  /** Starts the counting destination and its tap; `dir` holds the bench certificates. */
  static async start(dir: string): Promise<NodeFrameCounter> {
    const keylog = join(dir, 'keylog-count-backends.txt');
    const backends = spawnScript('count-backends', COUNT_BACKENDS, [podCertDir(join(dir, 'pods'), 0)], [`--tls-keylog=${keylog}`]);
    await waitForLine(backends, 'ready');
    const podTap = new TlsTap({ listen: { host: COUNT_POD_IP, port: POD_PORTS.ztunnel }, target: { host: COUNT_POD_IP, port: COUNT_ZTUNNEL_PORT }, keylog, peerSide: 'server' });
    await podTap.listen();
    return new NodeFrameCounter(dir, backends, podTap);
  }

  /**
   * One counting pass for mode `m` (index `i`): paced load for `s.countSeconds` through a
   * key-logging tunnel and both taps; frames per request on both legs.
   */
  async pass(m: ModeSpec, i: number, s: Settings): Promise<FrameStats | undefined> {
    const keylog = join(this.#dir, `keylog-tunnel-${m.key}.txt`);
    const port = 18000 + i;
    const tapPort = 18100 + i;
    const direct = m.waypoint === undefined;
    const target = m.waypoint === undefined ? { host: COUNT_POD_IP, port: COUNT_ZTUNNEL_PORT } : { host: WAYPOINT_IPS[m.waypoint], port: WAYPOINT_PORTS.hbone };
    const tap = new TlsTap({ listen: { host: COUNT_TAP_IP, port: tapPort }, target, keylog, peerSide: 'client' });
    await tap.listen();
    const tunnel = spawnCliWith(
      `tunnel-count-${m.key}`,
      ['tunnel', '--listen', `${CLIENT_IP}:${port}`, '--to', `${COUNT_TAP_IP}:${tapPort}`, '--authority', m.authority('count'), '--certs', join(this.#dir, 'client'), '--log-level', 'warn'],
      [`--tls-keylog=${keylog}`],
    );
    try {
      await waitForPort(tunnel, CLIENT_IP, port);
      const up0 = copy(tap.counts);
      const down0 = copy(this.#podTap.counts);
      const load = m.protocol === 'h2c' ? h2cPaced : h1Paced;
      const r = await load({ host: CLIENT_IP, port, path: s.path, connections: s.fixedConnections, seconds: s.countSeconds, rate: s.fixedRate });
      // The last responses' records may still be in the taps' hands for a moment.
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (tap.undecrypted > 0 || this.#podTap.undecrypted > 0) return undefined;
      return frameStats(r.ok + r.non2xx, diffLeg(up0, tap.counts), direct ? undefined : diffLeg(down0, this.#podTap.counts), false);
    } finally {
      await tunnel.stop();
      await tap.close();
    }
  }

  async close(): Promise<void> {
    await this.#podTap.close();
    await this.#backends.stop();
  }
}
