/**
 * zod schemas for Gateway API HTTPRoute and GRPCRoute (gateway.networking.k8s.io v1, v1beta1,
 * v1alpha2), covering what the API server's OpenAPI schema and CEL rules enforce on the fields the
 * waypoint uses (`apis/v1/httproute_types.go`, `grpcroute_types.go`, `shared_types.go`). Objects
 * are loose, so `kubectl get -o yaml` output loads as it is. Checks that need other resources
 * (Services, regex compilation, rule-level combinations) live in `compile.ts`.
 */
import * as z from 'zod';
import { dnsLabel, portNumber, showValue } from '../../config/fields.js';
import { metadataSchema, resourceSchema } from '../../config/schemas.js';

const intIn = (min: number, max: number, what = 'an integer') =>
  z.custom<number>((v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max, {
    error: (iss) => (iss.input === undefined ? 'is required' : `must be ${what} between ${min} and ${max} (got ${showValue(iss.input)})`),
  });

const oneOf = <T extends string | number>(values: readonly T[], what: string) =>
  z.custom<T>((v) => (values as readonly unknown[]).includes(v), {
    error: (iss) =>
      iss.input === undefined ? 'is required' : `${what} must be one of ${values.join(', ')} (got ${showValue(iss.input)})`,
  });

/** RFC 7230 token (Gateway API `HTTPHeaderName`): no `:` pseudo-headers, no spaces. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
export const headerName = z.string().refine((v) => v.length >= 1 && v.length <= 256 && HEADER_NAME.test(v), {
  error: (iss) => `must be an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~; got ${showValue(iss.input)})`,
});

/** Header values: no control characters other than tab (what Istio's isValidHeaderValue allows). */
// eslint-disable-next-line no-control-regex -- the pattern must name the control characters it rejects
const HEADER_VALUE = /^[^\x00-\x08\x0a-\x1f\x7f]*$/;
const headerValue = z.string().refine((v) => v.length >= 1 && v.length <= 4096 && HEADER_VALUE.test(v), {
  error: (iss) =>
    typeof iss.input === 'string' && iss.input.length === 0
      ? 'must not be empty'
      : `must be 1-4096 characters without control characters (got ${showValue(iss.input)})`,
});

/** Gateway API `PreciseHostname`: a lowercase DNS name, no wildcard. */
const PRECISE_HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const preciseHostname = z.string().refine((v) => v.length <= 253 && PRECISE_HOSTNAME.test(v), {
  error: (iss) => `must be a lowercase DNS name without wildcard (got ${showValue(iss.input)})`,
});

/** GEP-2257 duration: `10s`, `500ms`, `1h30m`. */
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
export const duration = z.string().refine((v) => DURATION.test(v), {
  error: (iss) => `must be a Gateway API duration such as 10s, 500ms or 1h30m (got ${showValue(iss.input)})`,
});

/** Parses a GEP-2257 duration (already validated) into milliseconds. */
export function parseDurationMs(text: string): number {
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    switch (m[2]) {
      case 'h':
        ms += n * 3_600_000;
        break;
      case 'm':
        ms += n * 60_000;
        break;
      case 's':
        ms += n * 1000;
        break;
      default:
        ms += n;
    }
  }
  return ms;
}

const SECTION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const sectionName = z.string().refine((v) => v.length >= 1 && v.length <= 253 && SECTION_NAME.test(v), {
  error: (iss) => `must be a lowercase RFC 1123 name (got ${showValue(iss.input)})`,
});

const objectName = z.string().refine((v) => v.length >= 1 && v.length <= 253, {
  error: (iss) => `must be 1-253 characters (got ${showValue(iss.input)})`,
});

// ---- references -----------------------------------------------------------------------------------

export const parentRefSchema = z.looseObject({
  group: z.string().nullish(),
  kind: z.string().nullish(),
  namespace: dnsLabel.nullish(),
  name: objectName,
  sectionName: z.string().nullish(),
  port: portNumber.nullish(),
});

export const backendObjectRefSchema = z.looseObject({
  group: z.string().nullish(),
  kind: z.string().nullish(),
  name: objectName,
  namespace: dnsLabel.nullish(),
  port: portNumber.nullish(),
});

const weight = intIn(0, 1_000_000);

// ---- matches --------------------------------------------------------------------------------------

const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;

const pathMatch = z
  .looseObject({
    type: oneOf(['Exact', 'PathPrefix', 'RegularExpression'] as const, 'path match type').nullish(),
    value: z.string().max(1024).nullish(),
  })
  .superRefine((p, ctx) => {
    const type = p.type ?? 'PathPrefix';
    const value = p.value ?? '/';
    if (type === 'RegularExpression') {
      if (value === '') ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not be empty' });
      return;
    }
    const bad = (message: string): void => ctx.addIssue({ code: 'custom', path: ['value'], message: `${message} (got ${showValue(value)})` });
    if (!value.startsWith('/')) bad(`must be an absolute path starting with '/' for ${type}`);
    else if (value.includes('//')) bad(`must not contain '//' for ${type}`);
    else if (value.includes('/./') || value.includes('/../') || value.endsWith('/..') || value.endsWith('/.')) {
      bad(`must not contain '.' or '..' path segments for ${type}`);
    } else if (/%2f/i.test(value) || value.includes('#')) bad(`must not contain '%2F' or '#' for ${type}`);
    else if (!PATH_CHARS.test(value)) bad(`must contain only URL path characters for ${type}`);
  });

const valueMatch = (types: 'header' | 'query') =>
  z.looseObject({
    type: oneOf(['Exact', 'RegularExpression'] as const, `${types === 'header' ? 'header' : 'query parameter'} match type`).nullish(),
    name: headerName,
    value: types === 'header' ? headerValue : z.string().min(1).max(1024),
  });

const headerMatch = valueMatch('header');
const queryParamMatch = valueMatch('query');

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

const httpRouteMatch = z.looseObject({
  path: pathMatch.nullish(),
  headers: z.array(headerMatch).max(16).nullish(),
  queryParams: z.array(queryParamMatch).max(16).nullish(),
  method: oneOf(HTTP_METHODS, 'method').nullish(),
});

const GRPC_SERVICE = /^(?:\.?[A-Za-z_][A-Za-z_0-9]*)(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

const grpcMethodMatch = z
  .looseObject({
    type: oneOf(['Exact', 'RegularExpression'] as const, 'method match type').nullish(),
    service: z.string().max(1024).nullish(),
    method: z.string().max(1024).nullish(),
  })
  .superRefine((m, ctx) => {
    const service = m.service ?? '';
    const method = m.method ?? '';
    if (service === '' && method === '') {
      ctx.addIssue({ code: 'custom', path: [], message: 'must set service or method (or both)' });
      return;
    }
    if ((m.type ?? 'Exact') !== 'Exact') return;
    if (service !== '' && !GRPC_SERVICE.test(service)) {
      ctx.addIssue({ code: 'custom', path: ['service'], message: `must be a gRPC service name such as helloworld.Greeter for Exact (got ${showValue(service)})` });
    }
    if (method !== '' && !GRPC_METHOD.test(method)) {
      ctx.addIssue({ code: 'custom', path: ['method'], message: `must be a gRPC method name such as SayHello for Exact (got ${showValue(method)})` });
    }
  });

const grpcRouteMatch = z.looseObject({
  method: grpcMethodMatch.nullish(),
  headers: z.array(headerMatch).max(16).nullish(),
});

// ---- filters --------------------------------------------------------------------------------------

const httpHeader = z.looseObject({ name: headerName, value: headerValue });

export const headerFilterSchema = z
  .looseObject({
    set: z.array(httpHeader).max(16).nullish(),
    add: z.array(httpHeader).max(16).nullish(),
    remove: z.array(headerName).max(16).nullish(),
  })
  .superRefine((f, ctx) => {
    for (const list of ['set', 'add'] as const) {
      const seen = new Map<string, number>();
      (f[list] ?? []).forEach((h, i) => {
        const key = h.name.toLowerCase();
        const first = seen.get(key);
        if (first !== undefined) {
          ctx.addIssue({ code: 'custom', path: [list, i, 'name'], message: `duplicates ${list}[${first}] (${JSON.stringify(h.name)}); header names are case-insensitive` });
        } else seen.set(key, i);
      });
    }
  });

const pathModifier = z
  .looseObject({
    type: oneOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const, 'path modifier type'),
    replaceFullPath: z.string().max(1024).nullish(),
    replacePrefixMatch: z.string().max(1024).nullish(),
  })
  .superRefine((p, ctx) => {
    const full = p.replaceFullPath !== undefined && p.replaceFullPath !== null;
    const prefix = p.replacePrefixMatch !== undefined && p.replacePrefixMatch !== null;
    if (p.type === 'ReplaceFullPath' && !full) ctx.addIssue({ code: 'custom', path: ['replaceFullPath'], message: 'is required when type is ReplaceFullPath' });
    if (p.type === 'ReplacePrefixMatch' && !prefix) ctx.addIssue({ code: 'custom', path: ['replacePrefixMatch'], message: 'is required when type is ReplacePrefixMatch' });
    if (p.type !== 'ReplaceFullPath' && full) ctx.addIssue({ code: 'custom', path: ['replaceFullPath'], message: `must not be set when type is ${p.type}` });
    if (p.type !== 'ReplacePrefixMatch' && prefix) ctx.addIssue({ code: 'custom', path: ['replacePrefixMatch'], message: `must not be set when type is ${p.type}` });
  });

export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308] as const;

const requestRedirect = z.looseObject({
  scheme: oneOf(['http', 'https'] as const, 'scheme').nullish(),
  hostname: preciseHostname.nullish(),
  path: pathModifier.nullish(),
  port: portNumber.nullish(),
  statusCode: oneOf(REDIRECT_STATUS_CODES, 'status code').nullish(),
});

const urlRewrite = z.looseObject({
  hostname: preciseHostname.nullish(),
  path: pathModifier.nullish(),
});

const requestMirror = z
  .looseObject({
    backendRef: backendObjectRefSchema,
    percent: intIn(0, 100).nullish(),
    fraction: z
      .looseObject({ numerator: intIn(0, 2_147_483_647), denominator: intIn(1, 2_147_483_647).nullish() })
      .superRefine((f, ctx) => {
        if (f.numerator > (f.denominator ?? 100)) ctx.addIssue({ code: 'custom', path: ['numerator'], message: `must not exceed the denominator (${f.denominator ?? 100})` });
      })
      .nullish(),
  })
  .superRefine((m, ctx) => {
    if (m.percent !== undefined && m.percent !== null && m.fraction !== undefined && m.fraction !== null) {
      ctx.addIssue({ code: 'custom', path: ['fraction'], message: 'only one of percent and fraction may be set' });
    }
  });

const cors = z.looseObject({
  allowOrigins: z.array(z.string().min(1)).max(64).nullish(),
  allowMethods: z.array(z.string().min(1)).max(9).nullish(),
  allowHeaders: z.array(z.string().min(1)).max(64).nullish(),
  exposeHeaders: z.array(z.string().min(1)).max(64).nullish(),
  allowCredentials: z.boolean().nullish(),
  maxAge: intIn(1, 2_147_483_647).nullish(),
});

/** Filter type → the field that carries its configuration. */
export const FILTER_FIELDS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  CORS: 'cors',
  ExtensionRef: 'extensionRef',
  ExternalAuth: 'externalAuth',
} as const;

export type FilterType = keyof typeof FILTER_FIELDS;

const HTTP_FILTER_TYPES: readonly FilterType[] = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'CORS', 'ExtensionRef', 'ExternalAuth'];
const GRPC_FILTER_TYPES: readonly FilterType[] = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef'];

const filterShape = z.looseObject({
  type: z.string(),
  requestHeaderModifier: headerFilterSchema.nullish(),
  responseHeaderModifier: headerFilterSchema.nullish(),
  requestRedirect: requestRedirect.nullish(),
  urlRewrite: urlRewrite.nullish(),
  requestMirror: requestMirror.nullish(),
  cors: cors.nullish(),
  extensionRef: z.looseObject({ group: z.string(), kind: z.string().min(1), name: z.string().min(1) }).nullish(),
  externalAuth: z.unknown().optional(),
});

/** A filter: its type must be one the route kind has, and exactly its own field must be set. */
const filterSchema = (kind: 'HTTPRoute' | 'GRPCRoute', types: readonly FilterType[]) =>
  filterShape.superRefine((f, ctx) => {
    if (!(types as readonly string[]).includes(f.type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `unknown ${kind} filter type ${showValue(f.type)} (one of ${types.join(', ')})`,
      });
      return;
    }
    const own = FILTER_FIELDS[f.type as FilterType];
    const record = f as Record<string, unknown>;
    if (record[own] === undefined || record[own] === null) {
      ctx.addIssue({ code: 'custom', path: [own], message: `is required when type is ${f.type}` });
    }
    for (const [type, field] of Object.entries(FILTER_FIELDS)) {
      if (field !== own && record[field] !== undefined && record[field] !== null) {
        ctx.addIssue({ code: 'custom', path: [field], message: `must not be set when type is ${f.type} (it configures ${type})` });
      }
    }
  });

const httpFilter = filterSchema('HTTPRoute', HTTP_FILTER_TYPES);
const grpcFilter = filterSchema('GRPCRoute', GRPC_FILTER_TYPES);

// ---- rules and routes -----------------------------------------------------------------------------

const httpRouteRule = z.looseObject({
  name: sectionName.nullish(),
  matches: z.array(httpRouteMatch).max(64).nullish(),
  filters: z.array(httpFilter).max(16).nullish(),
  backendRefs: z.array(backendObjectRefSchema.extend({ weight: weight.nullish(), filters: z.array(httpFilter).max(16).nullish() })).max(16).nullish(),
  timeouts: z.looseObject({ request: duration.nullish(), backendRequest: duration.nullish() }).nullish(),
  retry: z
    .looseObject({
      codes: z.array(intIn(400, 599, 'an HTTP status code')).nullish(),
      attempts: intIn(0, 2_147_483_647).nullish(),
      backoff: duration.nullish(),
    })
    .nullish(),
});

const grpcRouteRule = z.looseObject({
  name: sectionName.nullish(),
  matches: z.array(grpcRouteMatch).max(64).nullish(),
  filters: z.array(grpcFilter).max(16).nullish(),
  backendRefs: z.array(backendObjectRefSchema.extend({ weight: weight.nullish(), filters: z.array(grpcFilter).max(16).nullish() })).max(16).nullish(),
});

const routeMetadata = metadataSchema.extend({
  creationTimestamp: z.union([z.string(), z.date()]).nullish(),
});

export const httpRouteSchema = resourceSchema.extend({
  metadata: routeMetadata,
  spec: z.looseObject({
    parentRefs: z.array(parentRefSchema).max(32).nullish(),
    hostnames: z.array(z.string()).nullish(),
    rules: z.array(httpRouteRule).max(16).nullish(),
  }),
});

export const grpcRouteSchema = resourceSchema.extend({
  metadata: routeMetadata,
  spec: z.looseObject({
    parentRefs: z.array(parentRefSchema).max(32).nullish(),
    hostnames: z.array(z.string()).nullish(),
    rules: z.array(grpcRouteRule).max(16).nullish(),
  }),
});

export type HTTPRouteResource = z.infer<typeof httpRouteSchema>;
export type GRPCRouteResource = z.infer<typeof grpcRouteSchema>;
export type HTTPRouteRule = z.infer<typeof httpRouteRule>;
export type GRPCRouteRule = z.infer<typeof grpcRouteRule>;
export type HTTPRouteMatch = z.infer<typeof httpRouteMatch>;
export type GRPCRouteMatch = z.infer<typeof grpcRouteMatch>;
export type RouteFilter = z.infer<typeof filterShape>;
export type HeaderFilter = z.infer<typeof headerFilterSchema>;
export type ParentRef = z.infer<typeof parentRefSchema>;
export type BackendObjectRef = z.infer<typeof backendObjectRefSchema>;
export type RequestRedirectFilter = z.infer<typeof requestRedirect>;
export type URLRewriteFilter = z.infer<typeof urlRewrite>;
export type RequestMirrorFilter = z.infer<typeof requestMirror>;
export type CORSFilter = z.infer<typeof cors>;
export type HeaderMatch = z.infer<typeof headerMatch>;

/** The API versions the waypoint reads routes from. */
export const ROUTE_API_VERSIONS = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1alpha2'] as const;
