import { describe, expect, it } from 'vitest';
import { decideBinding, namespaceMeta, type BindingSubject, type TrafficType, type WaypointPolicy } from '../../../src/config/binding.js';
import type { WaypointFor } from '../../../src/config/types.js';

const W = 'infra';
const N = 'waypoint';

function policy(over: Partial<WaypointPolicy> = {}): WaypointPolicy {
  return { namespace: W, name: N, waypointFor: 'service', allowedRoutes: { from: 'Same', selector: undefined }, gatewayFound: true, ...over };
}

function wf(waypointFor: WaypointFor): Partial<WaypointPolicy> {
  return { waypointFor };
}

interface Row {
  name: string;
  subject: BindingSubject;
  traffic: TrafficType;
  nsLabels?: Record<string, string>;
  policy?: Partial<WaypointPolicy>;
  bound: boolean;
  reason: string;
}

const svc = (namespace: string, labels: Record<string, string> = {}): BindingSubject => ({ kind: 'Service', namespace, labels });
const pod = (namespace: string, labels: Record<string, string> = {}): BindingSubject => ({ kind: 'Pod', namespace, labels });
const use = (name: string, ns?: string): Record<string, string> =>
  ns === undefined ? { 'istio.io/use-waypoint': name } : { 'istio.io/use-waypoint': name, 'istio.io/use-waypoint-namespace': ns };

const rows: Row[] = [
  {
    name: 'Service label names this waypoint',
    subject: svc(W, use(N)),
    traffic: 'service',
    bound: true,
    reason: 'bound: Service label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'no label anywhere',
    subject: svc(W),
    traffic: 'service',
    bound: false,
    reason: 'not bound: no istio.io/use-waypoint label on the Service or its namespace infra',
  },
  {
    name: 'namespace label binds the Service',
    subject: svc(W),
    nsLabels: use(N),
    traffic: 'service',
    bound: true,
    reason: 'bound: namespace label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'Service label overrides the namespace label (other waypoint)',
    subject: svc(W, use('other')),
    nsLabels: use(N),
    traffic: 'service',
    bound: false,
    reason: 'not bound: Service label istio.io/use-waypoint=other selects waypoint infra/other, not this one (infra/waypoint)',
  },
  {
    name: 'Service label wins over a namespace label naming another waypoint',
    subject: svc(W, use(N)),
    nsLabels: use('other'),
    traffic: 'service',
    bound: true,
    reason: 'bound: Service label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'Service label none opts out of the namespace waypoint',
    subject: svc(W, use('none')),
    nsLabels: use(N),
    traffic: 'service',
    bound: false,
    reason: 'not bound: Service label opts out (none)',
  },
  {
    name: 'namespace label none',
    subject: svc(W),
    nsLabels: use('none'),
    traffic: 'service',
    bound: false,
    reason: 'not bound: namespace label opts out (none)',
  },
  {
    name: 'Pod label none opts out of workload traffic',
    subject: pod(W, use('none')),
    nsLabels: use(N),
    traffic: 'workload',
    policy: wf('all'),
    bound: false,
    reason: 'not bound: Pod label opts out (none)',
  },
  {
    name: 'use-waypoint-namespace points at this waypoint (allowedRoutes All)',
    subject: svc('bookinfo', use(N, W)),
    traffic: 'service',
    policy: { allowedRoutes: { from: 'All', selector: undefined } },
    bound: true,
    reason:
      'bound: Service label istio.io/use-waypoint=waypoint istio.io/use-waypoint-namespace=infra; allowedRoutes All admits every namespace',
  },
  {
    name: 'missing use-waypoint-namespace defaults to the resource namespace',
    subject: svc('bookinfo', use(N)),
    traffic: 'service',
    policy: { allowedRoutes: { from: 'All', selector: undefined } },
    bound: false,
    reason: 'not bound: Service label istio.io/use-waypoint=waypoint selects waypoint bookinfo/waypoint, not this one (infra/waypoint)',
  },
  {
    name: 'use-waypoint-namespace on the namespace',
    subject: svc('bookinfo'),
    nsLabels: use(N, W),
    traffic: 'service',
    policy: { allowedRoutes: { from: 'All', selector: undefined } },
    bound: true,
    reason:
      'bound: namespace label istio.io/use-waypoint=waypoint istio.io/use-waypoint-namespace=infra; allowedRoutes All admits every namespace',
  },
  {
    name: 'allowedRoutes Same excludes another namespace',
    subject: svc('bookinfo', use(N, W)),
    traffic: 'service',
    bound: false,
    reason: 'not bound: allowedRoutes Same excludes namespace bookinfo',
  },
  {
    name: 'allowedRoutes Selector matching the namespace labels',
    subject: svc('bookinfo', use(N, W)),
    nsLabels: { team: 'books' },
    traffic: 'service',
    policy: { allowedRoutes: { from: 'Selector', selector: { matchLabels: { team: 'books' } } } },
    bound: true,
    reason:
      'bound: Service label istio.io/use-waypoint=waypoint istio.io/use-waypoint-namespace=infra; allowedRoutes Selector matches namespace bookinfo',
  },
  {
    name: 'allowedRoutes Selector on kubernetes.io/metadata.name',
    subject: svc('bookinfo', use(N, W)),
    traffic: 'service',
    policy: {
      allowedRoutes: {
        from: 'Selector',
        selector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['bookinfo'] }] },
      },
    },
    bound: true,
    reason:
      'bound: Service label istio.io/use-waypoint=waypoint istio.io/use-waypoint-namespace=infra; allowedRoutes Selector matches namespace bookinfo',
  },
  {
    name: 'allowedRoutes Selector not matching',
    subject: svc('bookinfo', use(N, W)),
    nsLabels: { team: 'movies' },
    traffic: 'service',
    policy: { allowedRoutes: { from: 'Selector', selector: { matchLabels: { team: 'books' } } } },
    bound: false,
    reason: 'not bound: allowedRoutes Selector does not match namespace bookinfo',
  },
  {
    name: 'allowedRoutes Same does not matter inside the waypoint namespace',
    subject: svc(W, use(N)),
    traffic: 'service',
    policy: { allowedRoutes: { from: 'Selector', selector: { matchLabels: { never: 'x' } } } },
    bound: true,
    reason: 'bound: Service label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'waypoint-for service takes service traffic',
    subject: svc(W, use(N)),
    traffic: 'service',
    policy: wf('service'),
    bound: true,
    reason: 'bound: Service label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'waypoint-for service excludes workload traffic',
    subject: pod(W, use(N)),
    traffic: 'workload',
    policy: wf('service'),
    bound: false,
    reason: 'not bound: waypoint-for=service excludes workload traffic',
  },
  {
    name: 'waypoint-for workload excludes service traffic',
    subject: svc(W, use(N)),
    traffic: 'service',
    policy: wf('workload'),
    bound: false,
    reason: 'not bound: waypoint-for=workload excludes service traffic',
  },
  {
    name: 'waypoint-for workload takes workload traffic',
    subject: pod(W, use(N)),
    traffic: 'workload',
    policy: wf('workload'),
    bound: true,
    reason: 'bound: Pod label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'waypoint-for all takes service traffic',
    subject: svc(W),
    nsLabels: use(N),
    traffic: 'service',
    policy: wf('all'),
    bound: true,
    reason: 'bound: namespace label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'waypoint-for all takes workload traffic',
    subject: pod(W),
    nsLabels: use(N),
    traffic: 'workload',
    policy: wf('all'),
    bound: true,
    reason: 'bound: namespace label istio.io/use-waypoint=waypoint',
  },
  {
    name: 'waypoint-for none excludes service traffic',
    subject: svc(W, use(N)),
    traffic: 'service',
    policy: wf('none'),
    bound: false,
    reason: 'not bound: waypoint-for=none excludes service traffic',
  },
  {
    name: 'waypoint-for none excludes workload traffic',
    subject: pod(W, use(N)),
    traffic: 'workload',
    policy: wf('none'),
    bound: false,
    reason: 'not bound: waypoint-for=none excludes workload traffic',
  },
  {
    name: "a waypoint's own Service never binds",
    subject: svc(W, { ...use(N), 'gateway.istio.io/managed': 'istio.io-mesh-controller' }),
    traffic: 'service',
    bound: false,
    reason: "not bound: the Service is a waypoint's own (gateway.istio.io/managed=istio.io-mesh-controller)",
  },
];

describe('decideBinding', () => {
  it.each(rows)('$name', (row) => {
    const d = decideBinding(row.subject, row.traffic, namespaceMeta(row.subject.namespace, row.nsLabels), policy(row.policy));
    expect({ bound: d.bound, reason: d.reason }).toEqual({ bound: row.bound, reason: row.reason });
  });
});
