/**
 * Properties of hop-by-hop header handling over generated header maps: nothing connection-specific
 * or named by `Connection` crosses the hop, everything else does unchanged, only `te: trailers`
 * survives, the input is never modified, and applying the filter twice changes nothing.
 */
import type { IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endToEndRequestHeaders, endToEndResponseHeaders } from '../../../../src/l7/http/headers.js';

const HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings', 'expect'];
const PSEUDO = [':method', ':path', ':authority', ':scheme', ':status', ':protocol'];
const ORDINARY = ['accept', 'content-type', 'content-length', 'x-request-id', 'x-a', 'x-b', 'authorization', 'cookie', 'traceparent', 'grpc-timeout', 'set-cookie'];

const nameChars = 'abcdefghijklmnopqrstuvwxyz0123456789-_'.split('');
const name = fc.oneof(
  fc.constantFrom(...HOP, ...PSEUDO, ...ORDINARY, 'host'),
  fc.string({ unit: fc.constantFrom(...nameChars), minLength: 1, maxLength: 12 }).filter((n) => !(n in Object.prototype)), // __proto__, constructor, ...: a test-harness artefact with toStrictEqual
);
const value = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('trailers', 'TRAILERS', 'gzip, trailers', 'trailers;q=1', 'close', 'keep-alive', 'Upgrade', 'x-a, x-b', ' X-A ,,x-c'),
);
const headers = fc
  .array(fc.tuple(name, fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 3 }))), { maxLength: 12 })
  .map((entries) => {
    const h: Record<string, string | string[]> = {};
    for (const [n, v] of entries) h[n] = n === 'connection' || n === 'te' || n === 'host' ? (Array.isArray(v) ? v.join(', ') : v) : v;
    return h;
  });

/** Header names the Connection header lists (what a proxy must also drop). */
function connectionNamed(h: IncomingHttpHeaders): Set<string> {
  const c = h.connection;
  const text = Array.isArray(c) ? c.join(',') : (c ?? '');
  return new Set(text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '' && s !== 'close' && s !== 'keep-alive'));
}

describe('endToEndRequestHeaders (property)', () => {
  it('drops hop-by-hop, pseudo, host and Connection-named headers; copies the rest unchanged; keeps te only as "trailers"', () => {
    fc.assert(
      fc.property(headers, (h) => {
        const before = structuredClone(h);
        const out = endToEndRequestHeaders(h);
        expect(h).toStrictEqual(before);
        const named = connectionNamed(h);
        // A lone "keep-alive"/"close" token names nothing; a list naming them does (RFC 9110 §7.6.1).
        const text = Array.isArray(h.connection) ? h.connection.join(',') : (h.connection ?? '');
        const lone = text === '' || text.toLowerCase() === 'keep-alive' || text.toLowerCase() === 'close';
        for (const [k, v] of Object.entries(out)) {
          expect(k.startsWith(':')).toBe(false);
          if (k === 'te') {
            expect(v).toBe('trailers');
            continue;
          }
          expect(HOP).not.toContain(k);
          expect(k).not.toBe('host');
          if (!lone) expect(named.has(k)).toBe(false);
          expect(v).toStrictEqual(h[k]);
        }
        for (const [k, v] of Object.entries(h)) {
          if (v === undefined || k.startsWith(':') || HOP.includes(k) || k === 'host') continue;
          if (!lone && text.split(',').some((t) => t.trim().toLowerCase() === k)) continue;
          expect(out[k]).toStrictEqual(v);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(headers, (h) => {
        const once = endToEndRequestHeaders(h);
        expect(endToEndRequestHeaders(once)).toStrictEqual(once);
      }),
      { numRuns: 500 },
    );
  });
});

describe('endToEndResponseHeaders (property)', () => {
  it('never lets a hop-by-hop, pseudo or Connection-named header through, and never changes a value', () => {
    fc.assert(
      fc.property(headers, (h) => {
        const out = endToEndResponseHeaders(h);
        const text = Array.isArray(h.connection) ? h.connection.join(',') : (h.connection ?? '');
        const lone = text === '' || text.toLowerCase() === 'keep-alive' || text.toLowerCase() === 'close';
        const named = connectionNamed(h);
        for (const [k, v] of Object.entries(out)) {
          expect(k.startsWith(':')).toBe(false);
          expect(HOP).not.toContain(k);
          if (!lone) expect(named.has(k)).toBe(false);
          expect(v).toStrictEqual(h[k]);
        }
        expect(endToEndResponseHeaders(out as IncomingHttpHeaders)).toStrictEqual(out);
      }),
      { numRuns: 1000 },
    );
  });
});
