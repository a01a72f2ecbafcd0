import { describe, expect, it } from 'vitest';
import { parsePodLabels, resolveIdentity, type IdentityInputs } from '../../../../src/hbone/istio-ca/identity.js';

const labels = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));

describe('resolveIdentity', () => {
  it.each<[string, IdentityInputs, { namespace: string; serviceAccount: string; name: string; trustDomain: string; from?: Record<string, string> }]>([
    [
      'flags win over the environment',
      { namespace: 'ns-flag', serviceAccount: 'sa-flag', name: 'gw-flag', trustDomain: 'td.flag', env: { POD_NAMESPACE: 'ns-env', SERVICE_ACCOUNT: 'sa-env', TRUST_DOMAIN: 'td.env' } },
      { namespace: 'ns-flag', serviceAccount: 'sa-flag', name: 'gw-flag', trustDomain: 'td.flag', from: { namespace: '--namespace', serviceAccount: '--service-account', name: '--name', trustDomain: '--trust-domain' } },
    ],
    [
      "istiod's template env, name from the pod label",
      { env: { POD_NAMESPACE: 'bookinfo', SERVICE_ACCOUNT: 'waypoint' }, podLabels: labels({ 'gateway.networking.k8s.io/gateway-name': 'reviews-wp' }) },
      { namespace: 'bookinfo', serviceAccount: 'waypoint', name: 'reviews-wp', trustDomain: 'cluster.local', from: { namespace: 'POD_NAMESPACE', serviceAccount: 'SERVICE_ACCOUNT', name: 'pod label gateway.networking.k8s.io/gateway-name', trustDomain: 'default' } },
    ],
    [
      'no label: the name is the service account',
      { env: { POD_NAMESPACE: 'bookinfo', SERVICE_ACCOUNT: 'waypoint' }, podLabels: labels({ app: 'x' }) },
      { namespace: 'bookinfo', serviceAccount: 'waypoint', name: 'waypoint', trustDomain: 'cluster.local' },
    ],
    [
      'TRUST_DOMAIN when no flag',
      { env: { POD_NAMESPACE: 'a', SERVICE_ACCOUNT: 'b', TRUST_DOMAIN: 'example.org' } },
      { namespace: 'a', serviceAccount: 'b', name: 'b', trustDomain: 'example.org' },
    ],
    [
      'only the template args: namespace from --domain, service account from --serviceCluster',
      { env: {}, domain: 'shop.svc.cluster.local', serviceCluster: 'shop-waypoint.shop' },
      { namespace: 'shop', serviceAccount: 'shop-waypoint', name: 'shop-waypoint', trustDomain: 'cluster.local', from: { namespace: '--domain', serviceAccount: '--serviceCluster', name: 'service account', trustDomain: 'default' } },
    ],
    [
      'blank values count as not given',
      { namespace: '  ', env: { POD_NAMESPACE: 'real', SERVICE_ACCOUNT: 'sa' }, name: '' },
      { namespace: 'real', serviceAccount: 'sa', name: 'sa', trustDomain: 'cluster.local' },
    ],
  ])('%s', (_name, input, expected) => {
    const id = resolveIdentity(input);
    expect(id).toMatchObject({ namespace: expected.namespace, serviceAccount: expected.serviceAccount, name: expected.name, trustDomain: expected.trustDomain });
    expect(id.spiffe).toBe(`spiffe://${expected.trustDomain}/ns/${expected.namespace}/sa/${expected.serviceAccount}`);
    if (expected.from !== undefined) expect(id.from).toEqual(expected.from);
  });

  it.each<[string, IdentityInputs, RegExp]>([
    ['no namespace anywhere', { env: { SERVICE_ACCOUNT: 'sa' } }, /no namespace: give --namespace \(WAYPOINT_NAMESPACE\) or set POD_NAMESPACE/],
    ['no service account anywhere', { env: { POD_NAMESPACE: 'ns' } }, /no service account: give --service-account/],
    ['--serviceCluster of another namespace', { env: { POD_NAMESPACE: 'ns' }, serviceCluster: 'sa.other' }, /no service account/],
    ['a service account that cannot be in a SPIFFE id', { env: { POD_NAMESPACE: 'ns', SERVICE_ACCOUNT: 'a/b' } }, /invalid SPIFFE identity parts/],
  ])('fails when %s', (_name, input, message) => {
    expect(() => resolveIdentity(input)).toThrow(message);
  });
});

describe('parsePodLabels', () => {
  it.each<[string, string, Record<string, string>, number]>([
    ['downward-API lines', 'app="waypoint"\ngateway.networking.k8s.io/gateway-name="wp"\n', { app: 'waypoint', 'gateway.networking.k8s.io/gateway-name': 'wp' }, 0],
    ['escaped quotes and backslashes', 'note="say \\"hi\\" \\\\ bye"', { note: 'say "hi" \\ bye' }, 0],
    ['an empty value', 'empty=""', { empty: '' }, 0],
    ['a value with =', 'k="a=b"', { k: 'a=b' }, 0],
    ['unquoted value skipped', 'k=v\nok="1"', { ok: '1' }, 1],
    ['no key skipped', '="v"', {}, 1],
    ['no = skipped', 'just text', {}, 1],
    ['an unterminated quote skipped', 'k="abc', {}, 1],
    ['blank lines and CRLF ignored', '\r\na="1"\r\n\r\n', { a: '1' }, 0],
  ])('%s', (_name, text, expected, skipped) => {
    const r = parsePodLabels(text);
    expect(Object.fromEntries(r.labels)).toEqual(expected);
    expect(r.skipped).toHaveLength(skipped);
  });
});
