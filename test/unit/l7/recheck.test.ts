import { describe, expect, it } from 'vitest';
import { recheckTunnel } from '../../../src/l7/recheck.js';
import { FRIEND, POD_IP, policyDoc, policySnapshot, recordedTunnel, SLEEP, TCP_VIP } from '../../helpers/policy-mesh.js';

const admitted = policySnapshot();
const never = (): boolean => false;

describe('recheckTunnel: an open TCP tunnel against a new snapshot', () => {
  const cases: Array<{ name: string; policies: string; identity?: string; address?: string; to?: 'vip' | 'pod'; ignoredOnTcp?: (p: string) => boolean; want: { policy: string; details: string } | undefined }> = [
    { name: 'no policy at all', policies: '', want: undefined },
    {
      name: 'a DENY policy naming the source principal',
      policies: policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'),
      want: { policy: 'default/deny-sleep', details: 'rbac_access_denied_matched_policy[default/deny-sleep#rule-0]' },
    },
    {
      name: 'a DENY policy naming another principal',
      policies: policyDoc('deny-friend', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/friend"] } }] }]\n'),
      want: undefined,
    },
    {
      name: 'a DENY policy on another Service',
      policies: policyDoc('deny-sleep-web', 'Service web', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'),
      want: undefined,
    },
    {
      name: 'an ALLOW policy narrowed to another principal: named, though no rule matched',
      policies: policyDoc('allow-friend', 'Service tcp', '  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/friend"] } }] }]\n'),
      want: { policy: 'default/allow-friend', details: 'rbac_access_denied_matched_policy[none]' },
    },
    {
      name: 'the same ALLOW policy, the allowed principal',
      policies: policyDoc('allow-friend', 'Service tcp', '  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/friend"] } }] }]\n'),
      identity: FRIEND,
      want: undefined,
    },
    {
      name: 'a DENY by source address (ipBlocks) matches the recorded peer address',
      policies: policyDoc('deny-block', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { ipBlocks: ["127.175.2.0/24"] } }] }]\n'),
      want: { policy: 'default/deny-block', details: 'rbac_access_denied_matched_policy[default/deny-block#rule-0]' },
    },
    {
      name: 'the same DENY, a peer outside the block',
      policies: policyDoc('deny-block', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { ipBlocks: ["127.175.2.0/24"] } }] }]\n'),
      address: '127.175.3.1',
      want: undefined,
    },
    {
      name: 'a DENY by destination port: the port the client dialled',
      policies: policyDoc('deny-9000', 'Service tcp', '  action: DENY\n  rules: [{ to: [{ operation: { ports: ["9000"] } }] }]\n'),
      want: { policy: 'default/deny-9000', details: 'rbac_access_denied_matched_policy[default/deny-9000#rule-0]' },
    },
    {
      name: 'a waypoint-wide DENY reaches workload-addressed tunnels',
      policies: policyDoc('deny-all-sleep', 'Gateway waypoint', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'),
      to: 'pod',
      want: { policy: 'default/deny-all-sleep', details: 'rbac_access_denied_matched_policy[default/deny-all-sleep#rule-0]' },
    },
    {
      name: 'a Service DENY does not reach workload-addressed tunnels',
      policies: policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'),
      to: 'pod',
      want: undefined,
    },
    {
      name: 'a dry-run DENY is reported, never enforced',
      policies: policyDoc('deny-dry', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n', '"istio.io/dry-run": "true"'),
      want: undefined,
    },
    {
      name: 'a CUSTOM policy whose provider TCP cannot ask is skipped',
      policies: policyDoc('ext', 'Service tcp', '  action: CUSTOM\n  provider: { name: http-authz }\n  rules: [{}]\n'),
      ignoredOnTcp: (p) => p === 'http-authz',
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(`${c.want === undefined ? 'keeps' : 'closes'}: ${c.name}`, () => {
      const ip = c.to === 'pod' ? POD_IP : TCP_VIP;
      const tunnel = recordedTunnel(admitted, ip, 9000, c.identity ?? SLEEP, c.address);
      const denial = recheckTunnel(policySnapshot(c.policies, 2), tunnel, c.ignoredOnTcp ?? never);
      expect(denial === undefined ? undefined : { policy: denial.policy, details: denial.details }).toEqual(c.want);
      if (denial !== undefined) expect(denial.reason).toMatch(/^denied/);
    });
  }
});
