import { stringify } from 'yaml';

/** What a Kubernetes Pod resource of the loopback mesh says about one pod. */
export interface PodManifestInput {
  name: string;
  namespace: string;
  serviceAccount: string;
  /** Loopback pod IP (127.x.y.z). */
  ip: string;
  labels?: Readonly<Record<string, string>> | undefined;
  /** Named container ports (a Service `targetPort` may name them). */
  containerPorts: Readonly<Record<string, number>>;
}

/**
 * One running Pod as a YAML document (starting with `---`), the way the waypoint reads pods from
 * its configuration: labels for Service selectors, named container ports, and the pod IP.
 */
export function podManifest(pod: PodManifestInput): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: pod.namespace, labels: { ...(pod.labels ?? {}) } },
    spec: {
      serviceAccountName: pod.serviceAccount,
      containers: [{ name: 'app', image: 'echo', ports: Object.entries(pod.containerPorts).map(([name, containerPort]) => ({ name, containerPort })) }],
    },
    status: { phase: 'Running', podIP: pod.ip },
  };
  return `---\n${stringify(doc)}`;
}
