/**
 * zod schemas for the resource kinds the waypoint reads. Only the fields the waypoint uses are
 * described; every object is loose, so `kubectl get -o yaml` output (status, managedFields, ...)
 * loads as it is.
 */
import * as z from 'zod';
import { canonicalIp } from './address.js';
import {
  annotationMap,
  clusterIp,
  dnsLabel,
  dnsSubdomain,
  formatFieldPath,
  friendlyIssueMessage,
  ianaSvcName,
  ipLiteral,
  ipOrEmpty,
  l4Protocol,
  labelMap,
  labelSelector,
  portNumber,
  showValue,
  targetPort,
} from './fields.js';

const ownerReference = z.looseObject({
  kind: z.string(),
  name: z.string(),
  controller: z.boolean().nullish(),
});

export const metadataSchema = z.looseObject({
  name: dnsSubdomain,
  namespace: dnsLabel.nullish(),
  labels: labelMap.nullish(),
  annotations: annotationMap.nullish(),
  ownerReferences: z.array(ownerReference).nullish(),
});

/** What every resource must have; the only check for kinds validated by later stages. */
export const resourceSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: metadataSchema,
});

// ---- Namespace ------------------------------------------------------------------------------------

export const namespaceSchema = resourceSchema.extend({
  metadata: metadataSchema.extend({ name: dnsLabel }),
});

// ---- Service --------------------------------------------------------------------------------------

const servicePort = z.looseObject({
  name: dnsLabel.nullish(),
  port: portNumber,
  targetPort: targetPort.nullish(),
  protocol: l4Protocol.nullish(),
  appProtocol: z.string().nullish(),
});

const servicePorts = z.array(servicePort).superRefine((ports, ctx) => {
  const names = new Map<string, number>();
  const numbers = new Map<string, number>();
  ports.forEach((p, i) => {
    const name = p.name ?? '';
    if (ports.length > 1 && name === '') {
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: 'is required when a Service has more than one port' });
    }
    if (name !== '') {
      const first = names.get(name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicates the name of ports[${first}] (${JSON.stringify(name)})` });
      } else names.set(name, i);
    }
    const key = `${p.port}/${p.protocol ?? 'TCP'}`;
    const firstPort = numbers.get(key);
    if (firstPort !== undefined) {
      ctx.addIssue({ code: 'custom', path: [i, 'port'], message: `duplicates ports[${firstPort}] (${key})` });
    } else numbers.set(key, i);
  });
});

export const serviceSchema = resourceSchema.extend({
  spec: z.looseObject({
    type: z.string().nullish(),
    clusterIP: clusterIp.nullish(),
    clusterIPs: z.array(clusterIp).nullish(),
    ports: servicePorts.nullish(),
    selector: labelMap.nullish(),
  }),
});

// ---- Pod ------------------------------------------------------------------------------------------

const containerPort = z.looseObject({
  containerPort: portNumber,
  name: ianaSvcName.nullish(),
  protocol: l4Protocol.nullish(),
});

export const podSchema = resourceSchema.extend({
  spec: z
    .looseObject({
      containers: z.array(z.looseObject({ name: z.string().nullish(), ports: z.array(containerPort).nullish() })).nullish(),
      serviceAccountName: dnsSubdomain.nullish(),
      /** Deprecated alias of serviceAccountName, still printed by kubectl. */
      serviceAccount: dnsSubdomain.nullish(),
    })
    .nullish(),
  status: z
    .looseObject({
      phase: z.string().nullish(),
      podIP: ipOrEmpty.nullish(),
      podIPs: z.array(z.looseObject({ ip: ipLiteral })).nullish(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).nullish(),
    })
    .nullish(),
});

// ---- WorkloadEntry --------------------------------------------------------------------------------

export const workloadEntrySchema = resourceSchema.extend({
  spec: z.looseObject({
    address: z.string().refine((v) => canonicalIp(v) !== undefined, {
      error: (iss) => `must be an IP address; hostnames are not supported by this waypoint (got ${showValue(iss.input)})`,
    }),
    labels: labelMap.nullish(),
    serviceAccount: dnsSubdomain.nullish(),
    ports: z.record(z.string(), portNumber).nullish(),
  }),
});

// ---- EndpointSlice --------------------------------------------------------------------------------

export const endpointSliceSchema = resourceSchema
  .extend({
    addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
    endpoints: z
      .array(
        z.looseObject({
          addresses: z.array(z.string()).min(1),
          conditions: z
            .looseObject({
              ready: z.boolean().nullish(),
              serving: z.boolean().nullish(),
              terminating: z.boolean().nullish(),
            })
            .nullish(),
          targetRef: z
            .looseObject({ kind: z.string().nullish(), name: z.string().nullish(), namespace: z.string().nullish() })
            .nullish(),
        }),
      )
      .nullish(),
    ports: z
      .array(
        z.looseObject({
          name: z.string().nullish(),
          port: portNumber.nullish(),
          protocol: l4Protocol.nullish(),
          appProtocol: z.string().nullish(),
        }),
      )
      .nullish(),
  })
  .superRefine((slice, ctx) => {
    if (slice.addressType === 'FQDN') return;
    const family = slice.addressType === 'IPv4' ? 'IPv4' : 'IPv6';
    (slice.endpoints ?? []).forEach((ep, i) => {
      ep.addresses.forEach((addr, j) => {
        const ip = canonicalIp(addr);
        const isV6 = ip?.includes(':');
        if (ip === undefined || (family === 'IPv4') === isV6) {
          ctx.addIssue({
            code: 'custom',
            path: ['endpoints', i, 'addresses', j],
            message: `must be an ${family} address because addressType is ${family} (got ${showValue(addr)})`,
          });
        }
      });
    });
  });

// ---- Gateway --------------------------------------------------------------------------------------

const listener = z.looseObject({
  name: z.string().min(1),
  port: portNumber,
  protocol: z.string().min(1),
  hostname: z.string().nullish(),
  allowedRoutes: z
    .looseObject({
      namespaces: z
        .looseObject({
          from: z.enum(['All', 'Same', 'Selector']).nullish(),
          selector: labelSelector.nullish(),
        })
        .superRefine((ns, ctx) => {
          if (ns.from === 'Selector' && (ns.selector === undefined || ns.selector === null)) {
            ctx.addIssue({ code: 'custom', path: ['selector'], message: 'is required when from is Selector' });
          }
        })
        .nullish(),
    })
    .nullish(),
});

export const gatewaySchema = resourceSchema.extend({
  spec: z.looseObject({
    gatewayClassName: z.string().min(1),
    listeners: z
      .array(listener)
      .min(1)
      .superRefine((listeners, ctx) => {
        const seen = new Map<string, number>();
        listeners.forEach((l, i) => {
          const first = seen.get(l.name);
          if (first !== undefined) {
            ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicates the name of listeners[${first}] (${JSON.stringify(l.name)})` });
          } else seen.set(l.name, i);
        });
      }),
  }),
});

// ---- ServiceEntry -----------------------------------------------------------------------------------

/** ServiceEntry hosts: DNS names, `*.` wildcards allowed (Istio `ValidateWildcardDomain`). */
const serviceEntryHost = z.string().refine((v) => v.length <= 253 && /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(v), {
  error: (iss) => `must be a DNS name, optionally starting with "*." (got ${showValue(iss.input)})`,
});

const serviceEntryPort = z.looseObject({
  number: portNumber,
  protocol: z.string().nullish(),
  name: z.string().min(1),
  targetPort: portNumber.nullish(),
});

const serviceEntryEndpoint = z.looseObject({
  address: z.string().min(1).nullish(),
  ports: z.record(z.string(), portNumber).nullish(),
  labels: labelMap.nullish(),
  network: z.string().nullish(),
  locality: z.string().nullish(),
  weight: z.number().int().min(0).nullish(),
  serviceAccount: z.string().nullish(),
});

/**
 * Istio `networking.istio.io/v1` ServiceEntry, with the cross-field rules of Istio's
 * `ValidateServiceEntry` the waypoint depends on.
 */
export const serviceEntrySchema = resourceSchema.extend({
  spec: z
    .looseObject({
      hosts: z.array(serviceEntryHost).min(1),
      addresses: z.array(z.string().min(1)).nullish(),
      ports: z.array(serviceEntryPort).nullish(),
      location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).nullish(),
      resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']).nullish(),
      endpoints: z.array(serviceEntryEndpoint).nullish(),
      workloadSelector: z.looseObject({ labels: labelMap.nullish() }).nullish(),
      exportTo: z.array(z.string()).nullish(),
      subjectAltNames: z.array(z.string()).nullish(),
    })
    .superRefine((spec, ctx) => {
      const resolution = spec.resolution ?? 'NONE';
      const endpoints = spec.endpoints ?? [];
      if (spec.workloadSelector != null && endpoints.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['workloadSelector'], message: 'must not be set together with endpoints' });
      }
      endpoints.forEach((ep, i) => {
        const address = ep.address ?? '';
        if (resolution === 'STATIC' && canonicalIp(address) === undefined) {
          ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'address'], message: `must be an IP address with resolution STATIC (got ${showValue(ep.address)})` });
        }
        if (resolution !== 'STATIC' && address === '') {
          ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'address'], message: 'is required' });
        }
        for (const name of Object.keys(ep.ports ?? {})) {
          if (!(spec.ports ?? []).some((p) => p.name === name)) {
            ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'ports', name], message: `names no port of spec.ports` });
          }
        }
      });
      if (resolution === 'STATIC' && endpoints.length === 0 && spec.workloadSelector == null) {
        ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'resolution STATIC needs endpoints or a workloadSelector' });
      }
      (spec.addresses ?? []).forEach((a, i) => {
        const ip = a.includes('/') ? a.slice(0, a.indexOf('/')) : a;
        if (canonicalIp(ip) === undefined) ctx.addIssue({ code: 'custom', path: ['addresses', i], message: `must be an IP address or CIDR (got ${showValue(a)})` });
      });
      const seen = new Set<number>();
      (spec.ports ?? []).forEach((p, i) => {
        if (seen.has(p.number)) ctx.addIssue({ code: 'custom', path: ['ports', i, 'number'], message: `port ${p.number} is listed twice` });
        seen.add(p.number);
      });
      if (resolution === 'NONE' && spec.hosts.some((h) => h.startsWith('*')) && (spec.addresses ?? []).length === 0 && endpoints.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'must be empty for a wildcard host with resolution NONE' });
      }
    }),
});

// ---- GatewayClass ---------------------------------------------------------------------------------

/** Read for its `istio.io/waypoint-for` label, the default of its Gateways (`waypoint.ts`). */
export const gatewayClassSchema = resourceSchema.extend({
  spec: z.looseObject({ controllerName: z.string().min(1) }),
});

export type NamespaceResource = z.infer<typeof namespaceSchema>;
export type ServiceResource = z.infer<typeof serviceSchema>;
export type ServicePortResource = z.infer<typeof servicePort>;
export type PodResource = z.infer<typeof podSchema>;
export type WorkloadEntryResource = z.infer<typeof workloadEntrySchema>;
export type EndpointSliceResource = z.infer<typeof endpointSliceSchema>;
export type GatewayResource = z.infer<typeof gatewaySchema>;
export type GatewayClassResource = z.infer<typeof gatewayClassSchema>;
export type ServiceEntryResource = z.infer<typeof serviceEntrySchema>;
export type ListenerResource = z.infer<typeof listener>;

// ---- validation entry points ----------------------------------------------------------------------

export interface KindSchemas {
  Namespace: NamespaceResource;
  Service: ServiceResource;
  Pod: PodResource;
  WorkloadEntry: WorkloadEntryResource;
  EndpointSlice: EndpointSliceResource;
  Gateway: GatewayResource;
  GatewayClass: GatewayClassResource;
  ServiceEntry: ServiceEntryResource;
}

export type CoreKind = keyof KindSchemas;

const SCHEMAS: { [K in CoreKind]: z.ZodType<KindSchemas[K]> } = {
  Namespace: namespaceSchema,
  Service: serviceSchema,
  Pod: podSchema,
  WorkloadEntry: workloadEntrySchema,
  EndpointSlice: endpointSliceSchema,
  Gateway: gatewaySchema,
  GatewayClass: gatewayClassSchema,
  ServiceEntry: serviceEntrySchema,
};

export function isCoreKind(kind: string): kind is CoreKind {
  return Object.hasOwn(SCHEMAS, kind);
}

export interface FieldIssue {
  /** Dotted path, e.g. `spec.ports[1].port`; empty for the document itself. */
  field: string;
  message: string;
}

export type ParseOutcome<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

function run<T>(schema: z.ZodType<T>, doc: unknown): ParseOutcome<T> {
  const result = schema.safeParse(doc, { error: friendlyIssueMessage });
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => ({ field: formatFieldPath(issue.path), message: issue.message })),
  };
}

/** Parses a document of a core kind into its typed form. */
export function parseKind<K extends CoreKind>(kind: K, doc: unknown): ParseOutcome<KindSchemas[K]> {
  return run(SCHEMAS[kind], doc);
}

/** Validates a document: the full schema for core kinds, metadata only for the others. */
export function validateResource(kind: string, doc: unknown): FieldIssue[] {
  const outcome = isCoreKind(kind) ? run<unknown>(SCHEMAS[kind], doc) : run(resourceSchema, doc);
  return outcome.ok ? [] : outcome.issues;
}
