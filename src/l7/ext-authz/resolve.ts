/**
 * Where a provider's `service` is: a Service host name (`<name>.<ns>.svc.cluster.local`) known to
 * the snapshot resolves to its first VIP; an IP address or an unknown name is dialled as written
 * (the system resolver then decides).
 */
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { CheckTarget } from './types.js';

/** Host name → first VIP, built once per snapshot on first use. */
const vipsBySnapshot = new WeakMap<ConfigSnapshot, ReadonlyMap<string, string>>();

function vipIndex(snap: ConfigSnapshot): ReadonlyMap<string, string> {
  let index = vipsBySnapshot.get(snap);
  if (index === undefined) {
    const built = new Map<string, string>();
    for (const s of snap.services) if (s.vips.length > 0) built.set(s.hostname, s.vips[0]!);
    index = built;
    vipsBySnapshot.set(snap, index);
  }
  return index;
}

export function resolveProvider(snap: ConfigSnapshot, service: string, port: number): CheckTarget {
  return { host: vipIndex(snap).get(service.toLowerCase()) ?? service, port };
}
