/**
 * The open TCP tunnels, for the policy re-check: a tunnel is added once network RBAC admits it
 * and removed when it closes (O(1) each, nothing per byte). When a new snapshot changes the
 * AuthorizationPolicies, every open tunnel is checked again on its recorded source and
 * destination, and those the new policies deny are closed, as ztunnel closes connections a new
 * policy denies. HTTP needs no registry: every request is authorized on the snapshot current when
 * it starts, so a kept-alive connection's next request already meets the new policies.
 */
import type { Logger } from 'pino';
import { formatAuthority } from '../../hbone/authority.js';
import { policiesChanged } from '../../snapshot/policy-change.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { TunnelContext } from '../tunnel.js';
import { recheckTunnel, type RecheckDenial } from './recheck.js';

/** One admitted tunnel and how to close it. */
export interface OpenTunnel {
  readonly tunnel: TunnelContext;
  /** Closes the tunnel (both directions) because `denial` says the policies now deny it. */
  close(denial: RecheckDenial): void;
}

export interface OpenTunnelsOptions {
  logger: Logger;
  /** See `authorizeConnection`: CUSTOM providers a TCP connection cannot ask. */
  ignoredOnTcp: (provider: string) => boolean;
}

export class OpenTunnels {
  readonly #open = new Set<OpenTunnel>();
  readonly #opts: OpenTunnelsOptions;

  constructor(opts: OpenTunnelsOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#open.size;
  }

  add(t: OpenTunnel): void {
    this.#open.add(t);
  }

  delete(t: OpenTunnel): void {
    this.#open.delete(t);
  }

  /**
   * Re-checks every open tunnel against `next` when its policies differ from `prev`'s; closes
   * (and logs, once each) the tunnels `next` denies. Returns the policies that closed them, one
   * entry per closed tunnel.
   */
  recheck(prev: ConfigSnapshot, next: ConfigSnapshot): string[] {
    if (this.#open.size === 0 || !policiesChanged(prev, next)) return [];
    const closed: string[] = [];
    for (const t of [...this.#open]) {
      const denial = recheckTunnel(next, t.tunnel, this.#opts.ignoredOnTcp);
      if (denial === undefined) continue;
      this.#open.delete(t);
      closed.push(denial.policy);
      const tunnel = t.tunnel;
      this.#opts.logger.warn(
        {
          policy: denial.policy,
          reason: denial.reason,
          source_principal: tunnel.peer.identity,
          source_address: formatAuthority(tunnel.peer.address, tunnel.peer.port),
          connect_authority: tunnel.authorityText,
          chain: tunnel.chain,
          version: next.version,
        },
        'connection closed by policy re-check',
      );
      t.close(denial);
    }
    return closed;
  }
}
