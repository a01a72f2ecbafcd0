import type { IncomingHttpHeaders } from 'node:http2';

import type { Endpoint, VipBinding } from '../../config/types.js';
import { formatAuthority } from '../../hbone/authority.js';
import type { WireProtocol } from '../listener/classify.js';
import { endToEndResponseHeaders, type HeaderMap } from '../http/headers.js';
import { LOCAL_REPLIES, type LocalReply } from '../http/local-reply.js';
import { backoffMs, isRetriable, type AttemptOutcome } from './retry.js';
import type { BackendRef, ForwardAction, HeaderMutation, Labels, TrafficPolicy } from '../../routes/types.js';
import { sendAttempt, type AttemptFailure, type AttemptResult, type UpstreamRequest } from './attempt.js';
import type { Upstreams } from './connections.js';
import type { Cancellation } from './cancellation.js';
import { applyHeaderMutation } from '../../routes/actions.js';

/** The per-cluster runtime the forwarder needs: endpoint choice, limits, outlier feedback. */
export interface ClusterRuntime {
  /** Chooses an endpoint of the cluster (subset-filtered, ejected ones skipped). */
  pick(
    cluster: string,
    endpoints: readonly Endpoint[],
    policy: TrafficPolicy,
    subsetLabels: Labels | undefined,
    ctx: { hashKey?: string | undefined; exclude?: ReadonlySet<string> | undefined },
  ): Endpoint | undefined;
  /** Reserves a request (and, for a retry, a retry) slot; undefined when a circuit breaker is open (503 UO). */
  acquire(cluster: string, endpoint: Endpoint, retry: boolean): (() => void) | undefined;
  /** Feeds an attempt's outcome to outlier detection. */
  report(cluster: string, endpointKey: string, outcome: 'success' | '5xx' | 'gateway-error' | 'connect-failure'): void;
}

/** What the chosen backend resolves to for this request. */
export interface ResolvedBackend {
  /** `inbound-vip|<port>|http[/<subset>]|<host>`, or `encap` for workload-addressed traffic. */
  cluster: string;
  /** The backend Service port, when the backend is a Service. */
  binding: VipBinding | undefined;
  /** All endpoints of the backend; the cluster runtime filters them by `subsetLabels`. */
  endpoints: readonly Endpoint[];
  subsetLabels: Labels | undefined;
  policy: TrafficPolicy;
  protocol: WireProtocol;
  backend: BackendRef | undefined;
}

/** How a forward ended, for the access log and metrics. */
export interface ForwardResult {
  /** Set when a local reply must be sent instead of an upstream response. */
  reply?: LocalReply;
  /** Flags to report (URX, UF, UT, UO, ...). */
  flags: string[];
  details?: string;
  response?: Extract<AttemptResult, { ok: true }>;
  endpoint?: Endpoint;
  attempts: number;
}

export interface ForwardDeps {
  upstreams: Upstreams;
  clusters: ClusterRuntime;
  random: () => number;
}

const FAILURE_REPLY: Record<Exclude<AttemptFailure, 'cancelled'>, LocalReply> = {
  'connect-failure': LOCAL_REPLIES.connectFailure,
  'refused-stream': LOCAL_REPLIES.remoteReset,
  reset: LOCAL_REPLIES.connectionTermination,
  timeout: LOCAL_REPLIES.timeout,
};

function outlierOutcome(o: AttemptOutcome): 'success' | '5xx' | 'gateway-error' | 'connect-failure' {
  if (o.kind === 'failure') return o.failure === 'timeout' ? 'gateway-error' : 'connect-failure';
  if (o.status >= 502 && o.status <= 504) return 'gateway-error';
  return o.status >= 500 ? '5xx' : 'success';
}

function grpcStatusOf(headers: Record<string, string | string[] | undefined>): number | undefined {
  const v = headers['grpc-status'];
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
}

function sleep(ms: number, signal: Cancellation): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.once('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Runs the attempts of one forwarded request: endpoint choice (never the same host twice when
 * another is available), circuit breaking, per-try timeouts, retries with backoff, outlier
 * feedback. Resolves with the response to relay or the local reply to send. Whole-request
 * timeouts are the caller's, through `signal`.
 */
export async function forwardWithRetries(
  deps: ForwardDeps,
  target: ResolvedBackend,
  action: Pick<ForwardAction, 'retry' | 'backendTimeoutMs'>,
  req: UpstreamRequest,
  opts: { signal: Cancellation; hashKey?: string | undefined },
): Promise<ForwardResult> {
  const { retry } = action;
  // A streamed body can be sent once only: retries need it buffered.
  const maxAttempts = req.body === null || Buffer.isBuffer(req.body) ? 1 + retry.retries : 1;
  const perTry = action.backendTimeoutMs ?? retry.perTryTimeoutMs;
  const tried = new Set<string>();
  const flags: string[] = [];
  const cluster = target.cluster;
  let last: { outcome: AttemptOutcome; result: AttemptResult; endpoint: Endpoint } | undefined;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (opts.signal.aborted) break;
    const endpoint = deps.clusters.pick(cluster, target.endpoints, target.policy, target.subsetLabels, {
      hashKey: opts.hashKey,
      exclude: retry.avoidPreviousHosts && tried.size > 0 ? tried : undefined,
    });
    if (endpoint === undefined) {
      if (last === undefined) return { reply: LOCAL_REPLIES.noHealthyUpstream, flags: ['UH'], details: 'no healthy endpoint', attempts: attempt };
      break;
    }
    const release = deps.clusters.acquire(cluster, endpoint, attempt > 0);
    if (release === undefined) {
      if (last === undefined) return { reply: LOCAL_REPLIES.overflow, flags: ['UO'], details: 'circuit breaker open', attempts: attempt, endpoint };
      break;
    }
    const key = formatAuthority(endpoint.ip, endpoint.port);
    tried.add(key);
    const result = await sendAttempt(
      deps.upstreams,
      { ip: endpoint.ip, port: endpoint.port, identity: endpoint.workload?.identity },
      target.protocol,
      req,
      { signal: opts.signal, timeoutMs: perTry },
    );
    const outcome: AttemptOutcome = result.ok
      ? { kind: 'response', status: result.status, grpcStatus: grpcStatusOf(result.headers) }
      : { kind: 'failure', failure: result.failure };
    if (result.ok) result.body.once('close', release);
    else release();
    if (!(outcome.kind === 'failure' && outcome.failure === 'cancelled')) deps.clusters.report(cluster, key, outlierOutcome(outcome));
    last = { outcome, result, endpoint };
    const retriable = isRetriable(retry, outcome);
    if (!retriable) break;
    if (attempt + 1 >= maxAttempts) {
      if (retry.retries > 0 && maxAttempts > 1) flags.push('URX');
      break;
    }
    // Discard the retriable response and try again after a backoff.
    if (result.ok) result.abort();
    await sleep(backoffMs(retry, attempt + 1, deps.random), opts.signal);
  }
  if (last === undefined) return { reply: LOCAL_REPLIES.timeout, flags: ['UT'], details: 'request timeout', attempts: 0 };
  const attempts = tried.size;
  if (last.result.ok) return { flags, response: last.result, endpoint: last.endpoint, attempts };
  const failure = last.result.failure;
  if (failure === 'cancelled') return { flags: [...flags, 'DC'], details: 'cancelled', endpoint: last.endpoint, attempts };
  const reply = FAILURE_REPLY[failure];
  return { reply, flags: reply.flag === undefined ? flags : [reply.flag, ...flags], details: last.result.error.message, endpoint: last.endpoint, attempts };
}

/** Applies a route's header edits in place, when it has any (`applyHeaderMutation`). */
export function mutateHeaders(headers: HeaderMap, m: HeaderMutation | undefined): void {
  if (m !== undefined) applyHeaderMutation(headers, m);
}

/** Response headers to send downstream: end-to-end only, then the route's and backend's edits. */
export function responseHeaders(upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>, ...mutations: Array<HeaderMutation | undefined>): HeaderMap {
  const out = endToEndResponseHeaders(upstream) as HeaderMap;
  for (const m of mutations) mutateHeaders(out, m);
  return out;
}

