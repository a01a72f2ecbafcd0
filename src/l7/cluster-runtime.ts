import type { Endpoint } from '../config/types.js';
import { formatAuthority } from '../hbone/authority.js';
import type { ClusterRuntime } from './forward.js';
import type { TrafficPolicy } from './routes/types.js';

/**
 * Round-robin endpoint choice per cluster with exclusion of hosts already tried (when another is
 * available); no limits, no outlier detection.
 */
export class RoundRobinClusters implements ClusterRuntime {
  readonly #counters = new Map<string, number>();

  pick(cluster: string, endpoints: readonly Endpoint[], _policy: TrafficPolicy, ctx: { exclude?: ReadonlySet<string> | undefined }): Endpoint | undefined {
    const c = this.#counters.get(cluster) ?? 0;
    this.#counters.set(cluster, (c + 1) % 1_000_000_007);
    const pickFrom = (skip: ReadonlySet<string> | undefined): Endpoint | undefined => {
      let n = 0;
      for (const e of endpoints) if (e.ready && (skip === undefined || !skip.has(formatAuthority(e.ip, e.port)))) n++;
      if (n === 0) return undefined;
      let nth = c % n;
      for (const e of endpoints) {
        if (!e.ready || (skip !== undefined && skip.has(formatAuthority(e.ip, e.port)))) continue;
        if (nth-- === 0) return e;
      }
      return undefined;
    };
    return pickFrom(ctx.exclude) ?? pickFrom(undefined);
  }

  acquire(): () => void {
    return noop;
  }

  report(): void {}
}

function noop(): void {}
