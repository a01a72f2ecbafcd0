import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { endToEndRequestHeaders, endToEndResponseHeaders } from '../../../../src/l7/http/headers.js';
import type { HeaderMap } from '../../../../src/l7/upstream/attempt.js';

/** Hop-by-hop headers dropped in both directions. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'expect',
] as const;

const SAMPLE_VALUE: Record<(typeof HOP_BY_HOP)[number], string> = {
  connection: 'close',
  'keep-alive': 'timeout=5, max=100',
  'proxy-connection': 'keep-alive',
  'proxy-authenticate': 'Basic realm="proxy"',
  'proxy-authorization': 'Basic dXNlcjpwYXNz',
  'transfer-encoding': 'chunked',
  upgrade: 'websocket',
  te: 'gzip',
  trailer: 'grpc-status',
  'http2-settings': 'AAMAAABkAAQAAP__',
  expect: '100-continue',
};

describe('endToEndRequestHeaders', () => {
  describe('drops each hop-by-hop header', () => {
    it.each([...HOP_BY_HOP, 'host'].map((name) => ({ name, value: name === 'host' ? 'reviews:9080' : SAMPLE_VALUE[name as (typeof HOP_BY_HOP)[number]] })))(
      '$name: $value',
      ({ name, value }) => {
        expect(endToEndRequestHeaders({ [name]: value, 'x-keep': '1' })).toStrictEqual({ 'x-keep': '1' });
      },
    );
  });

  it.each<{ name: string; input: IncomingHttpHeaders; expected: HeaderMap }>([
    { name: 'no headers', input: {}, expected: {} },
    {
      name: 'end-to-end headers are copied unchanged',
      input: { accept: '*/*', 'user-agent': 'curl/8', 'content-type': 'application/json', 'content-length': '2', 'x-request-id': 'abc', authorization: 'Bearer t' },
      expected: { accept: '*/*', 'user-agent': 'curl/8', 'content-type': 'application/json', 'content-length': '2', 'x-request-id': 'abc', authorization: 'Bearer t' },
    },
    {
      name: 'host is dropped (the caller sets it from the authority)',
      input: { host: 'reviews:9080', accept: '*/*' },
      expected: { accept: '*/*' },
    },
    {
      name: 'all hop-by-hop headers at once',
      input: {
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        'http2-settings': 'AAMAAABkAAQAAP__',
        trailer: 'x-checksum',
        expect: '100-continue',
        host: 'a',
        'x-a': '1',
      },
      expected: { 'x-a': '1' },
    },
    {
      name: 'pseudo-headers are dropped',
      input: { ':method': 'POST', ':path': '/reviews.Reviews/Get', ':scheme': 'http', ':authority': 'reviews:9090', 'content-type': 'application/grpc' },
      expected: { 'content-type': 'application/grpc' },
    },
    {
      name: 'headers named in Connection are dropped',
      input: { connection: 'x-hop, x-other', 'x-hop': '1', 'x-other': '2', 'x-end': '3' },
      expected: { 'x-end': '3' },
    },
    {
      name: 'Connection tokens are case-insensitive and trimmed',
      input: { connection: '  X-Hop ,X-OTHER,, ', 'x-hop': '1', 'x-other': '2', 'x-end': '3' },
      expected: { 'x-end': '3' },
    },
    {
      name: 'Connection: close names no extra header',
      input: { connection: 'close', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    {
      name: 'Connection: Keep-Alive names no extra header',
      input: { connection: 'Keep-Alive', 'keep-alive': 'timeout=5', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    {
      name: 'Connection: close plus a named header drops the named header',
      input: { connection: 'close, x-hop', 'x-hop': '1', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    {
      name: 'empty Connection header',
      input: { connection: '', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    { name: 'te: trailers is kept', input: { te: 'trailers' }, expected: { te: 'trailers' } },
    { name: 'te: Trailers (any case) is kept, lower-cased', input: { te: 'Trailers' }, expected: { te: 'trailers' } },
    { name: 'te: trailers among other codings keeps only trailers', input: { te: 'gzip;q=0.5, trailers, deflate' }, expected: { te: 'trailers' } },
    { name: 'te: trailers first in a list', input: { te: 'trailers, gzip' }, expected: { te: 'trailers' } },
    { name: 'te without trailers is dropped', input: { te: 'gzip, deflate' }, expected: {} },
    { name: 'te with a look-alike token is dropped', input: { te: 'trailersx, xtrailers' }, expected: {} },
    { name: 'te: trailers kept even when Connection names te', input: { connection: 'te', te: 'trailers', 'x-a': '1' }, expected: { te: 'trailers', 'x-a': '1' } },
    {
      name: 'gRPC request over h2',
      input: { ':method': 'POST', ':path': '/s/M', ':authority': 'a:9090', ':scheme': 'http', te: 'trailers', 'content-type': 'application/grpc', 'grpc-timeout': '1S' },
      expected: { te: 'trailers', 'content-type': 'application/grpc', 'grpc-timeout': '1S' },
    },
    {
      name: 'array values are kept as arrays',
      input: { 'set-cookie': ['a=1', 'b=2'], 'x-multi': ['x', 'y'] },
      expected: { 'set-cookie': ['a=1', 'b=2'], 'x-multi': ['x', 'y'] },
    },
    {
      name: 'undefined values are skipped',
      input: { 'x-a': undefined, 'x-b': '2' },
      expected: { 'x-b': '2' },
    },
    {
      name: 'proxy-status is not a hop-by-hop header',
      input: { 'proxy-status': 'envoy; error=connection_refused' },
      expected: { 'proxy-status': 'envoy; error=connection_refused' },
    },
  ])('$name', ({ input, expected }) => {
    expect(endToEndRequestHeaders(input)).toStrictEqual(expected);
  });

  it('does not modify its input', () => {
    const input: IncomingHttpHeaders = { connection: 'x-hop', 'x-hop': '1', te: 'trailers, gzip', 'x-a': '1' };
    const copy = structuredClone(input);
    endToEndRequestHeaders(input);
    expect(input).toStrictEqual(copy);
  });
});

describe('endToEndResponseHeaders', () => {
  describe('drops each hop-by-hop header', () => {
    it.each(HOP_BY_HOP.map((name) => ({ name, value: SAMPLE_VALUE[name] })))('$name: $value', ({ name, value }) => {
      expect(endToEndResponseHeaders({ [name]: value, 'x-keep': '1' })).toStrictEqual({ 'x-keep': '1' });
    });
  });

  it.each<{ name: string; input: IncomingHttpHeaders | Record<string, string | string[] | undefined>; expected: OutgoingHttpHeaders }>([
    { name: 'no headers', input: {}, expected: {} },
    {
      name: 'end-to-end headers are copied unchanged',
      input: { 'content-type': 'text/plain', 'content-length': '5', server: 'echo', 'cache-control': 'no-store', date: 'Mon, 01 Jan 2024 00:00:00 GMT' },
      expected: { 'content-type': 'text/plain', 'content-length': '5', server: 'echo', 'cache-control': 'no-store', date: 'Mon, 01 Jan 2024 00:00:00 GMT' },
    },
    {
      name: 'set-cookie array is kept as an array, in order',
      input: { 'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'], 'content-type': 'text/html' },
      expected: { 'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'], 'content-type': 'text/html' },
    },
    {
      name: 'te: trailers is dropped in responses',
      input: { te: 'trailers', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    {
      name: 'a host header in a response is passed through',
      input: { host: 'reviews:9080', 'x-a': '1' },
      expected: { host: 'reviews:9080', 'x-a': '1' },
    },
    {
      name: 'pseudo-headers (:status) are dropped',
      input: { ':status': '200', 'content-type': 'application/grpc' },
      expected: { 'content-type': 'application/grpc' },
    },
    {
      name: 'gRPC trailers pass through',
      input: { 'grpc-status': '0', 'grpc-message': '' },
      expected: { 'grpc-status': '0', 'grpc-message': '' },
    },
    {
      name: 'headers named in a Connection string are dropped',
      input: { connection: 'x-hop', 'x-hop': '1', 'x-end': '2' },
      expected: { 'x-end': '2' },
    },
    {
      name: 'headers named in a Connection array are dropped',
      input: { connection: ['x-hop', 'X-Other'], 'x-hop': '1', 'x-other': '2', 'x-end': '3' },
      expected: { 'x-end': '3' },
    },
    {
      name: 'Connection: keep-alive names no extra header',
      input: { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    {
      name: 'Connection: close names no extra header',
      input: { connection: 'close', 'x-a': '1' },
      expected: { 'x-a': '1' },
    },
    {
      name: 'undefined values are skipped',
      input: { 'x-a': undefined, 'x-b': '2' },
      expected: { 'x-b': '2' },
    },
  ])('$name', ({ input, expected }) => {
    expect(endToEndResponseHeaders(input)).toStrictEqual(expected);
  });
});
