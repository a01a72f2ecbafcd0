import type { Endpoint } from '../config/types.js';

/**
 * Round-robin over ready endpoints. The counter lives outside the immutable snapshot so it
 * survives reloads; the pick itself is pure.
 */
export function pickRoundRobin(endpoints: readonly Endpoint[], counter: number): Endpoint | undefined {
  let ready = 0;
  for (const e of endpoints) if (e.ready) ready++;
  if (ready === 0) return undefined;
  let nth = counter % ready;
  for (const e of endpoints) {
    if (!e.ready) continue;
    if (nth === 0) return e;
    nth--;
  }
  return undefined;
}

/** Per-cluster round-robin state. */
export class RoundRobinState {
  readonly #counters = new Map<string, number>();

  pick(cluster: string, endpoints: readonly Endpoint[]): Endpoint | undefined {
    const c = this.#counters.get(cluster) ?? 0;
    const e = pickRoundRobin(endpoints, c);
    this.#counters.set(cluster, (c + 1) % 1_000_000_007);
    return e;
  }
}
