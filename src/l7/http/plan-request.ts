/**
 * The plan for one request head, with the two I/O steps around the pure `decide` (decide.ts):
 * RequestAuthentication before it (src/l7/authn: keys may be fetched; a bad token becomes the
 * 401 `decide` answers), and the CUSTOM ext_authz check after it (src/l7/ext-authz: the provider
 * is asked, then the request is decided again without the CUSTOM layer). Ordinary requests
 * (proxy.ts) and upgrade requests (upgrade.ts) both go through here, so both see the same
 * authentication and authorisation.
 */
import type { Logger } from 'pino';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { JwtAuthenticator } from '../authn/authenticator.js';
import type { ExtAuthz } from '../ext-authz/custom.js';
import { decide } from './decide.js';
import type { DownstreamResponse } from './exchange.js';
import type { DecideOptions, HttpRequestHead, Plan } from './plan.js';

export interface PlanRequestDeps {
  /** Random source and body limit for `decide`. */
  decide: DecideOptions;
  logger: Logger;
  /** The mesh config's ext_authz providers, for CUSTOM AuthorizationPolicies; absent: none. */
  extAuthz?: ExtAuthz | undefined;
  /** RequestAuthentication (src/l7/authn); absent: tokens are not looked at. */
  authn?: JwtAuthenticator | undefined;
}

export interface PlanRequestHooks {
  /** The first decision, before any ext_authz check (bookkeeping: path, close handling). */
  decided(plan: Plan): void;
  /** The plan to carry out; not called when the downstream response was destroyed meanwhile. */
  ready(plan: Plan): void;
}

/**
 * Authenticates `head` (its headers and `jwt` are updated), decides, asks the CUSTOM provider when
 * the decision stops there, then hands the final plan to `hooks.ready`. Synchronous when neither
 * step applies. An unexpected failure of either step is logged and destroys `res`.
 */
export function planRequest(deps: PlanRequestDeps, head: HttpRequestHead, snap: ConfigSnapshot, res: DownstreamResponse, hooks: PlanRequestHooks): void {
  const authn = deps.authn?.authenticate(snap, head.tunnel.destination, { headers: head.headers, target: head.target });
  if (authn === undefined) {
    decideAndCheck(deps, head, snap, res, hooks);
    return;
  }
  authn.then(
    (a) => {
      head.headers = a.headers;
      head.jwt = a.check;
      if (!res.destroyed) decideAndCheck(deps, head, snap, res, hooks);
    },
    (err: unknown) => {
      deps.logger.error({ err }, 'JWT authentication failed unexpectedly');
      res.destroy();
    },
  );
}

function decideAndCheck(deps: PlanRequestDeps, head: HttpRequestHead, snap: ConfigSnapshot, res: DownstreamResponse, hooks: PlanRequestHooks): void {
  const plan = decide(head, snap, deps.decide);
  hooks.decided(plan);
  const extAuthz = deps.extAuthz;
  if (extAuthz?.handles(plan) !== true) {
    hooks.ready(plan);
    return;
  }
  // CUSTOM: the provider's answer decides before anything is forwarded (a body waits, paused).
  extAuthz.check(plan, head, snap, deps.decide, res).then(
    (next) => {
      if (!res.destroyed) hooks.ready(next);
    },
    (err: unknown) => {
      deps.logger.error({ err }, 'ext_authz check threw');
      res.destroy();
    },
  );
}
