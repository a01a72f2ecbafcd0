/**
 * Stopping a long-running command on a signal, the same way for `waypoint run` and the demos: the
 * first signal runs `onStop` once; a second signal exits at once (status 1); when `onStop` has
 * finished (a failure is logged and makes the exit status 1), the process exits shortly after,
 * whatever still holds the event loop (a peer that never closes must not keep it alive).
 */
import type { Logger } from 'pino';

export interface StopOnSignalsOptions {
  signals: readonly NodeJS.Signals[];
  /** What stopping means (drain and close, …); `reason` is the signal or the caller's own reason. */
  onStop: (reason: string) => Promise<void>;
  /** Exit anyway this long after the first signal, even if `onStop` has not finished. */
  deadlineMs?: number | undefined;
}

export interface StopHandle {
  /** Settles once `onStop` has finished. */
  readonly stopped: Promise<void>;
  /** Stops as a signal would (for reasons other than a signal, such as a listener that failed). */
  stop: (reason: string) => void;
}

/** Installs the signal handlers; see the module comment. */
export function stopOnSignals(logger: Logger, opts: StopOnSignalsOptions): StopHandle {
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) {
      logger.warn({ signal: reason }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    if (opts.deadlineMs !== undefined) setTimeout(() => process.exit(process.exitCode ?? 0), opts.deadlineMs).unref();
    void opts
      .onStop(reason)
      .catch((err: unknown) => {
        logger.error({ err }, 'stopping failed');
        process.exitCode = 1;
      })
      .finally(() => {
        resolveStopped();
        setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
      });
  };
  for (const signal of opts.signals) process.on(signal, () => stop(signal));
  return { stopped, stop };
}
