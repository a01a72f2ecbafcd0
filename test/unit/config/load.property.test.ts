/**
 * Properties of the configuration loader over generated text: it never throws, every problem
 * names its file and says something, garbage always yields problems, and valid Services load.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadResourcesFromText } from '../../../src/config/load.js';

const FRAGMENTS = [
  'apiVersion: v1\n', 'kind: Service\n', 'kind: Pod\n', 'kind: List\n', 'kind: AuthorizationPolicy\n', 'kind: VirtualService\n', 'metadata:\n', '  name: x\n',
  '  namespace: default\n', 'spec:\n', '  ports:\n', '  - port: 80\n', '  - port: 70000\n', 'items:\n', '- ', '---\n', '...\n', '{', '}', '[', ']', ': ', ', ', '"', "'",
  '&a ', '*a ', '!!binary ', '!!str ', '%YAML 1.2\n', '# comment\n', '\t', '  ', '\n', 'null', '~', '0x1F', '1e400', '-', '? ', '|\n', '>\n', '<<: *a\n', '\u0000', '\uFEFF', '\u2028',
];
/** YAML-shaped text without aliases (aliases have their own test below). */
const yamlish = fc.array(fc.constantFrom(...FRAGMENTS.filter((f) => !f.includes('*'))), { maxLength: 40 }).map((parts) => parts.join(''));
const noAlias = (s: string): boolean => !s.includes('*');
const text = fc.oneof(fc.string({ maxLength: 300 }).filter(noAlias), fc.string({ unit: 'binary', maxLength: 300 }).filter(noAlias), yamlish);
const file = fc.constantFrom('mesh.yaml', 'mesh.yml', 'mesh.json', 'MESH.JSON');

/** Non-null top-level YAML documents in `t` that parse without errors (empty `List`s aside). */
function cleanDocuments(t: string): number {
  try {
    return parseAllDocuments(t.startsWith('\uFEFF') ? t.slice(1) : t)
      .filter((d) => d.errors.length === 0)
      .map((d) => d.toJS({ maxAliasCount: 100 }) as unknown)
      .filter((v) => v !== null && v !== undefined)
      .filter((v) => !(typeof v === 'object' && v !== null && !Array.isArray(v) && /List$/.test(String((v as Record<string, unknown>)['kind'])) && (v as Record<string, unknown>)['items'] == null)).length;
  } catch {
    return 0;
  }
}

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/);

/** "Billion laughs": nine levels of ten aliases each. */
function aliasBomb(): string {
  const c = (i: number): string => String.fromCharCode(97 + i);
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++) lines.push(`${c(i)}: &${c(i)} [${Array.from({ length: 10 }, () => `*${c(i - 1)}`).join(',')}]`);
  return `kind: Service\n${lines.join('\n')}\n`;
}

describe('loadResourcesFromText (property)', () => {
  // The yaml package warns on stderr for collection keys ("? [a]: b"); generated text has many.
  const emitWarning = process.emitWarning.bind(process);
  beforeAll(() => {
    process.emitWarning = () => undefined;
  });
  afterAll(() => {
    process.emitWarning = emitWarning;
  });

  it('never throws (text without YAML aliases); every problem names its file and says something', () => {
    fc.assert(
      fc.property(file, text, (f, t) => {
        const out = loadResourcesFromText([{ file: f, text: t }]);
        for (const p of out.problems) {
          expect(p.file).toBe(f);
          expect(p.message.trim()).not.toBe('');
          expect(['error', 'warning']).toContain(p.severity);
        }
        for (const r of out.resources) expect(r.file).toBe(f);
      }),
      { numRuns: 1500 },
    );
  });

  it('never loads a YAML document silently: each one is a resource or a problem', () => {
    fc.assert(
      fc.property(yamlish, (t) => {
        const out = loadResourcesFromText([{ file: 'mesh.yaml', text: t }]);
        if (cleanDocuments(t) > 0) expect(out.resources.length + out.problems.length).toBeGreaterThan(0);
      }),
      { numRuns: 1500 },
    );
  });

  it('a document that is not a mapping, or a mapping without kind, is an error', () => {
    const notMapping = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string({ minLength: 1, maxLength: 20 }), fc.array(fc.integer(), { minLength: 1, maxLength: 3 }));
    const noKind = fc.dictionary(fc.constantFrom('apiVersion', 'metadata', 'spec', 'status', 'x'), fc.oneof(fc.string(), fc.integer()), { minKeys: 1 });
    fc.assert(
      fc.property(fc.oneof(notMapping, noKind), fc.boolean(), (value, asJson) => {
        const f = asJson ? 'x.json' : 'x.yaml';
        const out = loadResourcesFromText([{ file: f, text: JSON.stringify(value) }]);
        expect(out.resources).toHaveLength(0);
        expect(out.problems.some((p) => p.severity === 'error')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('a valid Service loads; one with a port out of range is an error on that field', () => {
    fc.assert(
      fc.property(dnsLabel, dnsLabel, fc.integer({ min: 1, max: 65535 }), fc.oneof(fc.constant(0), fc.integer({ min: 65536, max: 1_000_000 })), (name, ns, port, bad) => {
        const svc = (p: number): string => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n  clusterIP: 127.48.200.1\n  ports: [{ name: http, port: ${p} }]\n`;
        const good = loadResourcesFromText([{ file: 's.yaml', text: svc(port) }]);
        expect(good.problems.filter((p) => p.severity === 'error')).toStrictEqual([]);
        expect(good.resources.map((r) => `${r.kind} ${r.namespace}/${r.name}`)).toStrictEqual([`Service ${ns}/${name}`]);
        const wrong = loadResourcesFromText([{ file: 's.yaml', text: svc(bad) }]);
        expect(wrong.resources).toHaveLength(0);
        expect(wrong.problems.some((p) => p.severity === 'error' && p.field === 'spec.ports[0].port')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on YAML aliases: unresolved, in merge keys, or an alias bomb', () => {
    for (const t of ['<<: *a\n', 'kind: Service\nmetadata: *nope\n', aliasBomb()]) {
      const out = loadResourcesFromText([{ file: 'alias.yaml', text: t }]);
      expect(out.problems.some((p) => p.severity === 'error')).toBe(true);
    }
  });

  it('survives deep nesting', () => {
    const t0 = Date.now();
    const deep = loadResourcesFromText([{ file: 'deep.yaml', text: `${'['.repeat(5000)}${']'.repeat(5000)}` }]);
    expect(deep.problems.length).toBeGreaterThan(0);
    const deepJson = loadResourcesFromText([{ file: 'deep.json', text: `${'['.repeat(5000)}${']'.repeat(5000)}` }]);
    expect(deepJson.problems.length).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
