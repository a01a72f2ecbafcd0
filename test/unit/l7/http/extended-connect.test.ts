import { describe, expect, it } from 'vitest';
import { extendedConnectResponseHeaders, upgradeRequestOf, upstreamUpgradeExtras } from '../../../../src/l7/http/extended-connect.js';
import { endToEndRequestHeaders } from '../../../../src/l7/http/headers.js';

const NONCE = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

describe('upgradeRequestOf (RFC 8441 extended CONNECT → HTTP/1.1 upgrade)', () => {
  it.each([
    ['websocket', { 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat' }],
    ['connect-udp', {}],
    ['', {}],
  ])(':protocol %j becomes GET with Upgrade and Connection: upgrade; other headers are kept', (protocol, extra) => {
    const h2 = { ':method': 'CONNECT', ':protocol': protocol, ':scheme': 'http', ':path': '/chat?x=1', ':authority': 'ws.example', ...extra };
    const { protocol: p, headers } = upgradeRequestOf(h2);
    expect(p).toBe(protocol);
    expect(headers).toStrictEqual({ ':method': 'GET', ':scheme': 'http', ':path': '/chat?x=1', ':authority': 'ws.example', connection: 'upgrade', upgrade: protocol, ...extra });
    // What goes upstream from them: no pseudo-headers, no hop-by-hop headers (upgrade.ts sets those).
    expect(endToEndRequestHeaders(headers)).toStrictEqual(extra);
  });

  it('without :protocol (a plain CONNECT) the protocol is empty', () => {
    expect(upgradeRequestOf({ ':method': 'CONNECT', ':authority': 'x:80' }).protocol).toBe('');
  });

  it('does not change the headers it was given', () => {
    const h2 = { ':method': 'CONNECT', ':protocol': 'websocket' };
    upgradeRequestOf(h2);
    expect(h2).toStrictEqual({ ':method': 'CONNECT', ':protocol': 'websocket' });
  });
});

describe('upstreamUpgradeExtras', () => {
  it.each([
    ['websocket', { 'sec-websocket-key': NONCE.toString('base64') }],
    ['WebSocket', { 'sec-websocket-key': NONCE.toString('base64') }],
    ['h2c', {}],
    ['connect-udp', {}],
  ])('%s → %j', (protocol, want) => {
    expect(upstreamUpgradeExtras(protocol, () => NONCE)).toStrictEqual(want);
  });

  it('a WebSocket key is 16 bytes base64 (RFC 6455 §4.1)', () => {
    const key = upstreamUpgradeExtras('websocket', () => NONCE)['sec-websocket-key']!;
    expect(Buffer.from(key, 'base64')).toHaveLength(16);
    expect(key).toHaveLength(24);
  });
});

describe('extendedConnectResponseHeaders', () => {
  it.each([
    [{ 'sec-websocket-accept': 'abc=', 'sec-websocket-protocol': 'chat', 'x-route': 'r' }, { 'sec-websocket-protocol': 'chat', 'x-route': 'r' }],
    [{ 'x-a': '1' }, { 'x-a': '1' }],
    [{}, {}],
  ])('%j → %j', (upgraded, want) => {
    expect(extendedConnectResponseHeaders(upgraded)).toStrictEqual(want);
  });
});
