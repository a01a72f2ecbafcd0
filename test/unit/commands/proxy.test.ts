import { describe, expect, it } from 'vitest';
import { proxyPlan, type ProxyArgs } from '../../../src/commands/proxy.js';

const TEMPLATE: ProxyArgs = {
  type: 'waypoint',
  domain: 'shop.svc.cluster.local',
  serviceCluster: 'waypoint.shop',
  proxyLogLevel: 'warning',
  proxyComponentLogLevel: 'misc:error',
  logOutputLevel: 'default:info',
  unknown: [],
};

describe('proxyPlan', () => {
  it("maps istiod's template args: log level from --log_output_level, Envoy's levels noted as ignored", () => {
    const plan = proxyPlan(TEMPLATE, undefined, 'info');
    expect(plan.logLevel).toBe('info');
    expect(plan.notes).toEqual([
      '--log_output_level default:info: log level info',
      "--proxyLogLevel warning: ignored (Envoy's own log level; use --log_output_level or --log-level)",
      '--proxyComponentLogLevel misc:error: ignored (Envoy component loggers)',
      '--domain shop.svc.cluster.local: the namespace when POD_NAMESPACE and --namespace are not set',
      '--serviceCluster waypoint.shop: the service account when SERVICE_ACCOUNT and --service-account are not set',
    ]);
  });

  it.each<[string, Partial<ProxyArgs>, string | undefined, string, string | undefined]>([
    ['--log_output_level debug for the default scope', { logOutputLevel: 'default:debug' }, undefined, 'debug', 'log level debug'],
    ['--log-level given wins', { logOutputLevel: 'default:debug' }, 'warn', 'warn', 'ignored, --log-level warn was given'],
    ['no default scope: the fallback', { logOutputLevel: 'ads:debug' }, undefined, 'info', 'no level for the default scope'],
    ['no --log_output_level: the fallback', { logOutputLevel: undefined }, undefined, 'info', undefined],
    ['unknown pilot-agent flags are listed', { unknown: ['--concurrency', '2'] }, undefined, 'info', 'ignored arguments: --concurrency 2'],
  ])('%s', (_name, args, explicit, level, note) => {
    const plan = proxyPlan({ ...TEMPLATE, ...args }, explicit, 'info');
    expect(plan.logLevel).toBe(level);
    if (note !== undefined) expect(plan.notes.some((n) => n.includes(note))).toBe(true);
  });

  it.each(['router', 'sidecar', ''])('refuses proxy type %j', (type) => {
    expect(() => proxyPlan({ ...TEMPLATE, type }, undefined, 'info')).toThrow(/only `proxy waypoint`/);
  });
});
