import { describe, expect, it } from 'vitest';
import { policiesChanged } from '../../../src/snapshot/policy-change.js';
import { policyDoc, policySnapshot } from '../../helpers/policy-mesh.js';

const DENY_SLEEP = policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n');
const DENY_FRIEND = policyDoc('deny-sleep', 'Service tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/friend"] } }] }]\n');
const ALLOW_WEB = policyDoc('allow-web', 'Service web', '  action: ALLOW\n  rules: [{}]\n');
// Parsed only (never dialled): a VIP in this helper's range.
const OTHER_SERVICE = `---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: default }
spec: { clusterIP: 127.175.10.9, selector: { app: echo }, ports: [{ name: http, port: 80 }] }
`;
const TARGETS_OTHER = policyDoc('deny-other', 'Service other', '  action: DENY\n  rules: [{}]\n');
const ROUTE = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
`;
// Hosts parsed only, never dialled.
const SERVICE_ENTRY = (host: string): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: default, labels: { istio.io/use-waypoint: waypoint } }
spec: { hosts: [${host}], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS }
`;

describe('policiesChanged: whether a swap can decide an open connection differently', () => {
  const cases: Array<{ name: string; before: string; after: string; changed: boolean }> = [
    { name: 'the same documents compiled again', before: DENY_SLEEP, after: DENY_SLEEP, changed: false },
    { name: 'no policies either side', before: '', after: '', changed: false },
    { name: 'a policy added', before: '', after: DENY_SLEEP, changed: true },
    { name: 'a policy removed', before: DENY_SLEEP, after: '', changed: true },
    { name: 'a rule edited', before: DENY_SLEEP, after: DENY_FRIEND, changed: true },
    { name: 'a policy set to dry-run', before: DENY_SLEEP, after: DENY_SLEEP.replace('namespace: default }', 'namespace: default, annotations: { "istio.io/dry-run": "true" } }'), changed: true },
    { name: 'the same policies in another order', before: DENY_SLEEP + ALLOW_WEB, after: ALLOW_WEB + DENY_SLEEP, changed: false },
    { name: 'a route added (not a policy)', before: DENY_SLEEP, after: DENY_SLEEP + ROUTE, changed: false },
    { name: 'a Service added that no policy targets', before: DENY_SLEEP, after: DENY_SLEEP + OTHER_SERVICE, changed: false },
    { name: 'the Service a policy targets appears', before: TARGETS_OTHER, after: TARGETS_OTHER + OTHER_SERVICE, changed: true },
    { name: "a ServiceEntry's hosts edited", before: DENY_SLEEP + SERVICE_ENTRY('a.example.com'), after: DENY_SLEEP + SERVICE_ENTRY('b.example.com'), changed: true },
  ];
  for (const c of cases) {
    it(`${c.changed ? 'changed' : 'unchanged'}: ${c.name}`, () => {
      expect(policiesChanged(policySnapshot(c.before, 1), policySnapshot(c.after, 2))).toBe(c.changed);
    });
  }

  it('one snapshot against itself is unchanged', () => {
    const s = policySnapshot(DENY_SLEEP);
    expect(policiesChanged(s, s)).toBe(false);
  });
});
