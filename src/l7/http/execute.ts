/**
 * Carries out a plan from `decide` (decide.ts): waits out a fault delay, writes a local reply or a
 * redirect, or forwards: reads a small body whole for retries and mirrors (bounded), arms the
 * request timeout, sends the mirrors, runs the retrying forwarder, and relays status, headers,
 * trailers and body downstream with backpressure.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { formatAuthority } from '../../hbone/authority.js';
import { withoutResponseFlag, withResponseFlag } from '../../metrics/response-flags.js';
import { applyHeaderMutation } from '../../routes/actions.js';
import type { HeaderMutation } from '../../routes/types.js';
import type { AttemptResult, HeaderMap, UpstreamRequest } from '../upstream/attempt.js';
import { Cancellation } from '../upstream/cancellation.js';
import { sendMirror } from '../upstream/mirror.js';
import { forwardWithRetries, type ForwardDeps } from '../upstream/retrying-forwarder.js';
import type { DownstreamRequest, DownstreamResponse, Exchange } from './exchange.js';
import { endToEndResponseHeaders } from './headers.js';
import { FAILURE_REPLIES, LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import type { ForwardPlan, Plan, RedirectPlan, ReplyPlan } from './plan.js';
import { readBody } from './request-body.js';

export interface ExecuteDeps {
  forward: ForwardDeps;
  /** Largest request body read whole (the plan says which bodies are; this bounds the read). */
  bodyBufferLimit: number;
}

/** Carries out `plan` for the request; the exchange records what happens. */
export function execute(deps: ExecuteDeps, ex: Exchange, plan: Plan, req: DownstreamRequest, res: DownstreamResponse): void {
  recordPlan(ex, plan);
  if (plan.base.delayMs === undefined) act(deps, ex, plan, req, res);
  else {
    const delayed = plan;
    setTimeout(() => {
      if (!res.destroyed) act(deps, ex, delayed, req, res);
    }, plan.base.delayMs);
  }
}

/** What every plan records in the exchange before it is carried out. */
export function recordPlan(ex: Exchange, plan: Plan): void {
  const rec = ex.rec;
  ex.destination = plan.base.destination;
  if (plan.base.route !== undefined) rec.route = plan.base.route;
  if (plan.base.dryRun !== undefined) rec.dry_run = plan.base.dryRun;
  if (plan.base.upstreamCluster !== undefined) rec.upstream_cluster = plan.base.upstreamCluster;
  ex.service = plan.base.service;
  ex.flags(plan.base.flags);
}

function act(deps: ExecuteDeps, ex: Exchange, plan: Plan, req: DownstreamRequest, res: DownstreamResponse): void {
  switch (plan.kind) {
    case 'reply':
      writeReply(ex, res, plan);
      return;
    case 'redirect':
      writeRedirect(ex, res, plan);
      return;
    case 'forward':
      void forward(deps, ex, plan, req, res);
  }
}

function writeReply(ex: Exchange, res: DownstreamResponse, plan: ReplyPlan): void {
  if (plan.policy !== undefined || plan.responseCodeDetails !== undefined) {
    ex.rec.policy = plan.policy;
    ex.rec.response_code_details = plan.responseCodeDetails;
  }
  ex.flags(plan.replyFlags);
  ex.detail(plan.details);
  sendBody(ex, res, plan.status, plan.body, plan.responseHeaders);
}

function writeRedirect(ex: Exchange, res: DownstreamResponse, plan: RedirectPlan): void {
  ex.rec.response_code = plan.status;
  res.writeHead(plan.status, plan.headers);
  res.end();
}

async function forward(deps: ExecuteDeps, ex: Exchange, plan: ForwardPlan, req: DownstreamRequest, res: DownstreamResponse): Promise<void> {
  let body: Buffer | Readable | null = null;
  if (plan.body === 'buffer') {
    const whole = await readBody(req, deps.bodyBufferLimit);
    if (whole === undefined) return; // the client went away while we read
    ex.requestBodyBytes = whole.length;
    body = whole;
  } else if (plan.body === 'stream') body = req;
  const head = plan.head;
  const upstreamReq: UpstreamRequest = { method: head.method, path: head.path, authority: head.authority, headers: head.headers, body };

  const controller = new Cancellation();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  let timedOut = false;
  const timer =
    plan.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, plan.timeoutMs);

  for (const mirror of plan.mirrors) {
    sendMirror(deps.forward.upstreams, mirror.endpoint, mirror.protocol, { ...upstreamReq, headers: { ...head.headers }, authority: plan.mirrorAuthority });
  }

  const result = await forwardWithRetries(deps.forward, plan, upstreamReq, controller);
  if (timer !== undefined) clearTimeout(timer);
  ex.endpoint = result.endpoint;
  if (result.endpoint !== undefined) ex.rec.upstream_host = formatAuthority(result.endpoint.ip, result.endpoint.port);
  const failed = result.failure === undefined ? undefined : FAILURE_REPLIES[result.failure];
  let flags = failed?.flag === undefined ? result.flags : withResponseFlag(result.flags, failed.flag);
  // The request timeout cancelled the forward: that is UT, not a downstream disconnect.
  if (timedOut) flags = withoutResponseFlag(flags, 'DC');
  ex.flags(flags, result.details);
  if (timedOut) {
    localReply(ex, res, LOCAL_REPLIES.timeout, 'request timeout');
    return;
  }
  if (failed !== undefined) {
    if (res.headersSent) {
      if (!res.writableFinished) res.destroy();
    } else sendBody(ex, res, failed.status, failed.body, undefined);
    return;
  }
  const up = result.response;
  if (up === undefined || res.destroyed) {
    up?.abort();
    return;
  }
  relayResponse(ex, plan, up, res);
}

/** Relays the upstream response: status, headers with the plan's edits, trailers, body piped. */
function relayResponse(ex: Exchange, plan: ForwardPlan, up: Extract<AttemptResult, { ok: true }>, res: DownstreamResponse): void {
  ex.rec.response_code = up.status;
  const grpc = up.headers['grpc-status'];
  if (typeof grpc === 'string') ex.grpcStatus = grpc;
  res.writeHead(up.status, responseHeaders(up.headers, plan.responseHeaders, plan.backendResponseHeaders));
  up.onTrailers((t) => {
    const g = t['grpc-status'];
    if (typeof g === 'string') ex.grpcStatus = g;
    (res as ServerResponse).addTrailers(responseHeaders(t, undefined, undefined));
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

/** Response headers to send downstream: end-to-end only, then the route's and the backend's edits. */
export function responseHeaders(
  upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  route: HeaderMutation | undefined,
  backend: HeaderMutation | undefined,
): HeaderMap {
  const out = endToEndResponseHeaders(upstream) as HeaderMap;
  if (route !== undefined) applyHeaderMutation(out, route);
  if (backend !== undefined) applyHeaderMutation(out, backend);
  return out;
}

function sendBody(ex: Exchange, res: DownstreamResponse, status: number, text: string, edits: HeaderMutation | undefined): void {
  ex.rec.response_code = status;
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(text);
  const out: HeaderMap = { 'content-type': 'text/plain', 'content-length': String(body.length) };
  if (edits !== undefined) applyHeaderMutation(out, edits);
  ex.responseBodyBytes = body.length;
  res.writeHead(status, out);
  res.end(body);
}

/** Sends an Envoy-style local reply (or resets the stream when the response has begun). */
function localReply(ex: Exchange, res: DownstreamResponse, reply: LocalReply, details: string): void {
  if (reply.flag !== undefined) ex.flag(reply.flag, details);
  else ex.detail(details);
  if (res.headersSent) {
    if (!res.writableFinished) res.destroy();
    return;
  }
  sendBody(ex, res, reply.status, reply.body, undefined);
}
