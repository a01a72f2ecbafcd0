import type { ConfigSnapshot } from '../snapshot/types.js';
import type { VipBinding } from '../config/types.js';
import { table } from './table.js';
import { formatAuthority } from '../hbone/authority.js';

/** One listener as `istioctl proxy-config listeners` would list it. */
export interface ListenerView {
  name: 'connect_terminate' | 'main_internal' | 'connect_originate';
  address: string;
  chains: Array<{ name: string; match: string; destination: string }>;
}

/** The waypoint's three listeners, named as Istio names them (`connect_terminate`, `main_internal`, `connect_originate`). */
export function listenersView(snap: ConfigSnapshot, hbone: string, upstreamHbonePort: number): ListenerView[] {
  const chains: ListenerView['chains'] = [];
  for (const [key, b] of [...snap.byVip.entries()].sort(([a], [c]) => a.localeCompare(c))) {
    const chain = (kind: 'http' | 'tcp', match: string): void => {
      const name = `inbound-vip|${b.port.port}|${kind}|${b.service.hostname}`;
      chains.push({ name, match, destination: name });
    };
    if (b.port.protocol === 'unknown') {
      // Istio builds both chains behind a protocol sniffer.
      chain('http', `VIP ${key}, sniffed HTTP`);
      chain('tcp', `VIP ${key}, not HTTP`);
    } else chain(b.port.protocol === 'tcp' ? 'tcp' : 'http', `VIP ${key}`);
  }
  if (snap.boundWorkloads.size > 0) {
    const ips = [...snap.boundWorkloads.keys()].sort().join(',');
    chains.push({ name: 'direct-http', match: `workload IPs ${ips}, any port, sniffed HTTP`, destination: 'encap' });
    chains.push({ name: 'direct-tcp', match: `workload IPs ${ips}, any port, not HTTP`, destination: 'encap' });
  }
  return [
    { name: 'connect_terminate', address: hbone, chains: [{ name: 'connect_terminate', match: 'HTTP/2 CONNECT over mTLS 1.3 (ALPN h2)', destination: 'main_internal' }] },
    { name: 'main_internal', address: 'internal', chains },
    { name: 'connect_originate', address: `internal → <podIP>:${upstreamHbonePort}`, chains: [{ name: 'connect_originate', match: 'any', destination: 'HBONE to the destination ztunnel' }] },
  ];
}

export function listenersText(views: readonly ListenerView[]): string {
  const rows: string[][] = [['LISTENER', 'ADDRESS', 'CHAIN', 'MATCH', 'DESTINATION']];
  for (const l of views) for (const c of l.chains) rows.push([l.name, l.address, c.name, c.match, c.destination]);
  return table(rows);
}

/** One cluster with its endpoints, as `istioctl proxy-config endpoints` shows them. */
export interface ClusterView {
  name: string;
  service: string | undefined;
  /** DestinationRule subset, with the labels that select its endpoints. */
  subset?: string;
  subsetLabels?: Readonly<Record<string, string>>;
  endpoints: Array<{ address: string; health: 'HEALTHY' | 'UNHEALTHY' | 'EJECTED'; workload: string | undefined; identity: string | undefined }>;
  runtime?: unknown;
}

/** Subset names per host, from the snapshot's DestinationRules. */
function subsetsByHost(snap: ConfigSnapshot): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const dump = snap.destinations?.describe() as { destinationRules?: Array<{ host: string; subsets?: Array<{ name: string }> }> } | undefined;
  for (const dr of dump?.destinationRules ?? []) {
    const names = (dr.subsets ?? []).map((x) => x.name);
    if (names.length > 0) out.set(dr.host, [...new Set([...(out.get(dr.host) ?? []), ...names])]);
  }
  return out;
}

export function clustersView(snap: ConfigSnapshot, runtime?: (cluster: string) => { ejected?: ReadonlySet<string>; state?: unknown } | undefined): ClusterView[] {
  const out: ClusterView[] = [];
  const seen = new Set<string>();
  const subsets = subsetsByHost(snap);
  const add = (b: VipBinding, subset: string | undefined, labels: Readonly<Record<string, string>> | undefined): void => {
    const name = `inbound-vip|${b.port.port}|http${subset === undefined ? '' : `/${subset}`}|${b.service.hostname}`;
    if (seen.has(name)) return;
    seen.add(name);
    const rt = runtime?.(name);
    const selected = labels === undefined ? b.endpoints : b.endpoints.filter((e) => Object.entries(labels).every(([k, v]) => e.workload?.labels[k] === v));
    out.push({
      name,
      service: b.service.hostname,
      ...(subset !== undefined ? { subset, subsetLabels: labels ?? {} } : {}),
      endpoints: selected.map((e) => {
        const address = formatAuthority(e.ip, e.port);
        return {
          address,
          health: !e.ready ? 'UNHEALTHY' : rt?.ejected?.has(address) === true ? 'EJECTED' : 'HEALTHY',
          workload: e.workload?.uid,
          identity: e.workload?.identity,
        };
      }),
      ...(rt?.state === undefined ? {} : { runtime: rt.state }),
    });
  };
  for (const b of snap.byHostPort.values()) {
    add(b, undefined, undefined);
    for (const subset of subsets.get(b.service.hostname) ?? []) {
      const p = snap.destinations?.forCluster(b.service.hostname, b.port.port, subset);
      if (p === undefined || p.missingSubset === true) continue;
      add(b, subset, p.subsetLabels ?? {});
    }
  }
  out.sort((a, b) => a.name.localeCompare(b.name));
  out.push({
    name: 'encap',
    service: undefined,
    endpoints: [...snap.boundWorkloads.values()].map((w) => ({ address: `${w.ip}:*`, health: w.ready ? 'HEALTHY' : 'UNHEALTHY', workload: w.uid, identity: w.identity })),
  });
  return out;
}

/** Envoy's `/clusters` text form: `cluster::address::health_flags::value`. */
export function clustersText(views: readonly ClusterView[]): string {
  const lines: string[] = [];
  for (const c of views) {
    for (const e of c.endpoints) {
      lines.push(`${c.name}::${e.address}::health_flags::${e.health === 'HEALTHY' ? 'healthy' : e.health === 'EJECTED' ? '/failed_outlier_check' : '/failed_eds_health'}`);
      if (e.identity !== undefined) lines.push(`${c.name}::${e.address}::identity::${e.identity}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
