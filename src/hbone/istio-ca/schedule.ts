/**
 * When to ask the CA again, as ztunnel and pilot-agent do: renew at half the certificate's
 * lifetime (a little jitter so replicas do not ask together), and after a failure retry with
 * exponential backoff capped at 150 s. Pure: the clock and the random source are arguments.
 */

/** Jitter around the half-life, as a fraction of the lifetime (±1 %). */
export const RENEW_JITTER = 0.01;
export const RETRY_INITIAL_MS = 1_000;
export const RETRY_MAX_MS = 150_000;

/** Milliseconds from `nowMs` until renewal of a certificate valid from `notBefore` to `notAfter`. */
export function renewalDelayMs(nowMs: number, notBefore: Date, notAfter: Date, random: () => number = Math.random): number {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (lifetime <= 0) return 0;
  const jitter = (random() * 2 - 1) * RENEW_JITTER * lifetime;
  const at = notBefore.getTime() + lifetime / 2 + jitter;
  return Math.max(0, Math.round(at - nowMs));
}

/**
 * Milliseconds before retry number `attempt` (1 for the first retry): 1 s, 2 s, 4 s … capped at
 * 150 s, each scaled by a random factor in [0.8, 1.2) and never above the cap.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const exp = RETRY_INITIAL_MS * 2 ** Math.max(0, Math.min(attempt - 1, 30));
  const base = Math.min(exp, RETRY_MAX_MS);
  return Math.min(RETRY_MAX_MS, Math.round(base * (0.8 + random() * 0.4)));
}
