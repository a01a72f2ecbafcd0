/**
 * Field-level zod schemas shared by the resource schemas, each with an operator-facing message,
 * plus the error map and path formatting that turn zod issues into `spec.ports[1].port: ...`.
 */
import * as z from 'zod';
import { canonicalIp } from './address.js';

/** Short rendering of a rejected value for messages: `70000`, `"Foo"`, `a list`. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const text = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(text);
  }
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and strings returned above; a number, boolean or bigint is left
  return String(value);
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  map: 'a mapping',
  array: 'a list',
};

/**
 * Messages for zod's own issues (schema-specific messages take precedence): "is required",
 * "must be a list (got a mapping)", "must be one of All, Same, Selector (got "Other")".
 */
export function friendlyIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected} (got ${showValue(issue.input)})`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')} (got ${showValue(issue.input)})`;
    case 'too_small':
      if (issue.origin === 'array') return `must have at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === 'string') return 'must not be empty';
      return `must be at least ${String(issue.minimum)} (got ${showValue(issue.input)})`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters`;
      return `must be at most ${String(issue.maximum)} (got ${showValue(issue.input)})`;
    default:
      return undefined;
  }
}

/** `['spec', 'ports', 1, 'port']` → `spec.ports[1].port`; odd keys quoted: `labels["app.kubernetes.io/name"]`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

// ---- primitives ---------------------------------------------------------------------------------

export function isPortNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** A message for a rejected value, or "is required" when there is none. */
function rejected(describe: (got: string) => string): (iss: { input?: unknown }) => string {
  return (iss) => (iss.input === undefined ? 'is required' : describe(showValue(iss.input)));
}

export const portNumber = z.custom<number>(isPortNumber, {
  error: rejected((got) => `must be an integer between 1 and 65535 (got ${got})`),
});

/** IANA_SVC_NAME (Kubernetes `IsValidPortName`): 1-15 of [a-z0-9-], a letter, no leading/trailing/double '-'. */
export function isIanaSvcName(v: string): boolean {
  return (
    v.length >= 1 &&
    v.length <= 15 &&
    /^[a-z0-9-]+$/.test(v) &&
    /[a-z]/.test(v) &&
    !v.includes('--') &&
    !v.startsWith('-') &&
    !v.endsWith('-')
  );
}

const IANA_HINT = "1-15 lowercase letters, digits and '-', with at least one letter";

export const ianaSvcName = z.string().refine(isIanaSvcName, {
  error: (iss) => `must be a port name (${IANA_HINT}; got ${showValue(iss.input)})`,
});

/** `targetPort`: a port number, or the name of a container port. */
export const targetPort = z.custom<number | string>(
  (v) => isPortNumber(v) || (typeof v === 'string' && isIanaSvcName(v)),
  { error: rejected((got) => `must be an integer between 1 and 65535 or a port name (${IANA_HINT}; got ${got})`) },
);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 1123 label: Service port names, namespace names. */
export const dnsLabel = z.string().refine((v) => v.length <= 63 && DNS_LABEL.test(v), {
  error: (iss) =>
    `must be a lowercase RFC 1123 label (at most 63 letters, digits and '-'; got ${showValue(iss.input)})`,
});

/** RFC 1123 subdomain: object names, service account names. */
export const dnsSubdomain = z.string().refine((v) => v.length <= 253 && DNS_SUBDOMAIN.test(v), {
  error: (iss) =>
    `must be a lowercase RFC 1123 name (letters, digits, '-' and '.'; got ${showValue(iss.input)})`,
});

export const ipLiteral = z.string().refine((v) => canonicalIp(v) !== undefined, {
  error: (iss) => `must be an IP address (got ${showValue(iss.input)})`,
});

/** `status.podIP`: an IP, or empty while the pod has none. */
export const ipOrEmpty = z.string().refine((v) => v === '' || canonicalIp(v) !== undefined, {
  error: (iss) => `must be an IP address (got ${showValue(iss.input)})`,
});

/** `spec.clusterIP(s)`: an IP, `None` (headless) or empty (allocated by the API server). */
export const clusterIp = z.string().refine((v) => v === '' || v === 'None' || canonicalIp(v) !== undefined, {
  error: (iss) => `must be an IP address, "None" or "" (got ${showValue(iss.input)})`,
});

const stringValue = (what: string) =>
  z.custom<string>((v) => typeof v === 'string', {
    error: rejected((got) => `${what} must be a string (got ${got}; quote it in YAML)`),
  });

export const labelMap = z.record(z.string(), stringValue('label values'));
export const annotationMap = z.record(z.string(), stringValue('annotation values'));

export const l4Protocol = z.enum(['TCP', 'UDP', 'SCTP']);

/** A Kubernetes `LabelSelector`. */
export const labelSelector = z
  .looseObject({
    matchLabels: labelMap.nullish(),
    matchExpressions: z
      .array(
        z.looseObject({
          key: z.string().min(1),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: z.array(z.string()).nullish(),
        }),
      )
      .nullish(),
  })
  .superRefine((sel, ctx) => {
    (sel.matchExpressions ?? []).forEach((expr, i) => {
      const n = expr.values?.length ?? 0;
      if ((expr.operator === 'In' || expr.operator === 'NotIn') && n === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['matchExpressions', i, 'values'],
          message: `must not be empty when operator is ${expr.operator}`,
        });
      }
      if ((expr.operator === 'Exists' || expr.operator === 'DoesNotExist') && n > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['matchExpressions', i, 'values'],
          message: `must be empty when operator is ${expr.operator}`,
        });
      }
    });
  });

export type LabelSelector = z.infer<typeof labelSelector>;
