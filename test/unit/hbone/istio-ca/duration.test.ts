import { describe, expect, it } from 'vitest';
import { durationSeconds, parseDurationMs } from '../../../../src/hbone/istio-ca/duration.js';

describe('parseDurationMs', () => {
  it.each([
    ['24h', 86_400_000],
    ['12h', 43_200_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['2m3s', 123_000],
    [' 45s ', 45_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each([
    ['an empty string', ''],
    ['a bare number', '3600'],
    ['an unknown unit', '1d'],
    ['a negative value', '-5s'],
    ['junk after a valid part', '10sx'],
    ['a space inside', '1h 30m'],
  ])('refuses %s', (_name, text) => {
    expect(() => parseDurationMs(text)).toThrow(/duration/);
  });
});

describe('durationSeconds', () => {
  it.each([
    ['24h', 86_400],
    ['90s', 90],
    ['1500ms', 1],
  ])('%s is %d s', (text, s) => {
    expect(durationSeconds(text)).toBe(s);
  });

  it('refuses a lifetime under a second', () => {
    expect(() => durationSeconds('500ms')).toThrow(/at least 1s/);
  });
});
