import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint, ServiceInfo, WorkloadInfo } from '../../config/types.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import { formatAuthority } from '../../hbone/authority.js';
import type { AccessLog, AccessRecord } from '../../metrics/access-log.js';
import { upstreamProtocolFor, type Destination, type WireProtocol } from '../listener/classify.js';
import { DEFAULT_TRAFFIC_POLICY, defaultServiceRule, ENCAP_RULE } from '../../routes/default-route.js';
import { forwardWithRetries, mutateHeaders, responseHeaders, type ForwardDeps, type ResolvedBackend } from '../upstream/forward.js';
import { endToEndRequestHeaders, type HeaderMap } from './headers.js';
import { LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import { pickWeighted, redirectLocation, rewritePath, splitAuthority } from '../../routes/actions.js';
import { normalizePath } from '../../config/path-normalization.js';
import type { BackendRef, CompiledRule, ForwardAction, RouteRequest } from '../../routes/types.js';
import { tunnelRecord, type TunnelContext } from '../listener/tunnel-context.js';
import { authorize, denialDetails } from './authorize.js';
import { Cancellation } from '../upstream/cancellation.js';
import { sendAttempt, type UpstreamRequest } from '../upstream/attempt.js';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;


/** Everything a finished request reports to telemetry. */
export interface HttpExchangeReport {
  rec: AccessRecord;
  tunnel: TunnelContext;
  destination: Destination;
  /** The Service the request was routed to (the chosen backend), when any. */
  service: ServiceInfo | undefined;
  endpointWorkload: WorkloadInfo | undefined;
  requestContentType: string | undefined;
  grpcStatus: string | undefined;
  requestBytes: number;
  responseBytes: number;
}

export interface HttpProxyDeps {
  snapshot: () => ConfigSnapshot;
  forward: ForwardDeps;
  accessLog: AccessLog;
  logger: Logger;
  report?: ((r: HttpExchangeReport) => void) | undefined;
  /** Largest request body buffered so that it can be retried (larger bodies are streamed, not retried). */
  retryBufferBytes?: number;
}

const DEFAULT_RETRY_BUFFER = 64 * 1024;

/** The state of one request while it is handled. */
class Exchange {
  readonly started = Date.now();
  readonly rec: AccessRecord;
  done = false;
  service: HttpExchangeReport['service'];
  endpoint: Endpoint | undefined;
  grpcStatus: string | undefined;
  requestBodyBytes = 0;
  responseBodyBytes = 0;
  responseHeaderBytes = 0;

  constructor(rec: AccessRecord) {
    this.rec = rec;
  }

  flag(flag: string | undefined, details?: string): void {
    if (details !== undefined) this.rec.details ??= details;
    if (flag === undefined) return;
    this.rec.response_flags = this.rec.response_flags === '-' ? flag : `${this.rec.response_flags},${flag}`;
    if (details !== undefined) this.rec.details ??= details;
  }
}

/**
 * Handles one HTTP request that arrived inside a tunnel: authorize, match a route, then redirect,
 * answer directly, or forward (weighted backend, retries, timeouts, mirrors) over HBONE,
 * streaming both bodies with backpressure.
 */
export function handleHttpRequest(deps: HttpProxyDeps, tunnel: TunnelContext, downstream: WireProtocol, req: DownstreamRequest, res: DownstreamResponse): void {
  const h2 = downstream === 'h2c';
  const headers = req.headers;
  const rawAuthority = h2 ? headers[':authority'] : headers.host;
  const authority = typeof rawAuthority === 'string' ? rawAuthority : '';
  const method = req.method ?? 'GET';
  const rawPath = req.url ?? '/';
  // Istio's default path normalisation, before policy and routing see the path; it is also what
  // goes upstream (Envoy's normalize_path).
  const normalized = normalizePath(rawPath);
  const path = normalized ?? rawPath;
  const xrid = headers['x-request-id'];
  const tp = headers.traceparent;
  const ex = new Exchange(tunnelRecord(tunnel, 'http', h2 ? 'HTTP/2' : 'HTTP/1.1', Date.now()));
  const rec = ex.rec;
  rec.method = method;
  rec.authority = authority;
  rec.path = path;
  rec.x_request_id = typeof xrid === 'string' && xrid !== '' ? xrid : randomUUID();
  if (typeof tp === 'string') rec.traceparent = tp;
  const snap = deps.snapshot();
  const dest = currentDestination(snap, tunnel);
  res.once('close', () => finish(deps, ex, tunnel, dest ?? tunnel.destination, req, res));
  if (dest === undefined) {
    localReply(ex, res, LOCAL_REPLIES.noRoute, 'service no longer bound to this waypoint');
    return;
  }
  if (normalized === undefined) {
    sendBody(ex, res, 400, 'Bad Request', undefined);
    ex.flag(undefined, 'path could not be normalised');
    return;
  }
  if (normalized !== rawPath) req.url = normalized;

  const verdict = authorize(snap, tunnel, dest, { method, host: authority, path, headers });
  if (verdict.dryRun.length > 0) ex.rec.dry_run = verdict.dryRun;
  if (!verdict.allowed) {
    ex.rec.policy = verdict.policy;
    ex.rec.response_code_details = denialDetails(verdict);
    localReply(ex, res, LOCAL_REPLIES.rbacDenied, verdict.reason);
    return;
  }

  let rule: CompiledRule;
  let matchedPrefix: string | undefined;
  if (dest.kind === 'service') {
    const table = snap.routes?.get(dest.binding.service.hostname, dest.binding.port.port);
    if (table === undefined) rule = defaultServiceRule(dest.binding);
    else {
      const routeReq: RouteRequest = {
        method,
        path,
        headers,
        authority,
        sourceNamespace: tunnel.sourceNamespace,
        sourceLabels: tunnel.sourceWorkload?.labels,
      };
      const m = table.match(routeReq);
      if (m === undefined) {
        localReply(ex, res, LOCAL_REPLIES.noRoute, 'no route matched');
        return;
      }
      rule = m.rule;
      matchedPrefix = m.matchedPrefix;
    }
  } else rule = ENCAP_RULE;
  ex.rec.route = rule.routeName === 'default' ? rule.routeName : `${rule.routeName}#${rule.ruleName}`;

  const action = rule.action;
  switch (action.kind) {
    case 'redirect': {
      const location = redirectLocation(action, { path, authority }, matchedPrefix);
      const out: HeaderMap = { location, 'content-length': '0' };
      mutateHeaders(out, rule.responseHeaders);
      ex.rec.response_code = action.status;
      res.writeHead(action.status, out);
      res.end();
      return;
    }
    case 'direct': {
      if (action.flag !== undefined) ex.flag(action.flag);
      sendBody(ex, res, action.status, action.body, rule);
      return;
    }
    case 'forward':
      void runForward(deps, ex, tunnel, dest, downstream, rule, action, matchedPrefix, req, res, authority);
  }
}

async function runForward(
  deps: HttpProxyDeps,
  ex: Exchange,
  tunnel: TunnelContext,
  dest: Destination,
  downstream: WireProtocol,
  rule: CompiledRule,
  action: ForwardAction,
  matchedPrefix: string | undefined,
  req: DownstreamRequest,
  res: DownstreamResponse,
  authority: string,
): Promise<void> {
  const random = deps.forward.random;
  // Faults first (VirtualService fault injection).
  const fault = action.fault;
  if (fault?.delay !== undefined && random() * 100 < fault.delay.percent) {
    ex.flag('DI');
    await new Promise((r) => setTimeout(r, fault.delay!.ms));
    if (res.destroyed) return;
  }
  if (fault?.abort !== undefined && random() * 100 < fault.abort.percent) {
    ex.flag('FI', 'fault abort');
    sendBody(ex, res, fault.abort.status, 'fault filter abort', rule);
    return;
  }

  const target = resolveBackend(deps, ex, dest, downstream, action);
  if (target === undefined) {
    // A missing backend fails its share with 500 (Gateway API); VirtualService backends say 503.
    sendBody(ex, res, ex.rec.response_code ?? 500, '', rule);
    return;
  }

  // The upstream request: end-to-end headers, route and backend edits, rewrites.
  const headers = endToEndRequestHeaders(req.headers);
  headers['x-request-id'] = ex.rec.x_request_id!;
  headers['x-forwarded-proto'] ??= 'http';
  mutateHeaders(headers, rule.requestHeaders);
  mutateHeaders(headers, target.backend?.requestHeaders);
  const original = req.url ?? '/';
  const path =
    action.regexRewrite !== undefined
      ? action.regexRewrite.apply(original)
      : action.urlRewrite?.path === undefined
        ? original
        : rewritePath(original, action.urlRewrite.path, matchedPrefix);
  const upstreamAuthority = target.backend?.hostRewrite ?? action.urlRewrite?.hostname ?? authority;

  const hasBody = requestHasBody(req, downstream === 'h2c');
  let body: Buffer | Readable | null = null;
  if (hasBody) {
    const limit = deps.retryBufferBytes ?? DEFAULT_RETRY_BUFFER;
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    const chosen = (action.retry.retries > 0 || action.mirrors.length > 0) && declared <= limit ? await readBody(req, limit) : req;
    if (chosen === undefined) return; // the client went away while we read
    if (Buffer.isBuffer(chosen)) ex.requestBodyBytes = chosen.length;
    body = chosen;
  }
  const upstreamReq: UpstreamRequest = { method: req.method ?? 'GET', path, authority: upstreamAuthority, headers, body };

  const controller = new Cancellation();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  let timedOut = false;
  const timer =
    action.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, action.timeoutMs);

  for (const mirror of action.mirrors) {
    if (mirror.target === undefined || random() * 100 >= mirror.percent || (body !== null && !Buffer.isBuffer(body))) continue;
    shadow(deps, mirror.target.endpoints, mirror.upstreamProtocol ?? upstreamProtocolFor(mirror.target.port.protocol, downstream), { ...upstreamReq, headers: { ...headers }, authority: shadowAuthority(upstreamAuthority) });
  }

  const result = await forwardWithRetries(deps.forward, target, action, upstreamReq, { signal: controller, hashKey: hashKeyFor(target, req, tunnel) });
  if (timer !== undefined) clearTimeout(timer);
  ex.endpoint = result.endpoint;
  if (result.endpoint !== undefined) ex.rec.upstream_host = formatAuthority(result.endpoint.ip, result.endpoint.port);
  for (const f of result.flags) if (f !== 'DC' || !timedOut) ex.flag(f, result.details);
  if (timedOut) {
    localReply(ex, res, LOCAL_REPLIES.timeout, 'request timeout');
    return;
  }
  if (result.reply !== undefined) {
    // The result's flags already carry the reply's own flag (and URX when retries ran out).
    if (res.headersSent) {
      if (!res.writableFinished) res.destroy();
    } else sendBody(ex, res, result.reply.status, result.reply.body, undefined);
    return;
  }
  const up = result.response;
  if (up === undefined || res.destroyed) {
    up?.abort();
    return;
  }
  ex.rec.response_code = up.status;
  const grpc = up.headers['grpc-status'];
  if (typeof grpc === 'string') ex.grpcStatus = grpc;
  const outHeaders = responseHeaders(up.headers, rule.responseHeaders, target.backend?.responseHeaders);
  res.writeHead(up.status, outHeaders);
  up.onTrailers((t) => {
    const g = t['grpc-status'];
    if (typeof g === 'string') ex.grpcStatus = g;
    (res as ServerResponse).addTrailers(responseHeaders(t) as Record<string, string>);
  });
  // A plain pipe with explicit teardown: stream.pipeline allocates and aborts an AbortController
  // (with a DOMException) per call, measurable on every request.
  const upBody = up.body;
  upBody.on('data', (c: Buffer) => {
    ex.responseBodyBytes += c.length;
  });
  upBody.once('error', (err: Error) => {
    if (res.destroyed) return;
    ex.flag('UR', `upstream body: ${err.message}`);
    res.destroy();
  });
  res.once('close', () => {
    if (!upBody.readableEnded && !upBody.destroyed) upBody.destroy();
  });
  upBody.pipe(res);
}

/** Picks the weighted backend and what it resolves to; replies and returns undefined on failure. */
function resolveBackend(deps: HttpProxyDeps, ex: Exchange, dest: Destination, downstream: WireProtocol, action: ForwardAction): ResolvedBackend | undefined {
  if (dest.kind === 'workload') {
    ex.rec.upstream_cluster = 'encap';
    const endpoint: Endpoint = { ip: dest.workload.ip, port: dest.port, workload: dest.workload, ready: true };
    return { cluster: 'encap', binding: undefined, endpoints: [endpoint], subsetLabels: undefined, policy: DEFAULT_TRAFFIC_POLICY, protocol: downstream, backend: undefined };
  }
  const backend: BackendRef | undefined = action.totalWeight > 0 ? pickWeighted(action.backends, action.totalWeight, deps.forward.random) : undefined;
  if (backend === undefined) {
    ex.flag('NC', 'every backend has weight 0');
    ex.rec.response_code = 500;
    return undefined;
  }
  ex.rec.upstream_cluster = backend.cluster;
  const binding = backend.target;
  if (binding === undefined) {
    ex.flag('NC', backend.missingReason ?? 'backend does not exist');
    ex.rec.response_code = backend.missingStatus ?? 500;
    return undefined;
  }
  ex.service = binding.service;
  const dp = deps.snapshot().destinations?.forCluster(binding.service.hostname, binding.port.port, backend.subset);
  if (dp?.missingSubset === true) {
    // Envoy: the subset's cluster does not exist.
    ex.flag('NC', `no subset ${backend.subset ?? ''} in a DestinationRule for ${binding.service.hostname}`);
    ex.rec.response_code = 503;
    return undefined;
  }
  return {
    cluster: backend.cluster,
    binding,
    endpoints: binding.endpoints,
    subsetLabels: dp?.subsetLabels,
    policy: dp?.policy ?? DEFAULT_TRAFFIC_POLICY,
    protocol: backend.upstreamProtocol ?? upstreamProtocolFor(binding.port.protocol, downstream),
    backend,
  };
}

/** Consistent-hash key for the cluster's load balancer, when it hashes. */
function hashKeyFor(target: ResolvedBackend, req: DownstreamRequest, tunnel: TunnelContext): string | undefined {
  const lb = target.policy.loadBalancer;
  if (lb.kind !== 'CONSISTENT_HASH') return undefined;
  if (lb.header !== undefined) {
    const v = req.headers[lb.header.toLowerCase()];
    return Array.isArray(v) ? v.join(',') : v;
  }
  if (lb.cookie !== undefined) {
    const cookies = req.headers.cookie ?? '';
    const m = new RegExp(`(?:^|;\\s*)${lb.cookie.name.replace(/[^A-Za-z0-9_-]/g, '')}=([^;]*)`).exec(cookies);
    return m?.[1];
  }
  if (lb.queryParameter !== undefined) {
    const q = (req.url ?? '').split('?')[1];
    return q === undefined ? undefined : (new URLSearchParams(q).get(lb.queryParameter) ?? undefined);
  }
  if (lb.sourceIp === true) return tunnel.peer.address;
  return undefined;
}

/** Envoy's shadow host: `-shadow` appended to the host, before any port (`echo:80` → `echo-shadow:80`). */
export function shadowAuthority(authority: string): string {
  const { host, port } = splitAuthority(authority);
  return port === undefined ? `${host}-shadow` : `${host}-shadow:${port}`;
}

/** Fire-and-forget copy of a request (RequestMirror / VirtualService mirror). */
function shadow(deps: HttpProxyDeps, endpoints: readonly Endpoint[], protocol: WireProtocol, req: UpstreamRequest): void {
  const ready = endpoints.filter((e) => e.ready);
  const ep = ready[Math.floor(deps.forward.random() * ready.length)];
  if (ep === undefined) return;
  const controller = new Cancellation();
  const timer = setTimeout(() => controller.abort(), 30_000);
  void sendAttempt(deps.forward.upstreams, { ip: ep.ip, port: ep.port, identity: ep.workload?.identity }, protocol, req, { signal: controller }).then((r) => {
    if (r.ok) {
      r.body.resume();
      r.body.once('close', () => clearTimeout(timer));
    } else clearTimeout(timer);
  });
}

/** Re-reads a service destination from the current snapshot so endpoint changes apply at once. */
function currentDestination(snap: ConfigSnapshot, tunnel: TunnelContext): Destination | undefined {
  const dest = tunnel.destination;
  if (dest.kind === 'workload') return dest;
  const fresh = snap.byVip.get(tunnel.key);
  if (fresh === undefined) return undefined;
  return fresh === dest.binding ? dest : { kind: 'service', binding: fresh, mode: dest.mode };
}

function requestHasBody(req: DownstreamRequest, h2: boolean): boolean {
  if (h2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Reads a small body whole (so it can be retried); undefined if the client went away. */
function readBody(req: DownstreamRequest, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy(new Error('request body larger than declared'));
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', () => resolve(undefined));
    req.once('close', () => {
      if (!req.readableEnded) resolve(undefined);
    });
  });
}

function sendBody(ex: Exchange, res: DownstreamResponse, status: number, text: string, rule: CompiledRule | undefined): void {
  ex.rec.response_code = status;
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(text);
  const out: HeaderMap = { 'content-type': 'text/plain', 'content-length': String(body.length) };
  if (rule !== undefined) mutateHeaders(out, rule.responseHeaders);
  ex.responseBodyBytes = body.length;
  res.writeHead(status, out);
  res.end(body);
}

/** Sends an Envoy-style local reply. */
function localReply(ex: Exchange, res: DownstreamResponse, reply: LocalReply, details: string): void {
  ex.flag(reply.flag, details);
  if (res.headersSent) {
    if (!res.writableFinished) res.destroy();
    return;
  }
  sendBody(ex, res, reply.status, reply.body, undefined);
}

function headerBytes(raw: readonly string[]): number {
  let n = 0;
  for (const s of raw) n += s.length + 2;
  return n;
}

const socketBytesSeen = new WeakMap<object, number>();

/**
 * Request bytes received, headers included (Envoy counts wire bytes). HTTP/1.1: the inner
 * connection's byte count since the previous request (requests on a connection are sequential).
 * h2c: the header block plus the declared or buffered body length (the stream is not metered, to
 * keep the body's flow untouched).
 */
function requestWireBytes(ex: Exchange, req: DownstreamRequest): number {
  const socket = req.socket as { bytesRead?: number } | null | undefined;
  if (req.httpVersionMajor === 1 && socket != null && typeof socket.bytesRead === 'number') {
    const before = socketBytesSeen.get(socket) ?? 0;
    socketBytesSeen.set(socket, socket.bytesRead);
    return socket.bytesRead - before;
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  return headerBytes(req.rawHeaders) + Math.max(ex.requestBodyBytes, Number.isFinite(declared) ? declared : 0);
}

function finish(deps: HttpProxyDeps, ex: Exchange, tunnel: TunnelContext, dest: Destination, req: DownstreamRequest, res: DownstreamResponse): void {
  if (ex.done) return;
  ex.done = true;
  if (!res.writableFinished && ex.rec.response_flags === '-') ex.flag('DC', 'downstream closed before the response completed');
  ex.rec.duration_ms = Date.now() - ex.started;
  if (!res.headersSent) ex.rec.response_code = 0;
  ex.rec.response_code ??= 0;
  const requestBytes = requestWireBytes(ex, req);
  const responseBytes = ex.responseBodyBytes + estimateResponseHead(res);
  ex.rec.bytes_received = requestBytes;
  ex.rec.bytes_sent = responseBytes;
  deps.accessLog.write(ex.rec);
  deps.report?.({
    rec: ex.rec,
    tunnel,
    destination: dest,
    service: ex.service ?? (dest.kind === 'service' ? dest.binding.service : undefined),
    endpointWorkload: ex.endpoint?.workload,
    requestContentType: typeof req.headers['content-type'] === 'string' ? req.headers['content-type'] : undefined,
    grpcStatus: ex.grpcStatus,
    requestBytes,
    responseBytes,
  });
}

function estimateResponseHead(res: DownstreamResponse): number {
  if (!res.headersSent) return 0;
  let n = 17;
  const h = res.getHeaders();
  for (const k in h) n += k.length + String(h[k]).length + 4;
  return n;
}
