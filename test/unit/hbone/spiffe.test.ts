import { describe, expect, it } from 'vitest';
import {
  type SpiffeIdentity,
  inTrustDomain,
  parseSpiffeId,
  spiffeId,
  splitSubjectAltName,
  uriSansFromSubjectAltName,
} from '../../../src/hbone/spiffe.js';

describe('parseSpiffeId', () => {
  const cases: Array<{ name: string; uri: string; want: SpiffeIdentity | undefined }> = [
    {
      name: 'valid cluster.local identity',
      uri: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
      want: { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'bookinfo-productpage' },
    },
    {
      name: 'valid identity in another trust domain',
      uri: 'spiffe://example.org/ns/prod/sa/api_v2',
      want: { trustDomain: 'example.org', namespace: 'prod', serviceAccount: 'api_v2' },
    },
    { name: 'wrong scheme https', uri: 'https://cluster.local/ns/default/sa/x', want: undefined },
    { name: 'scheme is case-sensitive', uri: 'SPIFFE://cluster.local/ns/default/sa/x', want: undefined },
    { name: 'missing scheme', uri: 'cluster.local/ns/default/sa/x', want: undefined },
    { name: 'single slash after scheme', uri: 'spiffe:/cluster.local/ns/default/sa/x', want: undefined },
    { name: '4 segments (no service account)', uri: 'spiffe://cluster.local/ns/default/sa', want: undefined },
    { name: '6 segments (extra path)', uri: 'spiffe://cluster.local/ns/default/sa/x/extra', want: undefined },
    { name: 'trailing slash makes 6 segments', uri: 'spiffe://cluster.local/ns/default/sa/x/', want: undefined },
    { name: 'trust domain only', uri: 'spiffe://cluster.local', want: undefined },
    { name: 'empty string', uri: '', want: undefined },
    { name: 'empty trust domain', uri: 'spiffe:///ns/default/sa/x', want: undefined },
    { name: 'empty namespace', uri: 'spiffe://cluster.local/ns//sa/x', want: undefined },
    { name: 'empty service account', uri: 'spiffe://cluster.local/ns/default/sa/', want: undefined },
    { name: 'markers swapped', uri: 'spiffe://cluster.local/sa/default/ns/x', want: undefined },
    { name: 'wrong ns marker', uri: 'spiffe://cluster.local/namespace/default/sa/x', want: undefined },
    { name: 'upper-case markers', uri: 'spiffe://cluster.local/NS/default/SA/x', want: undefined },
    { name: 'dot-dot segment', uri: 'spiffe://cluster.local/ns/../sa/x', want: undefined },
    { name: 'query string', uri: 'spiffe://cluster.local/ns/default/sa/x?y=1', want: undefined },
    { name: 'fragment', uri: 'spiffe://cluster.local/ns/default/sa/x#frag', want: undefined },
    { name: 'percent escape', uri: 'spiffe://cluster.local/ns/def%61ult/sa/x', want: undefined },
    { name: 'whitespace', uri: 'spiffe://cluster.local/ns/default/sa/x ', want: undefined },
    { name: 'port in trust domain', uri: 'spiffe://cluster.local:443/ns/default/sa/x', want: undefined },
    { name: 'userinfo in trust domain', uri: 'spiffe://u@cluster.local/ns/default/sa/x', want: undefined },
  ];
  it.each(cases)('$name', ({ uri, want }) => {
    expect(parseSpiffeId(uri)).toEqual(want);
  });
});

describe('spiffeId', () => {
  it('builds an identity that parses back', () => {
    const uri = spiffeId('cluster.local', 'ns1', 'sa1');
    expect(uri).toBe('spiffe://cluster.local/ns/ns1/sa/sa1');
    expect(parseSpiffeId(uri)).toEqual({ trustDomain: 'cluster.local', namespace: 'ns1', serviceAccount: 'sa1' });
  });
  it.each([
    { name: 'empty namespace', td: 'cluster.local', ns: '', sa: 'x' },
    { name: 'slash in service account', td: 'cluster.local', ns: 'a', sa: 'b/c' },
    { name: 'empty trust domain', td: '', ns: 'a', sa: 'b' },
  ])('rejects $name', ({ td, ns, sa }) => {
    expect(() => spiffeId(td, ns, sa)).toThrow(/invalid SPIFFE identity/);
  });
});

describe('inTrustDomain', () => {
  const cases = [
    { name: 'same trust domain', uri: 'spiffe://cluster.local/ns/a/sa/b', td: 'cluster.local', want: true },
    { name: 'other trust domain', uri: 'spiffe://example.org/ns/a/sa/b', td: 'cluster.local', want: false },
    { name: 'trust domain that is a prefix', uri: 'spiffe://cluster.local.evil/ns/a/sa/b', td: 'cluster.local', want: false },
    { name: 'suffix of trust domain', uri: 'spiffe://evil-cluster.local/ns/a/sa/b', td: 'cluster.local', want: false },
    { name: 'no path after trust domain', uri: 'spiffe://cluster.local', td: 'cluster.local', want: false },
    { name: 'non-spiffe scheme', uri: 'https://cluster.local/ns/a/sa/b', td: 'cluster.local', want: false },
    { name: 'empty trust domain', uri: 'spiffe:///ns/a/sa/b', td: '', want: false },
    { name: 'prefix match only (other path shapes count)', uri: 'spiffe://cluster.local/x', td: 'cluster.local', want: true },
  ];
  it.each(cases)('$name', ({ uri, td, want }) => {
    expect(inTrustDomain(uri, td)).toBe(want);
  });
});

describe('uriSansFromSubjectAltName', () => {
  const cases: Array<{ name: string; san: string | undefined; want: string[] }> = [
    { name: 'undefined', san: undefined, want: [] },
    { name: 'empty string', san: '', want: [] },
    { name: 'single URI', san: 'URI:spiffe://cluster.local/ns/a/sa/b', want: ['spiffe://cluster.local/ns/a/sa/b'] },
    {
      name: 'URI among DNS and IP entries',
      san: 'URI:spiffe://cluster.local/ns/a/sa/b, DNS:x, IP Address:127.0.0.1',
      want: ['spiffe://cluster.local/ns/a/sa/b'],
    },
    {
      name: 'multiple URIs keep order',
      san: 'DNS:x, URI:spiffe://td/ns/a/sa/b, IP Address:0:0:0:0:0:0:0:1, URI:https://example.com/p',
      want: ['spiffe://td/ns/a/sa/b', 'https://example.com/p'],
    },
    { name: 'no URI entries', san: 'DNS:a.example, DNS:b.example, IP Address:127.40.0.1', want: [] },
    { name: 'email that merely contains URI:', san: 'email:URI:x@example.com', want: [] },
    {
      // Exactly what Node 20 emits for a URI SAN containing a comma, quotes and a backslash.
      name: 'whole entry quoted by Node (escaped comma, quote, backslash)',
      san: String.raw`"URI:http://a\u002cb/\"q\"\\z", DNS:x`,
      want: ['http://a,b/"q"\\z'],
    },
    {
      name: 'quoted entry with a single quote, followed by a plain URI',
      san: `"URI:x'y", URI:spiffe://cluster.local/ns/a/sa/b`,
      want: [`x'y`, 'spiffe://cluster.local/ns/a/sa/b'],
    },
    {
      name: 'quoted value after the prefix containing a raw comma-space',
      san: 'URI:"spiffe://td/ns/a, b/sa/c", DNS:x',
      want: ['spiffe://td/ns/a, b/sa/c'],
    },
    {
      name: 'quoted non-URI entry that looks like it contains a URI entry',
      san: String.raw`"DNS:x\u002c URI:spiffe://td/ns/a/sa/b", URI:spiffe://td/ns/real/sa/c`,
      want: ['spiffe://td/ns/real/sa/c'],
    },
    { name: 'unicode escape', san: String.raw`"URI:spiffe://\u00fc/x"`, want: ['spiffe://\u00fc/x'] },
    { name: 'unterminated quote fails closed', san: 'URI:spiffe://td/ns/a/sa/b, "URI:oops', want: [] },
  ];
  it.each(cases)('$name', ({ san, want }) => {
    expect(uriSansFromSubjectAltName(san)).toEqual(want);
  });

  it('splitSubjectAltName returns every decoded entry', () => {
    expect(splitSubjectAltName(String.raw`DNS:a, "URI:b\u002cc", IP Address:1.2.3.4`)).toEqual([
      'DNS:a',
      'URI:b,c',
      'IP Address:1.2.3.4',
    ]);
    expect(splitSubjectAltName('"bad')).toBeUndefined();
  });
});
