/**
 * HTTP/2 frame statistics of the HBONE legs, as the peers count them (bench/peers/go: every
 * frame header parsed on the plaintext side of each TLS connection, TLS records and socket calls
 * counted on the TCP side), turned into figures per request and per direction as the waypoint
 * sees them.
 */

export const FRAME_TYPES = ['DATA', 'HEADERS', 'WINDOW_UPDATE', 'PING', 'SETTINGS', 'RST_STREAM', 'GOAWAY', 'CONTINUATION', 'PRIORITY', 'PUSH_PROMISE', 'other'] as const;
export type FrameType = (typeof FRAME_TYPES)[number];

/** One direction of one leg, cumulative, from the counting peer's side. */
export interface DirCounts {
  frames: Partial<Record<FrameType, { frames: number; bytes: number }>>;
  /** Read or write calls on the plaintext (TLS) side: writes are the HTTP/2 stack's flushes. */
  tlsCalls: number;
  /** Read or write calls on the TCP socket. */
  tcpCalls: number;
  tcpBytes: number;
  /** TLS records (each TLS write of up to 16 KiB is one). */
  tlsRecords: number;
}

export interface LegCounts {
  sessions: number;
  streams: number;
  sent: DirCounts;
  recv: DirCounts;
}

/** One direction per request: frames and bytes by type, TLS records and the sender's flushes. */
export interface DirPerRequest {
  frames: Partial<Record<FrameType, { frames: number; bytes: number }>>;
  tlsRecords: number;
  tcpBytes: number;
  /** The sender's flushes (plaintext writes), when the counting side is the sender. */
  flushes?: number;
}

/**
 * Frames per request on both HBONE legs, as the waypoint sees them: `in` is source ↔ waypoint,
 * `out` is waypoint ↔ destination (for the baseline, source ↔ destination directly).
 */
export interface FrameStats {
  requests: number;
  in?: { toWaypoint: DirPerRequest; fromWaypoint: DirPerRequest; sessions: number; streams: number };
  out?: { toWaypoint: DirPerRequest; fromWaypoint: DirPerRequest; sessions: number; streams: number };
}

function diffDir(a: DirCounts, b: DirCounts): DirCounts {
  const frames: DirCounts['frames'] = {};
  for (const t of FRAME_TYPES) {
    const x = a.frames[t] ?? { frames: 0, bytes: 0 };
    const y = b.frames[t] ?? { frames: 0, bytes: 0 };
    frames[t] = { frames: y.frames - x.frames, bytes: y.bytes - x.bytes };
  }
  return { frames, tlsCalls: b.tlsCalls - a.tlsCalls, tcpCalls: b.tcpCalls - a.tcpCalls, tcpBytes: b.tcpBytes - a.tcpBytes, tlsRecords: b.tlsRecords - a.tlsRecords };
}

/** Counts between two cumulative snapshots. */
export function diffLeg(a: LegCounts, b: LegCounts): LegCounts {
  return { sessions: b.sessions - a.sessions, streams: b.streams - a.streams, sent: diffDir(a.sent, b.sent), recv: diffDir(a.recv, b.recv) };
}

/** One direction divided by the requests served; `sender` says whether the counting side wrote it. */
export function perRequest(d: DirCounts, requests: number, sender: boolean): DirPerRequest {
  const per = (v: number): number => (requests === 0 ? NaN : v / requests);
  const frames: DirPerRequest['frames'] = {};
  for (const t of FRAME_TYPES) {
    const c = d.frames[t];
    if (c !== undefined && c.frames > 0) frames[t] = { frames: per(c.frames), bytes: per(c.bytes) };
  }
  return { frames, tlsRecords: per(d.tlsRecords), tcpBytes: per(d.tcpBytes), ...(sender ? { flushes: per(d.tlsCalls) } : {}) };
}

/**
 * Both legs per request (`flushesCounted`: the counting side saw its own writes, not only records) from the source's counts (`up`, its sent direction goes to the waypoint)
 * and the destination's (`down`, its received direction comes from the waypoint).
 */
export function frameStats(requests: number, up: LegCounts | undefined, down: LegCounts | undefined, flushesCounted = true): FrameStats {
  const out: FrameStats = { requests };
  if (up !== undefined) {
    out.in = { toWaypoint: perRequest(up.sent, requests, flushesCounted), fromWaypoint: perRequest(up.recv, requests, false), sessions: up.sessions, streams: up.streams };
  }
  if (down !== undefined) {
    out.out = { fromWaypoint: perRequest(down.recv, requests, false), toWaypoint: perRequest(down.sent, requests, flushesCounted), sessions: down.sessions, streams: down.streams };
  }
  return out;
}
