/**
 * ServiceEntry and non-ambient destinations end to end, over real HBONE: a source client → the
 * waypoint → destinations that have no ztunnel in front of them (plain TCP, or TLS the waypoint
 * originates). Every backend listens on a 127.152.x address of its own, so which one answered is
 * the reply's `pod`. DNS names resolve through a resolver the test injects (never the real DNS).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCa, issueWorkloadCert } from '../../src/hbone/certs.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { ResolvedAddress } from '../../src/l7/upstream/dns-cache.js';
import { EchoApp, type EchoReply } from '../../src/testkit/echo-app.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { runCli } from '../helpers/process.js';

const ip = (tail: string): string => `127.152.${tail}`;
const NS = 'egress';
const HTTP_PORT = 18080;
const TCP_PORT = 19000;
const TLS_HOST = 'secure.egress.test';

const staticA = new EchoApp({ host: ip('2.1'), httpPort: HTTP_PORT, pod: 'static-a', namespace: 'outside' });
const staticB = new EchoApp({ host: ip('2.2'), httpPort: HTTP_PORT, pod: 'static-b', namespace: 'outside' });
const dnsBackend = new EchoApp({ host: ip('2.3'), httpPort: HTTP_PORT, pod: 'dns-backend', namespace: 'outside' });
const plainPod = new EchoApp({ host: ip('3.1'), httpPort: HTTP_PORT, tcpPort: TCP_PORT, pod: 'plain-0', namespace: NS });

/** An HTTPS server outside the mesh that answers with the SNI it was asked for. */
class SniServer {
  server: https.Server | undefined;
  constructor(private readonly host: string) {}
  async start(certPem: string, keyPem: string): Promise<number> {
    const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ pod: 'tls-backend', servername: (req.socket as TLSSocket).servername, path: req.url }));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.server === undefined) resolve();
      else {
        this.server.closeAllConnections();
        this.server.close(() => resolve());
      }
    });
  }
}

const tlsBackend = new SniServer(ip('2.5'));
const dnsTable = new Map<string, ResolvedAddress[]>([['backend.dns.test', [{ address: ip('2.3'), ttl: 30 }]]]);
const dnsQueries: string[] = [];

let mesh: LoopbackMesh;
let client: HboneClientPool;
let logs: LogLine[];
let dir: string;

function config(tlsPort: number, caFile: string): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${NS}, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: ${NS}, labels: { istio.io/waypoint-for: all } }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: static-api, namespace: ${NS} }
spec:
  hosts: [api.static.test]
  addresses: [${ip('10.1')}]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{ address: ${ip('2.1')}, ports: { http: ${HTTP_PORT} } }, { address: ${ip('2.2')}, ports: { http: ${HTTP_PORT} } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: dns-api, namespace: ${NS} }
spec:
  hosts: [api.dns.test]
  addresses: [${ip('10.2')}]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${HTTP_PORT} }]
  resolution: DNS
  endpoints: [{ address: backend.dns.test }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: secure, namespace: ${NS} }
spec:
  hosts: [${TLS_HOST}]
  addresses: [${ip('10.4')}]
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${tlsPort} }]
  resolution: STATIC
  endpoints: [{ address: ${ip('2.5')} }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: secure, namespace: ${NS} }
spec:
  host: ${TLS_HOST}
  trafficPolicy: { tls: { mode: SIMPLE, sni: ${TLS_HOST}, caCertificates: ${caFile} } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: static-route, namespace: ${NS} }
spec:
  parentRefs: [{ group: networking.istio.io, kind: ServiceEntry, name: static-api, port: 80 }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /to-dns } }]
    backendRefs: [{ group: networking.istio.io, kind: Hostname, name: api.dns.test, port: 80 }]
  - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-egress-route, value: static } ] } }]
    backendRefs: [{ group: networking.istio.io, kind: Hostname, name: api.static.test, port: 80 }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-forbidden, namespace: ${NS} }
spec:
  targetRefs: [{ group: networking.istio.io, kind: ServiceEntry, name: static-api }]
  action: DENY
  rules: [{ to: [{ operation: { paths: [/forbidden] } }] }]
---
apiVersion: v1
kind: Pod
metadata: { name: plain-0, namespace: ${NS}, labels: { app: plain }, annotations: { ambient.istio.io/redirection: disabled } }
spec: { serviceAccountName: plain, containers: [{ name: app, image: echo, ports: [{ name: http, containerPort: ${HTTP_PORT} }, { name: tcp, containerPort: ${TCP_PORT} }] }] }
status: { phase: Running, podIP: ${ip('3.1')} }
---
apiVersion: v1
kind: Service
metadata: { name: plain, namespace: ${NS} }
spec:
  clusterIP: ${ip('10.3')}
  selector: { app: plain }
  ports: [{ name: http, port: 80, targetPort: http }, { name: tcp, port: 9000, targetPort: tcp }]
`;
}

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  dir = await mkdtemp(join(tmpdir(), 'waypoint-egress-'));
  const ca = await createMeshCa({ commonName: 'Egress Test CA' });
  const cert = await issueWorkloadCert(ca, { dnsNames: [TLS_HOST] });
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.certPem);
  const tlsPort = await tlsBackend.start(cert.certChainPem, cert.keyPem);
  mesh = await LoopbackMesh.start({
    config: config(tlsPort, caFile),
    pods: [],
    backends: [staticA, staticB, dnsBackend, plainPod],
    waypoint: { ip: ip('0.10'), namespace: NS, name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: cap.logger,
    dnsResolve: (name) => {
      dnsQueries.push(name);
      const answer = dnsTable.get(name);
      return answer === undefined ? Promise.reject(new Error(`NXDOMAIN ${name}`)) : Promise.resolve(answer);
    },
  });
  client = await mesh.client(NS, 'sleep');
}, 60_000);

afterAll(async () => {
  await mesh?.close();
  await tlsBackend.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function get(authority: string, path: string): Promise<{ status: number; reply: EchoReply & { servername?: string } }> {
  const c = new HboneHttpClient(client, { ...mesh.hbone, authority, expectedIdentity: mesh.waypointIdentity });
  try {
    const res = await c.request({ path, headers: { 'x-request-id': `egress${path.replace(/\//g, '-')}` } });
    const text = res.body.toString();
    return { status: res.status, reply: (text.startsWith('{') ? JSON.parse(text) : {}) as EchoReply & { servername?: string } };
  } finally {
    await c.close();
  }
}

function access(id: string): Promise<LogLine> {
  return eventually(() => logs.find((l) => l.msg === 'access' && l.x_request_id === id), 5000, `access log line for ${id}`);
}

async function scrape(): Promise<string[]> {
  const m = mesh.waypoint.admin.addresses.metrics!;
  const res = await request(`http://${m.host}:${m.port}/stats/prometheus`);
  return (await res.body.text()).split('\n');
}

describe('ServiceEntry behind the waypoint', () => {
  it('STATIC endpoints: the HTTPRoute on the entry applies, both endpoints answer by plain TCP', async () => {
    const answered = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { status, reply } = await get(`${ip('10.1')}:80`, `/hello-${i}`);
      expect(status).toBe(200);
      expect(reply.headers['x-egress-route']).toBe('static');
      // Plain TCP: no HBONE peer reached the backend.
      expect(reply.peerIdentity).toBe('');
      answered.add(reply.pod);
    }
    expect([...answered].sort()).toEqual(['static-a', 'static-b']);
    expect(await access('egress-hello-0')).toMatchObject({ response_code: 200, route: expect.stringContaining('static-route') as unknown });
  });

  it('an AuthorizationPolicy targeting the ServiceEntry denies its path', async () => {
    const { status } = await get(`${ip('10.1')}:80`, '/forbidden');
    expect(status).toBe(403);
    expect(await access('egress-forbidden')).toMatchObject({ response_code: 403 });
  });

  it('telemetry names the ServiceEntry host as the destination service', async () => {
    const lines = await scrape();
    const line = lines.find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_service="api.static.test"') && l.includes('response_code="200"'));
    expect(line).toContain('destination_service_name="api.static.test"');
    expect(line).toContain(`destination_service_namespace="${NS}"`);
    expect(line).toContain('destination_workload="unknown"');
  });

  it('DNS resolution: the route sends /to-dns to the DNS entry, resolved through the injected resolver', async () => {
    const { status, reply } = await get(`${ip('10.1')}:80`, '/to-dns');
    expect(status).toBe(200);
    expect(reply.pod).toBe('dns-backend');
    const direct = await get(`${ip('10.2')}:80`, '/direct-dns');
    expect(direct.reply.pod).toBe('dns-backend');
    expect(dnsQueries).toContain('backend.dns.test');
    expect(await access('egress-direct-dns')).toMatchObject({ response_code: 200, upstream_host: `backend.dns.test:${HTTP_PORT}` });
  });

  it('TLS origination (DestinationRule SIMPLE): the backend sees the configured SNI', async () => {
    const { status, reply } = await get(`${ip('10.4')}:80`, '/secure');
    expect(status).toBe(200);
    expect(reply.pod).toBe('tls-backend');
    expect(reply.servername).toBe(TLS_HOST);
  });
});

describe('a destination Pod outside the ambient data plane', () => {
  it('HTTP reaches podIP:targetPort by plain TCP', async () => {
    const { status, reply } = await get(`${ip('10.3')}:80`, '/plain-http');
    expect(status).toBe(200);
    expect(reply.pod).toBe('plain-0');
    expect(reply.peerIdentity).toBe('');
    expect(await access('egress-plain-http')).toMatchObject({ response_code: 200, upstream_host: `${ip('3.1')}:${HTTP_PORT}` });
  });

  it('TCP is relayed to podIP:targetPort by plain TCP, half-close included', async () => {
    const c = new HboneHttpClient(client, { ...mesh.hbone, authority: `${ip('10.3')}:9000`, expectedIdentity: mesh.waypointIdentity });
    const socket = await c.tunnel();
    const chunks: Buffer[] = [];
    socket.on('data', (b: Buffer) => chunks.push(b));
    socket.end('ping over plain tcp');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
      socket.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    expect(Buffer.concat(chunks).toString()).toBe('ping over plain tcp');
    await c.close();
  });
});

describe('waypoint validate', () => {
  it('reports a bad ServiceEntry with file, object and field', async () => {
    const file = join(dir, 'bad-entry.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bad, namespace: ${NS} }
spec:
  hosts: [api.example.test]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: not-an-ip }]
`,
    );
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(`${file}: ServiceEntry ${NS}/bad: spec.endpoints[0].address: must be an IP address with resolution STATIC`);
  });
});
