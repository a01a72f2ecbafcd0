import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, isRetriable, type AttemptOutcome } from '../../../../src/l7/upstream/retry.js';
import type { AttemptFailure } from '../../../../src/l7/upstream/attempt.js';
import type { RetryOn, RetryPolicy } from '../../../../src/routes/types.js';

function policy(retryOn: readonly RetryOn[], statusCodes: readonly number[] = [], backoffBaseMs = 25): RetryPolicy {
  return { retries: 2, retryOn: new Set(retryOn), statusCodes: new Set(statusCodes), backoffBaseMs, avoidPreviousHosts: false };
}

const response = (status: number, grpcStatus?: number): AttemptOutcome => ({ kind: 'response', status, grpcStatus });
const failure = (f: AttemptFailure): AttemptOutcome => ({ kind: 'failure', failure: f });

const GRPC_CONDITIONS: ReadonlyArray<readonly [RetryOn, number]> = [
  ['cancelled', 1],
  ['deadline-exceeded', 4],
  ['resource-exhausted', 8],
  ['internal', 13],
  ['unavailable', 14],
];
const EVERY_CONDITION: readonly RetryOn[] = [
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'refused-stream',
  'retriable-status-codes',
  'retriable-4xx',
  ...GRPC_CONDITIONS.map(([name]) => name),
];

describe('isRetriable: responses (x-envoy-retry-on)', () => {
  it.each<[string, readonly RetryOn[], AttemptOutcome, boolean]>([
    ['5xx retries 500', ['5xx'], response(500), true],
    ['5xx retries 503', ['5xx'], response(503), true],
    ['5xx retries 599', ['5xx'], response(599), true],
    ['5xx leaves 499 alone', ['5xx'], response(499), false],
    ['5xx leaves 200 alone', ['5xx'], response(200), false],
    ['5xx leaves 409 alone', ['5xx'], response(409), false],
    ['gateway-error retries 502', ['gateway-error'], response(502), true],
    ['gateway-error retries 503', ['gateway-error'], response(503), true],
    ['gateway-error retries 504', ['gateway-error'], response(504), true],
    ['gateway-error leaves 500 alone', ['gateway-error'], response(500), false],
    ['gateway-error leaves 501 alone', ['gateway-error'], response(501), false],
    ['gateway-error leaves 505 alone', ['gateway-error'], response(505), false],
    ['retriable-4xx retries 409', ['retriable-4xx'], response(409), true],
    ['retriable-4xx leaves 400 alone', ['retriable-4xx'], response(400), false],
    ['retriable-4xx leaves 408 alone', ['retriable-4xx'], response(408), false],
    ['retriable-4xx leaves 429 alone', ['retriable-4xx'], response(429), false],
    ['retriable-4xx leaves 503 alone', ['retriable-4xx'], response(503), false],
    ['connect-failure leaves a 503 response alone', ['connect-failure'], response(503), false],
    ['refused-stream leaves a 503 response alone', ['refused-stream'], response(503), false],
    ['reset leaves a 503 response alone', ['reset'], response(503), false],
    ['no condition retries nothing', [], response(503), false],
  ])('%s', (_name, on, outcome, expected) => {
    expect(isRetriable(policy(on), outcome)).toBe(expected);
  });

  it.each<[string, readonly RetryOn[], readonly number[], number, boolean]>([
    ['a listed code is retried', ['retriable-status-codes'], [418, 503], 418, true],
    ['another listed code is retried', ['retriable-status-codes'], [418, 503], 503, true],
    ['a code not listed is not', ['retriable-status-codes'], [418, 503], 500, false],
    ['a 2xx code can be listed', ['retriable-status-codes'], [202], 202, true],
    ['listed codes need the condition', [], [418], 418, false],
    ['the condition without codes retries nothing', ['retriable-status-codes'], [], 503, false],
  ])('retriable-status-codes: %s', (_name, on, codes, status, expected) => {
    expect(isRetriable(policy(on, codes), response(status))).toBe(expected);
  });
});

describe('isRetriable: gRPC status (x-envoy-retry-grpc-on)', () => {
  it.each(GRPC_CONDITIONS.map(([name, code]) => [name, code] as const))('%s retries grpc-status %i', (name, code) => {
    expect(isRetriable(policy([name]), response(200, code))).toBe(true);
  });

  it.each(GRPC_CONDITIONS.map(([name, code]) => [name, code] as const))('%s (grpc-status %i) needs its own condition', (name, code) => {
    const others = GRPC_CONDITIONS.map(([n]) => n).filter((n) => n !== name);
    expect(isRetriable(policy(others), response(200, code))).toBe(false);
  });

  it.each<[string, readonly RetryOn[], AttemptOutcome, boolean]>([
    ['grpc-status 0 (OK) is never retried', GRPC_CONDITIONS.map(([n]) => n), response(200, 0), false],
    ['grpc-status 2 (UNKNOWN) has no condition', GRPC_CONDITIONS.map(([n]) => n), response(200, 2), false],
    ['grpc-status 7 (PERMISSION_DENIED) has no condition', GRPC_CONDITIONS.map(([n]) => n), response(200, 7), false],
    ['a gRPC condition does not look at the HTTP status', ['unavailable'], response(503), false],
    ['5xx does not look at grpc-status', ['5xx'], response(200, 14), false],
    ['a 503 carrying grpc-status 14 is retried under unavailable', ['unavailable'], response(503, 14), true],
  ])('%s', (_name, on, outcome, expected) => {
    expect(isRetriable(policy(on), outcome)).toBe(expected);
  });
});

describe('isRetriable: failures before a response', () => {
  // Rows: what happened; columns: the one condition the policy holds.
  const conditions: readonly RetryOn[] = ['5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-4xx', 'retriable-status-codes', 'unavailable'];
  const matrix: ReadonlyArray<readonly [AttemptFailure, readonly boolean[]]> = [
    //                 5xx    gw-err  reset  connect refused 4xx    codes  unavail
    ['connect-failure', [true, true, true, true, false, false, false, false]],
    ['refused-stream', [true, true, true, false, true, false, false, false]],
    ['reset', [true, true, true, false, false, false, false, false]],
    ['timeout', [true, true, true, false, false, false, false, false]],
    ['cancelled', [false, false, false, false, false, false, false, false]],
  ];
  const cases = matrix.flatMap(([f, row]) => conditions.map((c, i) => [f, c, row[i]!] as const));

  it.each(cases)('%s under retry-on %s: %s', (f, condition, expected) => {
    // 503 is listed so that `retriable-status-codes` would match the local reply a failure becomes.
    expect(isRetriable(policy([condition], [503]), failure(f))).toBe(expected);
  });

  it('a cancelled attempt is never retried, whatever the policy holds', () => {
    expect(isRetriable(policy(EVERY_CONDITION, [503]), failure('cancelled'))).toBe(false);
  });

  it.each<AttemptFailure>(['connect-failure', 'refused-stream', 'reset', 'timeout', 'cancelled'])('an empty policy never retries %s', (f) => {
    expect(isRetriable(policy([]), failure(f))).toBe(false);
  });
});

describe('backoffMs: fully jittered exponential backoff, capped at 10 × base', () => {
  const justBelowOne = 1 - Number.EPSILON;

  it.each<[string, number, number, number, number]>([
    // name, base, retry number, random, expected
    ['retry 1, random 0', 25, 1, 0, 0],
    ['retry 4, random 0', 25, 4, 0, 0],
    ['retry 1, random 0.5: half of the base', 25, 1, 0.5, 12],
    ['retry 2, random 0.5: twice retry 1', 25, 2, 0.5, 25],
    ['retry 3, random 0.5: twice again', 25, 3, 0.5, 50],
    ['retry 4, random 0.5: twice again', 25, 4, 0.5, 100],
    ['retry 5, random 0.5: capped at 10 × base', 25, 5, 0.5, 125],
    ['retry 12, random 0.5: still capped', 25, 12, 0.5, 125],
    ['retry 1, random just below 1: base − 1', 25, 1, justBelowOne, 24],
    ['retry 2, random just below 1', 25, 2, justBelowOne, 49],
    ['retry 3, random just below 1', 25, 3, justBelowOne, 99],
    ['retry 4, random just below 1', 25, 4, justBelowOne, 199],
    ['retry 5, random just below 1: below the 250 ms cap', 25, 5, justBelowOne, 249],
    ['retry 64, random just below 1: below the cap', 25, 64, justBelowOne, 249],
    ['base 100, retry 3, random 0.25', 100, 3, 0.25, 100],
    ['base 100, retry 5, random 0.25: capped at 1000', 100, 5, 0.25, 250],
    ['base 1, retry 1, random just below 1', 1, 1, justBelowOne, 0],
  ])('%s', (_name, base, n, r, expected) => {
    expect(backoffMs(policy([], [], base), n, () => r)).toBe(expected);
  });

  it('draws exactly one random number per backoff', () => {
    let calls = 0;
    backoffMs(policy(['5xx']), 3, () => {
      calls++;
      return 0.3;
    });
    expect(calls).toBe(1);
  });

  it('always lands in [0, min(base · 2^(n−1), 10 · base)) as whole milliseconds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (base, n, r) => {
          const ms = backoffMs(policy([], [], base), n, () => r);
          const ceiling = Math.min(base * 2 ** (n - 1), base * 10);
          return Number.isInteger(ms) && ms >= 0 && ms < ceiling;
        },
      ),
      { seed: 10, numRuns: 500 },
    );
  });
});
