/**
 * Whether a new snapshot can decide a connection differently from the one before it, as far as
 * AuthorizationPolicy goes: the open-connection re-check (src/l7/open-connections.ts) walks its
 * connections only then. Pure.
 *
 * Policies are compiled anew with every snapshot, so the compiled objects are never the same; the
 * comparison is on what they are compiled from: the AuthorizationPolicy documents, the
 * ServiceEntries (their hosts pick a Service's policy set) and where each policy applies (which
 * follows the Services). Erring towards "changed" only costs one walk over the open connections.
 */
import type { ConfigSnapshot } from './types.js';

/** Kinds whose documents can change an authorization decision. */
const POLICY_KINDS: ReadonlySet<string> = new Set(['AuthorizationPolicy', 'ServiceEntry']);

/** Fingerprints are computed once per snapshot (snapshots are immutable). */
const fingerprints = new WeakMap<ConfigSnapshot, string>();

/** A string that is equal for two snapshots whose policies decide every connection alike. */
export function policyFingerprint(snap: ConfigSnapshot): string {
  const known = fingerprints.get(snap);
  if (known !== undefined) return known;
  const documents = snap.resources
    .filter((r) => POLICY_KINDS.has(r.kind))
    .map((r) => [r.kind, r.namespace, r.name, r.raw] as const)
    .sort((a, b) => compareKeys(a, b));
  const fingerprint = JSON.stringify({ documents, applies: snap.policies?.describe().policies.map((p) => [p.policy, p.appliesTo]) ?? [] });
  fingerprints.set(snap, fingerprint);
  return fingerprint;
}

/** True when `next` may authorize an open connection differently from `prev`. */
export function policiesChanged(prev: ConfigSnapshot, next: ConfigSnapshot): boolean {
  if (prev === next) return false;
  return policyFingerprint(prev) !== policyFingerprint(next);
}

function compareKeys(a: readonly [string, string, string, unknown], b: readonly [string, string, string, unknown]): number {
  for (let i = 0; i < 3; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
