import { pino, type Logger } from 'pino';
import type { AccessLogSetting } from '../config/telemetry.js';
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

/**
 * Where access-log lines go when the command line (`--access-log`) or meshConfig
 * `accessLogFile` asks for them: nowhere (Istio's default), stdout, a file, or through a pino
 * logger (the test kit and the demo: the lines then follow that logger's level).
 */
export type AccessLogTarget = { kind: 'off' } | { kind: 'stdout' } | { kind: 'file'; path: string } | { kind: 'logger'; logger: Logger };

export const ACCESS_LOG_OFF: AccessLogTarget = Object.freeze({ kind: 'off' });

/** `off` (or empty), `stdout` (or `/dev/stdout`, Envoy's usual `accessLogFile`), else a file path. */
export function parseAccessLogTarget(value: string): AccessLogTarget {
  const v = value.trim();
  if (v === '' || v === 'off') return ACCESS_LOG_OFF;
  if (v === 'stdout' || v === '/dev/stdout' || v === '-') return { kind: 'stdout' };
  return { kind: 'file', path: v };
}

export interface AccessLogOptions {
  /** The process logger: its bindings (component, worker) start every line. */
  logger: Logger;
  /** From `--access-log` or meshConfig `accessLogFile`; default off. */
  target?: AccessLogTarget | undefined;
  /**
   * The current `Telemetry` setting (src/snapshot/access-logging.ts), read per record: when one
   * applies it decides on or off; an enabled Telemetry with no target writes to stdout, as
   * Istio's built-in `envoy` provider does.
   */
  setting?: (() => AccessLogSetting | undefined) | undefined;
}

/** Writes one line: a pino child (level-aware) or a buffered file descriptor. */
interface LineSink {
  write(rec: AccessRecord): void;
  flush(): void;
}

/**
 * The access log: one JSON line per record (`msg: "access"`, `log: "access"`) when enabled, and
 * nothing at all when not (no line is built or serialised). A line is serialised once
 * (`JSON.stringify` of the record after a fixed prefix) and written to a non-blocking buffered
 * destination; no redaction runs, since a record holds no key material.
 */
export class AccessLog {
  readonly #logger: Logger;
  readonly #target: AccessLogTarget;
  readonly #setting: (() => AccessLogSetting | undefined) | undefined;
  #configured: LineSink | undefined;
  #stdout: LineSink | undefined;

  constructor(opts: AccessLogOptions | Logger) {
    const o: AccessLogOptions = 'info' in opts ? { logger: opts, target: { kind: 'logger', logger: opts } } : opts;
    this.#logger = o.logger;
    this.#target = o.target ?? ACCESS_LOG_OFF;
    this.#setting = o.setting;
  }

  /** Whether a record written now would produce a line. */
  get enabled(): boolean {
    return this.#sink() !== undefined;
  }

  write(rec: AccessRecord): void {
    this.#sink()?.write(rec);
  }

  /** Writes out what is buffered (on shutdown). */
  flush(): void {
    this.#configured?.flush();
    this.#stdout?.flush();
  }

  #sink(): LineSink | undefined {
    const setting = this.#setting?.();
    if (setting !== undefined && !setting.enabled) return undefined;
    if (this.#target.kind !== 'off') return (this.#configured ??= openSink(this.#target, this.#logger));
    if (setting === undefined) return undefined;
    return (this.#stdout ??= openSink({ kind: 'stdout' }, this.#logger));
  }
}

function openSink(target: AccessLogTarget, logger: Logger): LineSink {
  if (target.kind === 'logger') {
    // The flags are kept as a set while a request runs and printed only here, as Envoy does.
    const child = target.logger.child({ log: 'access' }, { serializers: { response_flags: formatResponseFlags } });
    return { write: (rec) => child.info(rec, 'access'), flush: () => undefined };
  }
  const dest = pino.destination({ dest: target.kind === 'file' ? target.path : 1, sync: false, mkdir: true });
  const bindings = JSON.stringify({ ...logger.bindings(), log: 'access', msg: 'access' }).slice(1, -1);
  return {
    write(rec) {
      const body = JSON.stringify({ ...rec, response_flags: formatResponseFlags(rec.response_flags) });
      dest.write(`{"level":"info","time":"${new Date().toISOString()}",${bindings},${body.slice(1)}\n`);
    },
    flush() {
      try {
        dest.flushSync();
      } catch {
        // Not open yet (nothing written) or already closed: nothing to write out.
      }
    },
  };
}
