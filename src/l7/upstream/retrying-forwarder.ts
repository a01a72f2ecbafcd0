import type { Endpoint, VipBinding } from '../../config/types.js';
import { formatAuthority } from '../../hbone/authority.js';
import { NO_RESPONSE_FLAGS, responseFlags, withResponseFlag, type ResponseFlags } from '../../metrics/response-flags.js';
import type { BackendRef, ForwardAction, Labels, TrafficPolicy } from '../../routes/types.js';
import type { ClusterAccess } from '../cluster/access.js';
import type { OutlierOutcome } from '../cluster/outlier.js';
import { upstreamEndpoint } from './endpoint.js';
import { sendAttempt, type AttemptFailure, type AttemptResult, type UpstreamRequest } from './attempt.js';
import type { WireProtocol } from './protocol.js';
import type { Cancellation } from './cancellation.js';
import type { UpstreamConnections } from './connections.js';
import { backoffMs, isRetriable, type AttemptOutcome } from './retry.js';

/** What the chosen backend resolves to for this request. */
export interface ResolvedBackend {
  /** `inbound-vip|<port>|http[/<subset>]|<host>`, or `encap` for workload-addressed traffic. */
  cluster: string;
  /** The backend Service port, when the backend is a Service. */
  binding: VipBinding | undefined;
  /** All endpoints of the backend; the cluster filters them by `subsetLabels`. */
  endpoints: readonly Endpoint[];
  subsetLabels: Labels | undefined;
  policy: TrafficPolicy;
  protocol: WireProtocol;
  backend: BackendRef | undefined;
}

/** Why a forward produced no upstream response to relay (the caller answers with a local reply). */
export type ForwardFailure = Exclude<AttemptFailure, 'cancelled'> | 'no-healthy-upstream' | 'overflow';

/** How a forward ended, for the reply, the access log and metrics. */
export interface ForwardResult {
  /** Set when a local reply must be sent instead of an upstream response. */
  failure?: ForwardFailure;
  /** The flags the forward itself adds (URX when retries ran out, DC when cancelled). */
  flags: ResponseFlags;
  details?: string;
  response?: Extract<AttemptResult, { ok: true }>;
  endpoint?: Endpoint;
  attempts: number;
}

export interface ForwardDeps {
  upstreams: UpstreamConnections;
  clusters: ClusterAccess;
  random: () => number;
}

/** What the forwarder needs of the plan: the backend's cluster, retries and per-try timeout. */
export interface ForwardSpec extends Pick<ForwardAction, 'retry' | 'backendTimeoutMs'> {
  target: ResolvedBackend;
  /** Consistent-hash key for the cluster's load balancer, when it hashes. */
  hashKey: string | undefined;
}

const RETRIES_EXHAUSTED = responseFlags('URX');

function outlierOutcome(o: AttemptOutcome): OutlierOutcome {
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
 * feedback. Resolves with the response to relay or the failure to answer locally. Whole-request
 * timeouts are the caller's, through `signal`.
 */
export async function forwardWithRetries(deps: ForwardDeps, spec: ForwardSpec, req: UpstreamRequest, signal: Cancellation): Promise<ForwardResult> {
  const { retry, target } = spec;
  // A streamed body can be sent once only: retries need it buffered.
  const maxAttempts = req.body === null || Buffer.isBuffer(req.body) ? 1 + retry.retries : 1;
  const perTry = spec.backendTimeoutMs ?? retry.perTryTimeoutMs;
  const tried = new Set<string>();
  let flags = NO_RESPONSE_FLAGS;
  const cluster = target.cluster;
  let last: { outcome: AttemptOutcome; result: AttemptResult; endpoint: Endpoint } | undefined;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (signal.aborted) break;
    const endpoint = deps.clusters.pick(cluster, target.endpoints, target.policy, target.subsetLabels, {
      hashKey: spec.hashKey,
      exclude: retry.avoidPreviousHosts && tried.size > 0 ? tried : undefined,
    });
    if (endpoint === undefined) {
      if (last === undefined) return { failure: 'no-healthy-upstream', flags, details: 'no healthy endpoint', attempts: attempt };
      break;
    }
    const release = deps.clusters.acquire(cluster, endpoint, attempt > 0);
    if (release === undefined) {
      if (last === undefined) return { failure: 'overflow', flags, details: 'circuit breaker open', attempts: attempt, endpoint };
      break;
    }
    const key = formatAuthority(endpoint.ip, endpoint.port);
    tried.add(key);
    const result = await sendAttempt(deps.upstreams, upstreamEndpoint(endpoint, target.policy.tls), target.protocol, req, {
      signal,
      timeoutMs: perTry,
    });
    const outcome: AttemptOutcome = result.ok
      ? { kind: 'response', status: result.status, grpcStatus: grpcStatusOf(result.headers) }
      : { kind: 'failure', failure: result.failure };
    if (result.ok) result.body.once('close', release);
    else release();
    if (!(outcome.kind === 'failure' && outcome.failure === 'cancelled')) deps.clusters.report(cluster, key, outlierOutcome(outcome));
    last = { outcome, result, endpoint };
    if (!isRetriable(retry, outcome)) break;
    if (attempt + 1 >= maxAttempts) {
      if (retry.retries > 0 && maxAttempts > 1) flags = RETRIES_EXHAUSTED;
      break;
    }
    // Discard the retriable response and try again after a backoff.
    if (result.ok) result.abort();
    await sleep(backoffMs(retry, attempt + 1, deps.random), signal);
  }
  if (last === undefined) return { failure: 'timeout', flags, details: 'request timeout', attempts: 0 };
  const attempts = tried.size;
  if (last.result.ok) return { flags, response: last.result, endpoint: last.endpoint, attempts };
  const failure = last.result.failure;
  if (failure === 'cancelled') return { flags: withResponseFlag(flags, 'DC'), details: 'cancelled', endpoint: last.endpoint, attempts };
  return { failure, flags, details: last.result.error.message, endpoint: last.endpoint, attempts };
}
