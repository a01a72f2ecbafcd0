import { describe, expect, it } from 'vitest';
import { resolvePortProtocol } from '../../../src/config/protocol.js';
import type { PortProtocol } from '../../../src/config/types.js';

interface Row {
  name: string;
  input: { name?: string; appProtocol?: string; port: number };
  expected: PortProtocol;
}

const rows: Row[] = [
  { name: 'port name http', input: { name: 'http', port: 8080 }, expected: 'http' },
  { name: 'port name prefix http-web', input: { name: 'http-web', port: 8080 }, expected: 'http' },
  { name: 'port name is case-insensitive', input: { name: 'HTTP-Web', port: 8080 }, expected: 'http' },
  { name: 'port name http2', input: { name: 'http2', port: 8080 }, expected: 'http2' },
  { name: 'port name http2-foo', input: { name: 'http2-foo', port: 8080 }, expected: 'http2' },
  { name: 'port name grpc', input: { name: 'grpc', port: 9000 }, expected: 'grpc' },
  { name: 'port name grpc-web checked before the cut', input: { name: 'grpc-web', port: 9000 }, expected: 'grpc' },
  { name: 'port name grpc-web-x', input: { name: 'grpc-web-x', port: 9000 }, expected: 'grpc' },
  { name: 'port name grpc-foo', input: { name: 'grpc-foo', port: 9000 }, expected: 'grpc' },
  { name: 'port name http_proxy', input: { name: 'http_proxy', port: 3128 }, expected: 'http' },
  { name: 'port name https is TCP to the waypoint', input: { name: 'https', port: 443 }, expected: 'tcp' },
  { name: 'port name tls', input: { name: 'tls-x', port: 443 }, expected: 'tcp' },
  { name: 'port name tcp', input: { name: 'tcp', port: 9000 }, expected: 'tcp' },
  { name: 'port name mongo', input: { name: 'mongo', port: 9000 }, expected: 'tcp' },
  { name: 'port name redis', input: { name: 'redis-main', port: 6379 }, expected: 'tcp' },
  { name: 'port name mysql', input: { name: 'mysql', port: 9000 }, expected: 'tcp' },
  { name: 'port name udp', input: { name: 'udp', port: 9000 }, expected: 'tcp' },
  { name: 'unknown port name is sniffed', input: { name: 'web', port: 8080 }, expected: 'unknown' },
  { name: 'no port name is sniffed', input: { port: 8080 }, expected: 'unknown' },
  { name: 'prefix httpx is not http', input: { name: 'httpx', port: 8080 }, expected: 'unknown' },
  { name: 'well-known port 25 is TCP', input: { port: 25 }, expected: 'tcp' },
  { name: 'well-known port 53 is TCP', input: { name: 'dns', port: 53 }, expected: 'tcp' },
  { name: 'well-known port 3306 is TCP', input: { port: 3306 }, expected: 'tcp' },
  { name: 'well-known port 27017 is TCP', input: { port: 27017 }, expected: 'tcp' },
  { name: 'well-known port loses to a known name', input: { name: 'http', port: 53 }, expected: 'http' },
  { name: 'appProtocol wins over the port name', input: { name: 'tcp', appProtocol: 'http', port: 80 }, expected: 'http' },
  { name: 'appProtocol http2', input: { name: 'http', appProtocol: 'HTTP2', port: 80 }, expected: 'http2' },
  { name: 'appProtocol grpc', input: { appProtocol: 'grpc', port: 80 }, expected: 'grpc' },
  { name: 'appProtocol grpc-web', input: { appProtocol: 'grpc-web', port: 80 }, expected: 'grpc' },
  { name: 'appProtocol kubernetes.io/h2c', input: { name: 'tcp', appProtocol: 'kubernetes.io/h2c', port: 80 }, expected: 'http2' },
  { name: 'appProtocol kubernetes.io/ws', input: { appProtocol: 'kubernetes.io/ws', port: 80 }, expected: 'http' },
  { name: 'appProtocol kubernetes.io/wss', input: { name: 'http', appProtocol: 'kubernetes.io/wss', port: 80 }, expected: 'tcp' },
  { name: 'appProtocol https', input: { name: 'http', appProtocol: 'https', port: 80 }, expected: 'tcp' },
  { name: 'appProtocol is not cut at a dash', input: { appProtocol: 'http-x', port: 80 }, expected: 'unknown' },
  { name: 'unrecognised appProtocol falls back to the name', input: { name: 'grpc', appProtocol: 'example.com/custom', port: 80 }, expected: 'grpc' },
  { name: 'empty appProtocol is ignored', input: { name: 'http', appProtocol: '', port: 80 }, expected: 'http' },
];

describe('resolvePortProtocol', () => {
  it.each(rows)('$name', ({ input, expected }) => {
    expect(resolvePortProtocol(input)).toBe(expected);
  });
});
