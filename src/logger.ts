import { pino, type Logger } from 'pino';

/** The process logger: structured JSON lines on stdout. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { component: 'waypoint' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Never log key material, whatever a caller passes in.
    redact: { paths: ['*.keyPem', '*.key', 'keyPem', 'key'], censor: '[redacted]' },
  });
}
