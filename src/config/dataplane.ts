/**
 * Whether a destination workload is in the ambient data plane (reached through its node's ztunnel
 * over HBONE) or not (reached by plain TCP at `podIP:targetPort`). Pure; the model
 * (`src/config/model.ts`) applies it to every Pod.
 *
 * - `kubernetes`: as ztunnel decides it, a Pod is captured only when the CNI annotated it
 *   `ambient.istio.io/redirection: enabled`.
 * - `file`: hand-written Pods rarely carry the CNI's annotation, so HBONE stays the default and only
 *   a Pod annotated `ambient.istio.io/redirection: disabled`, or labelled
 *   `istio.io/dataplane-mode: none` (itself or its namespace), is reached by plain TCP.
 */
import type { Labels } from './selector.js';

export const REDIRECTION_ANNOTATION = 'ambient.istio.io/redirection';
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';

/** How the configuration source tells captured Pods from others. */
export type AmbientDetection = 'kubernetes' | 'file';

export interface DataplaneSubject {
  annotations: Readonly<Record<string, string>>;
  labels: Labels;
  namespaceLabels: Labels;
}

/** True when the Pod is reached over HBONE; false when by plain TCP. */
export function reachedByHbone(mode: AmbientDetection, pod: DataplaneSubject): boolean {
  const redirection = pod.annotations[REDIRECTION_ANNOTATION];
  if (mode === 'kubernetes') return redirection === 'enabled';
  if (redirection === 'disabled') return false;
  if (pod.labels[DATAPLANE_MODE_LABEL] === 'none') return false;
  if (pod.labels[DATAPLANE_MODE_LABEL] === undefined && pod.namespaceLabels[DATAPLANE_MODE_LABEL] === 'none') return false;
  return true;
}
