/**
 * Istio's mesh configuration (the `mesh` key of the `istio` ConfigMap, given with `--mesh-config`):
 * the ext_authz `extensionProviders` that CUSTOM AuthorizationPolicies name, and `accessLogFile`.
 * Other fields are accepted and ignored, as a waypoint built by istiod ignores what it does not use.
 */
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';

/** Istio's default ext_authz timeout (`EnvoyExternalAuthorizationHttpProvider.timeout`). */
export const DEFAULT_EXT_AUTHZ_TIMEOUT_MS = 600_000;
/** Istio's default `statusOnError`. */
export const DEFAULT_STATUS_ON_ERROR = 403;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A protobuf / Go duration (`0.5s`, `250ms`, `2m`) in milliseconds, or undefined. */
export function parseMeshDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

const duration = z.string().transform((s, ctx) => {
  const ms = parseMeshDurationMs(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration such as 0.5s or 250ms (got ${JSON.stringify(s)})` });
    return z.NEVER;
  }
  return ms;
});

/** `statusOnError` is a string in Istio's API ("403"); a number is accepted too. */
const httpStatus = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 200 || n > 599) {
    ctx.addIssue({ code: 'custom', message: `must be an HTTP status code between 200 and 599 (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return n;
});

const port = z.number().int().min(1).max(65535);
const headerNames = z.array(z.string().min(1)).default([]);

const common = {
  service: z.string().min(1),
  port,
  timeout: duration.optional(),
  failOpen: z.boolean().default(false),
  statusOnError: httpStatus.optional(),
};

const httpProviderSchema = z.looseObject({
  ...common,
  pathPrefix: z.string().default(''),
  includeRequestHeadersInCheck: headerNames,
  includeAdditionalHeadersInCheck: z.record(z.string(), z.string()).default({}),
  headersToUpstreamOnAllow: headerNames,
  headersToDownstreamOnDeny: headerNames,
  headersToDownstreamOnAllow: headerNames,
});

const grpcProviderSchema = z.looseObject(common);

const providerSchema = z
  .looseObject({
    name: z.string().min(1),
    envoyExtAuthzHttp: httpProviderSchema.optional(),
    envoyExtAuthzGrpc: grpcProviderSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.envoyExtAuthzHttp !== undefined && p.envoyExtAuthzGrpc !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'only one of envoyExtAuthzHttp or envoyExtAuthzGrpc can be set' });
    }
  });

export const meshConfigSchema = z.looseObject({
  accessLogFile: z.string().optional(),
  rootNamespace: z.string().optional(),
  trustDomain: z.string().optional(),
  /** Proxy defaults: read loosely, not acted on. */
  defaultConfig: z.record(z.string(), z.unknown()).optional(),
  extensionProviders: z.array(providerSchema).default([]),
});

interface ProviderBase {
  name: string;
  /** `<name>.<ns>.svc.cluster.local`, another host name, or an IP address. */
  service: string;
  port: number;
  timeoutMs: number;
  failOpen: boolean;
  statusOnError: number;
}

export interface HttpExtAuthzProvider extends ProviderBase {
  kind: 'http';
  pathPrefix: string;
  /** Lower-case names of the request headers sent to the authorizer besides Envoy's defaults. */
  includeRequestHeadersInCheck: readonly string[];
  /** Headers added to every check request. */
  includeAdditionalHeadersInCheck: Readonly<Record<string, string>>;
  headersToUpstreamOnAllow: readonly string[];
  headersToDownstreamOnDeny: readonly string[];
  headersToDownstreamOnAllow: readonly string[];
}

export interface GrpcExtAuthzProvider extends ProviderBase {
  kind: 'grpc';
}

export type ExtAuthzProvider = HttpExtAuthzProvider | GrpcExtAuthzProvider;

export interface MeshConfig {
  /** Istio's `accessLogFile` (`/dev/stdout` turns the access log on); used when `--access-log` is not given. */
  accessLogFile: string | undefined;
  /** ext_authz providers by name; providers of other kinds (tracing, logging) are left out. */
  extAuthzProviders: ReadonlyMap<string, ExtAuthzProvider>;
}

export const EMPTY_MESH_CONFIG: MeshConfig = Object.freeze({ accessLogFile: undefined, extAuthzProviders: new Map<string, ExtAuthzProvider>() });

export type MeshConfigResult = { ok: true; config: MeshConfig } | { ok: false; errors: string[] };

const lower = (names: readonly string[]): string[] => names.map((n) => n.toLowerCase());

/** Parses the mesh YAML text; errors name the field (`extensionProviders[0].envoyExtAuthzHttp.port: ...`). */
export function parseMeshConfig(text: string): MeshConfigResult {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 }) ?? {};
  } catch (err) {
    return { ok: false, errors: [`not valid YAML: ${(err as Error).message}`] };
  }
  const parsed = meshConfigSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '')}: ${i.message}`) };
  }
  const providers = new Map<string, ExtAuthzProvider>();
  const errors: string[] = [];
  parsed.data.extensionProviders.forEach((p, i) => {
    if (providers.has(p.name)) errors.push(`extensionProviders[${i}].name: duplicate provider name ${JSON.stringify(p.name)}`);
    const h = p.envoyExtAuthzHttp;
    const g = p.envoyExtAuthzGrpc;
    const base = (c: { service: string; port: number; timeout?: number | undefined; failOpen: boolean; statusOnError?: number | undefined }): ProviderBase => ({
      name: p.name,
      service: c.service,
      port: c.port,
      timeoutMs: c.timeout ?? DEFAULT_EXT_AUTHZ_TIMEOUT_MS,
      failOpen: c.failOpen,
      statusOnError: c.statusOnError ?? DEFAULT_STATUS_ON_ERROR,
    });
    if (h !== undefined) {
      providers.set(p.name, {
        ...base(h),
        kind: 'http',
        pathPrefix: h.pathPrefix,
        includeRequestHeadersInCheck: lower(h.includeRequestHeadersInCheck),
        includeAdditionalHeadersInCheck: Object.fromEntries(Object.entries(h.includeAdditionalHeadersInCheck).map(([k, v]) => [k.toLowerCase(), v])),
        headersToUpstreamOnAllow: lower(h.headersToUpstreamOnAllow),
        headersToDownstreamOnDeny: lower(h.headersToDownstreamOnDeny),
        headersToDownstreamOnAllow: lower(h.headersToDownstreamOnAllow),
      });
    } else if (g !== undefined) providers.set(p.name, { ...base(g), kind: 'grpc' });
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: { accessLogFile: parsed.data.accessLogFile, extAuthzProviders: providers } };
}
