import { once } from 'node:events';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient, h2Request } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { coreMesh } from '../helpers/core-mesh.js';
import { captureLogs, eventually } from '../helpers/log-capture.js';

const { config, pods, ip } = coreMesh(45);
let mesh: LoopbackMesh;
let client: HboneClientPool;

// The source pod: the HBONE peer address is 127.0.0.1 (the test's default source address).
const sleepPod = `---
apiVersion: v1
kind: Pod
metadata:
  name: sleep-6d8f7-abcde
  namespace: default
  labels: { app: sleep, version: v1, istio.io/use-waypoint: none }
  ownerReferences: [{ apiVersion: apps/v1, kind: ReplicaSet, name: sleep-6d8f7, uid: x, controller: true }]
spec: { serviceAccountName: sleep, containers: [{ name: sleep, image: curl }] }
status: { phase: Running, podIP: 127.0.0.1 }
`;

// Service `empty` gets a route that matches only /only: anything else has no route (404 NR).
const narrowRoute = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: narrow, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: imposter, port: 80 }]
  rules:
    - matches: [{ path: { type: Exact, value: /only } }]
      backendRefs: [{ name: echo, port: 80 }]
`;

beforeAll(async () => {
  mesh = await LoopbackMesh.start({
    config: config + sleepPod + narrowRoute,
    pods,
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: captureLogs('silent').logger,
  });
  client = await mesh.client('default', 'sleep');
});

afterAll(async () => {
  await mesh?.close();
});

async function scrape(): Promise<string[]> {
  const m = mesh.waypoint.admin.addresses.metrics!;
  const res = await request(`http://${m.host}:${m.port}/stats/prometheus`);
  return (await res.body.text()).split('\n');
}

const SOURCE =
  'reporter="waypoint",source_workload="sleep",source_canonical_service="sleep",source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/sleep",source_app="sleep",source_version="v1",source_cluster="Kubernetes"';

// Pods without an owner are their own workload; app = the app label; no version label: latest.
function destination(workload: string, app: string, sa: string, service: string): string {
  return `destination_workload="${workload}",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/${sa}",destination_app="${app}",destination_version="latest",destination_service="${service}.default.svc.cluster.local",destination_canonical_service="${app}",destination_canonical_revision="latest",destination_service_name="${service}",destination_service_namespace="default",destination_cluster="Kubernetes"`;
}

describe('istio_* metrics after real traffic', () => {
  it('counts a 200 through a Service with the whole label set', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.1')}:80` });
    const res = await c.request({ path: '/count-me' });
    await c.close();
    const pod = (JSON.parse(res.body.toString()) as { pod: string }).pod;
    const line = `istio_requests_total{${SOURCE},${destination(pod, 'echo', 'echo', 'echo')},request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"} 1`;
    const lines = await scrape();
    expect(lines).toContain(line);
    const durationCount = lines.find((l) => l.startsWith(`istio_request_duration_milliseconds_count{${SOURCE},${destination(pod, 'echo', 'echo', 'echo')}`));
    expect(durationCount).toMatch(/ 1$/);
    expect(lines.some((l) => l.startsWith('istio_request_bytes_bucket{') && l.includes('le="0.5"'))).toBe(true);
  });

  it('counts a 503 UF (destination refused the CONNECT) with its flags', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.3')}:80` });
    await c.request({ path: '/uf' });
    await c.close();
    const lines = await scrape();
    const line = lines.find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_service_name="refuse"'));
    expect(line).toBeDefined();
    expect(line).toContain('response_code="503"');
    expect(line).toContain('response_flags="UF,URX"');
    expect(line).toContain(destination('refuse-1', 'refuse', 'refuse', 'refuse'));
  });

  it('counts a 404 NR when no route matches', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.4')}:80` });
    const res = await c.request({ path: '/not-routed' });
    await c.close();
    expect(res.status).toBe(404);
    const lines = await scrape();
    const line = lines.find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="404"'));
    expect(line).toBe(
      `istio_requests_total{${SOURCE},destination_workload="unknown",destination_workload_namespace="unknown",destination_principal="unknown",destination_app="unknown",destination_version="unknown",destination_service="imposter.default.svc.cluster.local",destination_canonical_service="unknown",destination_canonical_revision="unknown",destination_service_name="imposter",destination_service_namespace="default",destination_cluster="unknown",request_protocol="http",response_code="404",grpc_response_status="",response_flags="NR",connection_security_policy="mutual_tls"} 1`,
    );
  });

  it('counts a TCP connection with bytes both ways', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.1')}:9000` });
    const sock = await c.tunnel();
    sock.resume();
    sock.end(Buffer.alloc(1000, 1));
    await once(sock, 'end');
    sock.destroy();
    await c.close();
    const all = await eventually(async () => {
      const l = await scrape();
      return l.some((x) => x.startsWith('istio_tcp_connections_closed_total{')) ? l : undefined;
    }, 5000, 'tcp close counted');
    const closed = all.find((l) => l.startsWith('istio_tcp_connections_closed_total{'));
    expect(closed).toMatch(new RegExp(`^istio_tcp_connections_closed_total\\{${SOURCE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},destination_workload="echo-\\d",.*response_flags="-",connection_security_policy="mutual_tls"\\} 1$`));
    expect(all.find((l) => l.startsWith('istio_tcp_received_bytes_total{'))).toMatch(/ 1000$/);
    expect(all.find((l) => l.startsWith('istio_tcp_sent_bytes_total{'))).toMatch(/ 1000$/);
    expect(all.find((l) => l.startsWith('istio_tcp_connections_opened_total{'))).toMatch(/ 1$/);
  });

  it('counts a gRPC call with its non-zero grpc-status', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.1')}:81` });
    const session = await c.h2c();
    const res = await h2Request(session, { method: 'POST', path: '/echo.Echo/Get', headers: { 'content-type': 'application/grpc', te: 'trailers', 'x-echo-grpc-status': '5' }, body: Buffer.from([0, 0, 0, 0, 0]) });
    await c.close();
    expect(res.status).toBe(200);
    expect(res.trailers['grpc-status']).toBe('5');
    const lines = await scrape();
    const line = lines.find((l) => l.startsWith('istio_requests_total{') && l.includes('request_protocol="grpc"'));
    expect(line).toContain('response_code="200",grpc_response_status="5",response_flags="-"');
  });
});
