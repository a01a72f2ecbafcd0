/**
 * The limits in force: one module for the HBONE side (sessions, windows, handshakes) and the L7
 * side (header sizes, buffers, inner timeouts), since `waypoint run` sets them all from flags.
 * Protocol constants that are not limits stay with their part (`src/hbone/settings.ts`).
 */

/**
 * Limits a deployment may change (`waypoint run` flags, README "Limits"). The defaults are Envoy's
 * waypoint values where Envoy has one, otherwise bounds that keep one peer from exhausting the
 * process.
 */
export interface WaypointLimits {
  /** HBONE sessions (mTLS connections) at once; more are refused after the handshake. */
  maxSessions: number;
  /** CONNECT streams one HBONE session may have open (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxStreamsPerSession: number;
  /** Largest HTTP/1.1 request head and h2c header list inside a tunnel (431 above it). */
  maxHeaderBytes: number;
  /** Largest request body held in memory so that it can be retried or mirrored. */
  maxRequestBufferBytes: number;
  /** HBONE per-stream receive window: what one tunnel may have in flight towards us. */
  streamWindowBytes: number;
  /** HBONE per-session receive window. */
  connectionWindowBytes: number;
  /** Time a client has to send a complete HTTP/1.1 request head inside a tunnel (408 after). */
  headersTimeoutMs: number;
  /** Idle time after which an inner HTTP connection is closed. */
  idleTimeoutMs: number;
  /** How long a tunnel on a port without a protocol may stay silent before it is treated as TCP. */
  sniffTimeoutMs: number;
  /** Idle time after which an HBONE session without streams is closed (GOAWAY). */
  sessionIdleTimeoutMs: number;
  /** Time a client has to complete the TLS handshake on the HBONE port. */
  handshakeTimeoutMs: number;
  /** Idle time after which a pooled upstream HTTP/1.1 connection (one tunnel) is closed. */
  upstreamIdleTimeoutMs: number;
  /** Idle time after which a pooled upstream HBONE session without tunnels is closed. */
  upstreamSessionIdleTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<WaypointLimits> = Object.freeze({
  maxSessions: 10_000,
  maxStreamsPerSession: 100, // Envoy waypoint and ztunnel: 100 streams per HBONE connection
  maxHeaderBytes: 60 * 1024, // Envoy max_request_headers_kb
  maxRequestBufferBytes: 64 * 1024,
  streamWindowBytes: 4 * 1024 * 1024, // ztunnel's HBONE stream window
  connectionWindowBytes: 16 * 1024 * 1024, // ztunnel's HBONE connection window
  headersTimeoutMs: 60_000,
  idleTimeoutMs: 3_600_000, // Envoy HTTP idle_timeout
  sniffTimeoutMs: 5_000,
  sessionIdleTimeoutMs: 3_600_000, // Envoy downstream idle_timeout
  handshakeTimeoutMs: 10_000,
  upstreamIdleTimeoutMs: 60_000,
  upstreamSessionIdleTimeoutMs: 5 * 60_000, // ztunnel releases unused pool connections after 5 min
});

