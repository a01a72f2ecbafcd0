import { once } from 'node:events';
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FileConfigSource } from '../../../src/config/file-source.js';
import { SnapshotStore } from '../../../src/snapshot/store.js';
import type { ConfigProblem } from '../../../src/config/types.js';
import type { ConfigSnapshot } from '../../../src/snapshot/types.js';

let root: string;
let caseNo = 0;
const stores: SnapshotStore[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'waypoint-store-'));
});
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = path.join(root, `case${++caseNo}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function newStore(paths: string[]): SnapshotStore {
  const store = new SnapshotStore({ source: new FileConfigSource({ paths, debounceMs: 50 }), trustDomain: 'cluster.local', clusterId: 'Kubernetes', namespace: 'bookinfo' });
  stores.push(store);
  return store;
}

const service = (vip: string, port = 80): string => `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo, labels: {istio.io/use-waypoint: waypoint}}
spec: {clusterIP: ${vip}, ports: [{name: http, port: ${port}}]}
`;
const BROKEN_PORT = service('127.30.0.1', 70000);
const BROKEN_YAML = 'apiVersion: v1\nkind: Service\nmetadata: {name: [x\n';

const vipsOf = (s: ConfigSnapshot): string[] => [...s.byVip.keys()];

describe('SnapshotStore.reload', () => {
  const rows = [
    {
      name: 'a schema error keeps the last good snapshot',
      steps: [
        { text: service('127.30.0.1'), ok: true, version: 1, vips: ['127.30.0.1:80'] },
        { text: BROKEN_PORT, ok: false, version: 1, vips: ['127.30.0.1:80'] },
        { text: service('127.30.0.2'), ok: true, version: 2, vips: ['127.30.0.2:80'] },
      ],
    },
    {
      name: 'a YAML syntax error keeps the last good snapshot',
      steps: [
        { text: service('127.30.0.1'), ok: true, version: 1, vips: ['127.30.0.1:80'] },
        { text: BROKEN_YAML, ok: false, version: 1, vips: ['127.30.0.1:80'] },
      ],
    },
    {
      name: 'a broken first load leaves the empty snapshot',
      steps: [
        { text: BROKEN_PORT, ok: false, version: 0, vips: [] },
        { text: service('127.30.0.3'), ok: true, version: 1, vips: ['127.30.0.3:80'] },
      ],
    },
  ];

  it.each(rows)('$name', async ({ steps }) => {
    const dir = await freshDir();
    const file = path.join(dir, 'mesh.yaml');
    const store = newStore([dir]);
    const events: string[] = [];
    store.on('snapshot', (s) => events.push(`snapshot v${s.version}`));
    store.on('rejected', (p) => events.push(p.some((x) => x.severity === 'error') ? 'rejected with errors' : 'rejected without errors'));
    const expectedEvents: string[] = [];
    for (const step of steps) {
      await writeFile(file, step.text);
      const result = await store.reload();
      expect(result.ok).toBe(step.ok);
      expect(store.current.version).toBe(step.version);
      expect(result.snapshot).toBe(store.current);
      expect(vipsOf(store.current)).toEqual(step.vips);
      expectedEvents.push(step.ok ? `snapshot v${step.version}` : 'rejected with errors');
    }
    expect(events).toEqual(expectedEvents);
  });

  it('returns the problems of a rejected reload with file and field', async () => {
    const dir = await freshDir();
    await writeFile(path.join(dir, 'mesh.yaml'), BROKEN_PORT);
    const result = await newStore([dir]).reload();
    expect(result.problems).toEqual([
      {
        severity: 'error',
        file: path.join(dir, 'mesh.yaml'),
        kind: 'Service',
        namespace: 'bookinfo',
        name: 'reviews',
        field: 'spec.ports[0].port',
        message: 'must be an integer between 1 and 65535 (got 70000)',
      },
    ]);
  });

  it('keeps loading warnings in the snapshot', async () => {
    const dir = await freshDir();
    await writeFile(path.join(dir, 'mesh.yaml'), `${service('127.30.0.1')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n`);
    const store = newStore([dir]);
    expect((await store.reload()).ok).toBe(true);
    expect(store.current.warnings.map((w) => w.message)).toEqual([
      'skipped: kind ConfigMap is not used by the waypoint',
      'has no selector and no EndpointSlice labelled kubernetes.io/service-name=reviews; it has no endpoints',
    ]);
  });

  it('serialises concurrent reloads', async () => {
    const dir = await freshDir();
    await writeFile(path.join(dir, 'mesh.yaml'), service('127.30.0.1'));
    const store = newStore([dir]);
    const results = await Promise.all([store.reload(), store.reload(), store.reload()]);
    expect(results.map((r) => r.snapshot.version)).toEqual([1, 2, 3]);
  });
});

/** Waits for the next 'snapshot' or 'rejected' event. */
async function nextEvent(store: SnapshotStore): Promise<{ type: 'snapshot'; snapshot: ConfigSnapshot } | { type: 'rejected'; problems: ConfigProblem[] }> {
  const ac = new AbortController();
  const timeout = AbortSignal.timeout(5_000);
  const signal = AbortSignal.any([ac.signal, timeout]);
  try {
    return await Promise.race([
      once(store, 'snapshot', { signal }).then(([snapshot]: ConfigSnapshot[]) => ({ type: 'snapshot' as const, snapshot: snapshot as ConfigSnapshot })),
      once(store, 'rejected', { signal }).then(([problems]: ConfigProblem[][]) => ({ type: 'rejected' as const, problems: problems ?? [] })),
    ]);
  } finally {
    ac.abort();
  }
}

describe('SnapshotStore.watch', () => {
  it('reloads when a file changes, and rejects a broken edit', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'mesh.yaml');
    await writeFile(file, service('127.30.0.1'));
    const store = newStore([dir]);
    await store.reload();
    await store.watch();

    let event = nextEvent(store);
    await writeFile(file, service('127.30.0.2'));
    expect(await event).toMatchObject({ type: 'snapshot', snapshot: { version: 2 } });
    expect(vipsOf(store.current)).toEqual(['127.30.0.2:80']);

    event = nextEvent(store);
    await writeFile(file, BROKEN_PORT);
    expect((await event).type).toBe('rejected');
    expect(vipsOf(store.current)).toEqual(['127.30.0.2:80']);
  });

  it('sees files added in new subdirectories', async () => {
    const dir = await freshDir();
    await writeFile(path.join(dir, 'mesh.yaml'), service('127.30.0.1'));
    const store = newStore([dir]);
    await store.reload();
    await store.watch();

    let event = nextEvent(store);
    await mkdir(path.join(dir, 'more'));
    await event;
    event = nextEvent(store);
    await writeFile(path.join(dir, 'more', 'gw.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo}\n');
    await event;
    await expect.poll(() => store.current.resources.map((r) => r.kind)).toEqual(['Service', 'Namespace']);
  });

  it('follows a watched file replaced by rename, as editors do', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'mesh.yaml');
    await writeFile(file, service('127.30.0.1'));
    const store = newStore([file]);
    await store.reload();
    await store.watch();

    const event = nextEvent(store);
    await writeFile(path.join(dir, 'mesh.yaml.tmp'), service('127.30.0.4'));
    await rename(path.join(dir, 'mesh.yaml.tmp'), file);
    await event;
    await expect.poll(() => vipsOf(store.current)).toEqual(['127.30.0.4:80']);
  });

  it('follows a ConfigMap volume swapping its ..data link', async () => {
    const dir = await freshDir();
    await mkdir(path.join(dir, '..v1'));
    await writeFile(path.join(dir, '..v1', 'mesh.yaml'), service('127.30.0.1'));
    await symlink('..v1', path.join(dir, '..data'));
    await symlink(path.join('..data', 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
    const store = newStore([path.join(dir, 'mesh.yaml')]);
    await store.reload();
    await store.watch();
    expect(vipsOf(store.current)).toEqual(['127.30.0.1:80']);

    const event = nextEvent(store);
    await mkdir(path.join(dir, '..v2'));
    await writeFile(path.join(dir, '..v2', 'mesh.yaml'), service('127.30.0.5'));
    await symlink('..v2', path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await event;
    await expect.poll(() => vipsOf(store.current)).toEqual(['127.30.0.5:80']);
  });

  it('stops after close', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'mesh.yaml');
    await writeFile(file, service('127.30.0.1'));
    const store = newStore([dir]);
    await store.reload();
    await store.watch();
    store.close();
    let events = 0;
    store.on('snapshot', () => events++);
    store.on('rejected', () => events++);
    await unlink(file);
    await writeFile(file, service('127.30.0.9'));
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toBe(0);
    expect(store.current.version).toBe(1);
  });
});
