/**
 * Retry policies the way Istio builds them (`istio/istio:pilot/pkg/networking/core/route/retry/retry.go`
 * `ConvertPolicy`, `parseRetryOn`): the default policy for a route without `retries`, and the
 * translation of a VirtualService `HTTPRetry`.
 */
import type { RetryOn, RetryPolicy } from '../types.js';

/** Envoy's default base interval of the exponential retry back-off. */
export const DEFAULT_BACKOFF_BASE_MS = 25;

const DEFAULT_RETRY_ON: readonly RetryOn[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'];

export interface DefaultRetryOptions {
  /**
   * Leave 503 out of the default `retriable-status-codes`, as Istio ≥ 1.24 does
   * (`EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY`, istio/istio#52111; the flag was removed in #56023,
   * making the exclusion permanent). Default false: 503 is retried, as the project's brief asks and
   * as Istio ≤ 1.23 did.
   */
  exclude503?: boolean;
  /**
   * The route's destination uses consistent hashing: Istio then leaves out the previous-hosts
   * predicate so a retry may go back to the same (hashed) host (istio/istio#50759).
   */
  consistentHash?: boolean;
}

/** Istio's default retry policy: 2 retries on connect-failure, refused-stream, unavailable, cancelled (and 503). */
export function istioDefaultRetryPolicy(opts: DefaultRetryOptions = {}): RetryPolicy {
  return Object.freeze({
    retries: 2,
    retryOn: new Set(DEFAULT_RETRY_ON),
    statusCodes: new Set(opts.exclude503 === true ? [] : [503]),
    backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
    avoidPreviousHosts: opts.consistentHash !== true,
  });
}

/** A policy that never retries (`retries.attempts: 0`). */
export const NO_RETRY: RetryPolicy = Object.freeze({
  retries: 0,
  retryOn: new Set<RetryOn>(),
  statusCodes: new Set<number>(),
  backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
  avoidPreviousHosts: false,
});

/** Every `retryOn` name Istio's validation accepts (`supportedRetryOnPolicies`). */
export const ISTIO_RETRY_ON: ReadonlySet<string> = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** The subset of those this waypoint implements (`RetryOn`). */
const SUPPORTED: ReadonlySet<string> = new Set<RetryOn>([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'refused-stream',
  'retriable-status-codes',
  'unavailable',
  'cancelled',
  'deadline-exceeded',
  'resource-exhausted',
  'internal',
  'retriable-4xx',
]);

/** Codes Go's `http.StatusText` knows: what Istio's `parseRetryOn` takes as a status code. */
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402,
  403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431,
  451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

export interface ParsedRetryOn {
  retryOn: Set<RetryOn>;
  statusCodes: Set<number>;
  /** Names Istio rejects. */
  invalid: string[];
  /** Names Istio accepts that this waypoint does not implement (ignored). */
  unsupported: string[];
}

/** Istio `parseRetryOn`: a comma list of Envoy retry conditions and HTTP status codes. */
export function parseRetryOn(text: string): ParsedRetryOn {
  const out: ParsedRetryOn = { retryOn: new Set(), statusCodes: new Set(), invalid: [], unsupported: [] };
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    if (/^\d+$/.test(part) && KNOWN_STATUS.has(Number(part))) {
      out.statusCodes.add(Number(part));
    } else if (SUPPORTED.has(part)) {
      out.retryOn.add(part as RetryOn);
    } else if (ISTIO_RETRY_ON.has(part)) {
      out.unsupported.push(part);
    } else {
      out.invalid.push(part);
    }
  }
  if (out.statusCodes.size > 0) out.retryOn.add('retriable-status-codes');
  return out;
}

export interface HttpRetrySpec {
  attempts?: number | null | undefined;
  perTryTimeoutMs?: number | undefined;
  retryOn?: string | null | undefined;
  retryIgnorePreviousHosts?: boolean | null | undefined;
  backoffMs?: number | undefined;
}

/**
 * Istio `ConvertPolicy`: no `retries` → the default policy; `attempts <= 0` → no retry; otherwise
 * the default policy with the fields given replacing its own.
 */
export function convertRetryPolicy(spec: HttpRetrySpec | undefined, opts: DefaultRetryOptions = {}): RetryPolicy {
  const base = istioDefaultRetryPolicy(opts);
  if (spec === undefined) return base;
  if ((spec.attempts ?? 0) <= 0) return NO_RETRY;
  let retryOn: ReadonlySet<RetryOn> = base.retryOn;
  let statusCodes: ReadonlySet<number> = base.statusCodes;
  if (spec.retryOn !== undefined && spec.retryOn !== null && spec.retryOn !== '') {
    const parsed = parseRetryOn(spec.retryOn);
    retryOn = parsed.retryOn;
    statusCodes = parsed.statusCodes;
  }
  let avoidPreviousHosts = base.avoidPreviousHosts;
  if (spec.retryIgnorePreviousHosts !== undefined && spec.retryIgnorePreviousHosts !== null) {
    avoidPreviousHosts = spec.retryIgnorePreviousHosts;
  }
  return Object.freeze({
    retries: spec.attempts ?? 0,
    ...(spec.perTryTimeoutMs !== undefined && spec.perTryTimeoutMs > 0 ? { perTryTimeoutMs: spec.perTryTimeoutMs } : {}),
    retryOn,
    statusCodes,
    backoffBaseMs: spec.backoffMs ?? DEFAULT_BACKOFF_BASE_MS,
    avoidPreviousHosts,
  });
}

/**
 * Istio's retry policy for routes that set none (2 retries; pilot/pkg/networking/core/route/retry),
 * with 503 retried as this project's contract says (Istio 1.24+ no longer retries 503 by default).
 */
export const ISTIO_DEFAULT_RETRY: RetryPolicy = istioDefaultRetryPolicy();
