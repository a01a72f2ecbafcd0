/**
 * YAML anchors, aliases and merge keys in configuration files: resolved when they stay within
 * MAX_YAML_ALIAS_COUNT, refused with an error naming the file otherwise, never thrown.
 */
import { describe, expect, it } from 'vitest';
import { loadResourcesFromText } from '../../../src/config/load.js';
import { MAX_YAML_ALIAS_COUNT, parseConfigText } from '../../../src/config/parse.js';

const SERVICE_WITH_MERGE = `
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: bookinfo
  labels: &labels { app: reviews, tier: backend }
  annotations:
    <<: *labels
    owner: team-a
spec:
  clusterIP: 127.157.200.1
  selector: *labels
  ports: [{ name: http, port: 9080 }]
`;

/** "Billion laughs": `levels` levels of ten aliases each. */
function aliasBomb(levels: number): string {
  const c = (i: number): string => String.fromCharCode(97 + i);
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) lines.push(`${c(i)}: &${c(i)} [${Array.from({ length: 10 }, () => `*${c(i - 1)}`).join(',')}]`);
  return `${lines.join('\n')}\n`;
}

describe('YAML aliases and merge keys', () => {
  it('resolves anchors, aliases and merge keys into the resource', () => {
    const out = loadResourcesFromText([{ file: 'svc.yaml', text: SERVICE_WITH_MERGE }]);
    expect(out.problems.filter((p) => p.severity === 'error')).toStrictEqual([]);
    expect(out.resources).toHaveLength(1);
    const parsed = parseConfigText('svc.yaml', SERVICE_WITH_MERGE).documents[0]?.value as { metadata: { annotations: Record<string, string> }; spec: { selector: Record<string, string> } };
    expect(parsed.metadata.annotations).toStrictEqual({ app: 'reviews', tier: 'backend', owner: 'team-a' });
    expect(parsed.spec.selector).toStrictEqual({ app: 'reviews', tier: 'backend' });
  });

  it.each([
    ['an alias whose anchor is missing', 'kind: Service\nmetadata: *nope\n', /alias/i],
    ['a merge key whose anchor is missing', 'x:\n  <<: *a\n', /alias/i],
    ['a billion-laughs document', aliasBomb(9), /aliases expand too much/],
    ['an expansion just past the limit', aliasBomb(3), /aliases expand too much/],
  ])('refuses %s with an error naming the file', (_name, text, message) => {
    const out = loadResourcesFromText([{ file: 'mesh/alias.yaml', text }]);
    const errors = out.problems.filter((p) => p.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.file).toBe('mesh/alias.yaml');
    expect(errors[0]!.message).toMatch(message);
    expect(out.resources).toStrictEqual([]);
  });

  it('keeps the documents around a refused one', () => {
    const text = `${SERVICE_WITH_MERGE}---\n${aliasBomb(9)}`;
    const out = loadResourcesFromText([{ file: 'two.yaml', text }]);
    expect(out.resources.map((r) => r.name)).toStrictEqual(['reviews']);
    expect(out.problems.some((p) => p.severity === 'error' && /document 2/.test(p.message))).toBe(true);
  });

  it('accepts expansion up to the limit', () => {
    // 10 aliases of a 10-element list: within MAX_YAML_ALIAS_COUNT.
    expect(MAX_YAML_ALIAS_COUNT).toBeGreaterThanOrEqual(100);
    const out = parseConfigText('ok.yaml', aliasBomb(2));
    expect(out.problems).toStrictEqual([]);
    expect((out.documents[0]?.value as { b: unknown[][] }).b).toHaveLength(10);
  });

  it('refuses a large alias bomb quickly', () => {
    const t0 = performance.now();
    const out = loadResourcesFromText([{ file: 'bomb.yaml', text: aliasBomb(12) }]);
    expect(out.problems.some((p) => p.severity === 'error')).toBe(true);
    // Generous bound: expanding it would take minutes and gigabytes.
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
