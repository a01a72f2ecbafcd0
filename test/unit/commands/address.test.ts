import { describe, expect, it } from 'vitest';
import { parseHostPort, parsePort, type HostPort } from '../../../src/commands/address.js';

const hostPortError = (text: string): string => `--listen: expected HOST:PORT (IPv6 as [addr]:port), got "${text}"`;
const notV6 = (host: string): string => `--listen: "${host}" is not an IPv6 address`;

describe('parseHostPort', () => {
  it.each<{ name: string; input: string; expected: HostPort }>([
    { name: 'IPv4', input: '127.0.0.1:15008', expected: { host: '127.0.0.1', port: 15008 } },
    { name: 'IPv4 any-address', input: '0.0.0.0:15020', expected: { host: '0.0.0.0', port: 15020 } },
    { name: 'port 0 (ephemeral listen port)', input: '127.0.0.1:0', expected: { host: '127.0.0.1', port: 0 } },
    { name: 'port 65535', input: '127.0.0.1:65535', expected: { host: '127.0.0.1', port: 65535 } },
    { name: 'port with leading zeros', input: '127.0.0.1:00080', expected: { host: '127.0.0.1', port: 80 } },
    { name: 'host name', input: 'localhost:8080', expected: { host: 'localhost', port: 8080 } },
    { name: 'dotted host name', input: 'waypoint.istio-system.svc.cluster.local:15008', expected: { host: 'waypoint.istio-system.svc.cluster.local', port: 15008 } },
    { name: 'bracketed IPv6 loopback', input: '[::1]:15008', expected: { host: '::1', port: 15008 } },
    { name: 'bracketed IPv6 any-address', input: '[::]:15008', expected: { host: '::', port: 15008 } },
    { name: 'bracketed IPv6 is returned as written (not canonicalised)', input: '[FD00:0::1]:80', expected: { host: 'FD00:0::1', port: 80 } },
    { name: 'bracketed IPv4-mapped IPv6 is returned as written', input: '[::ffff:127.40.0.1]:80', expected: { host: '::ffff:127.40.0.1', port: 80 } },
    { name: 'surrounding white space is trimmed', input: '  127.0.0.1:80\n', expected: { host: '127.0.0.1', port: 80 } },
  ])('accepts $name: $input', ({ input, expected }) => {
    expect(parseHostPort(input, '--listen')).toStrictEqual(expected);
  });

  it.each<{ name: string; input: string; expected: string }>([
    { name: 'empty', input: '', expected: hostPortError('') },
    { name: 'host without port', input: '127.0.0.1', expected: hostPortError('127.0.0.1') },
    { name: 'empty port', input: '127.0.0.1:', expected: hostPortError('127.0.0.1:') },
    { name: 'empty host', input: ':80', expected: hostPortError(':80') },
    { name: 'port 65536', input: '127.0.0.1:65536', expected: hostPortError('127.0.0.1:65536') },
    { name: 'port 99999', input: '127.0.0.1:99999', expected: hostPortError('127.0.0.1:99999') },
    { name: 'six-digit port', input: '127.0.0.1:123456', expected: hostPortError('127.0.0.1:123456') },
    { name: 'negative port', input: '127.0.0.1:-1', expected: hostPortError('127.0.0.1:-1') },
    { name: 'named port', input: 'localhost:http', expected: hostPortError('localhost:http') },
    { name: 'unbracketed IPv6', input: '::1:80', expected: hostPortError('::1:80') },
    { name: 'two colons in a host name', input: 'a:b:80', expected: hostPortError('a:b:80') },
    { name: 'bracketed IPv6 without port', input: '[::1]', expected: hostPortError('[::1]') },
    { name: 'bracketed IPv6 with garbage port', input: '[::1]:80x', expected: hostPortError('[::1]:80x') },
    { name: 'empty brackets', input: '[]:80', expected: hostPortError('[]:80') },
    { name: 'unbalanced bracket', input: '[::1:80', expected: hostPortError('[::1:80') },
    { name: 'message quotes the untrimmed text', input: ' nope ', expected: hostPortError(' nope ') },
    { name: 'bracketed host name', input: '[localhost]:80', expected: notV6('localhost') },
    { name: 'bracketed invalid IPv6', input: '[fd00::g]:80', expected: notV6('fd00::g') },
    { name: 'bracketed shorthand IPv4', input: '[127.1]:80', expected: notV6('127.1') },
  ])('refuses $name: "$input"', ({ input, expected }) => {
    expect(() => parseHostPort(input, '--listen')).toThrow(new Error(expected));
  });

  it('names the flag in the error', () => {
    expect(() => parseHostPort('x', '--admin')).toThrow(new Error('--admin: expected HOST:PORT (IPv6 as [addr]:port), got "x"'));
  });

  // Brackets are for IPv6 literals only (RFC 3986 IP-literal), as parseAuthority has it.
  it('refuses a bracketed IPv4 address: "[127.40.0.1]:80"', () => {
    expect(() => parseHostPort('[127.40.0.1]:80', '--listen')).toThrow(new Error(notV6('127.40.0.1')));
  });
});

describe('parsePort', () => {
  it.each<{ name: string; input: string; expected: number }>([
    { name: 'lowest port', input: '1', expected: 1 },
    { name: 'typical port', input: '15008', expected: 15008 },
    { name: 'highest port', input: '65535', expected: 65535 },
    { name: 'leading zeros', input: '00080', expected: 80 },
  ])('accepts $name: "$input"', ({ input, expected }) => {
    expect(parsePort(input, 'port')).toBe(expected);
  });

  it.each<{ name: string; input: string }>([
    { name: 'port 0', input: '0' },
    { name: 'port 00000', input: '00000' },
    { name: 'port 65536', input: '65536' },
    { name: 'six digits', input: '123456' },
    { name: 'empty', input: '' },
    { name: 'leading space', input: ' 80' },
    { name: 'trailing space', input: '80 ' },
    { name: 'negative', input: '-1' },
    { name: 'plus sign', input: '+80' },
    { name: 'exponent', input: '1e3' },
    { name: 'hex', input: '0x50' },
    { name: 'decimal point', input: '80.0' },
    { name: 'name', input: 'http' },
    { name: 'host:port', input: '127.0.0.1:80' },
  ])('refuses $name: "$input"', ({ input }) => {
    expect(() => parsePort(input, 'port')).toThrow(new Error(`port: expected a port 1-65535, got "${input}"`));
  });
});
