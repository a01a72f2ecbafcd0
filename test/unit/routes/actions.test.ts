import { describe, expect, it } from 'vitest';
import { applyHeaderMutation, pickWeighted, redirectLocation, rewritePath, splitAuthority, type MutableHeaders } from '../../../src/routes/actions.js';
import { createRandom } from '../../helpers/random.js';
import type { BackendRef, HeaderMutation, PathModifier, RedirectAction } from '../../../src/routes/types.js';

const mutation = (m: Partial<HeaderMutation>): HeaderMutation => ({ set: [], add: [], remove: [], ...m });

describe('applyHeaderMutation', () => {
  const cases: Array<{ name: string; before: MutableHeaders; m: HeaderMutation; after: MutableHeaders }> = [
    {
      name: 'set adds a missing header',
      before: { 'some-other-header': 'val' },
      m: mutation({ set: [['x-header-set', 'set-overwrites-values']] }),
      after: { 'some-other-header': 'val', 'x-header-set': 'set-overwrites-values' },
    },
    {
      name: 'set overwrites an existing value',
      before: { 'x-header-set': 'some-other-value' },
      m: mutation({ set: [['x-header-set', 'set-overwrites-values']] }),
      after: { 'x-header-set': 'set-overwrites-values' },
    },
    {
      name: 'set replaces a repeated header with one value',
      before: { 'x-a': ['1', '2'] },
      m: mutation({ set: [['x-a', '3']] }),
      after: { 'x-a': '3' },
    },
    {
      name: 'add creates a missing header',
      before: {},
      m: mutation({ add: [['x-header-add', 'add-appends-values']] }),
      after: { 'x-header-add': 'add-appends-values' },
    },
    {
      name: 'add appends to an existing value (read back as "some-other-value,add-appends-values")',
      before: { 'x-header-add': 'some-other-value' },
      m: mutation({ add: [['x-header-add', 'add-appends-values']] }),
      after: { 'x-header-add': ['some-other-value', 'add-appends-values'] },
    },
    {
      name: 'add appends to a repeated header',
      before: { 'x-a': ['1', '2'] },
      m: mutation({ add: [['x-a', '3']] }),
      after: { 'x-a': ['1', '2', '3'] },
    },
    {
      name: 'remove deletes the header',
      before: { 'x-header-remove': 'val', keep: 'me' },
      m: mutation({ remove: ['x-header-remove'] }),
      after: { keep: 'me' },
    },
    {
      name: 'set, add and remove together (conformance /multiple)',
      before: { 'x-header-set-2': 'set-val-2', 'x-header-add-2': 'add-val-2', 'x-header-remove-2': 'remove-val-2', 'another-header': 'another-header-val' },
      m: mutation({
        set: [
          ['x-header-set-1', 'header-set-1'],
          ['x-header-set-2', 'header-set-2'],
        ],
        add: [
          ['x-header-add-1', 'header-add-1'],
          ['x-header-add-2', 'header-add-2'],
          ['x-header-add-3', 'header-add-3'],
        ],
        remove: ['x-header-remove-1', 'x-header-remove-2'],
      }),
      after: {
        'x-header-set-1': 'header-set-1',
        'x-header-set-2': 'header-set-2',
        'x-header-add-1': 'header-add-1',
        'x-header-add-2': ['add-val-2', 'header-add-2'],
        'x-header-add-3': 'header-add-3',
        'another-header': 'another-header-val',
      },
    },
  ];
  it.each(cases)('$name', ({ before, m, after }) => {
    const headers = { ...before };
    applyHeaderMutation(headers, m);
    expect(headers).toEqual(after);
  });
});

describe('rewritePath: ReplacePrefixMatch (the spec table in HTTPPathModifier)', () => {
  const table: Array<[path: string, prefix: string, replace: string, want: string]> = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
  ];
  it.each(table)('%s with prefix %j replaced by %j → %s', (path, prefix, replace, want) => {
    expect(rewritePath(path, { type: 'prefix', value: replace }, prefix)).toBe(want);
  });

  const more: Array<[name: string, path: string, m: PathModifier, prefix: string | undefined, want: string]> = [
    ['keeps the query string', '/foo/bar?a=1&b=2', { type: 'prefix', value: '/xyz' }, '/foo', '/xyz/bar?a=1&b=2'],
    ['prefix / prepends the replacement', '/foo', { type: 'prefix', value: '/xyz' }, '/', '/xyz/foo'],
    ['prefix / replaced by / leaves the path', '/foo/bar', { type: 'prefix', value: '/' }, '/', '/foo/bar'],
    ['conformance /prefix/one → /one', '/prefix/one/two', { type: 'prefix', value: '/one' }, '/prefix/one', '/one/two'],
    ['conformance /strip-prefix/three → /three', '/strip-prefix/three', { type: 'prefix', value: '/' }, '/strip-prefix', '/three'],
    ['conformance /strip-prefix → /', '/strip-prefix', { type: 'prefix', value: '/' }, '/strip-prefix', '/'],
    ['conformance /prefix/rewrite-path-and-modify-headers/one → /prefix/one', '/prefix/rewrite-path-and-modify-headers/one', { type: 'prefix', value: '/prefix' }, '/prefix/rewrite-path-and-modify-headers', '/prefix/one'],
    ['full replaces the path', '/full/one/two', { type: 'full', value: '/one' }, '/full/one', '/one'],
    ['full keeps the query', '/full/one/two?x=y', { type: 'full', value: '/one' }, undefined, '/one?x=y'],
    ['full with its own query replaces the query', '/a?x=y', { type: 'full', value: '/b?z=1' }, undefined, '/b?z=1'],
  ];
  it.each(more)('%s', (_name, path, m, prefix, want) => {
    expect(rewritePath(path, m, prefix)).toBe(want);
  });
});

describe('redirectLocation', () => {
  const redirect = (a: Partial<RedirectAction>): RedirectAction => ({ kind: 'redirect', status: 302, ...a });
  const cases: Array<{ name: string; action: RedirectAction; path: string; authority: string; prefix?: string; scheme?: string; want: string }> = [
    { name: 'same place, port 80 left out', action: redirect({ port: 80 }), path: '/redirect', authority: 'echo', want: 'http://echo/redirect' },
    { name: 'request Host port dropped when a port is derived', action: redirect({ port: 80 }), path: '/a', authority: 'echo:80', want: 'http://echo/a' },
    { name: 'non-default port kept', action: redirect({ port: 8080 }), path: '/a', authority: 'echo:8080', want: 'http://echo:8080/a' },
    { name: 'explicit port', action: redirect({ port: 8083 }), path: '/port', authority: 'echo', want: 'http://echo:8083/port' },
    { name: 'hostname and port', action: redirect({ hostname: 'example.org', port: 8083 }), path: '/p', authority: 'echo', want: 'http://example.org:8083/p' },
    { name: 'https on 443 leaves the port out', action: redirect({ scheme: 'https', port: 443 }), path: '/scheme', authority: 'echo', want: 'https://echo/scheme' },
    { name: 'https on 80 keeps it', action: redirect({ scheme: 'https', port: 80 }), path: '/s', authority: 'echo', want: 'https://echo:80/s' },
    { name: 'http on 443 keeps it', action: redirect({ scheme: 'http', port: 443 }), path: '/s', authority: 'echo', scheme: 'https', want: 'http://echo:443/s' },
    { name: 'query string kept', action: redirect({ port: 80 }), path: '/a?b=c', authority: 'echo', want: 'http://echo/a?b=c' },
    { name: 'prefix path', action: redirect({ port: 80, path: { type: 'prefix', value: '/replacement-prefix' } }), path: '/original-prefix/lemon', authority: 'echo', prefix: '/original-prefix', want: 'http://echo/replacement-prefix/lemon' },
    { name: 'full path keeps the query', action: redirect({ port: 80, path: { type: 'full', value: '/x' } }), path: '/a?q=1', authority: 'echo', want: 'http://echo/x?q=1' },
    { name: 'IPv6 authority', action: redirect({ port: 8083 }), path: '/', authority: '[fd00::1]:80', want: 'http://[fd00::1]:8083/' },
    { name: 'request scheme https is used when no scheme is set', action: redirect({ port: 443 }), path: '/', authority: 'echo', scheme: 'https', want: 'https://echo/' },
    // VirtualService-style (no derived port): the Host is kept, Envoy's processRequestHost rules.
    { name: 'no port: Host kept as sent', action: redirect({}), path: '/a', authority: 'echo:8080', want: 'http://echo:8080/a' },
    { name: 'no port, scheme change: the old default port is dropped', action: redirect({ scheme: 'https' }), path: '/a', authority: 'echo:80', want: 'https://echo/a' },
    { name: 'no port, scheme change: another port is kept', action: redirect({ scheme: 'https' }), path: '/a', authority: 'echo:8080', want: 'https://echo:8080/a' },
    { name: 'no port, hostname replaces the whole Host', action: redirect({ hostname: 'example.org' }), path: '/a', authority: 'echo:8080', want: 'http://example.org/a' },
  ];
  it.each(cases)('$name → $want', ({ action, path, authority, prefix, scheme, want }) => {
    expect(redirectLocation(action, { path, authority }, prefix, scheme)).toBe(want);
  });
});

describe('splitAuthority', () => {
  it.each([
    ['echo', 'echo', undefined],
    ['echo:80', 'echo', '80'],
    ['[::1]:8080', '[::1]', '8080'],
    ['[::1]', '[::1]', undefined],
    ['fd00::1', 'fd00::1', undefined],
    ['echo:', 'echo', undefined],
  ])('%s', (authority, hostPart, port) => {
    expect(splitAuthority(authority)).toEqual({ host: hostPart, port });
  });
});

describe('pickWeighted', () => {
  const backend = (cluster: string, weight: number): BackendRef => ({ cluster, weight, target: undefined });

  // The seed fixes the sequence, so the counts are exact; each is within the Gateway API
  // conformance tolerance (70 % ± 5 points) of the configured split.
  it.each([
    [1, 721],
    [2, 688],
    [3, 698],
    [42, 707],
    [1234, 698],
  ])('splits 70/30 over 1000 picks: seed %i gives v1 exactly %i', (seed, expectedV1) => {
    const backends = [backend('v1', 70), backend('v2', 30)];
    const random = createRandom(seed);
    const counts = { v1: 0, v2: 0 };
    for (let i = 0; i < 1000; i++) {
      const picked = pickWeighted(backends, 100, random)?.cluster;
      if (picked === 'v1' || picked === 'v2') counts[picked]++;
    }
    expect(counts).toEqual({ v1: expectedV1, v2: 1000 - expectedV1 });
  });

  it('never picks a weight-0 backend', () => {
    const backends = [backend('zero-a', 0), backend('v1', 1), backend('zero-b', 0), backend('v2', 3), backend('zero-c', 0)];
    const random = createRandom(9);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(pickWeighted(backends, 4, random)!.cluster);
    expect([...seen].sort()).toEqual(['v1', 'v2']);
  });

  it('handles the extremes of the random source', () => {
    const backends = [backend('a', 1), backend('b', 1), backend('z', 0)];
    expect(pickWeighted(backends, 2, () => 0)?.cluster).toBe('a');
    expect(pickWeighted(backends, 2, () => 0.9999999999)?.cluster).toBe('b');
  });

  it('returns undefined when every weight is 0 (the rule answers 500)', () => {
    expect(pickWeighted([backend('a', 0), backend('b', 0)], 0, createRandom(1))).toBeUndefined();
    expect(pickWeighted([], 0, createRandom(1))).toBeUndefined();
  });
});
