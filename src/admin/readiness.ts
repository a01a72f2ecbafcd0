/**
 * Readiness as a set of named conditions, each with the reason it is not met. `/healthz/ready`
 * answers 200 only when every condition holds, else 503 with one reason per line. Conditions are
 * registered by whoever owns the state: configuration loaded, listeners up, certificate held and
 * valid, informers synced, not draining.
 */
export interface ReadinessReport {
  ready: boolean;
  /** The conditions not met, as `name: reason`. */
  reasons: string[];
}

export class Readiness {
  readonly #unmet = new Map<string, string>();
  readonly #probes = new Map<string, () => string | undefined>();

  /** Marks a condition as not met (with why) or, with `undefined`, as met. */
  set(name: string, reason: string | undefined): void {
    if (reason === undefined) this.#unmet.delete(name);
    else this.#unmet.set(name, reason);
  }

  /** A condition computed at each check (for example a certificate's validity against the clock). */
  probe(name: string, check: () => string | undefined): void {
    this.#probes.set(name, check);
  }

  check(): ReadinessReport {
    const reasons: string[] = [];
    for (const [name, reason] of this.#unmet) reasons.push(`${name}: ${reason}`);
    for (const [name, check] of this.#probes) {
      const reason = check();
      if (reason !== undefined) reasons.push(`${name}: ${reason}`);
    }
    return { ready: reasons.length === 0, reasons };
  }
}
