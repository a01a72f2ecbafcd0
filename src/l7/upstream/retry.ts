import type { RetryOn, RetryPolicy } from '../../routes/types.js';
import type { AttemptFailure } from './attempt.js';

/** What one attempt came to, as retry decisions see it. */
export type AttemptOutcome = { kind: 'response'; status: number; grpcStatus?: number | undefined } | { kind: 'failure'; failure: AttemptFailure };

const GRPC_RETRY_ON: ReadonlyArray<readonly [RetryOn, number]> = [
  ['cancelled', 1],
  ['deadline-exceeded', 4],
  ['resource-exhausted', 8],
  ['internal', 13],
  ['unavailable', 14],
];

/**
 * Envoy's retry-on conditions (x-envoy-retry-on / x-envoy-retry-grpc-on semantics): whether an
 * attempt's outcome may be retried under a policy. Pure.
 */
export function isRetriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const on = policy.retryOn;
  if (outcome.kind === 'failure') {
    const f = outcome.failure;
    if (f === 'cancelled') return false;
    // As Envoy: `reset`, `5xx` and `gateway-error` each retry every upstream failure before a
    // response (connect failure, refused stream, reset, per-try timeout, which resets the stream);
    // `connect-failure` and `refused-stream` retry only their own.
    if (on.has('reset') || on.has('5xx') || on.has('gateway-error')) return true;
    return (f === 'connect-failure' && on.has('connect-failure')) || (f === 'refused-stream' && on.has('refused-stream'));
  }
  const s = outcome.status;
  if (on.has('5xx') && s >= 500 && s <= 599) return true;
  if (on.has('gateway-error') && s >= 502 && s <= 504) return true;
  if (on.has('retriable-status-codes') && policy.statusCodes.has(s)) return true;
  if (on.has('retriable-4xx') && s === 409) return true;
  if (outcome.grpcStatus !== undefined) {
    for (const [name, code] of GRPC_RETRY_ON) if (outcome.grpcStatus === code && on.has(name)) return true;
  }
  return false;
}

/**
 * Envoy's fully jittered exponential backoff: a random time in [0, base·2^(n-1)), capped at ten
 * times the base. `retryNumber` counts from 1.
 */
export function backoffMs(policy: RetryPolicy, retryNumber: number, random: () => number): number {
  const ceiling = Math.min(policy.backoffBaseMs * 2 ** (retryNumber - 1), policy.backoffBaseMs * 10);
  return Math.floor(random() * ceiling);
}
