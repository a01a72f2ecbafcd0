import type { Logger } from 'pino';

/**
 * A serving process logs an unexpected exception or rejection and keeps serving the other
 * connections, as a proxy must: one bad stream never takes the rest down. Each is logged once
 * with its stack so the bug behind it can be found.
 */
export function installSafetyNet(logger: Logger): void {
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception; still serving'));
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection; still serving'));
}
