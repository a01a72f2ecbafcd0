/**
 * Merges Prometheus text expositions from several worker processes into one, as the metrics
 * port must answer for all of them: counters and histogram series with the same name and labels
 * are summed; gauges take the largest value; `# HELP`/`# TYPE` appear once. Series keep the order
 * in which they were first seen. Pure.
 */
export function mergeExpositions(texts: readonly string[]): string {
  const meta = new Map<string, string[]>(); // family → HELP/TYPE lines
  const types = new Map<string, string>();
  const order: string[] = []; // series keys in first-seen order, grouped by family
  const families: string[] = [];
  const seriesByFamily = new Map<string, string[]>();
  const values = new Map<string, number>();
  for (const text of texts) {
    let family = '';
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        const parts = line.split(' ');
        const name = parts[2] ?? '';
        family = name;
        if (!meta.has(name)) {
          meta.set(name, []);
          families.push(name);
          seriesByFamily.set(name, []);
        }
        const m = meta.get(name)!;
        if (!m.includes(line)) m.push(line);
        if (parts[1] === 'TYPE') types.set(name, parts[3] ?? 'untyped');
        continue;
      }
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      if (!values.has(key)) {
        order.push(key);
        if (!seriesByFamily.has(family)) {
          seriesByFamily.set(family, []);
          families.push(family);
        }
        seriesByFamily.get(family)!.push(key);
        values.set(key, value);
        continue;
      }
      const prev = values.get(key)!;
      values.set(key, types.get(family) === 'gauge' ? Math.max(prev, value) : prev + value);
    }
  }
  const out: string[] = [];
  for (const f of families) {
    out.push(...(meta.get(f) ?? []));
    for (const key of seriesByFamily.get(f) ?? []) out.push(`${key} ${formatValue(values.get(key)!)}`);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
