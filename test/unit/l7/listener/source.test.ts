import { describe, expect, it } from 'vitest';
import type { WorkloadInfo } from '../../../../src/config/types.js';
import type { PeerInfo } from '../../../../src/hbone/server.js';
import { sourceOf } from '../../../../src/l7/listener/source.js';

function pod(name: string, ip: string, namespace: string, serviceAccount: string): WorkloadInfo {
  return {
    uid: `Pod/${namespace}/${name}`,
    kind: 'Pod',
    name,
    namespace,
    ip,
    labels: {},
    serviceAccount,
    identity: `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`,
    workloadName: name.replace(/-\d+$/, ''),
    canonicalService: name.replace(/-\d+$/, ''),
    canonicalRevision: 'v1',
    ready: true,
    namedPorts: new Map(),
  };
}

// Two deployments under one service account (the principal alone cannot tell them apart), a pod
// of another account, and ztunnel's own address (the HBONE peer when ztunnel is not in the pod).
const PODS = [pod('reviews-v1-1', '10.0.0.11', 'shop', 'reviews'), pod('reviews-v2-1', '10.0.0.12', 'shop', 'reviews'), pod('cart-1', '10.0.0.21', 'shop', 'cart'), pod('sleep-1', '10.0.0.31', 'shop', 'sleep')];
const snap = { workloadsByIp: new Map(PODS.map((p) => [p.ip, p])) };
const REVIEWS = 'spiffe://cluster.local/ns/shop/sa/reviews';
const ZTUNNEL_NODE_IP = '10.0.9.1';

const peer = (identity: string, address: string, forwarded?: string): PeerInfo => ({
  identity,
  address,
  port: 40000,
  localAddress: '10.0.0.2',
  localPort: 15008,
  ...(forwarded === undefined ? {} : { forwardedFor: { address: forwarded, port: 51000 } }),
});

describe('sourceOf', () => {
  it.each([
    { name: 'no forwarded header: the pod at the peer address', p: peer(REVIEWS, '10.0.0.12'), workload: 'reviews-v2-1', namespace: 'shop' },
    { name: 'forwarded names the pod when the peer is ztunnel on the node', p: peer(REVIEWS, ZTUNNEL_NODE_IP, '10.0.0.11'), workload: 'reviews-v1-1', namespace: 'shop' },
    { name: 'forwarded picks which of the principal’s pods, over the peer address', p: peer(REVIEWS, '10.0.0.12', '10.0.0.11'), workload: 'reviews-v1-1', namespace: 'shop' },
    { name: 'forwarded naming a pod of another service account is not taken', p: peer(REVIEWS, ZTUNNEL_NODE_IP, '10.0.0.21'), workload: undefined, namespace: 'shop' },
    { name: 'forwarded contradicting the principal falls back to the peer address', p: peer(REVIEWS, '10.0.0.11', '10.0.0.21'), workload: 'reviews-v1-1', namespace: 'shop' },
    { name: 'forwarded to an address no pod has: the peer address', p: peer(REVIEWS, '10.0.0.12', '10.0.7.7'), workload: 'reviews-v2-1', namespace: 'shop' },
    { name: 'namespace from the principal even when no pod is known', p: peer('spiffe://cluster.local/ns/other/sa/x', ZTUNNEL_NODE_IP), workload: undefined, namespace: 'other' },
    { name: 'no SPIFFE principal: the forwarded pod and its namespace', p: peer('', ZTUNNEL_NODE_IP, '10.0.0.31'), workload: 'sleep-1', namespace: 'shop' },
  ])('$name', ({ p, workload, namespace }) => {
    const s = sourceOf(snap, p);
    expect(s.workload?.name).toBe(workload);
    expect(s.namespace).toBe(namespace);
  });
});
