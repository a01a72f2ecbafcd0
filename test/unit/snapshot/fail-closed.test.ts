import { describe, expect, it } from 'vitest';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { hasFatalErrors } from '../../../src/config/problems.js';
import { evaluate } from '../../../src/policy/evaluate.js';
import { compileSnapshot } from '../../../src/snapshot/compile.js';

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {clusterIP: 127.32.0.1, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: shelf, namespace: shop}
spec: {clusterIP: 127.32.0.2, ports: [{name: http, port: 80}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-broken, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: cart}]
  action: ALLOW
  rules: [{when: [{key: no.such.key, values: [x]}]}]
`;

const REQUEST = { sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/web', sourceIp: '127.32.1.1', destinationIp: '127.32.0.1', destinationPort: 80 };

describe('compileSnapshot and a policy that cannot be compiled', () => {
  const { resources } = loadResourcesFromText([{ file: 'mesh.yaml', text: MESH }]);
  const base = { trustDomain: 'cluster.local', clusterId: 'Kubernetes', version: 1, namespace: 'shop', name: 'waypoint' };

  it('rejects the whole configuration by default (file mode)', () => {
    expect(hasFatalErrors(compileSnapshot(resources, base).problems)).toBe(true);
  });

  it('with failClosedPolicies compiles, and only the policy target denies', () => {
    const { snapshot, problems } = compileSnapshot(resources, { ...base, failClosedPolicies: true });
    expect(hasFatalErrors(problems)).toBe(false);
    const policies = snapshot.policies;
    if (policies === undefined) throw new Error('no policies compiled');
    const cart = evaluate(policies.forService('cart.shop.svc.cluster.local'), REQUEST);
    expect(cart).toMatchObject({ allowed: false, policy: 'shop/cart-broken' });
    expect(evaluate(policies.forService('shelf.shop.svc.cluster.local'), { ...REQUEST, destinationIp: '127.32.0.2' }).allowed).toBe(true);
    expect(snapshot.warnings.some((w) => w.name === 'cart-broken' && w.message.includes('fail closed'))).toBe(true);
  });
});
