import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMeshCa, issueWorkloadCert, writeCertDir } from '../../../src/hbone/certs.js';
import { TlsSource, type TlsMaterial } from '../../../src/hbone/tls-source.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('TlsSource.reload (SIGHUP and file changes)', () => {
  it('reports unchanged, installs a replacement, rejects a key that does not match, and says when it has no files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tls-reload-'));
    dirs.push(dir);
    const ca = await createMeshCa();
    const first = await issueWorkloadCert(ca, { spiffe: 'spiffe://cluster.local/ns/default/sa/waypoint' });
    await writeCertDir(dir, first);
    const source = await TlsSource.fromDir(dir);
    const updates: TlsMaterial[] = [];
    const rejections: Error[] = [];
    source.on('update', (m: TlsMaterial) => updates.push(m));
    source.on('rejected', (e: Error) => rejections.push(e));

    expect(await source.reload()).toBe('unchanged');
    const second = await issueWorkloadCert(ca, { spiffe: 'spiffe://cluster.local/ns/default/sa/waypoint' });
    await writeCertDir(dir, second);
    expect(await source.reload()).toBe('updated');
    expect(source.current.certChainPem).toBe(second.certChainPem);
    expect(updates).toHaveLength(1);

    await writeFile(join(dir, 'key.pem'), first.keyPem);
    expect(await source.reload()).toBe('rejected');
    expect(rejections[0]?.message).toContain(`${join(dir, 'key.pem')} does not match`);
    expect(source.current.certChainPem).toBe(second.certChainPem);

    expect(await new TlsSource(source.current).reload()).toBe('not-files');
  });
});
