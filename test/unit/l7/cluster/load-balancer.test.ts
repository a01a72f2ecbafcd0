import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../../src/config/types.js';
import { seededRandom } from '../../../helpers/istio-mesh.js';
import type { LoadBalancer } from '../../../../src/routes/types.js';
import { computeHashKey, createPicker, endpointKey, type PickerDeps } from '../../../../src/l7/cluster/load-balancer.js';

const ep = (n: number, ready = true): Endpoint => ({ ip: `127.0.1.${n}`, port: 9080, workload: undefined, ready });
const FOUR = [ep(1), ep(2), ep(3), ep(4)];

function counts(picks: Array<Endpoint | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of picks) {
    const k = p === undefined ? 'none' : endpointKey(p);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function pickMany(lb: LoadBalancer, endpoints: readonly Endpoint[], n: number, deps: Partial<PickerDeps> = {}, hashKey?: (i: number) => string): Array<Endpoint | undefined> {
  const picker = createPicker(lb, { random: seededRandom(42), ...deps });
  return Array.from({ length: n }, (_, i) => picker.pick(endpoints, hashKey ? { hashKey: hashKey(i) } : {}));
}

describe('eligibility (all load balancers)', () => {
  const kinds: LoadBalancer[] = [{ kind: 'ROUND_ROBIN' }, { kind: 'LEAST_REQUEST' }, { kind: 'RANDOM' }, { kind: 'CONSISTENT_HASH', header: 'x' }];

  it.each(kinds)('$kind skips endpoints that are not ready', (lb) => {
    const picks = pickMany(lb, [ep(1, false), ep(2), ep(3, false)], 50, {}, (i) => `k${i}`);
    expect(Object.keys(counts(picks))).toEqual(['127.0.1.2:9080']);
  });

  it.each(kinds)('$kind skips ejected endpoints', (lb) => {
    const picks = pickMany(lb, FOUR, 100, { isEjected: (k) => k !== '127.0.1.4:9080' }, (i) => `k${i}`);
    expect(Object.keys(counts(picks))).toEqual(['127.0.1.4:9080']);
  });

  it.each(kinds)('$kind has nothing to pick when no endpoint is eligible', (lb) => {
    expect(createPicker(lb, { random: seededRandom(1) }).pick([ep(1, false)], { hashKey: 'k' })).toBeUndefined();
    expect(createPicker(lb, { random: seededRandom(1) }).pick([])).toBeUndefined();
  });

  it.each(kinds)('$kind avoids endpoints already tried while another is available', (lb) => {
    const picker = createPicker(lb, { random: seededRandom(3) });
    const tried = new Set(['127.0.1.1:9080', '127.0.1.2:9080', '127.0.1.3:9080']);
    for (let i = 0; i < 20; i++) expect(picker.pick(FOUR, { exclude: tried, hashKey: `k${i}` })?.ip).toBe('127.0.1.4');
  });

  it.each(kinds)('$kind falls back to a tried endpoint when none is left', (lb) => {
    const picker = createPicker(lb, { random: seededRandom(3) });
    const tried = new Set(FOUR.map(endpointKey));
    expect(picker.pick(FOUR, { exclude: tried, hashKey: 'k' })).toBeDefined();
  });
});

describe('ROUND_ROBIN', () => {
  it('rotates evenly and in order', () => {
    const picks = pickMany({ kind: 'ROUND_ROBIN' }, FOUR, 400);
    expect(picks.slice(0, 5).map((e) => e?.ip)).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4', '127.0.1.1']);
    expect(Object.values(counts(picks))).toEqual([100, 100, 100, 100]);
  });
});

describe('LEAST_REQUEST (power of two choices)', () => {
  it('prefers the idle endpoint: 1 - (2/3)^2 = 5/9 of picks for one idle among three', () => {
    const busy = new Map([
      ['127.0.1.1:9080', 10],
      ['127.0.1.2:9080', 10],
      ['127.0.1.3:9080', 0],
    ]);
    const c = counts(pickMany({ kind: 'LEAST_REQUEST' }, FOUR.slice(0, 3), 9000, { activeRequests: (k) => busy.get(k) ?? 0 }));
    // Seeded, so exact: 5013 of 9000 is 55.7 %, the 5/9 the rule predicts.
    expect(c).toEqual({ '127.0.1.1:9080': 1966, '127.0.1.2:9080': 2021, '127.0.1.3:9080': 5013 });
  });

  it('spreads evenly when all are equally loaded', () => {
    const c = counts(pickMany({ kind: 'LEAST_REQUEST' }, FOUR, 8000, { activeRequests: () => 1 }));
    // Seeded, so exact: each within 1 % of a quarter.
    expect(c).toEqual({ '127.0.1.1:9080': 2014, '127.0.1.2:9080': 1989, '127.0.1.3:9080': 2029, '127.0.1.4:9080': 1968 });
  });
});

describe('RANDOM', () => {
  it('is reproducible with a seeded source and roughly uniform', () => {
    const a = pickMany({ kind: 'RANDOM' }, FOUR, 40).map((e) => e?.ip);
    const b = pickMany({ kind: 'RANDOM' }, FOUR, 40).map((e) => e?.ip);
    expect(a).toEqual(b);
    const c = counts(pickMany({ kind: 'RANDOM' }, FOUR, 8000));
    // Seeded, so exact: each within 1 % of a quarter.
    expect(c).toEqual({ '127.0.1.1:9080': 2013, '127.0.1.2:9080': 1987, '127.0.1.3:9080': 2044, '127.0.1.4:9080': 1956 });
  });
});

describe('CONSISTENT_HASH (ring hash)', () => {
  const lb: LoadBalancer = { kind: 'CONSISTENT_HASH', header: 'x-user' };
  const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
  const assign = (endpoints: readonly Endpoint[], deps: Partial<PickerDeps> = {}) => {
    const picker = createPicker(lb, { random: seededRandom(9), ...deps });
    return keys.map((k) => picker.pick(endpoints, { hashKey: k })?.ip);
  };

  it('the same key always lands on the same endpoint, also in a new picker and another endpoint order', () => {
    const first = assign(FOUR);
    expect(assign(FOUR)).toEqual(first);
    expect(assign([...FOUR].reverse())).toEqual(first);
  });

  it('spreads keys over the endpoints', () => {
    const c = counts(assign(FOUR).map((ip) => ({ ip: ip ?? '', port: 9080, workload: undefined, ready: true })));
    for (const v of Object.values(c)) expect(v / keys.length).toBeGreaterThan(0.15);
  });

  it('removing an endpoint moves only its own keys', () => {
    const before = assign(FOUR);
    const after = assign(FOUR.filter((e) => e.ip !== '127.0.1.2'));
    let moved = 0;
    before.forEach((ip, i) => {
      if (ip === '127.0.1.2') {
        expect(after[i]).not.toBe('127.0.1.2');
        moved++;
      } else expect(after[i]).toBe(ip);
    });
    expect(moved / keys.length).toBeGreaterThan(0.1);
    expect(moved / keys.length).toBeLessThan(0.4);
  });

  it('an ejected endpoint loses its keys while ejected, and gets them back', () => {
    const before = assign(FOUR);
    const during = assign(FOUR, { isEjected: (k) => k === '127.0.1.3:9080' });
    before.forEach((ip, i) => {
      if (ip !== '127.0.1.3') expect(during[i]).toBe(ip);
    });
    expect(assign(FOUR)).toEqual(before);
  });

  it('without a hash key, picks at random (seeded)', () => {
    const picker = createPicker(lb, { random: seededRandom(5) });
    const c = counts(Array.from({ length: 4000 }, () => picker.pick(FOUR)));
    expect(c).toEqual({ '127.0.1.1:9080': 1004, '127.0.1.2:9080': 1009, '127.0.1.3:9080': 925, '127.0.1.4:9080': 1062 });
  });
});

describe('computeHashKey', () => {
  const input = (headers: Record<string, string | string[]>, path = '/', sourceIp: string | undefined = '127.0.9.9') => ({ headers, path, sourceIp });
  it.each<[string, LoadBalancer, ReturnType<typeof input>, object]>([
    ['header', { kind: 'CONSISTENT_HASH', header: 'x-user' }, input({ 'x-user': 'jason' }), { key: 'jason' }],
    ['header with several values', { kind: 'CONSISTENT_HASH', header: 'x-user' }, input({ 'x-user': ['a', 'b'] }), { key: 'a,b' }],
    ['header missing', { kind: 'CONSISTENT_HASH', header: 'x-user' }, input({}), {}],
    ['cookie', { kind: 'CONSISTENT_HASH', cookie: { name: 'sid' } }, input({ cookie: 'a=1; sid="abc"; b=2' }), { key: 'abc' }],
    ['cookie missing, no ttl: no key', { kind: 'CONSISTENT_HASH', cookie: { name: 'sid' } }, input({}), {}],
    ['source IP', { kind: 'CONSISTENT_HASH', sourceIp: true }, input({}), { key: '127.0.9.9' }],
    ['query parameter', { kind: 'CONSISTENT_HASH', queryParameter: 'u' }, input({}, '/p?x=1&u=bob'), { key: 'bob' }],
    ['query parameter missing', { kind: 'CONSISTENT_HASH', queryParameter: 'u' }, input({}, '/p?x=1'), {}],
    ['not a hash load balancer', { kind: 'ROUND_ROBIN' }, input({ 'x-user': 'a' }), {}],
  ])('%s', (_n, lb, inp, want) => {
    expect(computeHashKey(lb, inp)).toEqual(want);
  });

  it('generates a cookie from the client address when the cookie has a ttl', () => {
    const lb: LoadBalancer = { kind: 'CONSISTENT_HASH', cookie: { name: 'sid', ttlSeconds: 60, path: '/' } };
    const a = computeHashKey(lb, input({}));
    expect(a.key).toMatch(/^[0-9a-f]{16}$/);
    expect(a.setCookie).toBe(`sid="${a.key ?? ''}"; Max-Age=60; Path=/; HttpOnly`);
    expect(computeHashKey(lb, input({})).key).toBe(a.key);
  });
});
