import type { Logger } from 'pino';
import { validityProblem, type TlsSource } from '../hbone/tls-source.js';
import type { Readiness } from './readiness.js';

/** The readiness condition's name (`/healthz/ready` prints `certificate: <reason>`). */
export const CERTIFICATE_CONDITION = 'certificate';

/**
 * Registers the `certificate` readiness condition: not ready while the current certificate is
 * expired or not yet valid. Each change of state is logged once (error when it becomes unusable,
 * info when it is valid again), whenever a probe or the periodic check notices it. With a
 * certificate `source` (Istio's CA), its word comes first: no certificate yet, or none renewed.
 */
export function watchCertificateValidity(
  readiness: Readiness,
  tls: TlsSource,
  logger: Logger,
  opts: { now?: () => Date; source?: (() => string | undefined) | undefined } = {},
): { check: () => string | undefined; stop: () => void } {
  const now = opts.now ?? ((): Date => new Date());
  let last: string | undefined;
  const check = (): string | undefined => {
    const m = tls.current;
    const problem = opts.source?.() ?? validityProblem(m, now());
    if (problem !== last) {
      if (problem !== undefined) logger.error({ identity: m.identity, notBefore: m.notBefore, notAfter: m.notAfter, reason: problem }, `not ready: ${problem}`);
      else if (last !== undefined) logger.info({ identity: m.identity, notAfter: m.notAfter }, 'certificate valid again; ready');
      last = problem;
    }
    return problem;
  };
  readiness.probe(CERTIFICATE_CONDITION, check);
  check();
  // Also notice the moment of expiry when nobody probes (the log line is the operator's clue).
  const timer = setInterval(check, 10_000);
  timer.unref();
  const onUpdate = (): void => void check();
  tls.on('update', onUpdate);
  return {
    check,
    stop: () => {
      clearInterval(timer);
      tls.off('update', onUpdate);
    },
  };
}
