import type { Logger } from 'pino';
import { formatResponseFlags, type ResponseFlags } from './response-flags.js';

/** One access-log record: one per HTTP request and one per TCP connection. */
export interface AccessRecord {
  type: 'http' | 'tcp';
  start_time: string;
  duration_ms: number;
  method?: string;
  authority?: string;
  path?: string;
  /** `HTTP/1.1`, `HTTP/2` or `tcp`. */
  protocol: string;
  response_code?: number;
  /** Envoy's response flags; logged comma-joined in Envoy's order, `-` when none. */
  response_flags: ResponseFlags;
  bytes_received: number;
  bytes_sent: number;
  upstream_host?: string;
  upstream_cluster?: string;
  /** The tunnel's `:authority`: the original destination. */
  connect_authority: string;
  chain: string;
  source_principal: string;
  source_address: string;
  x_request_id?: string;
  /** The route (and rule) that decided, `default` when none is attached. */
  route?: string;
  /** The AuthorizationPolicy that decided a denial. */
  policy?: string | undefined;
  /** Envoy-style response code details (`rbac_access_denied_matched_policy[...]`). */
  response_code_details?: string;
  /** Dry-run policies evaluated for this request: never enforced, shown here. */
  dry_run?: ReadonlyArray<{ policy: string; action: string; matched: boolean }>;
  traceparent?: string;
  /** Why a local reply or close happened, when one did. */
  details?: string;
}

/** Writes access records as structured pino lines (`msg: "access"`). */
export class AccessLog {
  readonly #log: Logger;
  constructor(logger: Logger) {
    // The flags are kept as a set while a request runs and printed only here, as Envoy does.
    this.#log = logger.child({ log: 'access' }, { serializers: { response_flags: formatResponseFlags } });
  }

  write(rec: AccessRecord): void {
    this.#log.info(rec, 'access');
  }
}
