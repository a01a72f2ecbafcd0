/**
 * The part of Kubernetes RBAC the fake API server (`fake-kube-api.ts`) enforces: ClusterRoles,
 * Roles and their bindings read from YAML (`deploy/rbac.yaml`), and whether a service account may
 * do a verb on a resource of an API group, cluster-wide or in a namespace, as the real authorizer
 * decides: a ClusterRoleBinding grants everywhere; a RoleBinding grants its Role's (or
 * ClusterRole's) rules in its own namespace only; a rule with `resourceNames` allows only requests
 * naming one of them (a get of that object, or a list or watch with the field selector
 * `metadata.name=<name>`). Pure.
 */
import { parseAllDocuments } from 'yaml';

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** Empty: any name. */
  resourceNames: string[];
}

/** A binding of a role to a service account: cluster-wide (ClusterRoleBinding) or in one namespace. */
export interface RbacGrant {
  /** `ClusterRole name` or, for a Role, `namespace/name`. */
  role: string;
  /** The RoleBinding's namespace; undefined for a ClusterRoleBinding. */
  namespace: string | undefined;
}

export interface RbacPolicy {
  /** ClusterRole name, or `namespace/name` of a Role → rules. */
  roles: Map<string, RbacRule[]>;
  /** `namespace/name` of a ServiceAccount → what is bound to it. */
  bindings: Map<string, RbacGrant[]>;
}

/** What a request names besides verb and resource: its namespace and object name, when it has them. */
export interface RbacRequestScope {
  namespace?: string | undefined;
  name?: string | undefined;
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

/** Reads every ClusterRole, Role and binding in `text` (other documents are ignored). */
export function parseRbac(text: string): RbacPolicy {
  const policy: RbacPolicy = { roles: new Map(), bindings: new Map() };
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`RBAC YAML: ${doc.errors[0]?.message ?? 'syntax error'}`);
    const obj = record(doc.toJS());
    const meta = record(obj['metadata']);
    const name = str(meta['name']);
    const namespace = str(meta['namespace']) || 'default';
    if (obj['kind'] === 'ClusterRole' || obj['kind'] === 'Role') {
      const rules = (Array.isArray(obj['rules']) ? obj['rules'] : []).map((r: unknown) => {
        const rule = record(r);
        return { apiGroups: strings(rule['apiGroups']), resources: strings(rule['resources']), verbs: strings(rule['verbs']), resourceNames: strings(rule['resourceNames']) };
      });
      policy.roles.set(obj['kind'] === 'Role' ? `${namespace}/${name}` : name, rules);
    } else if (obj['kind'] === 'ClusterRoleBinding' || obj['kind'] === 'RoleBinding') {
      const cluster = obj['kind'] === 'ClusterRoleBinding';
      const roleRef = record(obj['roleRef']);
      if (typeof roleRef['name'] !== 'string') continue;
      // A ClusterRoleBinding refers to a ClusterRole only; a RoleBinding to a Role of its namespace or a ClusterRole.
      if (roleRef['kind'] !== 'ClusterRole' && (cluster || roleRef['kind'] !== 'Role')) continue;
      const grant: RbacGrant = { role: roleRef['kind'] === 'Role' ? `${namespace}/${roleRef['name']}` : roleRef['name'], namespace: cluster ? undefined : namespace };
      for (const s of Array.isArray(obj['subjects']) ? obj['subjects'] : []) {
        const subject = record(s);
        if (subject['kind'] !== 'ServiceAccount') continue;
        const key = `${str(subject['namespace'])}/${str(subject['name'])}`;
        policy.bindings.set(key, [...(policy.bindings.get(key) ?? []), grant]);
      }
    }
  }
  return policy;
}

const matches = (list: readonly string[], value: string): boolean => list.includes('*') || list.includes(value);

/**
 * Whether ServiceAccount `namespace/name` may `verb` `resource` of `group`: cluster-wide when
 * `scope.namespace` is not given, else in that namespace; `scope.name` is the object's name (for
 * a list or watch: the `metadata.name` field selector's value), checked against `resourceNames`.
 */
export function rbacAllows(policy: RbacPolicy, serviceAccount: string, verb: string, group: string, resource: string, scope: RbacRequestScope = {}): boolean {
  for (const grant of policy.bindings.get(serviceAccount) ?? []) {
    if (grant.namespace !== undefined && grant.namespace !== scope.namespace) continue;
    for (const rule of policy.roles.get(grant.role) ?? []) {
      if (!matches(rule.apiGroups, group) || !matches(rule.resources, resource) || !matches(rule.verbs, verb)) continue;
      if (rule.resourceNames.length > 0 && (scope.name === undefined || !rule.resourceNames.includes(scope.name))) continue;
      return true;
    }
  }
  return false;
}
