import type { VipBinding } from '../config/types.js';
import { ISTIO_DEFAULT_RETRY } from './istio/retry-policy.js';
import { EMPTY_HEADER_MUTATION } from './actions.js';
import type { CompiledRule, TrafficPolicy } from './types.js';


/** Traffic policy of a cluster no DestinationRule touches: round robin, no limits. */
export const DEFAULT_TRAFFIC_POLICY: TrafficPolicy = Object.freeze({ loadBalancer: Object.freeze({ kind: 'ROUND_ROBIN' as const }) });

const serviceRules = new WeakMap<VipBinding, CompiledRule>();

/**
 * The route Envoy's waypoint has for a bound Service port with no route attached: a catch-all to
 * the Service's own cluster with Istio's default retry policy. Cached per binding.
 */
export function defaultServiceRule(binding: VipBinding): CompiledRule {
  let rule = serviceRules.get(binding);
  if (rule === undefined) {
    const host = binding.service.hostname;
    const cluster = `inbound-vip|${binding.port.port}|http|${host}`;
    rule = Object.freeze({
      routeName: 'default',
      ruleName: cluster,
      requestHeaders: EMPTY_HEADER_MUTATION,
      responseHeaders: EMPTY_HEADER_MUTATION,
      action: Object.freeze({
        kind: 'forward' as const,
        backends: Object.freeze([Object.freeze({ weight: 1, target: binding, cluster })]),
        totalWeight: 1,
        retry: ISTIO_DEFAULT_RETRY,
        mirrors: Object.freeze([]),
      }),
    });
    serviceRules.set(binding, rule);
  }
  return rule;
}

/** Workload-addressed traffic (`encap`): no routes, Istio's default retries. */
export const ENCAP_RULE: CompiledRule = Object.freeze({
  routeName: 'default',
  ruleName: 'encap',
  requestHeaders: EMPTY_HEADER_MUTATION,
  responseHeaders: EMPTY_HEADER_MUTATION,
  action: Object.freeze({
    kind: 'forward' as const,
    backends: Object.freeze([]),
    totalWeight: 0,
    retry: ISTIO_DEFAULT_RETRY,
    mirrors: Object.freeze([]),
  }),
});
