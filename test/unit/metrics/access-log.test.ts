import { describe, expect, it } from 'vitest';
import { AccessLog, type AccessRecord } from '../../../src/metrics/access-log.js';
import { NO_RESPONSE_FLAGS, responseFlags, type ResponseFlags } from '../../../src/metrics/response-flags.js';
import { captureLogs } from '../../helpers/log-capture.js';

function record(flags: ResponseFlags): AccessRecord {
  return {
    type: 'http',
    start_time: '2026-01-01T00:00:00.000Z',
    duration_ms: 3,
    protocol: 'HTTP/1.1',
    response_code: 503,
    response_flags: flags,
    bytes_received: 10,
    bytes_sent: 20,
    connect_authority: '127.151.0.1:80',
    chain: 'inbound-vip|80|http|echo.default.svc.cluster.local',
    source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
    source_address: '127.151.0.2:40000',
  };
}

describe('AccessLog', () => {
  it.each<[string, ResponseFlags, string]>([
    ['no flags print as -', NO_RESPONSE_FLAGS, '-'],
    ['one flag', responseFlags('UH'), 'UH'],
    ['several, in Envoy order', responseFlags('URX', 'UF'), 'UF,URX'],
  ])('%s', (_name, flags, want) => {
    const { logger, lines } = captureLogs();
    new AccessLog(logger).write(record(flags));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'access', log: 'access', response_code: 503, response_flags: want, chain: 'inbound-vip|80|http|echo.default.svc.cluster.local' });
  });
});
