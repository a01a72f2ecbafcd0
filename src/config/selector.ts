import type { LabelSelector } from './fields.js';

export type Labels = Readonly<Record<string, string>>;

/** A Service-style selector: every key present with an equal value. An empty selector matches all. */
export function matchesSelectorMap(selector: Labels, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return true;
}

/**
 * A Kubernetes `LabelSelector` (matchLabels AND matchExpressions). `undefined` (no selector)
 * matches nothing, as `metav1.LabelSelectorAsSelector(nil)` does; `{}` matches everything.
 */
export function matchesLabelSelector(selector: LabelSelector | null | undefined, labels: Labels): boolean {
  if (selector === undefined || selector === null) return false;
  if (!matchesSelectorMap(selector.matchLabels ?? {}, labels)) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expr.key);
    const value = labels[expr.key];
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
