/**
 * What `decide` (decide.ts) makes of one request and `execute` (execute.ts) carries out: a local
 * reply, a redirect, or a forward. Plain data, one object per request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint, ServiceInfo } from '../../config/types.js';
import type { ResponseFlags } from '../../metrics/response-flags.js';
import type { DryRunResult } from '../../policy/index.js';
import type { HeaderMutation, RetryPolicy } from '../../routes/types.js';
import type { Destination, TunnelContext } from '../tunnel.js';
import type { HeaderMap } from '../upstream/attempt.js';
import type { WireProtocol } from '../upstream/protocol.js';
import type { ForwardSpec } from '../upstream/retrying-forwarder.js';
import type { JwtCheck } from '../authn/authenticator.js';

/** One request as `decide` sees it: the parsed head and the tunnel it came through. */
export interface HttpRequestHead {
  method: string;
  /** Host / :authority as sent ('' when absent). */
  authority: string;
  /** The request target as received: path and query. */
  target: string;
  headers: IncomingHttpHeaders;
  /** The request's x-request-id: the client's, or one generated for it. */
  requestId: string;
  /** Whether a body follows the head. */
  hasBody: boolean;
  tunnel: TunnelContext;
  downstream: WireProtocol;
  /** Set once an ext_authz provider allowed the request: authorise with DENY and ALLOW only. */
  customAllowed?: boolean;
  /** RequestAuthentication's outcome (src/l7/authn); absent when no token was checked. */
  jwt?: JwtCheck | undefined;
}

export interface DecideOptions {
  /** Random source for weights, faults and mirrors, in [0, 1) (tests pass a seeded one). */
  random: () => number;
  /** Largest request body buffered so that it can be retried or mirrored (larger ones stream). */
  bodyBufferLimit: number;
}

/** What every plan records about the request, whatever it comes to. */
export interface PlanBase {
  /** The destination as the current snapshot has it (the tunnel's when it is gone). */
  destination: Destination;
  /** The path as routed (normalised), for the access log. */
  path: string;
  /** `default`, or `<route>#<rule>` of the rule that matched; undefined before routing. */
  route: string | undefined;
  /** Dry-run AuthorizationPolicies evaluated for this request (never enforced). */
  dryRun: readonly DryRunResult[] | undefined;
  /** The chosen backend's cluster and Service, once a backend is chosen. */
  upstreamCluster: string | undefined;
  service: ServiceInfo | undefined;
  /** A fault delay to wait out before acting (VirtualService fault injection). */
  delayMs: number | undefined;
  /** Flags recorded when the plan starts (DI for a fault delay). */
  flags: ResponseFlags;
}

/** Answer the request here, without an upstream. */
export interface ReplyPlan {
  kind: 'reply';
  base: PlanBase;
  status: number;
  body: string;
  /** Flags and details recorded when the reply is sent. */
  replyFlags: ResponseFlags;
  details: string | undefined;
  /** The denying policy and Envoy's response code details, for an RBAC denial. */
  policy: string | undefined;
  responseCodeDetails: string | undefined;
  /** The matched rule's response header edits, when a rule decided the reply. */
  responseHeaders: HeaderMutation | undefined;
  /** A CUSTOM rule stopped the request: the ext_authz provider to ask (src/l7/ext-authz/custom.ts). */
  extAuthzProvider?: string;
}

export interface RedirectPlan {
  kind: 'redirect';
  base: PlanBase;
  status: number;
  /** `location`, `content-length: 0`, and the rule's response header edits. */
  headers: HeaderMap;
}

/** The upstream request head, as it goes out (the body is the executor's). */
export interface UpstreamHead {
  method: string;
  /** Path and query, rewritten. */
  path: string;
  authority: string;
  /** End-to-end headers with the route's and backend's edits, x-request-id and x-forwarded-proto. */
  headers: HeaderMap;
}

/** One shadow copy of the request (RequestMirror / VirtualService mirror). */
export interface MirrorPlan {
  endpoint: Endpoint;
  protocol: WireProtocol;
}

/** How the request body is handled: none, streamed once, or buffered whole for retries and mirrors. */
export type BodyHandling = 'none' | 'stream' | 'buffer';

export interface ForwardPlan extends ForwardSpec {
  kind: 'forward';
  base: PlanBase;
  head: UpstreamHead;
  body: BodyHandling;
  /** Whole-request timeout, retries included. */
  timeoutMs: number | undefined;
  /** Per-attempt timeout (Gateway API timeouts.backendRequest). */
  backendTimeoutMs: number | undefined;
  retry: RetryPolicy;
  mirrors: readonly MirrorPlan[];
  /** `:authority` of the mirrors (`-shadow` appended to the host). */
  mirrorAuthority: string;
  /** Response header edits: the rule's, then the backend's. */
  responseHeaders: HeaderMutation;
  backendResponseHeaders: HeaderMutation | undefined;
}

export type Plan = ReplyPlan | RedirectPlan | ForwardPlan;
