/**
 * The open connections that are authorized once, for the policy re-check: TCP tunnels (added once
 * network RBAC admits them) and upgraded HTTP connections (WebSocket, RFC 8441; added once the
 * upgrade is relayed), each removed when it closes (O(1) each, nothing per byte or per request).
 * When a new snapshot changes the AuthorizationPolicies, every open connection is checked again by
 * its own `recheck` (the same authorization as at admission, on what was recorded then), and those
 * the new policies deny are closed, as ztunnel closes connections a new policy denies. Ordinary
 * HTTP requests need no registry: each is authorized on the snapshot current when it starts, so a
 * kept-alive connection's next request already meets the new policies.
 */
import type { Logger } from 'pino';
import { formatAuthority } from '../hbone/authority.js';
import type { AccessRecord } from '../metrics/access-log.js';
import { policiesChanged } from '../snapshot/policy-change.js';
import type { ConfigSnapshot } from '../snapshot/types.js';
import type { RecheckDenial } from './recheck.js';
import type { TunnelContext } from './tunnel.js';

/** One admitted connection, how to re-check it and how to close it. */
export interface OpenConnection {
  readonly tunnel: TunnelContext;
  /** The upgrade request, for the log line (absent for a TCP tunnel). */
  readonly request?: { method: string; authority: string; path: string };
  /** `undefined` when `snap` still allows the connection (pure). */
  recheck(snap: ConfigSnapshot): RecheckDenial | undefined;
  /** Closes the connection (both directions) because `denial` says the policies now deny it. */
  close(denial: RecheckDenial): void;
}

export interface OpenConnectionsOptions {
  logger: Logger;
  /** Called once per connection closed by a re-check, with the denying policy (metrics). */
  closed?: ((policy: string) => void) | undefined;
}

export class OpenConnections {
  readonly #open = new Set<OpenConnection>();
  readonly #opts: OpenConnectionsOptions;

  constructor(opts: OpenConnectionsOptions) {
    this.#opts = opts;
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * Keeps `c` until it closes. When it was authorised on `decidedOn` and `current` has other
   * policies (a swap came while it was being set up, so that swap's re-check did not see it), it
   * is re-checked against `current` at once.
   */
  add(c: OpenConnection, decidedOn?: ConfigSnapshot, current?: ConfigSnapshot): void {
    this.#open.add(c);
    if (decidedOn === undefined || current === undefined || decidedOn === current || !policiesChanged(decidedOn, current)) return;
    const denial = c.recheck(current);
    if (denial !== undefined) this.#close(c, denial, current);
  }

  delete(c: OpenConnection): void {
    this.#open.delete(c);
  }

  /**
   * Re-checks every open connection against `next` when its policies differ from `prev`'s; closes
   * (and logs, once each) the connections `next` denies. Returns the policies that closed them,
   * one entry per closed connection.
   */
  recheck(prev: ConfigSnapshot, next: ConfigSnapshot): string[] {
    if (this.#open.size === 0 || !policiesChanged(prev, next)) return [];
    const closed: string[] = [];
    for (const c of [...this.#open]) {
      const denial = c.recheck(next);
      if (denial === undefined) continue;
      closed.push(denial.policy);
      this.#close(c, denial, next);
    }
    return closed;
  }

  /** Closes `c`, which `snap` denies: logged once, counted, removed. */
  #close(c: OpenConnection, denial: RecheckDenial, snap: ConfigSnapshot): void {
    this.#open.delete(c);
    const tunnel = c.tunnel;
    this.#opts.logger.warn(
      {
        policy: denial.policy,
        reason: denial.reason,
        source_principal: tunnel.peer.identity,
        source_address: formatAuthority(tunnel.peer.address, tunnel.peer.port),
        connect_authority: tunnel.authorityText,
        chain: tunnel.chain,
        ...c.request,
        version: snap.version,
      },
      'connection closed by policy re-check',
    );
    this.#opts.closed?.(denial.policy);
    c.close(denial);
  }
}

/**
 * Marks the access record of a connection the re-check closed: the policy (as a denial at
 * admission names it), Envoy's response code details, and why in `details`.
 */
export function recordRecheckClose(rec: AccessRecord, denial: RecheckDenial): void {
  rec.policy = denial.policy;
  rec.response_code_details = denial.details;
  rec.details = `connection closed by policy re-check: ${denial.reason}`;
}
