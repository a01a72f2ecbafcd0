/**
 * Public types of the policy engine: what the compiler needs to know about the mesh, what a
 * request looks like to the evaluator, and the decision it returns.
 */
import type { ServiceInfo } from '../config/types.js';
import type { VerifiedJwt } from './authn/types.js';

export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** What `compilePolicies` needs besides the resources. */
export interface PolicyContext {
  /** This waypoint's Gateway. */
  waypoint: { namespace: string; name: string };
  /** Istio's root namespace (meshConfig `rootNamespace`), `istio-system` by default. */
  rootNamespace: string;
  /** The mesh trust domain: principals written with `cluster.local` are rewritten to it. */
  trustDomain: string;
  /** Kubernetes Services (ServiceEntries are read from the resources). */
  services: readonly ServiceInfo[];
}

/** The attributes of one request (HTTP) or connection (TCP) at the waypoint. */
export interface RequestAttributes {
  /** The HBONE peer's SPIFFE id `spiffe://<td>/ns/<ns>/sa/<sa>`, or '' when there is none. */
  sourcePrincipal: string;
  /** The HBONE peer address (the client workload); also used for `remote.ip` / `remoteIpBlocks`. */
  sourceIp: string;
  /** The address the client dialled (the service VIP, or the pod IP for workload traffic). */
  destinationIp: string;
  /** The port the client dialled: the service port. */
  destinationPort: number;
  /** TLS SNI of the inner connection, when known (`connection.sni`); absent for plaintext. */
  sni?: string | undefined;
  /** The JWT a RequestAuthentication verified for this request; undefined when there is none. */
  jwt?: VerifiedJwt | undefined;
  /** HTTP request attributes; undefined for TCP traffic. */
  http?:
    | {
        method: string;
        /** `:authority` / `Host` as sent, may include `:port`. */
        host: string;
        /** The raw request target (path with query); normalised here before matching. */
        path: string;
        /** Request headers, names lower case (Node's `IncomingMessage.headers` shape). */
        headers: Readonly<Record<string, string | string[] | undefined>>;
      }
    | undefined;
}

export interface DryRunResult {
  policy: string;
  action: string;
  matched: boolean;
}

export interface AuthzDecision {
  allowed: boolean;
  /**
   * The layer that decided: `CUSTOM` or `DENY` when a rule of such a policy matched; `ALLOW` when
   * an ALLOW rule matched, or when ALLOW policies apply and none matched (then `allowed` is false
   * and `policy` is absent); `NONE` when no enforced policy decided.
   */
  action: 'ALLOW' | 'DENY' | 'CUSTOM' | 'NONE';
  /** `namespace/name` of the deciding policy. */
  policy?: string;
  /**
   * With action `CUSTOM`: the ext_authz provider (meshConfig `extensionProviders[].name`) to ask.
   * The decision itself denies (fail closed); an HTTP caller that has the provider asks it and,
   * on allow, continues with `evaluateAfterCustom`.
   */
  provider?: string;
  /** Index of the deciding rule in that policy's `spec.rules`. */
  rule?: number;
  reason: string;
  /** Dry-run policies that apply: evaluated, never enforced. Shared and frozen: do not mutate. */
  dryRun: DryRunResult[];
}
