import { describe, expect, it } from 'vitest';
import type { OutlierDetectionPolicy } from '../../../../src/routes/types.js';
import { OutlierDetector, type OutlierOutcome } from '../../../../src/l7/cluster/outlier.js';

const HOSTS = ['a', 'b', 'c', 'd'];

function setup(policy: Partial<OutlierDetectionPolicy> = {}, hosts = HOSTS) {
  let now = 0;
  const clock = { set: (t: number) => (now = t), get: () => now };
  const det = new OutlierDetector(
    { consecutive5xxErrors: 3, intervalMs: 1000, baseEjectionTimeMs: 10_000, maxEjectionPercent: 100, ...policy },
    { clock: () => now },
  );
  det.setEndpoints(hosts);
  const feed = (key: string, ...outcomes: OutlierOutcome[]) => outcomes.forEach((o) => det.onResult(key, o));
  return { det, clock, feed };
}

describe('OutlierDetector: consecutive errors', () => {
  it.each<[string, Partial<OutlierDetectionPolicy>, OutlierOutcome[], boolean]>([
    ['three 5xx in a row eject', {}, ['5xx', '5xx', '5xx'], true],
    ['two are not enough', {}, ['5xx', '5xx'], false],
    ['a success resets the count', {}, ['5xx', '5xx', 'success', '5xx', '5xx'], false],
    ['gateway errors count as 5xx too', {}, ['gateway-error', '5xx', 'connect-failure'], true],
    ['gateway threshold alone', { consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 }, ['gateway-error', 'connect-failure'], true],
    ['a plain 5xx breaks a gateway streak', { consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 }, ['gateway-error', '5xx', 'gateway-error'], false],
    ['consecutive5xxErrors 0 turns 5xx ejection off', { consecutive5xxErrors: 0 }, ['5xx', '5xx', '5xx', '5xx', '5xx', '5xx'], false],
    ['gateway errors do nothing on their own unless set', { consecutive5xxErrors: 0 }, ['gateway-error', 'gateway-error', 'gateway-error'], false],
  ])('%s', (_n, policy, outcomes, ejected) => {
    const { det, feed } = setup(policy);
    feed('a', ...outcomes);
    expect(det.isEjected('a')).toBe(ejected);
    expect(det.isEjected('b')).toBe(false);
  });

  it('maps HTTP statuses the way Envoy does', () => {
    const { det } = setup({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 });
    det.onHttpStatus('a', 503);
    det.onHttpStatus('a', 200);
    det.onHttpStatus('a', 504);
    expect(det.isEjected('a')).toBe(false);
    det.onHttpStatus('a', 502);
    expect(det.isEjected('a')).toBe(true);
  });
});

describe('OutlierDetector: ejection time', () => {
  it('returns at the first interval sweep after baseEjectionTime', () => {
    const { det, clock, feed } = setup();
    clock.set(500);
    feed('a', '5xx', '5xx', '5xx');
    expect(det.isEjected('a', 10_499)).toBe(true);
    // Eligible at 10 500; sweeps run every second from the start (t = 1000, 2000, ...).
    expect(det.isEjected('a', 10_999)).toBe(true);
    expect(det.isEjected('a', 11_000)).toBe(false);
  });

  it('stays out base × number of ejections when it fails again soon, and the back-off decays', () => {
    const { det, clock, feed } = setup();
    clock.set(500);
    feed('a', '5xx', '5xx', '5xx');
    clock.set(11_500); // back at 11 000
    feed('a', '5xx', '5xx', '5xx');
    expect(det.describe().hosts.find((h) => h.key === 'a')).toMatchObject({ ejected: true, numEjections: 2, ejectedUntil: 31_500 });
    expect(det.isEjected('a', 31_999)).toBe(true);
    expect(det.isEjected('a', 32_000)).toBe(false);
    // Healthy for a few sweeps: the back-off is back to 0, the next ejection is base again.
    clock.set(40_000);
    feed('a', '5xx', '5xx', '5xx');
    expect(det.describe().hosts.find((h) => h.key === 'a')?.ejectedUntil).toBe(50_000);
  });

  it('caps the ejection time at max(300 s, base)', () => {
    const { det, clock, feed } = setup({ baseEjectionTimeMs: 200_000, intervalMs: 100 });
    for (let i = 0; i < 3; i++) {
      feed('a', '5xx', '5xx', '5xx');
      const until = det.describe().hosts.find((h) => h.key === 'a')?.ejectedUntil ?? 0;
      expect(until - clock.get()).toBeLessThanOrEqual(300_000);
      clock.set(until + 100);
      expect(det.isEjected('a')).toBe(false);
    }
  });
});

describe('OutlierDetector: maxEjectionPercent', () => {
  it.each<[string, number, number, number]>([
    ['Envoy default 10% with 4 endpoints ejects none', 10, 4, 0],
    ['25% with 4 endpoints ejects one', 25, 4, 1],
    ['50% with 4 endpoints ejects two', 50, 4, 2],
    ['100% ejects all', 100, 4, 4],
    ['10% with 10 endpoints ejects one', 10, 10, 1],
  ])('%s', (_n, maxPercent, n, ejected) => {
    const hosts = Array.from({ length: n }, (_, i) => `h${i}`);
    const { det, feed } = setup({ maxEjectionPercent: maxPercent }, hosts);
    for (const h of hosts) feed(h, '5xx', '5xx', '5xx');
    expect(det.ejected()).toHaveLength(ejected);
    expect(det.describe().overflows).toBe(n - ejected);
  });

  it('an endpoint returning frees a slot for the next one', () => {
    const { det, clock, feed } = setup({ maxEjectionPercent: 25 });
    feed('a', '5xx', '5xx', '5xx');
    feed('b', '5xx', '5xx', '5xx');
    expect(det.ejected()).toEqual(['a']);
    clock.set(11_000);
    expect(det.ejected()).toEqual([]);
    feed('b', '5xx', '5xx', '5xx');
    expect(det.ejected()).toEqual(['b']);
  });

  it('an ejected endpoint that leaves the cluster frees its slot', () => {
    const { det, feed } = setup({ maxEjectionPercent: 50 });
    feed('a', '5xx', '5xx', '5xx');
    feed('b', '5xx', '5xx', '5xx');
    det.setEndpoints(['b', 'c', 'd', 'e']);
    expect(det.ejected()).toEqual(['b']);
    feed('c', '5xx', '5xx', '5xx');
    expect(det.ejected().sort()).toEqual(['b', 'c']);
  });
});

describe('OutlierDetector: describe', () => {
  it('reports hosts, counters and totals for the admin view', () => {
    const { det, feed } = setup();
    feed('b', '5xx');
    feed('a', '5xx', '5xx', '5xx');
    const view = det.describe();
    expect(view).toMatchObject({ ejectedCount: 1, ejectionsTotal: 1, overflows: 0 });
    expect(view.hosts.find((h) => h.key === 'b')).toEqual({ key: 'b', ejected: false, numEjections: 0, consecutive5xx: 1, consecutiveGatewayErrors: 0 });
  });
});
