import { describe, expect, it } from 'vitest';
import { decodeComponent, headerValue, parseQuery } from '../../../src/routes/request-fields.js';
import type { RouteRequest } from '../../../src/routes/types.js';

const query = (path: string): Record<string, string> => Object.fromEntries(parseQuery(path, path.indexOf('?')));

describe('parseQuery', () => {
  it.each([
    ['no query', '/a', {}],
    ['an empty query', '/a?', {}],
    ['one parameter', '/a?x=1', { x: '1' }],
    ['the first of repeated names wins', '/a?x=1&x=2', { x: '1' }],
    ['a name without "=" has an empty value', '/a?flag&x=1', { flag: '', x: '1' }],
    ['empty parts are skipped', '/a?&&x=1&', { x: '1' }],
    ['an empty name is a name', '/a?=v', { '': 'v' }],
    ['percent-decoded names and values, "+" kept', '/a?na%6De=a%20b+c', { name: 'a b+c' }],
    ['a malformed escape stays as it is', '/a?x=%zz', { x: '%zz' }],
    ['the fragment is ignored', '/a?x=1#y=2', { x: '1' }],
    ['"=" in a value', '/a?x=a=b', { x: 'a=b' }],
  ])('%s: %s', (_name, path, expected) => {
    expect(query(path)).toEqual(expected);
  });
});

describe('decodeComponent', () => {
  it.each([
    ['plain', 'abc', 'abc'],
    ['escaped', 'a%2Fb', 'a/b'],
    ['malformed', '%E0%A4%A', '%E0%A4%A'],
  ])('%s', (_name, input, expected) => {
    expect(decodeComponent(input)).toBe(expected);
  });
});

describe('headerValue', () => {
  const req: RouteRequest = {
    method: 'GET',
    path: '/',
    headers: { 'x-one': 'a', 'x-many': ['a', 'b'] },
    authority: 'echo:80',
    sourceNamespace: undefined,
    sourceLabels: undefined,
  };
  it.each([
    ['a single header', 'x-one', 'a'],
    ['a repeated header, joined with ","', 'x-many', 'a,b'],
    ['a missing header', 'x-none', undefined],
    ['host reads the authority', 'host', 'echo:80'],
    [':authority reads the authority', ':authority', 'echo:80'],
  ])('%s', (_name, header, expected) => {
    expect(headerValue(req, header)).toBe(expected);
  });
});
