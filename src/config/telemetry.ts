/**
 * The `telemetry.istio.io/v1` `Telemetry` kind, as far as the waypoint reads it: `accessLogging`
 * and what it applies to (`targetRefs`, `selector`). Metrics and tracing sections are accepted and
 * ignored. Compiled into the snapshot's access-log setting by `src/snapshot/access-logging.ts`.
 */
import * as z from 'zod';
import { formatFieldPath, friendlyIssueMessage, labelMap } from './fields.js';
import type { FieldIssue } from './schemas.js';

const providerRef = z.looseObject({ name: z.string().min(1) });

const targetRef = z.looseObject({
  group: z.string().nullish(),
  kind: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().nullish(),
});

export const WORKLOAD_MODES = ['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'] as const;

const accessLogging = z.looseObject({
  providers: z.array(providerRef).nullish(),
  disabled: z.boolean().nullish(),
  match: z.looseObject({ mode: z.enum(WORKLOAD_MODES).nullish() }).nullish(),
  filter: z.looseObject({ expression: z.string().nullish() }).nullish(),
});

export const telemetrySpecSchema = z.looseObject({
  selector: z.looseObject({ matchLabels: labelMap.nullish() }).nullish(),
  targetRef: targetRef.nullish(),
  targetRefs: z.array(targetRef).nullish(),
  accessLogging: z.array(accessLogging).nullish(),
});

export type TelemetrySpec = z.infer<typeof telemetrySpecSchema>;
export type AccessLoggingEntry = NonNullable<TelemetrySpec['accessLogging']>[number];

export type TelemetryParse = { ok: true; spec: TelemetrySpec } | { ok: false; issues: FieldIssue[] };

/** Parses a Telemetry's `spec`; issue paths start at `spec`. */
export function parseTelemetrySpec(spec: unknown): TelemetryParse {
  const result = telemetrySpecSchema.safeParse(spec ?? {}, { error: friendlyIssueMessage });
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, issues: result.error.issues.map((i) => ({ field: formatFieldPath(['spec', ...i.path]), message: i.message })) };
}

/**
 * Whether access logging is on for this waypoint, as the configuration (a `Telemetry`) says, and
 * which resource said it. Absent from a snapshot when no Telemetry's `accessLogging` applies; the
 * command line (`--access-log`) and meshConfig `accessLogFile` decide then.
 */
export interface AccessLogSetting {
  enabled: boolean;
  /** `Telemetry <namespace>/<name>`. */
  source: string;
  /** The provider names that apply (`envoy` when none are named). */
  providers: readonly string[];
}
