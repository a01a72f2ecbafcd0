/**
 * The state of one HTTP request while it is handled: its access record, the flags and details it
 * accumulates, the byte counts, and what it reports to telemetry once the response is done.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Endpoint, ServiceInfo, WorkloadInfo } from '../../config/types.js';
import type { AccessRecord } from '../../metrics/access-log.js';
import { NO_RESPONSE_FLAGS, unionResponseFlags, withResponseFlag, type ResponseFlag, type ResponseFlags } from '../../metrics/response-flags.js';
import { hasMalformedBody } from '../malformed-body.js';
import type { Destination, TunnelContext } from '../tunnel.js';

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

export class Exchange {
  readonly started = Date.now();
  readonly rec: AccessRecord;
  done = false;
  /** The waypoint closed the exchange itself (the policy re-check of an upgrade): not a downstream close. */
  closedHere = false;
  /** The destination as the plan saw it (the tunnel's until then). */
  destination: Destination;
  service: ServiceInfo | undefined;
  endpoint: Endpoint | undefined;
  grpcStatus: string | undefined;
  requestBodyBytes = 0;
  responseBodyBytes = 0;

  constructor(rec: AccessRecord, destination: Destination) {
    this.rec = rec;
    this.destination = destination;
  }

  /** Records a flag (flags accumulate, as Envoy's StreamInfo does) and the first details given. */
  flag(flag: ResponseFlag, details?: string): void {
    this.rec.response_flags = withResponseFlag(this.rec.response_flags, flag);
    if (details !== undefined) this.rec.details ??= details;
  }

  /** Records several flags at once; the details only when there is at least one. */
  flags(flags: ResponseFlags, details?: string): void {
    if (flags === NO_RESPONSE_FLAGS) return;
    this.rec.response_flags = unionResponseFlags(this.rec.response_flags, flags);
    if (details !== undefined) this.rec.details ??= details;
  }

  /** Records why the request ended as it did, without a flag. */
  detail(details: string | undefined): void {
    if (details !== undefined) this.rec.details ??= details;
  }

  /**
   * Completes the access record once the downstream response closed (done or not) and returns
   * what telemetry gets; undefined when it was completed already.
   */
  complete(tunnel: TunnelContext, req: DownstreamRequest, res: DownstreamResponse): HttpExchangeReport | undefined {
    if (this.done) return undefined;
    this.done = true;
    const rec = this.rec;
    const malformed = !res.headersSent && hasMalformedBody(req);
    // The codec answered 400 on the connection itself (src/l7/listener/inner-http1.ts).
    if (malformed) this.flag('DPE', 'malformed request body');
    if (!res.writableFinished && !this.closedHere && rec.response_flags === NO_RESPONSE_FLAGS) this.flag('DC', 'downstream closed before the response completed');
    rec.duration_ms = Date.now() - this.started;
    if (!res.headersSent) rec.response_code = malformed ? 400 : 0;
    rec.response_code ??= 0;
    const requestBytes = requestWireBytes(this, req);
    const responseBytes = this.responseBodyBytes + estimateResponseHead(res);
    rec.bytes_received = requestBytes;
    rec.bytes_sent = responseBytes;
    const dest = this.destination;
    return {
      rec,
      tunnel,
      destination: dest,
      service: this.service ?? (dest.kind === 'service' ? dest.binding.service : undefined),
      endpointWorkload: this.endpoint?.workload,
      requestContentType: typeof req.headers['content-type'] === 'string' ? req.headers['content-type'] : undefined,
      grpcStatus: this.grpcStatus,
      requestBytes,
      responseBytes,
    };
  }
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

function estimateResponseHead(res: DownstreamResponse): number {
  if (!res.headersSent) return 0;
  let n = 17;
  const h = res.getHeaders();
  for (const k in h) n += k.length + String(h[k]).length + 4;
  return n;
}
