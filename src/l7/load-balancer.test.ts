import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../config/types.js';
import { pickRoundRobin, RoundRobinState } from './load-balancer.js';

const ep = (ip: string, ready = true): Endpoint => ({ ip, port: 8080, workload: undefined, ready });

const A = ep('127.40.0.1');
const B = ep('127.40.0.2');
const C = ep('127.40.0.3');
const X = ep('127.40.0.8', false);
const Y = ep('127.40.0.9', false);

/** Picks `n` times from one cluster and returns the picked IPs (undefined as '-'). */
function sequence(rr: RoundRobinState, cluster: string, endpoints: readonly Endpoint[], n: number): string[] {
  return Array.from({ length: n }, () => rr.pick(cluster, endpoints)?.ip ?? '-');
}

function counts(ips: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ip of ips) out[ip] = (out[ip] ?? 0) + 1;
  return out;
}

describe('pickRoundRobin', () => {
  it.each<{ name: string; endpoints: Endpoint[]; counter: number; expected: Endpoint | undefined }>([
    { name: 'counter 0 → first ready', endpoints: [A, B, C], counter: 0, expected: A },
    { name: 'counter 1 → second ready', endpoints: [A, B, C], counter: 1, expected: B },
    { name: 'counter 2 → third ready', endpoints: [A, B, C], counter: 2, expected: C },
    { name: 'counter wraps modulo the ready count', endpoints: [A, B, C], counter: 3, expected: A },
    { name: 'large counter', endpoints: [A, B, C], counter: 1_000_000_006, expected: B },
    { name: 'not-ready first endpoint is skipped', endpoints: [X, A, B], counter: 0, expected: A },
    { name: 'counts only ready endpoints', endpoints: [X, A, Y, B], counter: 1, expected: B },
    { name: 'modulo the ready count, not the list length', endpoints: [X, A, Y, B], counter: 2, expected: A },
    { name: 'single ready endpoint among not-ready ones', endpoints: [X, B, Y], counter: 7, expected: B },
    { name: 'none ready', endpoints: [X, Y], counter: 0, expected: undefined },
    { name: 'none ready, any counter', endpoints: [X], counter: 5, expected: undefined },
    { name: 'empty list', endpoints: [], counter: 0, expected: undefined },
  ])('$name', ({ endpoints, counter, expected }) => {
    expect(pickRoundRobin(endpoints, counter)).toBe(expected);
  });
});

describe('RoundRobinState', () => {
  it.each<{ name: string; endpoints: Endpoint[]; picks: number; order: string[]; spread: Record<string, number> }>([
    {
      name: 'three ready endpoints',
      endpoints: [A, B, C],
      picks: 300,
      order: ['127.40.0.1', '127.40.0.2', '127.40.0.3', '127.40.0.1', '127.40.0.2', '127.40.0.3'],
      spread: { '127.40.0.1': 100, '127.40.0.2': 100, '127.40.0.3': 100 },
    },
    {
      name: 'not-ready endpoints interleaved',
      endpoints: [X, A, Y, B, C],
      picks: 300,
      order: ['127.40.0.1', '127.40.0.2', '127.40.0.3', '127.40.0.1', '127.40.0.2', '127.40.0.3'],
      spread: { '127.40.0.1': 100, '127.40.0.2': 100, '127.40.0.3': 100 },
    },
    {
      name: 'one ready endpoint',
      endpoints: [X, B, Y],
      picks: 10,
      order: ['127.40.0.2', '127.40.0.2', '127.40.0.2', '127.40.0.2', '127.40.0.2', '127.40.0.2'],
      spread: { '127.40.0.2': 10 },
    },
    {
      name: 'no ready endpoint',
      endpoints: [X, Y],
      picks: 4,
      order: ['-', '-', '-', '-', '-', '-'],
      spread: { '-': 4 },
    },
  ])('$name: order and even spread', ({ endpoints, picks, order, spread }) => {
    expect(sequence(new RoundRobinState(), 'c', endpoints, order.length)).toStrictEqual(order);
    expect(counts(sequence(new RoundRobinState(), 'c', endpoints, picks))).toStrictEqual(spread);
  });

  it('keeps an independent counter per cluster', () => {
    const rr = new RoundRobinState();
    const picks = [
      ['reviews', rr.pick('reviews', [A, B, C])?.ip],
      ['reviews', rr.pick('reviews', [A, B, C])?.ip],
      ['ratings', rr.pick('ratings', [A, B, C])?.ip],
      ['reviews', rr.pick('reviews', [A, B, C])?.ip],
      ['ratings', rr.pick('ratings', [A, B, C])?.ip],
      ['details', rr.pick('details', [A, B, C])?.ip],
    ];
    expect(picks).toStrictEqual([
      ['reviews', '127.40.0.1'],
      ['reviews', '127.40.0.2'],
      ['ratings', '127.40.0.1'],
      ['reviews', '127.40.0.3'],
      ['ratings', '127.40.0.2'],
      ['details', '127.40.0.1'],
    ]);
  });

  it('keeps separate states independent', () => {
    const one = new RoundRobinState();
    const two = new RoundRobinState();
    expect(one.pick('c', [A, B])).toBe(A);
    expect(one.pick('c', [A, B])).toBe(B);
    expect(two.pick('c', [A, B])).toBe(A);
  });

  it('keeps the counter when the endpoint list changes (e.g. across a reload)', () => {
    const rr = new RoundRobinState();
    expect(rr.pick('c', [A, B, C])).toBe(A);
    expect(rr.pick('c', [A, B, C])).toBe(B);
    // Third pick (counter 2) over a list where B went not-ready: ready = [A, C] → 2 % 2 = 0 → A.
    expect(rr.pick('c', [A, ep('127.40.0.2', false), C])).toBe(A);
    expect(rr.pick('c', [A, B, C])).toBe(A);
  });

  it('advances the counter even when nothing is ready', () => {
    const rr = new RoundRobinState();
    expect(rr.pick('c', [X])).toBeUndefined();
    expect(rr.pick('c', [A, B])).toBe(B);
  });
});
