/**
 * Resolves ServiceEntry `resolution: DNS` endpoint names when the waypoint connects, and keeps each
 * answer for its TTL: a name is resolved again on the first connection after its records expire
 * (Envoy's `respect_dns_ttl`). The resolver is injected, so tests answer from a table and never
 * ask the real DNS.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';

export interface ResolvedAddress {
  address: string;
  /** Seconds the answer may be kept. */
  ttl: number;
}

/** Resolves one name to its addresses (A, then AAAA). */
export type DnsResolve = (hostname: string) => Promise<ResolvedAddress[]>;

/** Kept at least this long, so a zero TTL does not turn every connection into a query. */
const MIN_TTL_S = 1;
/** Names kept at most (oldest dropped first). */
const MAX_NAMES = 4096;

/** The system resolver: A records with TTLs, then AAAA. */
export const systemResolve: DnsResolve = async (hostname) => {
  const v4 = await dns.resolve4(hostname, { ttl: true }).catch(() => []);
  if (v4.length > 0) return v4;
  return dns.resolve6(hostname, { ttl: true });
};

export class DnsCache {
  readonly #resolve: DnsResolve;
  readonly #now: () => number;
  readonly #entries = new Map<string, { addresses: string[]; expires: number; next: number }>();
  readonly #pending = new Map<string, Promise<string[]>>();

  constructor(resolve: DnsResolve = systemResolve, now: () => number = Date.now) {
    this.#resolve = resolve;
    this.#now = now;
  }

  /** One address for the name, rotating through the answer; IP literals are returned as they are. */
  async pick(hostname: string): Promise<string> {
    if (isIP(hostname) !== 0) return hostname;
    const hit = this.#entries.get(hostname);
    const addresses = hit !== undefined && hit.expires > this.#now() ? hit.addresses : await this.#refresh(hostname);
    const entry = this.#entries.get(hostname);
    const i = entry === undefined ? 0 : entry.next++ % addresses.length;
    const address = addresses[i];
    if (address === undefined) throw new Error(`DNS: no address for ${hostname}`);
    return address;
  }

  #refresh(hostname: string): Promise<string[]> {
    const running = this.#pending.get(hostname);
    if (running !== undefined) return running;
    const query = this.#resolve(hostname)
      .then((answers) => {
        if (answers.length === 0) throw new Error(`DNS: no address for ${hostname}`);
        const ttl = Math.max(MIN_TTL_S, Math.min(...answers.map((a) => a.ttl)));
        const addresses = answers.map((a) => a.address);
        this.#entries.delete(hostname);
        if (this.#entries.size >= MAX_NAMES) {
          const oldest = this.#entries.keys().next().value;
          if (oldest !== undefined) this.#entries.delete(oldest);
        }
        this.#entries.set(hostname, { addresses, expires: this.#now() + ttl * 1000, next: 0 });
        return addresses;
      })
      .finally(() => this.#pending.delete(hostname));
    this.#pending.set(hostname, query);
    return query;
  }
}
