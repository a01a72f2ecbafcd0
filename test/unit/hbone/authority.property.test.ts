/**
 * Properties of the CONNECT authority parser, over generated input: it never throws, accepts
 * exactly `ip:port` / `[ipv6]:port` with a port in 1-65535, and what it accepts round-trips.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../../src/config/address.js';
import { formatAuthority, parseAuthority } from '../../../src/hbone/authority.js';

const RUNS = { numRuns: 500 };
const port = fc.integer({ min: 1, max: 65535 });

describe('parseAuthority (property)', () => {
  it('never throws and always says why it refuses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (s) => {
        const r = parseAuthority(s);
        if (!r.ok) expect(r.reason).not.toBe('');
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every IPv4 address with a port in range, canonical and round-tripping', () => {
    fc.assert(
      fc.property(fc.ipV4(), port, (ip, p) => {
        const r = parseAuthority(`${ip}:${p}`);
        expect(r).toStrictEqual({ ok: true, authority: { ip, port: p } });
      }),
      RUNS,
    );
  });

  it('accepts bracketed IPv6 (not IPv4-compatible forms), canonical, and the canonical form parses to itself', () => {
    fc.assert(
      fc.property(fc.ipV6(), port, (ip, p) => {
        const canonical = canonicalIp(ip);
        const r = parseAuthority(`[${ip}]:${p}`);
        if (canonical === undefined) {
          expect(r.ok).toBe(false);
          return;
        }
        expect(r).toStrictEqual({ ok: true, authority: { ip: canonical, port: p } });
        expect(parseAuthority(formatAuthority(canonical, p))).toStrictEqual(r);
      }),
      RUNS,
    );
  });

  it('refuses unbracketed IPv6, hostnames, and ports out of range', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.domain(), fc.ipV4(), fc.oneof(fc.constant(0), fc.integer({ min: 65536, max: 99999 })), port, (v6, host, v4, badPort, p) => {
        expect(parseAuthority(`${v6}:${p}`).ok).toBe(false);
        // A generated domain can look like an IPv4 address only if it is one; fc.domain never is.
        expect(parseAuthority(`${host}:${p}`).ok).toBe(false);
        expect(parseAuthority(`${v4}:${badPort}`).ok).toBe(false);
      }),
      RUNS,
    );
  });

  it('whatever it accepts has a port in 1-65535, an IP that is its own canonical form, and formats back to an accepted authority', () => {
    const near = fc.oneof(
      fc.tuple(fc.ipV4(), fc.string({ maxLength: 6 })).map(([ip, tail]) => `${ip}:${tail}`),
      fc.tuple(fc.ipV6(), fc.string({ maxLength: 6 })).map(([ip, tail]) => `[${ip}]:${tail}`),
      fc.tuple(fc.ipV4Extended(), port).map(([ip, p]) => `${ip}:${p}`),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef:.[]%+- '.split('')), maxLength: 30 }),
    );
    fc.assert(
      fc.property(near, (s) => {
        const r = parseAuthority(s);
        if (!r.ok) return;
        expect(r.authority.port).toBeGreaterThanOrEqual(1);
        expect(r.authority.port).toBeLessThanOrEqual(65535);
        expect(canonicalIp(r.authority.ip)).toBe(r.authority.ip);
        expect(parseAuthority(formatAuthority(r.authority.ip, r.authority.port))).toStrictEqual(r);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses any authority containing whitespace, control characters or a slash', () => {
    fc.assert(
      fc.property(fc.ipV4(), port, fc.constantFrom(' ', '\t', '\r', '\n', '\0', '/', '\x7f'), fc.nat({ max: 20 }), (ip, p, bad, at) => {
        const s = `${ip}:${p}`;
        const i = Math.min(at, s.length);
        expect(parseAuthority(s.slice(0, i) + bad + s.slice(i)).ok).toBe(false);
      }),
      RUNS,
    );
  });
});
