import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AccessLogSetting } from '../../../src/config/telemetry.js';
import { AccessLog, parseAccessLogTarget, type AccessLogTarget, type AccessRecord } from '../../../src/metrics/access-log.js';
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

const on: AccessLogSetting = { enabled: true, source: 'Telemetry shop/on', providers: ['envoy'] };
const off: AccessLogSetting = { enabled: false, source: 'Telemetry shop/off', providers: [] };

describe('AccessLog on and off', () => {
  it.each<[string, string, AccessLogTarget]>([
    ['empty is off', '', { kind: 'off' }],
    ['off', 'off', { kind: 'off' }],
    ['stdout', 'stdout', { kind: 'stdout' }],
    ["Envoy's /dev/stdout", '/dev/stdout', { kind: 'stdout' }],
    ['a path is a file', '/var/log/access.log', { kind: 'file', path: '/var/log/access.log' }],
  ])('--access-log %s', (_name, value, want) => {
    expect(parseAccessLogTarget(value)).toEqual(want);
  });

  it.each<[string, boolean, AccessLogSetting | undefined, number]>([
    ['off by default: no line', false, undefined, 0],
    ['the command line turns it on', true, undefined, 1],
    ['a Telemetry turns it off over the command line', true, off, 0],
    ['a disabled Telemetry keeps it off', false, off, 0],
  ])('%s', (_name, configured, setting, lines) => {
    const cap = captureLogs();
    const log = new AccessLog({ logger: cap.logger, target: configured ? { kind: 'logger', logger: cap.logger } : { kind: 'off' }, setting: () => setting });
    log.write(record(NO_RESPONSE_FLAGS));
    expect(log.enabled).toBe(lines > 0);
    expect(cap.lines.filter((l) => l.msg === 'access')).toHaveLength(lines);
  });

  it('a Telemetry that turns it on with no target writes to stdout', () => {
    const log = new AccessLog({ logger: pino({ level: 'silent' }), setting: () => on });
    expect(log.enabled).toBe(true);
  });

  it('a file target gets one JSON line per record, with the logger bindings and Envoy-style flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'access-log-'));
    try {
      const path = join(dir, 'logs', 'access.log');
      const logger = pino({ level: 'silent', base: { component: 'waypoint' } }).child({ worker: 2 });
      const log = new AccessLog({ logger, target: { kind: 'file', path } });
      log.write(record(responseFlags('UH')));
      log.write({ ...record(NO_RESPONSE_FLAGS), path: '/two' });
      await new Promise((r) => setTimeout(r, 50));
      log.flush();
      const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatchObject({ level: 'info', msg: 'access', log: 'access', component: 'waypoint', worker: 2, response_code: 503, response_flags: 'UH' });
      expect(lines[1]).toMatchObject({ path: '/two', response_flags: '-' });
      expect(typeof lines[0]?.['time']).toBe('string');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
