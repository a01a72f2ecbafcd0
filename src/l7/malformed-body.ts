/**
 * Requests whose body the HTTP/1.1 codec could not parse (a bad chunk, for example) after the
 * head was handed to the proxy. The listener (src/l7/listener/inner-http1.ts) marks them when it
 * answers 400 on the connection; the exchange (src/l7/http/exchange.ts) then logs 400 with
 * Envoy's DPE (downstream protocol error) instead of a downstream disconnect.
 */
const malformed = new WeakSet<object>();

export function markMalformedBody(req: object): void {
  malformed.add(req);
}

export function hasMalformedBody(req: object): boolean {
  return malformed.has(req);
}
