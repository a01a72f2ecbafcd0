import { describe, expect, it } from 'vitest';
import { DnsCache, type ResolvedAddress } from '../../../../src/l7/upstream/dns-cache.js';

/** A resolver answering from a table that the test edits, counting queries. */
function fakeDns(): { table: Map<string, ResolvedAddress[]>; queries: string[]; resolve: (name: string) => Promise<ResolvedAddress[]> } {
  const table = new Map<string, ResolvedAddress[]>();
  const queries: string[] = [];
  return {
    table,
    queries,
    resolve: (name) => {
      queries.push(name);
      const a = table.get(name);
      return a === undefined ? Promise.reject(new Error('NXDOMAIN')) : Promise.resolve(a);
    },
  };
}

describe('DnsCache', () => {
  it.each([
    { name: 'within the TTL the cached answer is used', ttl: 30, advanceMs: 29_000, queries: 1, second: '127.152.5.1' },
    { name: 'after the TTL the name is resolved again', ttl: 30, advanceMs: 30_001, queries: 2, second: '127.152.5.9' },
    { name: 'a zero TTL is kept one second (no query per connection)', ttl: 0, advanceMs: 500, queries: 1, second: '127.152.5.1' },
    { name: 'a zero TTL expires after that second', ttl: 0, advanceMs: 1001, queries: 2, second: '127.152.5.9' },
  ])('$name', async ({ ttl, advanceMs, queries, second }) => {
    const dns = fakeDns();
    let now = 1_000_000;
    const cache = new DnsCache(dns.resolve, () => now);
    dns.table.set('api.test', [{ address: '127.152.5.1', ttl }]);
    expect(await cache.pick('api.test')).toBe('127.152.5.1');
    dns.table.set('api.test', [{ address: '127.152.5.9', ttl }]);
    now += advanceMs;
    expect(await cache.pick('api.test')).toBe(second);
    expect(dns.queries).toHaveLength(queries);
  });

  it('rotates through the addresses of one answer', async () => {
    const dns = fakeDns();
    dns.table.set('multi.test', [
      { address: '127.152.5.1', ttl: 60 },
      { address: '127.152.5.2', ttl: 60 },
    ]);
    const cache = new DnsCache(dns.resolve);
    expect([await cache.pick('multi.test'), await cache.pick('multi.test'), await cache.pick('multi.test')]).toEqual(['127.152.5.1', '127.152.5.2', '127.152.5.1']);
  });

  it('IP literals are not resolved; an unknown name fails the connection', async () => {
    const dns = fakeDns();
    const cache = new DnsCache(dns.resolve);
    expect(await cache.pick('127.152.5.7')).toBe('127.152.5.7');
    await expect(cache.pick('missing.test')).rejects.toThrow('NXDOMAIN');
    expect(dns.queries).toEqual(['missing.test']);
  });
});
