import { describe, expect, it } from 'vitest';
import { renewalDelayMs, retryDelayMs, RETRY_MAX_MS } from '../../../../src/hbone/istio-ca/schedule.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (ms: number): Date => new Date(T0 + ms);
const fixed = (v: number) => (): number => v;

describe('renewalDelayMs', () => {
  it.each([
    ['24h certificate just issued, no jitter', 0, 86_400_000, 0, 0.5, 43_200_000],
    ['24h certificate, most jitter late (+1 %)', 0, 86_400_000, 0, 1, 43_200_000 + 864_000],
    ['24h certificate, most jitter early (-1 %)', 0, 86_400_000, 0, 0, 43_200_000 - 864_000],
    ['20 s certificate issued 1 s ago', 0, 20_000, 1_000, 0.5, 9_000],
    ['past its half-life already: now', 0, 20_000, 15_000, 0.5, 0],
    ['expired: now', 0, 20_000, 30_000, 0.5, 0],
    ['zero lifetime: now', 0, 0, 0, 0.5, 0],
  ])('%s', (_name, notBefore, notAfter, now, random, expected) => {
    expect(renewalDelayMs(T0 + now, at(notBefore), at(notAfter), fixed(random))).toBe(expected);
  });
});

describe('retryDelayMs', () => {
  it.each([
    ['first retry, no jitter', 1, 0.5, 1_000],
    ['second retry doubles', 2, 0.5, 2_000],
    ['fifth retry', 5, 0.5, 16_000],
    ['lowest jitter is 80 %', 3, 0, 3_200],
    ['capped at 150 s', 9, 0.5, RETRY_MAX_MS],
    ['the cap holds with the most jitter', 40, 0.999, RETRY_MAX_MS],
    ['a huge attempt number stays finite', 1e9, 0.5, RETRY_MAX_MS],
  ])('%s', (_name, attempt, random, expected) => {
    expect(retryDelayMs(attempt, fixed(random))).toBe(expected);
  });
});
