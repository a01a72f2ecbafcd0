/**
 * HBONE HTTP/2 tunables, as ztunnel configures its HTTP/2 client and server.
 * Node's defaults (64 KiB windows, unlimited streams) would throttle every tunnel.
 */

/** Initial per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
export const STREAM_WINDOW = 4 * 1024 * 1024;
/** Connection receive window, raised with `session.setLocalWindowSize()`. */
export const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** Largest frame we accept. */
export const MAX_FRAME_SIZE = 1024 * 1024;
/** Streams a peer may open on one of our server sessions (Envoy waypoint: 100). */
export const SERVER_MAX_CONCURRENT_STREAMS = 100;
/** Streams we open on one pooled client session at most (ztunnel POOL_MAX_STREAMS_PER_CONNECTION). */
export const CLIENT_MAX_STREAMS_PER_SESSION = 100;
/** Header list limit for CONNECT requests (ztunnel's server uses 64 KiB). */
export const MAX_HEADER_LIST_SIZE = 64 * 1024;
/** PING every 10 s; a session silent for 20 s after a PING is dropped. */
export const KEEPALIVE_INTERVAL_MS = 10_000;
export const KEEPALIVE_TIMEOUT_MS = 20_000;
/** TCP + TLS + CONNECT response must complete within this (mesh connectTimeout default 10 s). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Idle pooled client sessions are closed after this long without streams. */
export const POOL_IDLE_TIMEOUT_MS = 5 * 60_000;
/** nghttp2 per-session memory budget in MB (Node default 10); above it new streams are refused. */
export const MAX_SESSION_MEMORY_MB = 64;

/** HBONE TLS: TLS 1.3 only, ALPN h2, AES-GCM suites as ztunnel offers. */
export const TLS_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
export const TLS_ECDH_CURVES = 'X25519:P-256:P-384';

/**
 * Premature-reset protection (CVE-2023-44487, "rapid reset"), as Envoy does it: a stream the peer
 * resets within PREMATURE_RESET_MIN_LIFETIME_MS is premature; a session is closed once half of
 * PREMATURE_RESET_TOTAL_STREAMS streams were premature, or, after that many streams, once half of
 * all its streams were.
 */
export const PREMATURE_RESET_MIN_LIFETIME_MS = 1_000;
export const PREMATURE_RESET_TOTAL_STREAMS = 500;
