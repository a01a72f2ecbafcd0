import { describe, expect, it } from 'vitest';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { compileAccessLogging } from '../../../src/snapshot/access-logging.js';

const CTX = { waypoint: { namespace: 'shop', name: 'waypoint' }, rootNamespace: 'istio-system' };

function telemetry(namespace: string, name: string, spec: string): string {
  return `---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nspec:\n${spec}\n`;
}

const ON = '  accessLogging:\n  - providers:\n    - name: envoy';
const OFF = '  accessLogging:\n  - disabled: true';
const GATEWAY = '  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: waypoint\n';

function compile(yaml: string): ReturnType<typeof compileAccessLogging> {
  const loaded = loadResourcesFromText([{ file: 'telemetry.yaml', text: yaml }]);
  expect(loaded.problems.filter((p) => p.severity === 'error')).toEqual([]);
  return compileAccessLogging(loaded.resources, CTX);
}

describe('compileAccessLogging', () => {
  it.each<[string, string, { enabled: boolean; source: string } | undefined]>([
    ['no Telemetry: the command line decides', '', undefined],
    ['mesh-wide in the root namespace turns it on', telemetry('istio-system', 'mesh-default', ON), { enabled: true, source: 'Telemetry istio-system/mesh-default' }],
    ['providers left out mean the built-in envoy provider', telemetry('istio-system', 'mesh-default', '  accessLogging:\n  - {}'), { enabled: true, source: 'Telemetry istio-system/mesh-default' }],
    ['the waypoint namespace overrides the root namespace', telemetry('istio-system', 'mesh-default', ON) + telemetry('shop', 'quiet', OFF), { enabled: false, source: 'Telemetry shop/quiet' }],
    ['targetRefs to the waypoint Gateway override the namespace', telemetry('shop', 'quiet', OFF) + telemetry('shop', 'wp', GATEWAY + ON), { enabled: true, source: 'Telemetry shop/wp' }],
    ['targetRefs to another Gateway do not apply', telemetry('shop', 'other', GATEWAY.replace('name: waypoint', 'name: other') + ON), undefined],
    ['another namespace does not apply', telemetry('payments', 'loud', ON), undefined],
    ['a selector Telemetry does not apply to a waypoint', telemetry('shop', 'pods', '  selector:\n    matchLabels:\n      app: web\n' + ON), undefined],
    ['match.mode CLIENT only: nothing logged on the server side', telemetry('shop', 'client', ON + '\n    match:\n      mode: CLIENT'), { enabled: false, source: 'Telemetry shop/client' }],
    ['match.mode SERVER applies', telemetry('shop', 'server', ON + '\n    match:\n      mode: SERVER'), { enabled: true, source: 'Telemetry shop/server' }],
    ['a Telemetry without accessLogging leaves the next level', telemetry('istio-system', 'mesh-default', ON) + telemetry('shop', 'metrics-only', '  metrics: []'), { enabled: true, source: 'Telemetry istio-system/mesh-default' }],
  ])('%s', (_name, yaml, want) => {
    const { setting } = compile(yaml);
    if (want === undefined) expect(setting).toBeUndefined();
    else expect(setting).toMatchObject(want);
  });

  it('warns about what it does not evaluate and skips an invalid Telemetry', () => {
    const { setting, problems } = compile(
      telemetry('shop', 'filtered', ON + '\n    filter:\n      expression: response.code >= 400') + telemetry('istio-system', 'broken', '  accessLogging:\n  - disabled: "yes"'),
    );
    expect(setting).toMatchObject({ enabled: true, source: 'Telemetry shop/filtered' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ severity: 'warning', name: 'filtered', field: 'spec.accessLogging[0].filter.expression' }),
        expect.objectContaining({ severity: 'error', resourceSkipped: true, name: 'broken', field: 'spec.accessLogging[0].disabled' }),
      ]),
    );
  });
});
