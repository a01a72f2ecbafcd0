import { describe, expect, it } from 'vitest';
import { OpenConnections, type OpenConnection } from '../../../src/l7/open-connections.js';
import { recheckTunnel, type RecheckDenial } from '../../../src/l7/recheck.js';
import { captureLogs } from '../../helpers/log-capture.js';
import { FRIEND, policyDoc, policySnapshot, recordedTunnel, SLEEP, TCP_VIP } from '../../helpers/policy-mesh.js';

const before = policySnapshot('', 1);
const denySleep = policySnapshot(policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'), 2);

function setup(): { open: OpenConnections; lines: ReturnType<typeof captureLogs>['lines']; closed: Map<string, RecheckDenial>; counted: string[]; add: (identity: string) => OpenConnection } {
  const cap = captureLogs('info');
  const counted: string[] = [];
  const open = new OpenConnections({ logger: cap.logger, closed: (policy) => counted.push(policy) });
  const closed = new Map<string, RecheckDenial>();
  const add = (identity: string): OpenConnection => {
    const tunnel = recordedTunnel(before, TCP_VIP, 9000, identity);
    const t: OpenConnection = { tunnel, recheck: (snap) => recheckTunnel(snap, tunnel, () => false), close: (d) => closed.set(identity, d) };
    open.add(t);
    return t;
  };
  return { open, lines: cap.lines, closed, counted, add };
}

describe('OpenConnections: the policy re-check of open connections', () => {
  it.each([
    ['authorised on the current snapshot: not re-checked at registration', before, before, []],
    ['authorised before a swap whose re-check it missed: re-checked at registration and closed', before, denySleep, [SLEEP]],
    ['no snapshots given (a TCP tunnel, admitted on the current one): not re-checked', undefined, undefined, []],
  ] as const)('%s', (_name, decidedOn, current, want) => {
    const { open, closed, counted } = setup();
    const tunnel = recordedTunnel(before, TCP_VIP, 9000, SLEEP);
    open.add({ tunnel, recheck: (snap) => recheckTunnel(snap, tunnel, () => false), close: (d) => closed.set(SLEEP, d) }, decidedOn, current);
    expect([...closed.keys()]).toEqual(want);
    expect(counted).toEqual(want.length === 0 ? [] : ['default/deny-sleep']);
    expect(open.size).toBe(1 - want.length);
  });

  it('closes the tunnels a new policy denies, logs and counts each once with the policy, keeps the others', () => {
    const { open, lines, closed, counted, add } = setup();
    add(SLEEP);
    add(FRIEND);
    expect(open.recheck(before, denySleep)).toEqual(['default/deny-sleep']);
    expect([...closed.keys()]).toEqual([SLEEP]);
    expect(counted).toEqual(['default/deny-sleep']);
    expect(closed.get(SLEEP)?.details).toBe('rbac_access_denied_matched_policy[default/deny-sleep#rule-0]');
    expect(open.size).toBe(1);
    const logged = lines.filter((l) => l.msg === 'connection closed by policy re-check');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, policy: 'default/deny-sleep', source_principal: SLEEP, connect_authority: `${TCP_VIP}:9000`, version: 2 });
    // A closed tunnel is not checked (or logged) again.
    expect(open.recheck(denySleep, policySnapshot(policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{}]\n'), 3))).toEqual(['default/deny-sleep']);
    expect([...closed.keys()]).toEqual([SLEEP, FRIEND]);
    expect(lines.filter((l) => l.msg === 'connection closed by policy re-check')).toHaveLength(2);
  });

  it('does not walk the tunnels when the policies did not change', () => {
    const { open, closed, add } = setup();
    add(SLEEP);
    // Same policy documents, new snapshot: nothing re-checked, even though a walk would close it.
    expect(open.recheck(denySleep, policySnapshot(policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'), 3))).toEqual([]);
    expect(closed.size).toBe(0);
  });

  it('asks each entry its own re-check and logs an upgraded connection with its request', () => {
    const { open, lines } = setup();
    const tunnel = recordedTunnel(before, TCP_VIP, 9000, SLEEP);
    const asked: number[] = [];
    const closed: RecheckDenial[] = [];
    open.add({
      tunnel,
      request: { method: 'GET', authority: 'web.default.svc.cluster.local', path: '/chat' },
      recheck: (snap) => {
        asked.push(snap.version);
        return { policy: 'default/deny-chat', reason: 'denied: deny-chat', details: 'rbac_access_denied_matched_policy[default/deny-chat#rule-0]' };
      },
      close: (d) => closed.push(d),
    });
    expect(open.recheck(before, denySleep)).toEqual(['default/deny-chat']);
    expect(asked).toEqual([2]);
    expect(closed.map((d) => d.policy)).toEqual(['default/deny-chat']);
    expect(lines.find((l) => l.msg === 'connection closed by policy re-check')).toMatchObject({ policy: 'default/deny-chat', method: 'GET', authority: 'web.default.svc.cluster.local', path: '/chat' });
    expect(open.size).toBe(0);
  });

  it('forgets a tunnel once it closed by itself', () => {
    const { open, closed, add } = setup();
    open.delete(add(SLEEP));
    expect(open.size).toBe(0);
    expect(open.recheck(before, denySleep)).toEqual([]);
    expect(closed.size).toBe(0);
  });
});
