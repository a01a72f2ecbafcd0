/**
 * Local replies with Envoy's status codes, bodies and response flags.
 */
import type { ResponseFlag } from '../../metrics/response-flags.js';
import type { ForwardFailure } from '../upstream/retrying-forwarder.js';

export interface LocalReply {
  status: number;
  body: string;
  /** Envoy's response flag; none for replies Envoy gives without one (an RBAC denial). */
  flag?: ResponseFlag;
}

const BEFORE_HEADERS = 'upstream connect error or disconnect/reset before headers. reset reason: ';

export const LOCAL_REPLIES = {
  noRoute: { status: 404, body: '', flag: 'NR' },
  noHealthyUpstream: { status: 503, body: 'no healthy upstream', flag: 'UH' },
  connectFailure: { status: 503, body: `${BEFORE_HEADERS}connection failure`, flag: 'UF' },
  connectionTermination: { status: 503, body: `${BEFORE_HEADERS}connection termination`, flag: 'UC' },
  remoteReset: { status: 503, body: `${BEFORE_HEADERS}remote reset`, flag: 'UR' },
  overflow: { status: 503, body: `${BEFORE_HEADERS}overflow`, flag: 'UO' },
  timeout: { status: 504, body: 'upstream request timeout', flag: 'UT' },
  // Envoy's RBAC filter sets no response flag; the policy shows in the response code details.
  rbacDenied: { status: 403, body: 'RBAC: access denied' },
  upstreamProtocolError: { status: 502, body: `${BEFORE_HEADERS}protocol error`, flag: 'UPE' },
} as const satisfies Record<string, LocalReply>;

/** The local reply for a forward that produced no upstream response. */
export const FAILURE_REPLIES: Readonly<Record<ForwardFailure, LocalReply>> = {
  'no-healthy-upstream': LOCAL_REPLIES.noHealthyUpstream,
  overflow: LOCAL_REPLIES.overflow,
  'connect-failure': LOCAL_REPLIES.connectFailure,
  'refused-stream': LOCAL_REPLIES.remoteReset,
  reset: LOCAL_REPLIES.connectionTermination,
  timeout: LOCAL_REPLIES.timeout,
};
