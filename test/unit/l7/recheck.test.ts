import { describe, expect, it } from 'vitest';
import { recheckTunnel, recheckUpgrade, type RecordedUpgrade } from '../../../src/l7/recheck.js';
import { FRIEND, meshAddresses, POD_IP, policyDoc, policySnapshot, recordedTunnel, SLEEP, TCP_VIP } from '../../helpers/policy-mesh.js';

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

describe('recheckUpgrade: an upgraded HTTP connection (WebSocket, RFC 8441) against a new snapshot', () => {
  const WEB_VIP = meshAddresses('127.175').webVip;
  /** The WebSocket upgrade request to `web` as `decide` authorised it. */
  const upgrade = (path: string, identity = SLEEP, jwtPrincipal?: string): RecordedUpgrade => {
    const tunnel = recordedTunnel(admitted, WEB_VIP, 80, identity);
    return {
      tunnel,
      destination: tunnel.destination,
      http: { method: 'GET', host: 'web.default.svc.cluster.local', path, headers: { upgrade: 'websocket', connection: 'upgrade', 'x-team': 'blue' } },
      jwt: jwtPrincipal === undefined ? undefined : { principal: jwtPrincipal, payload: { iss: 'https://issuer.test', sub: 'alice' } },
      decidedOn: admitted,
    };
  };
  const web = (name: string, spec: string): string => policyDoc(name, 'Service web', spec);
  const cases: Array<{ name: string; policies: string; up?: RecordedUpgrade; want: { policy: string; details: string } | undefined }> = [
    { name: 'no policy at all', policies: '', want: undefined },
    {
      name: 'a DENY on the upgrade path',
      policies: web('deny-chat', '  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/chat*"] } }] }]\n'),
      up: upgrade('/chat/room-1'),
      want: { policy: 'default/deny-chat', details: 'rbac_access_denied_matched_policy[default/deny-chat#rule-0]' },
    },
    { name: 'the same DENY, another path', policies: web('deny-chat', '  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/chat*"] } }] }]\n'), up: upgrade('/feed'), want: undefined },
    {
      name: 'a DENY on a request header as authorised',
      policies: web('deny-blue', '  action: DENY\n  rules: [{ when: [{ key: "request.headers[x-team]", values: ["blue"] }] }]\n'),
      want: { policy: 'default/deny-blue', details: 'rbac_access_denied_matched_policy[default/deny-blue#rule-0]' },
    },
    { name: 'a DENY on another method', policies: web('deny-post', '  action: DENY\n  rules: [{ to: [{ operation: { methods: ["POST"] } }] }]\n'), want: undefined },
    {
      name: 'an ALLOW for another principal: named, though no rule matched',
      policies: web('allow-friend', '  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/friend"] } }] }]\n'),
      want: { policy: 'default/allow-friend', details: 'rbac_access_denied_matched_policy[none]' },
    },
    {
      name: 'the same ALLOW, the allowed principal',
      policies: web('allow-friend', '  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/friend"] } }] }]\n'),
      up: upgrade('/chat', FRIEND),
      want: undefined,
    },
    {
      name: 'an ALLOW on the request principal: the JWT verified at upgrade time still counts',
      policies: web('allow-alice', '  action: ALLOW\n  rules: [{ from: [{ source: { requestPrincipals: ["https://issuer.test/alice"] } }] }]\n'),
      up: upgrade('/chat', SLEEP, 'https://issuer.test/alice'),
      want: undefined,
    },
    {
      name: 'the same ALLOW, no JWT at upgrade time',
      policies: web('allow-alice', '  action: ALLOW\n  rules: [{ from: [{ source: { requestPrincipals: ["https://issuer.test/alice"] } }] }]\n'),
      want: { policy: 'default/allow-alice', details: 'rbac_access_denied_matched_policy[none]' },
    },
    {
      name: 'a CUSTOM policy: the ext_authz server is not asked again, the CUSTOM layer stays as decided',
      policies: web('ext', '  action: CUSTOM\n  provider: { name: http-authz }\n  rules: [{}]\n'),
      want: undefined,
    },
    {
      name: 'a DENY on the TCP Service does not reach the web upgrade',
      policies: policyDoc('deny-sleep-tcp', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n'),
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(`${c.want === undefined ? 'keeps' : 'closes'}: ${c.name}`, () => {
      const denial = recheckUpgrade(policySnapshot(c.policies, 2), c.up ?? upgrade('/chat'));
      expect(denial === undefined ? undefined : { policy: denial.policy, details: denial.details }).toEqual(c.want);
      if (denial !== undefined) expect(denial.reason).toMatch(/^denied/);
    });
  }
});
