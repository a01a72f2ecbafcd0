/**
 * What an ext_authz client is asked and what it answers: one check of one HTTP request against one
 * provider (src/config/mesh-config.ts), whatever the wire (HTTP or gRPC).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The request being authorised, as the authorizer is told about it. */
export interface CheckInput {
  method: string;
  /** Path and query as received. */
  path: string;
  /** `:authority` / Host. */
  host: string;
  scheme: string;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  headers: IncomingHttpHeaders;
  requestId: string;
  source: { address: string; port: number; principal: string };
  destination: { address: string; port: number };
}

/** Where the authorizer listens (already resolved through the snapshot). */
export interface CheckTarget {
  host: string;
  port: number;
}

export type HeaderList = ReadonlyArray<readonly [string, string]>;

export type CheckOutcome =
  /** Allowed: headers for the upstream request and for the downstream response. */
  | { kind: 'allow'; upstreamHeaders: HeaderList; removeUpstreamHeaders: readonly string[]; downstreamHeaders: HeaderList }
  /** Denied by the authorizer: its status, body and headers go to the client. */
  | { kind: 'deny'; status: number; body: string; headers: HeaderList }
  /** The check could not be made (connect failure, timeout, 5xx, bad answer). */
  | { kind: 'error'; reason: string };

export interface ExtAuthzClient {
  /** Never rejects: failures come back as `{ kind: 'error' }`. */
  check(target: CheckTarget, input: CheckInput, timeoutMs: number): Promise<CheckOutcome>;
  close(): Promise<void>;
}
