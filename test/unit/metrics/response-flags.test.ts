import { describe, expect, it } from 'vitest';
import {
  NO_RESPONSE_FLAGS,
  RESPONSE_FLAGS,
  formatResponseFlags,
  hasResponseFlag,
  isResponseFlag,
  responseFlagList,
  responseFlags,
  unionResponseFlags,
  withResponseFlag,
  withoutResponseFlag,
  type ResponseFlag,
  type ResponseFlags,
} from '../../../src/metrics/response-flags.js';

describe('formatResponseFlags (access log field and metric label)', () => {
  const cases: Array<[string, ResponseFlags, string]> = [
    ['none', NO_RESPONSE_FLAGS, '-'],
    ['an empty set', responseFlags(), '-'],
    ['one flag', responseFlags('UF'), 'UF'],
    ['given out of order, printed in Envoy order', responseFlags('URX', 'UF'), 'UF,URX'],
    ['a list, put in Envoy order', responseFlags('DC', 'UH'), 'UH,DC'],
    ['duplicates dropped', responseFlags('UF', 'UF'), 'UF'],
    ['added twice, kept once', withResponseFlag(withResponseFlag(NO_RESPONSE_FLAGS, 'UR'), 'UR'), 'UR'],
    ['the union of two sets', unionResponseFlags(responseFlags('UT', 'DC'), responseFlags('DI')), 'UT,DI,DC'],
    ['a flag taken out', withoutResponseFlag(responseFlags('UF', 'URX', 'DC'), 'DC'), 'UF,URX'],
    ['the first and the last of the list', responseFlags('UDO', 'LH'), 'LH,UDO'],
  ];
  it.each(cases)('%s', (_name, set, want) => expect(formatResponseFlags(set)).toBe(want));

  it('prints a set the same way twice (the printed form is cached)', () => {
    const set = responseFlags('NC', 'UPE', 'DPE');
    expect(formatResponseFlags(set)).toBe('DPE,UPE,NC');
    expect(formatResponseFlags(set)).toBe('DPE,UPE,NC');
  });
});

describe('the flag list', () => {
  it("has Envoy's 30 core flags in Envoy's order", () => {
    expect(RESPONSE_FLAGS).toHaveLength(30);
    expect(RESPONSE_FLAGS.slice(0, 9)).toEqual(['LH', 'UH', 'UT', 'LR', 'UR', 'UF', 'UC', 'UO', 'NR']);
    expect(new Set(RESPONSE_FLAGS).size).toBe(30);
  });

  it('every flag survives a round trip through a set', () => {
    for (const f of RESPONSE_FLAGS) {
      const set = responseFlags(f);
      expect(responseFlagList(set)).toEqual([f]);
      expect(hasResponseFlag(set, f)).toBe(true);
      expect(formatResponseFlags(set)).toBe(f);
    }
    expect(responseFlagList(responseFlags(...RESPONSE_FLAGS))).toEqual([...RESPONSE_FLAGS]);
  });

  it.each([
    ['UF', true],
    ['URX', true],
    ['RBAC', false],
    ['-', false],
    ['', false],
    ['uf', false],
  ])('isResponseFlag(%j) is %s', (code, want) => expect(isResponseFlag(code)).toBe(want));

  it('a code outside the list does not type-check', () => {
    // @ts-expect-error 'RBAC' is not an Envoy response flag
    const bad: ResponseFlag = 'RBAC';
    expect(isResponseFlag(bad)).toBe(false);
  });
});
