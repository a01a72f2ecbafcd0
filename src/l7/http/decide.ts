/**
 * What to do with one HTTP request, decided without I/O: path normalisation, authorisation, route
 * match, the rule's action (redirect, direct response, forward), faults, the weighted backend and
 * what it resolves to, the upstream request head, mirrors and the hash key. The only source of
 * chance is the injected `random`; the same request, snapshot and random sequence give the same
 * plan. `execute` (execute.ts) carries the plan out.
 */
import type { Endpoint } from '../../config/types.js';
import { normalizePath } from '../../config/path-normalization.js';
import { isResponseFlag, NO_RESPONSE_FLAGS, responseFlags, withResponseFlag, type ResponseFlags } from '../../metrics/response-flags.js';
import { applyHeaderMutation, pickWeighted, redirectLocation, rewritePath, splitAuthority } from '../../routes/actions.js';
import { DEFAULT_TRAFFIC_POLICY, defaultServiceRule, ENCAP_RULE } from '../../routes/default-route.js';
import type { CompiledRule, DirectResponseAction, ForwardAction, RouteRequest } from '../../routes/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { Destination, TunnelContext } from '../tunnel.js';
import type { HeaderMap } from '../upstream/attempt.js';
import { upstreamProtocolFor } from '../upstream/protocol.js';
import type { ResolvedBackend } from '../upstream/retrying-forwarder.js';
import { authorize, denialDetails } from '../authorize.js';
import { endToEndRequestHeaders } from './headers.js';
import { LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import type { BodyHandling, DecideOptions, ForwardPlan, HttpRequestHead, MirrorPlan, Plan, PlanBase, ReplyPlan } from './plan.js';

const NO_MIRRORS: readonly MirrorPlan[] = Object.freeze([]);
const DELAYED = responseFlags('DI');
const ABORTED = responseFlags('FI');
const NO_CLUSTER = responseFlags('NC');

/** Decides what to do with one request. Pure but for `options.random`. */
export function decide(req: HttpRequestHead, snap: ConfigSnapshot, options: DecideOptions): Plan {
  const tunnel = req.tunnel;
  // Istio's default path normalisation, before policy and routing see the path; it is also what
  // goes upstream (Envoy's normalize_path).
  const normalized = normalizePath(req.target);
  const path = normalized ?? req.target;
  const dest = currentDestination(snap, tunnel);
  const base: PlanBase = {
    destination: dest ?? tunnel.destination,
    path,
    route: undefined,
    dryRun: undefined,
    upstreamCluster: undefined,
    service: undefined,
    delayMs: undefined,
    flags: NO_RESPONSE_FLAGS,
  };
  if (dest === undefined) return localReply(base, LOCAL_REPLIES.noRoute, 'service no longer bound to this waypoint');
  if (normalized === undefined) return reply(base, 400, 'Bad Request', NO_RESPONSE_FLAGS, 'path could not be normalised', undefined);

  // RequestAuthentication ran before (src/l7/authn): a token that failed is answered with 401.
  const jwt = req.jwt;
  if (jwt?.kind === 'denied') {
    const denied = reply(base, 401, jwt.failure, NO_RESPONSE_FLAGS, jwt.failure, undefined);
    denied.responseCodeDetails = jwt.details;
    denied.responseHeaders = { set: [['www-authenticate', `Bearer realm="http://${req.authority}${path.split('?')[0] ?? ''}", error="invalid_token"`]], add: [], remove: [] };
    return denied;
  }
  const headers = req.headers;
  const verdict = authorize(snap, tunnel, dest, { method: req.method, host: req.authority, path, headers }, jwt?.jwt, req.customAllowed === true);
  if (verdict.dryRun.length > 0) base.dryRun = verdict.dryRun;
  if (!verdict.allowed) {
    const denied = localReply(base, LOCAL_REPLIES.rbacDenied, verdict.reason);
    denied.policy = verdict.policy;
    denied.responseCodeDetails = denialDetails(verdict);
    if (verdict.provider !== undefined) denied.extAuthzProvider = verdict.provider;
    return denied;
  }

  let rule: CompiledRule;
  let matchedPrefix: string | undefined;
  if (dest.kind === 'service') {
    const table = snap.routes?.get(dest.binding.service.hostname, dest.binding.port.port);
    if (table === undefined) rule = defaultServiceRule(dest.binding);
    else {
      const routeReq: RouteRequest = {
        method: req.method,
        path,
        headers,
        authority: req.authority,
        sourceNamespace: tunnel.sourceNamespace,
        sourceLabels: tunnel.sourceWorkload?.labels,
      };
      const m = table.match(routeReq);
      if (m === undefined) return localReply(base, LOCAL_REPLIES.noRoute, 'no route matched');
      rule = m.rule;
      matchedPrefix = m.matchedPrefix;
    }
  } else rule = ENCAP_RULE;
  base.route = rule.routeName === 'default' ? rule.routeName : `${rule.routeName}#${rule.ruleName}`;

  const action = rule.action;
  switch (action.kind) {
    case 'redirect': {
      const location = redirectLocation(action, { path, authority: req.authority }, matchedPrefix);
      const out: HeaderMap = { location, 'content-length': '0' };
      applyHeaderMutation(out, rule.responseHeaders);
      return {
        kind: 'redirect',
        base,
        status: action.status,
        headers: out,
      };
    }
    case 'direct':
      return reply(base, action.status, action.body, directFlags(action), undefined, rule);
    case 'forward':
      return decideForward(req, snap, options, base, rule, matchedPrefix);
  }
}

/** The forward action: faults, backend, upstream head, body handling, mirrors. */
function decideForward(req: HttpRequestHead, snap: ConfigSnapshot, options: DecideOptions, base: PlanBase, rule: CompiledRule, matchedPrefix: string | undefined): Plan {
  const action = rule.action as ForwardAction;
  const { destination: dest, path } = base;
  const random = options.random;
  // Faults first (VirtualService fault injection): a delay, then perhaps an abort.
  const fault = action.fault;
  if (fault?.delay !== undefined && random() * 100 < fault.delay.percent) {
    base.delayMs = fault.delay.ms;
    base.flags = DELAYED;
  }
  if (fault?.abort !== undefined && random() * 100 < fault.abort.percent) {
    return reply(base, fault.abort.status, 'fault filter abort', ABORTED, 'fault abort', rule);
  }

  // The weighted backend, and what it resolves to.
  let target: ResolvedBackend;
  if (dest.kind === 'workload') {
    base.upstreamCluster = 'encap';
    const endpoint: Endpoint = { ip: dest.workload.ip, port: dest.port, workload: dest.workload, ready: true };
    target = { cluster: 'encap', binding: undefined, endpoints: [endpoint], subsetLabels: undefined, policy: DEFAULT_TRAFFIC_POLICY, protocol: req.downstream, backend: undefined };
  } else {
    const backend = action.totalWeight > 0 ? pickWeighted(action.backends, action.totalWeight, random) : undefined;
    // A missing backend fails its share with 500 (Gateway API); VirtualService backends say 503.
    if (backend === undefined) return reply(base, 500, '', NO_CLUSTER, 'every backend has weight 0', rule);
    base.upstreamCluster = backend.cluster;
    const binding = backend.target;
    if (binding === undefined) return reply(base, backend.missingStatus ?? 500, '', NO_CLUSTER, backend.missingReason ?? 'backend does not exist', rule);
    base.service = binding.service;
    const dp = snap.destinations?.forCluster(binding.service.hostname, binding.port.port, backend.subset);
    if (dp?.missingSubset === true) {
      // Envoy: the subset's cluster does not exist.
      return reply(base, 503, '', NO_CLUSTER, `no subset ${backend.subset ?? ''} in a DestinationRule for ${binding.service.hostname}`, rule);
    }
    target = {
      cluster: backend.cluster,
      binding,
      endpoints: binding.endpoints,
      subsetLabels: dp?.subsetLabels,
      policy: dp?.policy ?? DEFAULT_TRAFFIC_POLICY,
      protocol: backend.upstreamProtocol ?? upstreamProtocolFor(binding.port.protocol, req.downstream),
      backend,
    };
  }

  // The upstream request head: end-to-end headers, route and backend edits, rewrites.
  const headers = endToEndRequestHeaders(req.headers);
  headers['x-request-id'] = req.requestId;
  headers['x-forwarded-proto'] ??= 'http';
  applyHeaderMutation(headers, rule.requestHeaders);
  if (target.backend?.requestHeaders !== undefined) applyHeaderMutation(headers, target.backend.requestHeaders);
  const upstreamPath =
    action.regexRewrite !== undefined
      ? action.regexRewrite.apply(path)
      : action.urlRewrite?.path === undefined
        ? path
        : rewritePath(path, action.urlRewrite.path, matchedPrefix);
  const authority = target.backend?.hostRewrite ?? action.urlRewrite?.hostname ?? req.authority;

  // A body is buffered (and so can be retried and mirrored) when it is declared small enough.
  let body: BodyHandling = 'none';
  if (req.hasBody) {
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    body = (action.retry.retries > 0 || action.mirrors.length > 0) && declared <= options.bodyBufferLimit ? 'buffer' : 'stream';
  }

  const plan: ForwardPlan = {
    kind: 'forward',
    base,
    target,
    hashKey: hashKeyFor(target, req.headers, path, req.tunnel),
    head: { method: req.method, path: upstreamPath, authority, headers },
    body,
    timeoutMs: action.timeoutMs,
    backendTimeoutMs: action.backendTimeoutMs,
    retry: action.retry,
    mirrors: NO_MIRRORS,
    mirrorAuthority: '',
    responseHeaders: rule.responseHeaders,
    backendResponseHeaders: target.backend?.responseHeaders,
  };
  if (action.mirrors.length > 0) decideMirrors(plan, action, req, random);
  return plan;
}

/** The mirrors that get a copy: each by its percentage, never with a streamed body. */
function decideMirrors(plan: ForwardPlan, action: ForwardAction, req: HttpRequestHead, random: () => number): void {
  let mirrors: MirrorPlan[] | undefined;
  for (const mirror of action.mirrors) {
    if (mirror.target === undefined || random() * 100 >= mirror.percent || plan.body === 'stream') continue;
    const ready = mirror.target.endpoints.filter((e) => e.ready);
    const endpoint = ready[Math.floor(random() * ready.length)];
    if (endpoint === undefined) continue;
    (mirrors ??= []).push({ endpoint, protocol: mirror.upstreamProtocol ?? upstreamProtocolFor(mirror.target.port.protocol, req.downstream) });
  }
  if (mirrors === undefined) return;
  plan.mirrors = mirrors;
  plan.mirrorAuthority = shadowAuthority(plan.head.authority);
}

/** Envoy's shadow host: `-shadow` appended to the host, before any port (`echo:80` → `echo-shadow:80`). */
export function shadowAuthority(authority: string): string {
  const { host, port } = splitAuthority(authority);
  return port === undefined ? `${host}-shadow` : `${host}-shadow:${port}`;
}

/** Consistent-hash key for the cluster's load balancer, when it hashes. */
function hashKeyFor(target: ResolvedBackend, headers: HttpRequestHead['headers'], path: string, tunnel: TunnelContext): string | undefined {
  const lb = target.policy.loadBalancer;
  if (lb.kind !== 'CONSISTENT_HASH') return undefined;
  if (lb.header !== undefined) {
    const v = headers[lb.header.toLowerCase()];
    return Array.isArray(v) ? v.join(',') : v;
  }
  if (lb.cookie !== undefined) {
    const cookies = headers.cookie ?? '';
    const m = new RegExp(`(?:^|;\\s*)${lb.cookie.name.replace(/[^A-Za-z0-9_-]/g, '')}=([^;]*)`).exec(cookies);
    return m?.[1];
  }
  if (lb.queryParameter !== undefined) {
    const q = path.split('?')[1];
    return q === undefined ? undefined : (new URLSearchParams(q).get(lb.queryParameter) ?? undefined);
  }
  if (lb.sourceIp === true) return tunnel.peer.address;
  return undefined;
}

/** Re-reads a service destination from the current snapshot so endpoint changes apply at once. */
function currentDestination(snap: ConfigSnapshot, tunnel: TunnelContext): Destination | undefined {
  const dest = tunnel.destination;
  if (dest.kind === 'workload') return dest;
  const fresh = snap.byVip.get(tunnel.key);
  if (fresh === undefined) return undefined;
  return fresh === dest.binding ? dest : { kind: 'service', binding: fresh, mode: dest.mode };
}

/** A direct response's flag: routes carry it as text; only Envoy's flags are reported. */
function directFlags(action: DirectResponseAction): ResponseFlags {
  return action.flag !== undefined && isResponseFlag(action.flag) ? withResponseFlag(NO_RESPONSE_FLAGS, action.flag) : NO_RESPONSE_FLAGS;
}

function reply(base: PlanBase, status: number, body: string, replyFlags: ResponseFlags, details: string | undefined, rule: CompiledRule | undefined): ReplyPlan {
  return {
    kind: 'reply',
    base,
    status,
    body,
    replyFlags,
    details,
    policy: undefined,
    responseCodeDetails: undefined,
    responseHeaders: rule?.responseHeaders,
  };
}

/** One of Envoy's local replies: no rule decided it, so no rule's header edits apply. */
function localReply(base: PlanBase, r: LocalReply, details: string): ReplyPlan {
  return reply(base, r.status, r.body, r.flag === undefined ? NO_RESPONSE_FLAGS : withResponseFlag(NO_RESPONSE_FLAGS, r.flag), details, undefined);
}
