/**
 * Consecutive-error outlier detection for one cluster, after Envoy's
 * `source/common/upstream/outlier_detection_impl.cc` (what Istio's `outlierDetection` programs):
 *
 * - A response is a 5xx or a gateway error (502, 503, 504; a connect failure counts as 503, a
 *   timeout as 504) or a success (anything else, which resets both counters). Reaching
 *   `consecutive5xxErrors` or `consecutiveGatewayErrors` (when set, > 0) ejects the endpoint at once.
 * - An ejection is allowed only while `100 × (ejected + 1) / endpoints ≤ maxEjectionPercent`
 *   (Envoy `ejectHost`; `always_eject_one_host` is off and Istio cannot set it). With the default
 *   10 %, a cluster of fewer than 10 endpoints never ejects; Istio users set `maxEjectionPercent`.
 * - The ejection lasts `baseEjectionTime × backoff`, capped at `max(300 s, base)`; backoff goes up
 *   by one per ejection and down by one per interval while the endpoint stays healthy. Endpoints
 *   return at the interval sweep (every `interval`) after their time is up, as in Envoy.
 *
 * Time is the injected clock; sweeps are replayed lazily on each call, so there are no timers.
 */
import type { OutlierDetectionPolicy } from '../../routes/types.js';

export type OutlierOutcome = 'success' | '5xx' | 'gateway-error' | 'connect-failure';

/** Envoy `DEFAULT_MAX_EJECTION_TIME_MS`. */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  ejected: boolean;
  /** Envoy `ejectTimeBackoff`. */
  backoff: number;
  numEjections: number;
  lastEjection: number | undefined;
  lastUnejection: number | undefined;
}

export interface OutlierHostView {
  key: string;
  ejected: boolean;
  /** When the endpoint becomes eligible to return (it returns at the next sweep after). */
  ejectedUntil?: number;
  numEjections: number;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
}

export interface OutlierView {
  policy: OutlierDetectionPolicy;
  ejectedCount: number;
  /** Ejections refused because of maxEjectionPercent (Envoy `ejections_overflow`). */
  overflows: number;
  /** Ejections done (Envoy `ejections_enforced_total`). */
  ejectionsTotal: number;
  hosts: OutlierHostView[];
}

export class OutlierDetector {
  private readonly hosts = new Map<string, HostState>();
  private policy: OutlierDetectionPolicy;
  private readonly clock: () => number;
  private nextSweep: number;
  private ejectedCount = 0;
  private overflows = 0;
  private ejectionsTotal = 0;

  constructor(policy: OutlierDetectionPolicy, opts: { clock: () => number }) {
    this.policy = policy;
    this.clock = opts.clock;
    this.nextSweep = this.clock() + policy.intervalMs;
  }

  /** A new policy (configuration reload): counters and ejections are kept. */
  updatePolicy(policy: OutlierDetectionPolicy): void {
    if (policy.intervalMs !== this.policy.intervalMs) this.nextSweep = this.clock() + policy.intervalMs;
    this.policy = policy;
  }

  /** The cluster's endpoints now: new ones are tracked, gone ones forgotten (and un-ejected). */
  setEndpoints(keys: Iterable<string>): void {
    const live = new Set(keys);
    for (const [key, h] of this.hosts) {
      if (live.has(key)) continue;
      if (h.ejected) this.ejectedCount--;
      this.hosts.delete(key);
    }
    for (const key of live) if (!this.hosts.has(key)) this.hosts.set(key, newHost());
  }

  /** Records the outcome of a request (or connection attempt) to an endpoint. */
  onResult(key: string, outcome: OutlierOutcome, now: number = this.clock()): void {
    this.advance(now);
    const h = this.hosts.get(key);
    if (h === undefined) return;
    if (outcome === 'success') {
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return;
    }
    const gateway = outcome === 'gateway-error' || outcome === 'connect-failure';
    let tripGateway = false;
    if (gateway) {
      h.consecutiveGateway++;
      const limit = this.policy.consecutiveGatewayErrors ?? 0;
      tripGateway = limit > 0 && h.consecutiveGateway === limit;
    } else {
      h.consecutiveGateway = 0;
    }
    h.consecutive5xx++;
    const limit5xx = this.policy.consecutive5xxErrors ?? 0;
    const trip5xx = limit5xx > 0 && h.consecutive5xx === limit5xx;
    // Envoy handles each trip separately: eject if allowed, then reset that counter either way.
    if (tripGateway) {
      if (!h.ejected) this.eject(h, now);
      h.consecutiveGateway = 0;
    }
    if (trip5xx) {
      if (!h.ejected) this.eject(h, now);
      h.consecutive5xx = 0;
    }
  }

  /** An HTTP status from an endpoint, as Envoy's `putHttpResponseCode` classifies it. */
  onHttpStatus(key: string, status: number, now: number = this.clock()): void {
    if (status >= 500 && status < 600) this.onResult(key, status >= 502 && status <= 504 ? 'gateway-error' : '5xx', now);
    else this.onResult(key, 'success', now);
  }

  isEjected(key: string, now: number = this.clock()): boolean {
    this.advance(now);
    return this.hosts.get(key)?.ejected === true;
  }

  /** Endpoints ejected now. */
  ejected(now: number = this.clock()): string[] {
    this.advance(now);
    const out: string[] = [];
    for (const [key, h] of this.hosts) if (h.ejected) out.push(key);
    return out;
  }

  describe(now: number = this.clock()): OutlierView {
    this.advance(now);
    const hosts: OutlierHostView[] = [];
    for (const [key, h] of this.hosts) {
      hosts.push({
        key,
        ejected: h.ejected,
        ...(h.ejected && h.lastEjection !== undefined ? { ejectedUntil: h.lastEjection + this.ejectionDuration(h) } : {}),
        numEjections: h.numEjections,
        consecutive5xx: h.consecutive5xx,
        consecutiveGatewayErrors: h.consecutiveGateway,
      });
    }
    return { policy: this.policy, ejectedCount: this.ejectedCount, overflows: this.overflows, ejectionsTotal: this.ejectionsTotal, hosts };
  }

  private maxEjectionTime(): number {
    return Math.max(DEFAULT_MAX_EJECTION_TIME_MS, this.policy.baseEjectionTimeMs);
  }

  private ejectionDuration(h: HostState): number {
    return Math.min(this.policy.baseEjectionTimeMs * h.backoff, this.maxEjectionTime());
  }

  /** Envoy `ejectHost`. */
  private eject(h: HostState, now: number): void {
    const max = Math.min(100, this.policy.maxEjectionPercent);
    const percent = (100 * (this.ejectedCount + 1)) / this.hosts.size;
    if (percent > max) {
      this.overflows++;
      return;
    }
    h.ejected = true;
    h.numEjections++;
    h.lastEjection = now;
    this.ejectedCount++;
    this.ejectionsTotal++;
    const base = this.policy.baseEjectionTimeMs;
    if (h.backoff * base < this.maxEjectionTime() + base) h.backoff++;
  }

  /** Replays the interval sweeps due by `now` (Envoy `onIntervalTimer`). */
  private advance(now: number): void {
    const interval = this.policy.intervalMs;
    while (this.nextSweep <= now) {
      const t = this.nextSweep;
      let pending = false;
      let earliest = Number.POSITIVE_INFINITY;
      for (const h of this.hosts.values()) {
        if (h.ejected && h.lastEjection !== undefined) {
          if (this.ejectionDuration(h) <= t - h.lastEjection) {
            h.ejected = false;
            h.consecutive5xx = 0;
            h.consecutiveGateway = 0;
            h.lastUnejection = t;
            this.ejectedCount--;
          } else {
            earliest = Math.min(earliest, h.lastEjection + this.ejectionDuration(h));
          }
        }
      }
      for (const h of this.hosts.values()) {
        if (h.ejected) continue;
        if (h.lastUnejection !== undefined && t - h.lastUnejection >= interval && h.backoff > 0) h.backoff--;
        if (h.backoff > 0 && h.lastUnejection !== undefined) pending = true;
      }
      this.nextSweep = t + interval;
      // Nothing changes until the next un-ejection: skip the idle sweeps in one step.
      if (!pending && this.nextSweep <= now) {
        const target = Math.min(earliest, now);
        if (target > this.nextSweep) this.nextSweep += Math.floor((target - this.nextSweep) / interval) * interval;
      }
    }
  }
}

function newHost(): HostState {
  return { consecutive5xx: 0, consecutiveGateway: 0, ejected: false, backoff: 0, numEjections: 0, lastEjection: undefined, lastUnejection: undefined };
}
