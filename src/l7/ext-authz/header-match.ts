/**
 * Header name lists of an ext_authz provider (`includeRequestHeadersInCheck`,
 * `headersToUpstreamOnAllow`, ...): each entry is an exact name, `prefix*`, `*suffix` or `*`,
 * compared without case, as Istio turns them into Envoy string matchers.
 */
export type NameMatcher = (name: string) => boolean;

export function nameMatcher(patterns: readonly string[]): NameMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  let any = false;
  for (const raw of patterns) {
    const p = raw.toLowerCase();
    if (p === '*') any = true;
    else if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else if (p.startsWith('*')) suffixes.push(p.slice(1));
    else exact.add(p);
  }
  return (name) => {
    const n = name.toLowerCase();
    return any || exact.has(n) || prefixes.some((x) => n.startsWith(x)) || suffixes.some((x) => n.endsWith(x));
  };
}

/** Response headers never copied from the authorizer's answer: framing and hop-by-hop ones. */
export const NOT_COPIED = new Set(['host', ':authority', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'proxy-connection', 'te', 'trailer', 'date', 'server']);
