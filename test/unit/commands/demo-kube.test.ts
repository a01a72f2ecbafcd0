import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterObjects } from '../../../src/commands/demo-kube.js';
import { demoPlan, moveConfig } from '../../../src/commands/demo.js';
import { WATCHED_KINDS } from '../../../src/config/kube/kinds.js';

describe('waypoint demo --kube: the example as the API server holds it', () => {
  it('every object is of a kind the fake API server serves; pods are running, Ready and ambient', async () => {
    const { layout } = demoPlan({ base: '127.173' });
    const objects = clusterObjects(moveConfig(await readFile(path.resolve('examples/demo-mesh.yaml'), 'utf8'), layout));
    const kinds = new Set(WATCHED_KINDS.map((k) => k.kind));
    expect(objects.filter((o) => !kinds.has(String(o['kind'])))).toEqual([]);
    const pods = objects.filter((o) => o['kind'] === 'Pod');
    expect(pods.length).toBeGreaterThanOrEqual(3);
    for (const p of pods) {
      expect(p).toMatchObject({
        metadata: { annotations: { 'ambient.istio.io/redirection': 'enabled' } },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
      const status = p['status'] as { podIP: string; podIPs: Array<{ ip: string }> };
      expect(status.podIP.startsWith('127.173.')).toBe(true);
      expect(status.podIPs).toEqual([{ ip: status.podIP }]);
    }
  });

  it('demoPlan moves the tunnels and the local address with --base and --port-offset', () => {
    const plan = demoPlan({ base: '127.173', portOffset: 100 });
    expect(plan.local).toBe('127.173.0.1');
    expect(plan.port(15021)).toBe(15121);
    expect(plan.tunnels[0]).toMatchObject({ port: 15180, authority: '127.173.20.1:80' });
  });
});
