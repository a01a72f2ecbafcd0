/** Exponential backoff with jitter: `base·2ⁿ`, capped, each delay ±`jitter` of itself. */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** Fraction of the delay added or taken away at random; default 0.2. */
  jitter?: number;
}

export class Backoff {
  #attempt = 0;
  readonly #opts: Required<BackoffOptions>;
  readonly #random: () => number;

  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    this.#opts = { jitter: 0.2, ...opts };
    this.#random = random;
  }

  /** The delay before the next attempt; each call doubles the next one, up to the cap. */
  next(): number {
    const { baseMs, capMs, jitter } = this.#opts;
    const raw = Math.min(capMs, baseMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const spread = raw * jitter * (this.#random() * 2 - 1);
    return Math.max(0, Math.min(capMs, Math.round(raw + spread)));
  }

  /** After a success: the next failure waits `baseMs` again. */
  reset(): void {
    this.#attempt = 0;
  }
}
