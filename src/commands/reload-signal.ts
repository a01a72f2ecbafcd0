/**
 * SIGHUP: re-read the configuration files and the certificate files now, through the same path
 * as a watched change (a good set is swapped in, a bad one is rejected and the last good kept,
 * each logged as usual), then log what the reload did.
 */
import type { Logger } from 'pino';
import { formatProblem } from '../config/problems.js';
import type { TlsSource } from '../hbone/tls-source.js';
import type { ReloadResult, SnapshotStore } from '../snapshot/store.js';

export type ConfigOrigin = 'files' | 'kubernetes';
export type CertificateOrigin = 'files' | 'istio-ca';

/** What a SIGHUP re-reads, decided once from where configuration and certificates come from. */
export interface SignalReloadPlan {
  /** Re-read the configuration files. */
  config: boolean;
  /** Re-read cert-chain.pem, key.pem and root-cert.pem. */
  certificates: boolean;
  /** What the signal does not reach, and why (logged with each request). */
  ignored: string[];
}

export function planSignalReload(config: ConfigOrigin, certificates: CertificateOrigin): SignalReloadPlan {
  const ignored: string[] = [];
  if (config === 'kubernetes') ignored.push('configuration: the Kubernetes API source follows watch events; SIGHUP does not relist');
  if (certificates === 'istio-ca') ignored.push("certificates: issued by Istio's CA and renewed by the waypoint, not read from files");
  return { config: config === 'files', certificates: certificates === 'files', ignored };
}

export type CertificateOutcome = 'updated' | 'unchanged' | 'rejected' | 'not-files';

/** What one signal-triggered reload did; a part left out was not re-read. */
export interface SignalReloadOutcome {
  config?: ReloadResult | Error | undefined;
  certificates?: CertificateOutcome | Error | undefined;
}

export interface SignalReloadSummary {
  /** Everything re-read was accepted (or unchanged). */
  ok: boolean;
  msg: string;
  fields: { config: string; version?: number; errors?: string[]; certificates: string };
}

/** The log line that ends a signal-triggered reload. */
export function summarizeSignalReload(outcome: SignalReloadOutcome): SignalReloadSummary {
  const fields: SignalReloadSummary['fields'] = { config: 'not re-read', certificates: 'not re-read' };
  let ok = true;
  const c = outcome.config;
  if (c instanceof Error) {
    ok = false;
    fields.config = 'failed';
    fields.errors = [c.message];
  } else if (c !== undefined) {
    fields.version = c.snapshot.version;
    if (c.ok) fields.config = 'applied';
    else {
      ok = false;
      fields.config = 'rejected';
      fields.errors = c.problems.filter((p) => p.severity === 'error').map(formatProblem);
    }
  }
  const t = outcome.certificates;
  if (t instanceof Error) {
    ok = false;
    fields.certificates = `failed: ${t.message}`;
  } else if (t !== undefined) {
    fields.certificates = t === 'not-files' ? 'not re-read' : t;
    if (t === 'rejected') ok = false;
  }
  const msg = ok ? 'SIGHUP reload finished' : 'SIGHUP reload finished with errors; still serving the last good configuration and certificate';
  return { ok, msg, fields };
}

export interface ReloadTargets {
  store?: SnapshotStore | undefined;
  tls?: TlsSource | undefined;
}

/** Runs one reload as planned; never throws. */
export async function reloadNow(targets: ReloadTargets, plan: SignalReloadPlan): Promise<SignalReloadOutcome> {
  const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
  const [config, certificates] = await Promise.all([
    plan.config && targets.store !== undefined ? targets.store.reload().catch(asError) : undefined,
    plan.certificates && targets.tls !== undefined ? targets.tls.reload().catch(asError) : undefined,
  ]);
  return { config, certificates };
}

/** Runs one reload as planned and logs how it ended (info, or warn when something was refused). */
export async function reloadAndLog(targets: ReloadTargets, plan: SignalReloadPlan, logger: Logger): Promise<void> {
  const summary = summarizeSignalReload(await reloadNow(targets, plan));
  if (summary.ok) logger.info(summary.fields, summary.msg);
  else logger.warn(summary.fields, summary.msg);
}

export interface ReloadSignalOptions extends ReloadTargets {
  plan: SignalReloadPlan;
  logger: Logger;
  /** Also called on each signal (the primary of `--workers` tells its workers). */
  onSignal?: (() => void) | undefined;
}

/**
 * Handles SIGHUP until the returned function is called. Signals that arrive during a reload are
 * folded into one more reload after it, so the last signal always sees the files as they are.
 */
export function handleReloadSignal(opts: ReloadSignalOptions, signals: NodeJS.EventEmitter = process): () => void {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): void => {
    running = reloadAndLog(opts, opts.plan, opts.logger).then(() => {
      running = undefined;
      if (again) {
        again = false;
        run();
      }
    });
  };
  const onHup = (): void => {
    const reread = [...(opts.plan.config ? ['configuration'] : []), ...(opts.plan.certificates ? ['certificates'] : [])];
    opts.logger.info({ reread, ignored: opts.plan.ignored }, 'reload requested by SIGHUP');
    opts.onSignal?.();
    if (running !== undefined) again = true;
    else run();
  };
  signals.on('SIGHUP', onHup);
  return () => void signals.off('SIGHUP', onHup);
}
