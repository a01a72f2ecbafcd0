/**
 * The waypoint's own operational series, beside the `istio_*` ones: configuration reloads, the
 * time of the last good configuration, certificate expiry, tunnels closed by the policy re-check,
 * and prom-client's default process and Node.js metrics (CPU, memory, event-loop lag, GC, handles).
 * Nothing here reads the configuration or the certificate itself: the wiring reports reloads (and
 * re-check closes) and hands a getter for the certificate's expiry.
 */
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';

export interface WaypointMetricsOptions {
  /** The current certificate's notAfter (read at each scrape). */
  certificateNotAfter: () => Date | undefined;
  /** Register prom-client's default metrics (once per registry). Default true. */
  defaultMetrics?: boolean;
}

export type ReloadResultLabel = 'success' | 'failure';

export class WaypointMetrics {
  readonly #reloads: Counter<'result'>;
  readonly #lastSuccess: Gauge;
  readonly #recheckClosed: Counter<'policy'>;

  constructor(registry: Registry, opts: WaypointMetricsOptions) {
    this.#reloads = new Counter({
      name: 'waypoint_config_reloads_total',
      help: 'Configuration loads and reloads, by result (failure: refused, the previous configuration is still served)',
      labelNames: ['result'],
      registers: [registry],
    });
    // Both series exist from the start, so a rate() over failures works before the first one.
    this.#reloads.inc({ result: 'success' }, 0);
    this.#reloads.inc({ result: 'failure' }, 0);
    this.#lastSuccess = new Gauge({
      name: 'waypoint_config_last_success_timestamp_seconds',
      help: 'Unix time of the last configuration load that was accepted',
      registers: [registry],
    });
    new Gauge({
      name: 'waypoint_cert_expiry_timestamp_seconds',
      help: "Unix time at which the waypoint's current certificate expires (notAfter)",
      registers: [registry],
      collect() {
        const notAfter = opts.certificateNotAfter();
        if (notAfter !== undefined) this.set(notAfter.getTime() / 1000);
      },
    });
    this.#recheckClosed = new Counter({
      name: 'waypoint_policy_recheck_closed_total',
      help: 'Open TCP tunnels closed because a new AuthorizationPolicy configuration denies them, by the denying policy',
      labelNames: ['policy'],
      registers: [registry],
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  /** Counts one load attempt; an accepted one also moves the last-success time. */
  reload(result: ReloadResultLabel, at: Date = new Date()): void {
    this.#reloads.inc({ result });
    if (result === 'success') this.#lastSuccess.set(at.getTime() / 1000);
  }

  /** Counts tunnels closed by the policy re-check: one entry (the denying policy) per tunnel. */
  recheckClosed(policies: readonly string[]): void {
    for (const policy of policies) this.#recheckClosed.inc({ policy });
  }
}
