/**
 * Endpoint pickers for a cluster, after Envoy's load balancers (`source/extensions/load_balancing_policies`):
 * ROUND_ROBIN, LEAST_REQUEST (power of two choices over active requests), RANDOM, and a ring
 * hash for CONSISTENT_HASH. Deterministic given the injected random source; no I/O, no timers.
 *
 * Every picker skips endpoints that are not ready or are ejected, and avoids the endpoints in
 * `exclude` (already tried by this request) unless nothing else is left.
 */
import { createHash } from 'node:crypto';
import { vipKey } from '../../config/address.js';
import type { Endpoint } from '../../config/types.js';
import type { HeaderValues, LoadBalancer } from '../../routes/types.js';

/** A source of numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

export interface PickContext {
  /** The request's hash key (CONSISTENT_HASH); none → a random point on the ring, as Envoy. */
  hashKey?: string | undefined;
  /** `ip:port` of endpoints already tried by this request. */
  exclude?: ReadonlySet<string> | undefined;
}

export interface EndpointPicker {
  readonly kind: LoadBalancer['kind'];
  pick(endpoints: readonly Endpoint[], ctx?: PickContext): Endpoint | undefined;
}

export interface PickerDeps {
  random: RandomSource;
  /** Ejected by outlier detection now. */
  isEjected?: ((key: string) => boolean) | undefined;
  /** Requests in flight to the endpoint (LEAST_REQUEST). */
  activeRequests?: ((key: string) => number) | undefined;
}

/** The key endpoints are known by in exclusion sets, outlier detection and stats: `ip:port`. */
export function endpointKey(e: Endpoint): string {
  return vipKey(e.ip, e.port);
}

export function createPicker(lb: LoadBalancer, deps: PickerDeps): EndpointPicker {
  switch (lb.kind) {
    case 'ROUND_ROBIN':
      return new RoundRobinPicker(deps);
    case 'LEAST_REQUEST':
      return new LeastRequestPicker(deps);
    case 'RANDOM':
      return new RandomPicker(deps);
    case 'CONSISTENT_HASH':
      return new RingHashPicker(deps);
  }
}

/**
 * The endpoints a picker may choose from: ready and not ejected; of those, the ones not yet tried
 * when there is any. Allocates only when filtering removes something.
 */
function candidates(endpoints: readonly Endpoint[], deps: PickerDeps, exclude: ReadonlySet<string> | undefined): readonly Endpoint[] {
  const isEjected = deps.isEjected;
  let healthy: Endpoint[] | undefined;
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i] as Endpoint;
    const ok = e.ready && (isEjected === undefined || !isEjected(endpointKey(e)));
    if (!ok && healthy === undefined) healthy = endpoints.slice(0, i);
    else if (ok && healthy !== undefined) healthy.push(e);
  }
  const pool: readonly Endpoint[] = healthy ?? endpoints;
  if (exclude === undefined || exclude.size === 0 || pool.length === 0) return pool;
  const fresh = pool.filter((e) => !exclude.has(endpointKey(e)));
  return fresh.length > 0 ? fresh : pool;
}

function randomIndex(random: RandomSource, n: number): number {
  const i = Math.floor(random() * n);
  return i >= n ? n - 1 : i < 0 ? 0 : i;
}

/** Envoy ROUND_ROBIN with equal weights: a rotating index over the eligible endpoints. */
class RoundRobinPicker implements EndpointPicker {
  readonly kind = 'ROUND_ROBIN' as const;
  private next = 0;
  constructor(private readonly deps: PickerDeps) {}
  pick(endpoints: readonly Endpoint[], ctx: PickContext = {}): Endpoint | undefined {
    const pool = candidates(endpoints, this.deps, ctx.exclude);
    if (pool.length === 0) return undefined;
    const e = pool[this.next % pool.length];
    this.next = (this.next + 1) % 0x7fffffff;
    return e;
  }
}

/**
 * Envoy LEAST_REQUEST with equal weights (`unweightedHostPick`): draw `choiceCount` (2) endpoints
 * at random, with replacement, and keep the one with fewest active requests (the first on ties).
 */
class LeastRequestPicker implements EndpointPicker {
  readonly kind = 'LEAST_REQUEST' as const;
  constructor(
    private readonly deps: PickerDeps,
    private readonly choiceCount = 2,
  ) {}
  pick(endpoints: readonly Endpoint[], ctx: PickContext = {}): Endpoint | undefined {
    const pool = candidates(endpoints, this.deps, ctx.exclude);
    if (pool.length <= 1) return pool[0];
    const active = this.deps.activeRequests ?? (() => 0);
    let best: Endpoint | undefined;
    let bestActive = 0;
    for (let i = 0; i < this.choiceCount; i++) {
      const e = pool[randomIndex(this.deps.random, pool.length)] as Endpoint;
      const a = active(endpointKey(e));
      if (best === undefined || a < bestActive) {
        best = e;
        bestActive = a;
      }
    }
    return best;
  }
}

class RandomPicker implements EndpointPicker {
  readonly kind = 'RANDOM' as const;
  constructor(private readonly deps: PickerDeps) {}
  pick(endpoints: readonly Endpoint[], ctx: PickContext = {}): Endpoint | undefined {
    const pool = candidates(endpoints, this.deps, ctx.exclude);
    if (pool.length === 0) return undefined;
    return pool[randomIndex(this.deps.random, pool.length)];
  }
}

// ---- ring hash ----------------------------------------------------------------------------------

/** Points per endpoint. Fixed (not scaled to a minimum ring size) so that removing one endpoint moves only its keys. */
export const RING_POINTS_PER_ENDPOINT = 160;

/** 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for avalanche. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Ring {
  hashes: Uint32Array;
  /** Index into the endpoint list the ring was built from. */
  owners: Uint32Array;
}

/** Builds the ring: `RING_POINTS_PER_ENDPOINT` points per endpoint at hash(`ip:port_i`), as Envoy names them. */
export function buildRing(endpoints: readonly Endpoint[]): Ring {
  const n = endpoints.length * RING_POINTS_PER_ENDPOINT;
  const points = new Array<{ h: number; o: number }>(n);
  let k = 0;
  endpoints.forEach((e, idx) => {
    const key = endpointKey(e);
    for (let i = 0; i < RING_POINTS_PER_ENDPOINT; i++) points[k++] = { h: hash32(`${key}_${i}`), o: idx };
  });
  // Ties (equal hashes) broken by endpoint key so the ring does not depend on endpoint order.
  const keys = endpoints.map(endpointKey);
  points.sort((a, b) => a.h - b.h || ((keys[a.o] as string) < (keys[b.o] as string) ? -1 : 1));
  const hashes = new Uint32Array(n);
  const owners = new Uint32Array(n);
  points.forEach((p, i) => {
    hashes[i] = p.h;
    owners[i] = p.o;
  });
  return { hashes, owners };
}

/** First ring index whose hash is >= h (wrapping to 0). */
function lowerBound(hashes: Uint32Array, h: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((hashes[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}

/**
 * CONSISTENT_HASH as a ring hash over all endpoints of the cluster. A key lands on the first
 * point clockwise; an endpoint that is not ready, ejected or already tried is skipped by walking
 * on, which is the same as building the ring without it. The ring is rebuilt only when the
 * endpoint list changes (by reference).
 */
class RingHashPicker implements EndpointPicker {
  readonly kind = 'CONSISTENT_HASH' as const;
  private builtFor: readonly Endpoint[] | undefined;
  private ring: Ring = { hashes: new Uint32Array(0), owners: new Uint32Array(0) };
  constructor(private readonly deps: PickerDeps) {}

  pick(endpoints: readonly Endpoint[], ctx: PickContext = {}): Endpoint | undefined {
    if (endpoints.length === 0) return undefined;
    if (this.builtFor !== endpoints) {
      this.ring = buildRing(endpoints);
      this.builtFor = endpoints;
    }
    const pool = candidates(endpoints, this.deps, ctx.exclude);
    if (pool.length === 0) return undefined;
    const allowed = pool.length === endpoints.length ? undefined : new Set(pool);
    const h = ctx.hashKey !== undefined ? hash32(ctx.hashKey) : Math.floor(this.deps.random() * 0x100000000) >>> 0;
    const { hashes, owners } = this.ring;
    const start = lowerBound(hashes, h);
    for (let step = 0; step < hashes.length; step++) {
      const e = endpoints[owners[(start + step) % hashes.length] as number] as Endpoint;
      if (allowed === undefined || allowed.has(e)) return e;
    }
    return undefined;
  }
}

// ---- hash keys ----------------------------------------------------------------------------------

export interface HashInput {
  headers: HeaderValues;
  /** Path with query string. */
  path: string;
  /** The client's IP (the original source, from the HBONE tunnel). */
  sourceIp?: string | undefined;
}

export interface HashKeyResult {
  key?: string;
  /** A `Set-Cookie` value to add to the response (cookie hashing with a TTL and no cookie yet). */
  setCookie?: string;
}

/**
 * The request's hash key for a CONSISTENT_HASH load balancer (Envoy `HashPolicy`, as Istio's
 * `ConsistentHashToHashPolicy` configures it): a header's value (several values joined with
 * ','), a cookie, the source IP, or a query parameter. With `httpCookie.ttl` set and no cookie in
 * the request, Envoy generates one from the client address and sets it on the response.
 */
export function computeHashKey(lb: LoadBalancer, input: HashInput): HashKeyResult {
  if (lb.kind !== 'CONSISTENT_HASH') return {};
  if (lb.header !== undefined) {
    const v = input.headers[lb.header.toLowerCase()];
    if (v === undefined) return {};
    return { key: typeof v === 'string' ? v : v.join(',') };
  }
  if (lb.cookie !== undefined) {
    const value = readCookie(input.headers['cookie'], lb.cookie.name);
    if (value !== undefined) return { key: value };
    if (lb.cookie.ttlSeconds === undefined || input.sourceIp === undefined) return {};
    const generated = createHash('sha256').update(input.sourceIp).digest('hex').slice(0, 16);
    let cookie = `${lb.cookie.name}="${generated}"`;
    if (lb.cookie.ttlSeconds > 0) cookie += `; Max-Age=${Math.floor(lb.cookie.ttlSeconds)}`;
    if (lb.cookie.path !== undefined) cookie += `; Path=${lb.cookie.path}`;
    cookie += '; HttpOnly';
    return { key: generated, setCookie: cookie };
  }
  if (lb.sourceIp === true) return input.sourceIp !== undefined ? { key: input.sourceIp } : {};
  if (lb.queryParameter !== undefined) {
    const q = input.path.indexOf('?');
    if (q < 0) return {};
    for (const part of input.path.slice(q + 1).split('#')[0]?.split('&') ?? []) {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      if (name === lb.queryParameter) return { key: eq < 0 ? '' : part.slice(eq + 1) };
    }
    return {};
  }
  return {};
}

function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const lines = typeof header === 'string' ? [header] : header;
  for (const line of lines) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}
