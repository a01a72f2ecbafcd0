/**
 * Keeps only what the model reads of an object from the API server: the informer cache and the
 * snapshot then hold a few hundred bytes per Pod instead of kilobytes (managedFields, container
 * specs, status detail, `last-applied-configuration`). A value of an unexpected shape is kept as
 * it is, so the schemas still reject it. Pure.
 */
import { apiVersionOf, type WatchedKind } from './kinds.js';

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The listed keys of `v` that are present; `v` itself when it is not an object. */
function pick(v: unknown, keys: readonly string[]): unknown {
  if (!isRecord(v)) return v;
  const out: Json = {};
  for (const k of keys) if (v[k] !== undefined) out[k] = v[k];
  return out;
}

/** Each item through `f`; `v` itself when it is not a list. */
function each(v: unknown, f: (item: unknown) => unknown): unknown {
  return Array.isArray(v) ? v.map(f) : v;
}

/** Only annotations the waypoint may read (Istio's own, such as `istio.io/dry-run`). */
function istioAnnotations(v: unknown): unknown {
  if (!isRecord(v)) return v;
  let out: Json | undefined;
  for (const [k, val] of Object.entries(v)) {
    if (!k.includes('istio.io/')) continue;
    out ??= {};
    out[k] = val;
  }
  return out;
}

function slimMetadata(v: unknown): unknown {
  if (!isRecord(v)) return v;
  const out = pick(v, ['name', 'namespace', 'labels', 'resourceVersion', 'deletionTimestamp']) as Json;
  const annotations = istioAnnotations(v['annotations']);
  if (annotations !== undefined) out['annotations'] = annotations;
  if (v['ownerReferences'] !== undefined) out['ownerReferences'] = each(v['ownerReferences'], (o) => pick(o, ['apiVersion', 'kind', 'name', 'controller']));
  return out;
}

function slimPodSpec(v: unknown): unknown {
  if (!isRecord(v)) return v;
  const out = pick(v, ['serviceAccountName', 'serviceAccount']) as Json;
  if (v['containers'] !== undefined) {
    out['containers'] = each(v['containers'], (c) => {
      if (!isRecord(c)) return c;
      const slim = pick(c, ['name']) as Json;
      if (c['ports'] !== undefined) slim['ports'] = each(c['ports'], (p) => pick(p, ['name', 'containerPort', 'protocol']));
      return slim;
    });
  }
  return out;
}

function slimPodStatus(v: unknown): unknown {
  if (!isRecord(v)) return v;
  const out = pick(v, ['phase', 'podIP', 'podIPs']) as Json;
  const conditions = v['conditions'];
  if (Array.isArray(conditions)) {
    out['conditions'] = conditions.filter((c) => !isRecord(c) || c['type'] === 'Ready').map((c) => pick(c, ['type', 'status']));
  } else if (conditions !== undefined) out['conditions'] = conditions;
  return out;
}

const TOP_LEVEL: Readonly<Record<string, readonly string[]>> = {
  Namespace: [],
  Service: ['spec'],
  Pod: ['spec', 'status'],
  EndpointSlice: ['addressType', 'endpoints', 'ports'],
  /** The `istio` ConfigMap: only its `mesh` key is read. */
  ConfigMap: ['data'],
};

/**
 * The object as the waypoint keeps it, with `apiVersion` and `kind` filled in from the watched
 * kind when the wire left them out (items of a List of built-in kinds). Undefined for a value
 * that is not an object at all.
 */
export function slimObject(k: WatchedKind, obj: unknown): Json | undefined {
  if (!isRecord(obj)) return undefined;
  const out: Json = {
    apiVersion: typeof obj['apiVersion'] === 'string' && obj['apiVersion'] !== '' ? obj['apiVersion'] : apiVersionOf(k),
    kind: typeof obj['kind'] === 'string' && obj['kind'] !== '' ? obj['kind'] : k.kind,
    metadata: slimMetadata(obj['metadata']),
  };
  const keys = TOP_LEVEL[k.kind];
  if (keys === undefined) {
    // Routes, policies and the other Istio / Gateway API kinds: their spec is read as written.
    if (obj['spec'] !== undefined) out['spec'] = obj['spec'];
    return out;
  }
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined) continue;
    if (k.kind === 'Pod') out[key] = key === 'spec' ? slimPodSpec(v) : slimPodStatus(v);
    else if (k.kind === 'ConfigMap') out[key] = pick(v, ['mesh']);
    else if (k.kind === 'Service') out[key] = pick(v, ['type', 'clusterIP', 'clusterIPs', 'ports', 'selector']);
    else if (key === 'endpoints') out[key] = each(v, (e) => (isRecord(e) ? { ...(pick(e, ['addresses', 'conditions']) as Json), ...(e['targetRef'] !== undefined ? { targetRef: pick(e['targetRef'], ['kind', 'name', 'namespace']) } : {}) } : e));
    else out[key] = v;
  }
  return out;
}
