import { describe, expect, it } from 'vitest';
import { parseBaggage, parseForwardedFor, type ForwardedFor } from '../../../src/hbone/forwarded.js';

describe('parseForwardedFor', () => {
  it.each<[string, string | string[] | undefined, ForwardedFor | undefined]>([
    // Addresses in these headers are only parsed, never dialled.
    ["ztunnel's form", 'for="10.244.1.7:43210";host=reviews.bookinfo.svc.cluster.local', { address: '10.244.1.7', port: 43210, host: 'reviews.bookinfo.svc.cluster.local' }], // never dialled
    ['quoted IPv4 without a port', 'for="192.0.2.60"', { address: '192.0.2.60', port: undefined }],
    ['bare token IPv4', 'for=192.0.2.60;proto=http;by=203.0.113.43', { address: '192.0.2.60', port: undefined }],
    ['quoted IPv6 with a port', 'for="[2001:db8:cafe::17]:4711"', { address: '2001:db8:cafe::17', port: 4711 }],
    ['quoted IPv6 without a port, upper case', 'For="[2001:DB8::1]"', { address: '2001:db8::1', port: undefined }],
    ['spaces around pairs', ' for="10.0.0.1:1" ; host=a ', { address: '10.0.0.1', port: 1, host: 'a' }], // never dialled
    ['several elements: the last (nearest) one', 'for=192.0.2.43, for="[2001:db8::1]:80"', { address: '2001:db8::1', port: 80 }],
    ['a comma inside a quoted value', 'for="10.0.0.9:9";host="a,b"', { address: '10.0.0.9', port: 9, host: 'a,b' }], // never dialled
    ['repeated header lines joined', ['for=192.0.2.1', 'for="10.1.1.1:5"'], { address: '10.1.1.1', port: 5 }],
    ['escaped characters in a quoted string', 'for="10.0.0.2:7";host="x\\"y"', { address: '10.0.0.2', port: 7, host: 'x"y' }],
    ['absent', undefined, undefined],
    ['empty', '', undefined],
    ['no for parameter', 'proto=https;host=a', undefined],
    ['unknown', 'for=unknown', undefined],
    ['an obfuscated identifier', 'for=_hidden', undefined],
    ['a host name, not an IP', 'for="example.com:80"', undefined],
    ['unquoted IPv6 (must be quoted)', 'for=2001:db8::1', undefined],
    ['IPv6 without brackets in quotes', 'for="2001:db8::1"', undefined],
    ['unclosed bracket', 'for="[2001:db8::1:80"', undefined],
    ['junk after the bracket', 'for="[::1]x80"', undefined],
    ['port 0', 'for="10.0.0.1:0"', undefined],
    ['port too big', 'for="10.0.0.1:65536"', undefined],
    ['port not a number', 'for="10.0.0.1:http"', undefined],
    ['an unterminated quote', 'for="10.0.0.1:80', undefined],
    ['a duplicate parameter', 'for=10.0.0.1;for=10.0.0.2', undefined],
    ['a trailing comma', 'for=10.0.0.1,', undefined],
    ['missing =', 'for', undefined],
    ['an invalid IPv4', 'for=300.1.1.1', undefined],
    ['too long', `for="10.0.0.1:80";host=${'a'.repeat(9000)}`, undefined],
  ])('%s', (_name, header, expected) => {
    expect(parseForwardedFor(header)).toEqual(expected);
  });
});

describe('parseBaggage', () => {
  it.each<[string, string | undefined, Record<string, string> | undefined]>([
    [
      "ztunnel's members",
      'k8s.cluster.name=Kubernetes,k8s.namespace.name=bookinfo,k8s.deployment.name=productpage-v1,service.name=productpage,service.version=v1',
      { 'k8s.cluster.name': 'Kubernetes', 'k8s.namespace.name': 'bookinfo', 'k8s.deployment.name': 'productpage-v1', 'service.name': 'productpage', 'service.version': 'v1' },
    ],
    ['properties ignored, spaces trimmed', ' a = 1 ;p=q , b=2', { a: '1', b: '2' }],
    ['percent-decoded values', 'note=hello%20world%2C%20ok', { note: 'hello world, ok' }],
    ['malformed members skipped', 'novalue,=x,bad key=1,ok=1,pct=%E0%A4%A', { ok: '1' }],
    ['nothing usable', 'junk', undefined],
    ['absent', undefined, undefined],
  ])('%s', (_name, header, expected) => {
    const parsed = parseBaggage(header);
    expect(parsed === undefined ? undefined : Object.fromEntries(parsed)).toEqual(expected);
  });

  it('keeps at most 64 members', () => {
    const header = Array.from({ length: 100 }, (_, i) => `k${i}=v`).join(',');
    expect(parseBaggage(header)?.size).toBe(64);
  });
});
