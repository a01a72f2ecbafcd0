import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { StreamSocket } from '../../src/hbone/stream-socket.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { meshAddresses, policyDoc, policyMeshYaml } from '../helpers/policy-mesh.js';
import { recheckClosedCount, setPolicies } from '../helpers/policy-reload.js';

// Policy re-check of open connections (issue 13 item 5): a new AuthorizationPolicy closes the open
// TCP tunnels it denies and answers 403 from the next request on a kept-alive HTTP connection,
// naming the policy; connections it does not deny stay open. Prefix 127.177.
const ip = (rest: string): string => `127.177.${rest}`;
const { pod: POD_IP, tcpVip: TCP_VIP, webVip: WEB_VIP } = meshAddresses('127.177');
const pods: MeshPod[] = [{ name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: POD_IP, httpPort: 8080, tcpPort: 9000 }];

const denyOn = (name: string, service: string, principal: string): string =>
  policyDoc(name, `Service ${service}`, `  action: DENY\n  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/${principal}"] } }] }]\n`);

let mesh: LoopbackMesh;
let logs: LogLine[];
const pools = new Map<string, HboneClientPool>();

async function pool(sa: string): Promise<HboneClientPool> {
  let p = pools.get(sa);
  if (p === undefined) {
    p = await mesh.client('default', sa);
    pools.set(sa, p);
  }
  return p;
}

/** An open TCP tunnel to the echo service, with what it has received so far. */
async function openTunnel(sa: string): Promise<{ sock: StreamSocket; received: () => string; closed: () => boolean; client: HboneHttpClient }> {
  const client = new HboneHttpClient(await pool(sa), { ...mesh.hbone, authority: `${TCP_VIP}:9000` });
  const sock = await client.tunnel();
  const got: Buffer[] = [];
  let closed = false;
  sock.on('data', (d: Buffer) => got.push(d));
  sock.on('error', () => undefined);
  sock.once('close', () => (closed = true));
  return { sock, received: () => Buffer.concat(got).toString(), closed: () => closed, client };
}

/** Sends `text` and waits (bounded) until the echo has come back. */
async function echo(t: { sock: StreamSocket; received: () => string }, text: string): Promise<void> {
  t.sock.write(text);
  await eventually(() => t.received().includes(text), 5000, `the echo of ${text}`);
}

const recheckLines = (): LogLine[] => logs.filter((l) => l.msg === 'connection closed by policy re-check');

beforeAll(async () => {
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config: policyMeshYaml('127.177'),
    pods,
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    metrics: { host: ip('0.10'), port: 0 },
    logger: cap.logger,
  });
});

afterAll(async () => {
  await mesh?.close();
});

describe('policy re-check of open connections', () => {
  it('leaves an open tunnel open when a new policy does not deny it', async () => {
    const t = await openTunnel('sleep');
    await echo(t, 'before-unrelated-policy');
    await setPolicies(mesh, denyOn('deny-intruder-tcp', 'tcp', 'intruder'));
    await echo(t, 'after-unrelated-policy');
    expect(t.closed()).toBe(false);
    expect(recheckLines()).toEqual([]);
    t.sock.destroy();
    await t.client.close();
  });

  it('closes an open TCP tunnel a new DENY policy denies, names the policy, keeps an allowed one echoing', async () => {
    const denied = await openTunnel('sleep');
    const allowed = await openTunnel('friend');
    await echo(denied, 'sleep-before');
    await echo(allowed, 'friend-before');

    await setPolicies(mesh, denyOn('deny-intruder-tcp', 'tcp', 'intruder') + denyOn('deny-sleep-tcp', 'tcp', 'sleep'));
    // What the client sees: the tunnel closes, within a bounded wait.
    await eventually(() => denied.closed(), 5000, 'the denied tunnel to close');

    const line = await eventually(() => recheckLines().find((l) => l.policy === 'default/deny-sleep-tcp'), 5000, 'the re-check log line');
    expect(line).toMatchObject({
      level: 40,
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
      connect_authority: `${TCP_VIP}:9000`,
      chain: 'inbound-vip|9000|tcp|tcp.default.svc.cluster.local',
    });
    expect(recheckLines()).toHaveLength(1);
    const access = await eventually(() => logs.find((l) => l.msg === 'access' && l.type === 'tcp' && l.policy === 'default/deny-sleep-tcp'), 5000, 'the access record');
    expect(access).toMatchObject({
      response_code_details: 'rbac_access_denied_matched_policy[default/deny-sleep-tcp#rule-0]',
      upstream_host: `${POD_IP}:9000`,
    });
    expect(String(access.details)).toContain('connection closed by policy re-check');
    expect(await recheckClosedCount(mesh, 'default/deny-sleep-tcp')).toBe(1);

    // The allowed tunnel stays open and keeps echoing.
    await echo(allowed, 'friend-after');
    expect(allowed.closed()).toBe(false);
    allowed.sock.end();
    await once(allowed.sock, 'close');
    await Promise.all([denied.client.close(), allowed.client.close()]);
    // And the denied identity cannot open a new one.
    const again = await openTunnel('sleep');
    await eventually(() => again.closed(), 5000, 'a new denied tunnel to close');
    expect(again.received()).toBe('');
    await again.client.close();
  });

  it('answers 403 from the next request on a kept-alive HTTP/1.1 connection, logged with the policy', async () => {
    const c = new HboneHttpClient(await pool('sleep'), { ...mesh.hbone, authority: `${WEB_VIP}:80` });
    try {
      const first = await c.request({ path: '/before' });
      expect(first.status).toBe(200);
      await setPolicies(mesh, denyOn('deny-intruder-tcp', 'tcp', 'intruder') + denyOn('deny-sleep-tcp', 'tcp', 'sleep') + denyOn('deny-sleep-web', 'web', 'sleep'));
      const next = await c.request({ path: '/after' });
      expect({ status: next.status, body: next.body.toString() }).toEqual({ status: 403, body: 'RBAC: access denied' });
      // Same connection: one tunnel carried both requests.
      expect(c.tunnelsOpened).toBe(1);
      const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === '/after'), 5000, 'the access record of /after');
      expect(line).toMatchObject({ response_code: 403, policy: 'default/deny-sleep-web', response_code_details: 'rbac_access_denied_matched_policy[default/deny-sleep-web#rule-0]' });
    } finally {
      await c.close();
    }
  });
});
