import { once } from 'node:events';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';

// AuthorizationPolicy over real HBONE with several client identities. Prefix 127.47.
const ip = (rest: string): string => `127.47.${rest}`;
const pods: MeshPod[] = [{ name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: ip('1.1'), httpPort: 8080, tcpPort: 9000 }];

function service(name: string, vip: string, tcp = false): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: echo }
  ports: [${tcp ? '{ name: tcp, port: 9000, targetPort: 9000 }' : '{ name: http, port: 80, targetPort: 8080 }'}]
`;
}

function policy(name: string, target: string, spec: string): string {
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: default }
spec:
  targetRefs: [{ kind: Service, group: "", name: ${target} }]
${spec}`;
}

const config = `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
---
apiVersion: v1
kind: Pod
metadata: { name: echo-1, namespace: default, labels: { app: echo } }
spec: { serviceAccountName: echo, containers: [{ name: echo, image: echo, ports: [{ name: http, containerPort: 8080 }] }] }
status: { phase: Running, podIP: ${ip('1.1')} }
${service('principals', ip('10.1'))}${service('namespaces', ip('10.2'))}${service('methods', ip('10.3'))}${service('headers', ip('10.4'))}${service('ips', ip('10.5'))}${service('tcp', ip('10.6'), true)}${service('open', ip('10.7'))}
${policy('allow-sleep', 'principals', '  action: ALLOW\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n')}
${policy('allow-trusted-ns', 'namespaces', '  action: ALLOW\n  rules: [{ from: [{ source: { namespaces: ["trusted"] } }] }]\n')}
${policy('allow-public-get', 'methods', '  action: ALLOW\n  rules: [{ to: [{ operation: { methods: ["GET"], paths: ["/public/*"] } }] }]\n')}
${policy('deny-secret', 'methods', '  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/public/secret"] } }] }]\n')}
${policy('allow-token', 'headers', '  action: ALLOW\n  rules: [{ when: [{ key: "request.headers[x-token]", values: ["let-me-in"] }] }]\n')}
${policy('allow-subnet', 'ips', `  action: ALLOW\n  rules: [{ from: [{ source: { ipBlocks: ["${ip('2.0')}/24"] } }] }]\n`)}
${policy('deny-sleep-tcp', 'tcp', '  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]\n')}
`;

let mesh: LoopbackMesh;
let logs: LogLine[];
const clients = new Map<string, HboneClientPool>();

async function client(ns: string, sa: string, localAddress?: string): Promise<HboneClientPool> {
  const key = `${ns}/${sa}/${localAddress ?? ''}`;
  let c = clients.get(key);
  if (c === undefined) {
    c = await mesh.client(ns, sa, undefined, localAddress);
    clients.set(key, c);
  }
  return c;
}

async function get(pool: HboneClientPool, vip: string, path = '/', opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  const c = new HboneHttpClient(pool, { ...mesh.hbone, authority: `${vip}:80` });
  try {
    const r = await c.request({ path, method: opts.method, headers: opts.headers });
    return { status: r.status, body: r.body.toString() };
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({ config, pods, waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' }, admin: { host: ip('0.10'), port: 0 }, logger: cap.logger });
});

afterAll(async () => {
  await mesh?.close();
});

const DENIED = { status: 403, body: 'RBAC: access denied' };

describe('AuthorizationPolicy over HBONE', () => {
  const cases: Array<{ name: string; ns: string; sa: string; vip: string; path?: string; method?: string; headers?: Record<string, string>; local?: string; allowed: boolean }> = [
    { name: 'principal: the allowed identity', ns: 'default', sa: 'sleep', vip: ip('10.1'), allowed: true },
    { name: 'principal: another identity', ns: 'default', sa: 'intruder', vip: ip('10.1'), allowed: false },
    { name: 'namespace: a client from the trusted namespace', ns: 'trusted', sa: 'any', vip: ip('10.2'), allowed: true },
    { name: 'namespace: a client from elsewhere', ns: 'default', sa: 'sleep', vip: ip('10.2'), allowed: false },
    { name: 'method and path: GET /public/page', ns: 'default', sa: 'sleep', vip: ip('10.3'), path: '/public/page', allowed: true },
    { name: 'method and path: POST /public/page', ns: 'default', sa: 'sleep', vip: ip('10.3'), path: '/public/page', method: 'POST', allowed: false },
    { name: 'method and path: GET /private', ns: 'default', sa: 'sleep', vip: ip('10.3'), path: '/private', allowed: false },
    { name: 'DENY beats ALLOW: GET /public/secret', ns: 'default', sa: 'sleep', vip: ip('10.3'), path: '/public/secret', allowed: false },
    { name: 'path normalisation: /public/../public/secret is still denied', ns: 'default', sa: 'sleep', vip: ip('10.3'), path: '/public/x/../secret', allowed: false },
    { name: 'header: the right token', ns: 'default', sa: 'sleep', vip: ip('10.4'), headers: { 'x-token': 'let-me-in' }, allowed: true },
    { name: 'header: no token', ns: 'default', sa: 'sleep', vip: ip('10.4'), allowed: false },
    { name: 'ipBlocks: a client inside the block', ns: 'default', sa: 'sleep', vip: ip('10.5'), local: ip('2.1'), allowed: true },
    { name: 'ipBlocks: a client outside the block', ns: 'default', sa: 'sleep', vip: ip('10.5'), allowed: false },
    { name: 'no policy on the Service', ns: 'default', sa: 'intruder', vip: ip('10.7'), allowed: true },
  ];
  for (const c of cases) {
    it(`${c.allowed ? 'allows' : 'denies'} ${c.name}`, async () => {
      const res = await get(await client(c.ns, c.sa, c.local), c.vip, c.path ?? '/', { method: c.method, headers: c.headers });
      if (c.allowed) expect(res.status).toBe(200);
      else expect(res).toEqual(DENIED);
    });
  }

  it('logs the DENY policy and rule that decided, with no response flag (as Envoy)', async () => {
    await get(await client('default', 'sleep'), ip('10.3'), '/public/secret?logged=1');
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/public/secret?logged=1'));
    expect(line).toMatchObject({
      response_code: 403,
      response_flags: '-',
      policy: 'default/deny-secret',
      response_code_details: 'rbac_access_denied_matched_policy[default/deny-secret#rule-0]',
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
    });
  });

  it('logs a denial where no ALLOW policy matched', async () => {
    await get(await client('default', 'intruder'), ip('10.1'), '/denied-and-logged');
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/denied-and-logged'));
    expect(line).toMatchObject({ response_code: 403, response_flags: '-', response_code_details: 'rbac_access_denied_matched_policy[none]' });
    expect(String(line.details)).toContain('no ALLOW policy matched');
  });

  it('closes a denied TCP tunnel before any byte reaches the upstream', async () => {
    const pool = await client('default', 'sleep');
    const c = new HboneHttpClient(pool, { ...mesh.hbone, authority: `${ip('10.6')}:9000` });
    const sock = await c.tunnel();
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('error', () => undefined);
    sock.write('should never arrive');
    await once(sock, 'close');
    expect(Buffer.concat(got).length).toBe(0);
    await c.close();
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.type === 'tcp' && l.policy === 'default/deny-sleep-tcp'));
    expect(line.upstream_host).toBeUndefined();
  });

  it('lets another identity through the same TCP service', async () => {
    const c = new HboneHttpClient(await client('default', 'friend'), { ...mesh.hbone, authority: `${ip('10.6')}:9000` });
    const sock = await c.tunnel();
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.end('echo me');
    await once(sock, 'end');
    expect(Buffer.concat(got).toString()).toBe('echo me');
    sock.destroy();
    await c.close();
  });

  it('explains a decision through the admin port without sending traffic', async () => {
    const a = mesh.waypoint.admin.addresses.admin!;
    const q = new URLSearchParams({ service: 'methods.default.svc.cluster.local', principal: 'spiffe://cluster.local/ns/default/sa/sleep', ip: '127.0.0.1', port: '80', method: 'GET', path: '/public/secret' });
    const res = await request(`http://${a.host}:${a.port}/authz/explain?${q.toString()}`);
    const body = (await res.body.json()) as { decision: { allowed: boolean; policy?: string; reason: string }; applicable: Array<{ policy: string }> };
    expect(body.decision.allowed).toBe(false);
    expect(body.decision.policy).toBe('default/deny-secret');
    expect(body.applicable.map((p) => p.policy).sort()).toEqual(['default/allow-public-get', 'default/deny-secret']);
  });
});
