import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { handleReloadSignal, planSignalReload, summarizeSignalReload, type SignalReloadOutcome } from '../../../src/commands/reload-signal.js';
import { captureLogs } from '../../../src/testkit/log-capture.js';
import type { TlsSource } from '../../../src/hbone/tls-source.js';
import { emptySnapshot } from '../../../src/snapshot/compile.js';
import type { ReloadResult, SnapshotStore } from '../../../src/snapshot/store.js';

const snapshot = { ...emptySnapshot({ namespace: 'default', name: 'waypoint', trustDomain: 'cluster.local', clusterId: 'Kubernetes' }), version: 7 };

describe('planSignalReload', () => {
  it.each([
    ['files', 'files', { config: true, certificates: true, ignored: 0 }],
    ['files', 'istio-ca', { config: true, certificates: false, ignored: 1 }],
    ['kubernetes', 'files', { config: false, certificates: true, ignored: 1 }],
    ['kubernetes', 'istio-ca', { config: false, certificates: false, ignored: 2 }],
  ] as const)('config from %s, certificates from %s', (config, certs, want) => {
    const plan = planSignalReload(config, certs);
    expect({ config: plan.config, certificates: plan.certificates, ignored: plan.ignored.length }).toEqual(want);
  });

  it('says why the Kubernetes API source is left alone', () => {
    expect(planSignalReload('kubernetes', 'istio-ca').ignored).toEqual([
      'configuration: the Kubernetes API source follows watch events; SIGHUP does not relist',
      "certificates: issued by Istio's CA and renewed by the waypoint, not read from files",
    ]);
  });
});

describe('summarizeSignalReload', () => {
  const applied: ReloadResult = { ok: true, snapshot, problems: [] };
  const rejected: ReloadResult = { ok: false, snapshot, problems: [{ severity: 'error', file: 'mesh.yaml', kind: 'Service', namespace: 'default', name: 'broken', field: 'spec.ports[0].port', message: 'too big' }, { severity: 'warning', file: 'mesh.yaml', message: 'unknown kind' }] };
  it.each<[string, SignalReloadOutcome, { ok: boolean; config: string; certificates: string; version?: number; errors?: string[] }]>([
    ['both accepted', { config: applied, certificates: 'updated' }, { ok: true, config: 'applied', certificates: 'updated', version: 7 }],
    ['certificates unchanged', { config: applied, certificates: 'unchanged' }, { ok: true, config: 'applied', certificates: 'unchanged', version: 7 }],
    ['configuration rejected', { config: rejected, certificates: 'unchanged' }, { ok: false, config: 'rejected', certificates: 'unchanged', version: 7, errors: ['error: mesh.yaml: Service default/broken: spec.ports[0].port: too big'] }],
    ['certificates rejected', { config: applied, certificates: 'rejected' }, { ok: false, config: 'applied', certificates: 'rejected', version: 7 }],
    ['read failed', { config: new Error('EACCES'), certificates: new Error('boom') }, { ok: false, config: 'failed', certificates: 'failed: boom', errors: ['EACCES'] }],
    ['nothing re-read', {}, { ok: true, config: 'not re-read', certificates: 'not re-read' }],
    ['certificates not from files', { certificates: 'not-files' }, { ok: true, config: 'not re-read', certificates: 'not re-read' }],
  ])('%s', (_name, outcome, want) => {
    const s = summarizeSignalReload(outcome);
    const { ok, ...fields } = want;
    expect(s.ok).toBe(ok);
    expect(s.fields).toEqual(fields);
    expect(s.msg).toBe(ok ? 'SIGHUP reload finished' : 'SIGHUP reload finished with errors; still serving the last good configuration and certificate');
  });
});

describe('handleReloadSignal', () => {
  it('re-reads on each signal, folds signals that arrive during a reload into one more, and stops when asked', async () => {
    const signals = new EventEmitter();
    const cap = captureLogs('info');
    let reloads = 0;
    let release: () => void = () => undefined;
    const store = {
      reload: async (): Promise<ReloadResult> => {
        reloads++;
        await new Promise<void>((r) => (release = r));
        return { ok: true, snapshot, problems: [] };
      },
    } as unknown as SnapshotStore;
    const tls = { reload: () => Promise.resolve('unchanged' as const) } as unknown as TlsSource;
    let forwarded = 0;
    const stop = handleReloadSignal({ plan: planSignalReload('files', 'files'), store, tls, logger: cap.logger, onSignal: () => forwarded++ }, signals);
    signals.emit('SIGHUP');
    signals.emit('SIGHUP');
    signals.emit('SIGHUP');
    expect(reloads).toBe(1);
    expect(forwarded).toBe(3);
    release();
    await waitFor(() => reloads === 2);
    release();
    await waitFor(() => cap.lines.filter((l) => l.msg === 'SIGHUP reload finished').length === 2);
    expect(reloads).toBe(2);
    const requested = cap.lines.filter((l) => l.msg === 'reload requested by SIGHUP');
    expect(requested).toHaveLength(3);
    expect(requested[0]).toMatchObject({ reread: ['configuration', 'certificates'], ignored: [] });
    expect(cap.lines.find((l) => l.msg === 'SIGHUP reload finished')).toMatchObject({ config: 'applied', version: 7, certificates: 'unchanged', level: 30 });
    stop();
    expect(signals.listenerCount('SIGHUP')).toBe(0);
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}
