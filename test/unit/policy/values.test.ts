/** Value primitives: path normalisation, IP parsing, CIDR ranges, string and template matchers. */
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../../src/config/address.js';
import { normalizedPathForMatch, normalizePath } from '../../../src/config/path-normalization.js';
import {
  addHeaderMatcher,
  addNamespaceMatcher,
  addStringMatcher,
  addTrustDomainMatcher,
  checkPathTemplate,
  ipInRanges,
  parseCidr,
  parseIpInto,
  pathTemplateRegex,
  StringPatterns,
  type CidrRange,
} from '../../../src/policy/values.js';

describe('normalizePath (Envoy normalize_path, mesh pathNormalization BASE)', () => {
  it.each([
    { name: 'an already normal path is returned as it is', raw: '/a/b?x=1', expected: '/a/b?x=1' },
    { name: 'dot-dot segment', raw: '/public/../private', expected: '/private' },
    { name: 'dot segment', raw: '/a/./b', expected: '/a/b' },
    { name: 'trailing dot-dot keeps the slash', raw: '/a/b/..', expected: '/a/' },
    { name: 'trailing dot keeps the slash', raw: '/a/.', expected: '/a/' },
    { name: 'dot-dot above the root stops at the root', raw: '/../../a', expected: '/a' },
    { name: 'encoded dots are dots', raw: '/public/%2E%2E/private', expected: '/private' },
    { name: 'mixed encoded dots', raw: '/public/.%2e/private', expected: '/private' },
    { name: 'backslash is a slash', raw: '/public\\..\\private', expected: '/private' },
    { name: 'encoded unreserved characters are decoded', raw: '/%61%2D%5F%7E%30', expected: '/a-_~0' },
    { name: 'encoded slash is kept as written', raw: '/a%2fb', expected: '/a%2fb' },
    { name: 'encoded backslash is kept', raw: '/a%5Cb', expected: '/a%5Cb' },
    { name: 'encoded percent is kept', raw: '/a%25b', expected: '/a%25b' },
    { name: 'an invalid escape is copied', raw: '/a%zzb', expected: '/a%zzb' },
    { name: 'characters not allowed in a path are escaped', raw: '/a b"c<d>', expected: '/a%20b%22c%3Cd%3E' },
    { name: 'latin1 bytes are escaped', raw: '/caf\u00e9', expected: '/caf%E9' },
    { name: 'slashes are not merged', raw: '//a//b', expected: '//a//b' },
    { name: 'the query is kept as it is', raw: '/a/../b?x=/../y', expected: '/b?x=/../y' },
    { name: 'the fragment is dropped', raw: '/a#frag', expected: '/a' },
    { name: 'dots inside a name are not segments', raw: '/a/..b/.c', expected: '/a/..b/.c' },
    { name: 'a missing leading slash is added', raw: 'a/b', expected: '/a/b' },
    { name: '%00 is rejected', raw: '/a%00b', expected: undefined },
  ])('$name', ({ raw, expected }) => {
    expect(normalizePath(raw)).toBe(expected);
  });

  it.each([
    { raw: '/a?b', expected: '/a' },
    { raw: '/a#b?c', expected: '/a' },
    { raw: '/x/../a?b', expected: '/a' },
    { raw: '/plain', expected: '/plain' },
  ])('normalizedPathForMatch($raw) = $expected', ({ raw, expected }) => {
    expect(normalizedPathForMatch(raw)).toBe(expected);
  });
});

describe('parseIpInto', () => {
  // Addresses below are parsed, never dialled.
  const addresses = [
    '127.0.0.1',
    '127.255.255.255',
    '::1', // never dialled
    '::', // never dialled
    'fe80::1:2', // never dialled
    '1::', // never dialled
    '2001:db8:0:0:1:0:0:1', // never dialled
    '2001:DB8::ABCD', // never dialled
    '::ffff:127.0.0.1', // never dialled
    'fe80::1%eth0', // never dialled
  ];
  it.each(addresses)('%s parses like canonicalIp', (text) => {
    const words = new Int32Array(4);
    const family = parseIpInto(text, words);
    const canonical = canonicalIp(text.split('%')[0]!)!;
    expect(family).toBe(canonical.includes(':') ? 6 : 4);
    const range = parseCidr(canonical) as CidrRange;
    expect(ipInRanges(family, words, [range])).toBe(true);
  });
  it.each(['', '127.0.0', '127.0.0.256', '127.0.0.1.1', '1:2:3:4:5:6:7:8:9', ':1', '1:', '1:::2', '12345::', 'x', '1::2::3'])('%j is not an IP', (text) => { // never dialled
    expect(parseIpInto(text, new Int32Array(4))).toBe(0);
  });
});

describe('parseCidr and ipInRanges', () => {
  const within = (cidr: string, ip: string): boolean => {
    const range = parseCidr(cidr);
    if (typeof range === 'string') throw new Error(range);
    const words = new Int32Array(4);
    return ipInRanges(parseIpInto(ip, words), words, [range]);
  };
  it.each([
    { cidr: '127.0.0.0/8', ip: '127.1.2.3', inside: true },
    { cidr: '127.0.0.0/32', ip: '127.0.0.1', inside: false },
    { cidr: '127.0.0.1', ip: '127.0.0.1', inside: true },
    { cidr: '127.128.0.0/9', ip: '127.127.0.1', inside: false },
    { cidr: '0.0.0.0/0', ip: '127.0.0.1', inside: true }, // never dialled
    { cidr: '::/0', ip: '::1', inside: true }, // never dialled
    { cidr: '::1/128', ip: '::1', inside: true }, // never dialled
    { cidr: 'fe80::/10', ip: 'febf::1', inside: true }, // never dialled
    { cidr: 'fe80::/10', ip: 'fec0::1', inside: false }, // never dialled
    { cidr: '::ffff:127.0.0.0/104', ip: '127.0.0.9', inside: true }, // never dialled
    { cidr: '127.0.0.0/8', ip: '::ffff:127.0.0.9', inside: true }, // never dialled
  ])('$cidr contains $ip: $inside', ({ cidr, ip, inside }) => {
    expect(within(cidr, ip)).toBe(inside);
  });
  it.each(['127.0.0.0/33', '127.0.0.0/', '127.0.0.0/08', '127.0.0.256', '127.1', 'a.b.c.d', '::1/129', 'fe80::1%eth0'])('%s is rejected', (text) => { // never dialled
    expect(typeof parseCidr(text)).toBe('string');
  });
});

describe('string matcher forms', () => {
  const build = (add: (p: StringPatterns) => void): StringPatterns => {
    const p = new StringPatterns();
    add(p);
    return p.seal();
  };
  it.each([
    { name: 'principal exact gets spiffe://', p: build((p) => addStringMatcher(p, 'td/ns/a/sa/b', 'spiffe://')), v: 'spiffe://td/ns/a/sa/b', m: true },
    { name: 'principal prefix', p: build((p) => addStringMatcher(p, 'td/ns/a/*', 'spiffe://')), v: 'spiffe://td/ns/a/sa/b', m: true },
    { name: 'principal suffix keeps the scheme', p: build((p) => addStringMatcher(p, '*/sa/b', 'spiffe://')), v: 'spiffe://td/ns/a/sa/b', m: true },
    { name: 'principal suffix needs the scheme', p: build((p) => addStringMatcher(p, '*/sa/b', 'spiffe://')), v: 'td/ns/a/sa/b', m: false },
    { name: 'principal "*" is any non-empty value', p: build((p) => addStringMatcher(p, '*', 'spiffe://')), v: 'x', m: true },
    { name: 'string "*" does not match empty', p: build((p) => addStringMatcher(p, '*')), v: '', m: false },
    { name: 'header "*" is presence, empty included', p: build((p) => addHeaderMatcher(p, '*', false)), v: '', m: true },
    { name: 'host matcher lower-cases the pattern', p: build((p) => addHeaderMatcher(p, 'A.Example', true)), v: 'a.example', m: true },
    { name: 'namespace exact', p: build((p) => void addNamespaceMatcher(p, 'ns')), v: 'spiffe://td/ns/ns/sa/x', m: true },
    { name: 'namespace regex form (as Istio writes it)', p: build((p) => void addNamespaceMatcher(p, 'n*s')), v: 'spiffe://td/ns/nxxs/sa/x', m: true },
    { name: 'trust domain with one wildcard does not cross /', p: build((p) => addTrustDomainMatcher(p, 'a*b')), v: 'spiffe://a/x/b/ns/n/sa/s', m: false },
    { name: 'trust domain with one wildcard', p: build((p) => addTrustDomainMatcher(p, 'a*b')), v: 'spiffe://axxb/ns/n/sa/s', m: true },
    { name: 'many exact values use a Set', p: build((p) => ['a', 'b', 'c', 'd', 'e', 'f'].forEach((v) => addStringMatcher(p, v))), v: 'f', m: true },
    { name: 'absent value never matches', p: build((p) => addHeaderMatcher(p, '*', false)), v: undefined, m: false },
  ])('$name', ({ p, v, m }) => {
    expect(p.matches(v)).toBe(m);
  });
  it('an invalid namespace regex is reported', () => {
    expect(addNamespaceMatcher(new StringPatterns(), 'a(b')).toContain('does not make a valid regular expression');
  });
});

describe('path templates', () => {
  it.each([
    { tpl: '/a/{*}/c', path: '/a/b/c', m: true },
    { tpl: '/a/{*}/c', path: "/a/b!$&'()+,;:@-._~%20/c", m: true },
    { tpl: '/a/{*}/c', path: '/a/b=c/c', m: false },
    { tpl: '/a/{*}', path: '/a/', m: false },
    { tpl: '/a/{**}', path: '/a/b/c/d', m: true },
    { tpl: '/a/{**}', path: '/a/', m: true },
    { tpl: '/a.b/{*}', path: '/aXb/c', m: false },
  ])('$tpl vs $path: $m', ({ tpl, path, m }) => {
    expect(pathTemplateRegex(tpl).test(path)).toBe(m);
  });
  it.each([
    { path: '/a/{**}/b', ok: true },
    { path: '/a/{**}/{*}', ok: false },
    { path: '/a/{**}/{**}', ok: false },
    { path: '/a/b{*}', ok: false },
    { path: '/a/{x}', ok: false },
    { path: '/a b/{*}', ok: false },
    { path: 'a/{*}', ok: false },
    { path: '/plain/*/star', ok: true },
  ])('checkPathTemplate($path) ok=$ok', ({ path, ok }) => {
    expect(checkPathTemplate(path) === undefined).toBe(ok);
  });
});
