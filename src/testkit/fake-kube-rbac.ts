/**
 * The part of Kubernetes RBAC the fake API server (`fake-kube-api.ts`) enforces: ClusterRoles and
 * ClusterRoleBindings read from YAML (`deploy/rbac.yaml`), and whether a service account may do a
 * verb on a resource of an API group cluster-wide. Pure.
 */
import { parseAllDocuments } from 'yaml';

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface RbacPolicy {
  /** ClusterRole name → rules. */
  roles: Map<string, RbacRule[]>;
  /** `namespace/name` of a ServiceAccount → the ClusterRoles bound to it. */
  bindings: Map<string, string[]>;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Reads every ClusterRole and ClusterRoleBinding in `text` (other documents are ignored). */
export function parseRbac(text: string): RbacPolicy {
  const policy: RbacPolicy = { roles: new Map(), bindings: new Map() };
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`RBAC YAML: ${doc.errors[0]?.message ?? 'syntax error'}`);
    const obj = record(doc.toJS());
    const name = str(record(obj['metadata'])['name']);
    if (obj['kind'] === 'ClusterRole') {
      const rules = (Array.isArray(obj['rules']) ? obj['rules'] : []).map((r: unknown) => {
        const rule = record(r);
        return { apiGroups: strings(rule['apiGroups']), resources: strings(rule['resources']), verbs: strings(rule['verbs']) };
      });
      policy.roles.set(name, rules);
    } else if (obj['kind'] === 'ClusterRoleBinding') {
      const roleRef = record(obj['roleRef']);
      if (roleRef['kind'] !== 'ClusterRole' || typeof roleRef['name'] !== 'string') continue;
      for (const s of Array.isArray(obj['subjects']) ? obj['subjects'] : []) {
        const subject = record(s);
        if (subject['kind'] !== 'ServiceAccount') continue;
        const key = `${str(subject['namespace'])}/${str(subject['name'])}`;
        policy.bindings.set(key, [...(policy.bindings.get(key) ?? []), roleRef['name']]);
      }
    }
  }
  return policy;
}

const matches = (list: readonly string[], value: string): boolean => list.includes('*') || list.includes(value);

/** Whether ServiceAccount `namespace/name` may `verb` `resource` of `group` cluster-wide. */
export function rbacAllows(policy: RbacPolicy, serviceAccount: string, verb: string, group: string, resource: string): boolean {
  for (const role of policy.bindings.get(serviceAccount) ?? []) {
    for (const rule of policy.roles.get(role) ?? []) {
      if (matches(rule.apiGroups, group) && matches(rule.resources, resource) && matches(rule.verbs, verb)) return true;
    }
  }
  return false;
}
