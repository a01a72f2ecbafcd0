import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../../src/config/types.js';
import { formatProblem, hasErrors } from '../../../src/config/problems.js';
import { validateConfig } from '../../../src/snapshot/validate.js';

describe('formatProblem', () => {
  const rows: Array<{ name: string; input: ConfigProblem; expected: string }> = [
    {
      name: 'everything known',
      input: {
        severity: 'error',
        file: 'examples/broken.yaml',
        kind: 'Service',
        namespace: 'default',
        name: 'reviews',
        field: 'spec.ports[0].port',
        message: 'must be an integer between 1 and 65535 (got 70000)',
      },
      expected: 'error: examples/broken.yaml: Service default/reviews: spec.ports[0].port: must be an integer between 1 and 65535 (got 70000)',
    },
    {
      name: 'a cluster-scoped resource',
      input: { severity: 'warning', file: 'ns.yaml', kind: 'Namespace', name: 'bookinfo', message: 'something' },
      expected: 'warning: ns.yaml: Namespace bookinfo: something',
    },
    {
      name: 'a kind without a name',
      input: { severity: 'error', file: 'a.yaml', kind: 'Pod', field: 'metadata.name', message: 'is required' },
      expected: 'error: a.yaml: Pod: metadata.name: is required',
    },
    {
      name: 'only a file',
      input: { severity: 'error', file: 'a.yaml', message: 'YAML syntax error at line 3, column 1: Map keys must be unique' },
      expected: 'error: a.yaml: YAML syntax error at line 3, column 1: Map keys must be unique',
    },
    {
      name: 'newlines in a message are flattened',
      input: { severity: 'warning', file: 'a.yaml', message: 'one\ntwo' },
      expected: 'warning: a.yaml: one two',
    },
  ];
  it.each(rows)('$name', ({ input, expected }) => {
    expect(formatProblem(input)).toBe(expected);
  });
});

describe('validateConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'waypoint-validate-'));
    await writeFile(
      path.join(dir, 'mesh.yaml'),
      `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 127.30.0.1
  ports: [{name: http, port: 70000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: gone-1, labels: {kubernetes.io/service-name: gone}}
addressType: IPv4
endpoints: [{addresses: [127.0.1.1]}]
`,
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists loading and compilation problems, one line each', async () => {
    const problems = await validateConfig([dir]);
    const file = path.join(dir, 'mesh.yaml');
    expect(problems.map(formatProblem)).toEqual([
      `error: ${file}: Service default/reviews: spec.ports[0].port: must be an integer between 1 and 65535 (got 70000)`,
      `warning: ${file}: Deployment reviews: skipped: kind Deployment is not used by the waypoint`,
      `warning: ${file}: EndpointSlice default/gone-1: Service default/gone (label kubernetes.io/service-name) is not in the configuration`,
    ]);
    expect(hasErrors(problems)).toBe(true);
  });
});
