/**
 * What an ext_authz outcome (types.ts) does to the request, decided without I/O: a denial or a
 * failure becomes a local reply with the `UAEX` response flag (Envoy's "unauthorized external
 * service"); an allow, or a failure under `failOpen`, lets the request continue to the DENY and
 * ALLOW layers with the authorizer's headers.
 */
import type { ExtAuthzProvider } from '../../config/mesh-config.js';
import { responseFlags } from '../../metrics/response-flags.js';
import type { HeaderMutation } from '../../routes/types.js';
import type { ReplyPlan } from '../http/plan.js';
import type { CheckOutcome, HeaderList } from './types.js';

const UAEX = responseFlags('UAEX');
const NONE: HeaderList = Object.freeze([]);

export type Verdict =
  | { kind: 'reply'; plan: ReplyPlan }
  | { kind: 'continue'; upstreamHeaders: HeaderList; removeUpstreamHeaders: readonly string[]; downstreamHeaders: HeaderList; failedOpen: boolean };

/** Sets the first value of each header name, adds the rest (so the authorizer's content-type wins). */
function asMutation(headers: HeaderList): HeaderMutation {
  const set: Array<readonly [string, string]> = [];
  const add: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (const [name, value] of headers) {
    const n = name.toLowerCase();
    (seen.has(n) ? add : set).push([n, value]);
    seen.add(n);
  }
  return { set, add, remove: [] };
}

/**
 * The verdict for `outcome` of `provider`; `denied` is the plan `decide` made for the request
 * (the CUSTOM layer's fail-closed reply), whose bookkeeping fields the reply keeps.
 */
export function verdictFor(provider: ExtAuthzProvider, outcome: CheckOutcome, denied: ReplyPlan): Verdict {
  switch (outcome.kind) {
    case 'allow':
      return { kind: 'continue', upstreamHeaders: outcome.upstreamHeaders, removeUpstreamHeaders: outcome.removeUpstreamHeaders, downstreamHeaders: outcome.downstreamHeaders, failedOpen: false };
    case 'deny':
      return {
        kind: 'reply',
        plan: {
          ...denied,
          status: outcome.status,
          body: outcome.body,
          replyFlags: UAEX,
          details: `denied by ext_authz provider ${provider.name}`,
          responseCodeDetails: 'ext_authz_denied',
          responseHeaders: asMutation(outcome.headers),
        },
      };
    case 'error':
      if (provider.failOpen) return { kind: 'continue', upstreamHeaders: NONE, removeUpstreamHeaders: [], downstreamHeaders: NONE, failedOpen: true };
      return {
        kind: 'reply',
        plan: {
          ...denied,
          status: provider.statusOnError,
          body: '',
          replyFlags: UAEX,
          details: `ext_authz provider ${provider.name} failed: ${outcome.reason}`,
          responseCodeDetails: 'ext_authz_error',
          responseHeaders: undefined,
        },
      };
  }
}
