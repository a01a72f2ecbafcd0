import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCa, issueWorkloadCert } from '../../src/hbone/certs.js';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import { HboneHttpClient } from '../../src/testkit/hbone-http-client.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { LoopbackMesh, type MeshPod } from '../../src/testkit/mesh.js';
import { captureLogs, eventually, type LogLine } from '../helpers/log-capture.js';
import { jwks, signingKey, token, type TestSigningKey } from '../helpers/jwt.js';

// RequestAuthentication over real HBONE: inline JWKS and a JWKS served over HTTPS. Prefix 127.150.
const ip = (rest: string): string => `127.150.${rest}`;
const pods: MeshPod[] = [{ name: 'echo-1', namespace: 'default', serviceAccount: 'echo', ip: ip('1.1'), httpPort: 8080 }];
const INLINE = 'https://inline.test';
const REMOTE = 'https://remote.test';

function service(name: string, vip: string): string {
  return `---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  clusterIP: ${vip}
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;
}

function targeted(kind: string, name: string, target: string, spec: string): string {
  return `---
apiVersion: security.istio.io/v1
kind: ${kind}
metadata: { name: ${name}, namespace: default }
spec:
  targetRefs: [{ kind: Service, group: "", name: ${target} }]
${spec}`;
}

function config(inlineJwks: string, jwksUri: string): string {
  return `apiVersion: v1
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
${service('inline', ip('10.1'))}${service('remote', ip('10.2'))}${service('open', ip('10.3'))}
${targeted(
  'RequestAuthentication',
  'inline-jwt',
  'inline',
  `  jwtRules:
  - issuer: ${INLINE}
    audiences: [api]
    jwks: '${inlineJwks}'
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{ header: x-jwt-groups, claim: groups }]
`,
)}
${targeted('AuthorizationPolicy', 'inline-admins', 'inline', `  action: ALLOW\n  rules: [{ from: [{ source: { requestPrincipals: ["${INLINE}/*"] } }], when: [{ key: "request.auth.claims[groups]", values: [admin] }] }]\n`)}
${targeted(
  'RequestAuthentication',
  'remote-jwt',
  'remote',
  `  jwtRules:
  - issuer: ${REMOTE}
    jwksUri: ${jwksUri}
    forwardOriginalToken: true
    fromHeaders: [{ name: x-token }]
`,
)}
${targeted('AuthorizationPolicy', 'remote-eng', 'remote', '  action: ALLOW\n  rules: [{ when: [{ key: "request.auth.claims[org][unit]", values: [eng] }, { key: request.auth.presenter, values: [cli] }] }]\n')}
`;
}

let mesh: LoopbackMesh;
let logs: LogLine[];
let pool: HboneClientPool;
let jwksServer: Server;
/** What the JWKS server answers: the document, or a 500 when undefined. */
let served: unknown;
let fetches = 0;
const keys: Record<string, TestSigningKey> = {};

async function send(vip: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const c = new HboneHttpClient(pool, { ...mesh.hbone, authority: `${vip}:80` });
  try {
    const r = await c.request({ path, headers });
    return { status: r.status, body: r.body.toString(), headers: r.headers };
  } finally {
    await c.close();
  }
}

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

beforeAll(async () => {
  for (const [kid, alg] of [['rsa', 'RS256'], ['rsa384', 'RS384'], ['rsa512', 'RS512'], ['ps', 'PS256'], ['ec', 'ES256'], ['ec384', 'ES384'], ['ed', 'EdDSA'], ['other', 'RS256'], ['remote-1', 'RS256'], ['remote-2', 'ES256']] as const) {
    keys[kid] = await signingKey(kid, alg);
  }
  const ca = await createMeshCa();
  const cert = await issueWorkloadCert(ca, { ipAddresses: [ip('0.5')] });
  served = jwks(keys['remote-1']!);
  jwksServer = createServer({ key: cert.keyPem, cert: cert.certChainPem }, (req, res) => {
    fetches++;
    if (served === undefined) {
      res.writeHead(500).end('broken');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
  });
  jwksServer.listen(0, ip('0.5'));
  await once(jwksServer, 'listening');
  const port = (jwksServer.address() as AddressInfo).port;
  const inline = JSON.stringify(jwks(keys.rsa!, keys.rsa384!, keys.rsa512!, keys.ps!, keys.ec!, keys.ec384!, keys.ed!));
  const cap = captureLogs('info');
  logs = cap.lines;
  mesh = await LoopbackMesh.start({
    config: config(inline, `https://${ip('0.5')}:${port}/jwks`),
    pods,
    waypoint: { ip: ip('0.10'), namespace: 'default', name: 'waypoint' },
    logger: cap.logger,
    watch: false,
    jwks: { ca: [ca.certPem], refreshMs: 300, cooldownMs: 100 },
  });
  pool = await mesh.client('default', 'sleep');
}, 30_000);

afterAll(async () => {
  await mesh?.close();
  jwksServer?.close();
});

const now = (): number => Math.floor(Date.now() / 1000);
const admin = { iss: INLINE, sub: 'alice', aud: 'api', groups: ['dev', 'admin'] };

describe('RequestAuthentication with an inline JWKS', () => {
  it.each(['rsa', 'rsa384', 'rsa512', 'ps', 'ec', 'ec384', 'ed'])('accepts a valid token signed with %s and the policy sees its claims', async (kid) => {
    const t = await token(keys[kid]!, admin);
    const r = await send(ip('10.1'), '/hello', bearer(t));
    expect(r.status, r.body).toBe(200);
    const echo = JSON.parse(r.body) as EchoReply;
    expect(echo.headers.authorization).toBeUndefined(); // forwardOriginalToken defaults to false
    expect(echo.headers['x-jwt-groups']).toBe('dev,admin');
    expect(JSON.parse(Buffer.from(String(echo.headers['x-jwt-payload']), 'base64url').toString())).toMatchObject({ sub: 'alice', iss: INLINE });
  });

  it('reads the token from the access_token query parameter too (the default locations)', async () => {
    const r = await send(ip('10.1'), `/q?access_token=${await token(keys.ec!, admin)}`);
    expect(r.status).toBe(200);
  });

  it.each([
    { name: 'a bad signature', make: () => token(keys.other!, admin, { kid: 'rsa' }), body: 'Jwt verification fails', details: 'jwt_authn_access_denied{Jwt_verification_fails}' },
    { name: 'an expired token', make: () => token(keys.rsa!, { ...admin, exp: now() - 600 }), body: 'Jwt is expired', details: 'jwt_authn_access_denied{Jwt_is_expired}' },
    { name: 'a token not yet valid', make: () => token(keys.rsa!, { ...admin, nbf: now() + 600 }), body: 'Jwt not yet valid', details: 'jwt_authn_access_denied{Jwt_not_yet_valid}' },
    { name: 'a wrong audience', make: () => token(keys.rsa!, { ...admin, aud: 'other' }), body: 'Audiences in Jwt are not allowed', details: 'jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}' },
    { name: 'an unknown kid', make: () => token(keys.other!, admin, { kid: 'nope' }), body: "Jwks doesn't have key to match kid or alg from Jwt", details: "jwt_authn_access_denied{Jwks_doesn't_have_key_to_match_kid_or_alg_from_Jwt}" },
    { name: 'an unknown issuer', make: () => token(keys.rsa!, { ...admin, iss: 'https://elsewhere.test' }), body: 'Jwt issuer is not configured', details: 'jwt_authn_access_denied{Jwt_issuer_is_not_configured}' },
    { name: 'a malformed token', make: () => Promise.resolve('not.a-jwt'), body: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections', details: undefined },
  ])('answers 401 to $name, with Envoy body and access-log details', async ({ name, make, body, details }) => {
    const path = `/bad/${name.replaceAll(' ', '-')}`;
    const r = await send(ip('10.1'), path, bearer(await make()));
    expect(r).toMatchObject({ status: 401, body });
    expect(String(r.headers['www-authenticate'])).toContain('error="invalid_token"');
    const line = await eventually(() => logs.find((l) => l.msg === 'access' && l.path === path));
    expect(line).toMatchObject({ response_code: 401 });
    if (details !== undefined) expect(line.response_code_details).toBe(details);
  });

  it('accepts a token expired by less than the 60 s clock skew', async () => {
    expect((await send(ip('10.1'), '/skew', bearer(await token(keys.rsa!, { ...admin, exp: now() - 20 })))).status).toBe(200);
  });

  it('lets a request without a token through authentication; the ALLOW policy then denies it (403, not 401)', async () => {
    expect(await send(ip('10.1'), '/anon')).toMatchObject({ status: 403, body: 'RBAC: access denied' });
  });

  it('denies a valid token whose claims the policy does not allow (403)', async () => {
    const r = await send(ip('10.1'), '/dev', bearer(await token(keys.rsa!, { ...admin, groups: ['dev'] })));
    expect(r).toMatchObject({ status: 403, body: 'RBAC: access denied' });
  });

  it('does not look at tokens on a service without RequestAuthentication', async () => {
    expect((await send(ip('10.3'), '/open', bearer('garbage'))).status).toBe(200);
  });
});

describe('RequestAuthentication with a JWKS fetched over HTTPS', () => {
  const eng = { iss: REMOTE, sub: 'bob', azp: 'cli', org: { unit: 'eng' } };

  it('accepts a valid token from a custom header, forwards it, and matches nested claims and the presenter', async () => {
    const t = await token(keys['remote-1']!, eng);
    const r = await send(ip('10.2'), '/r', { 'x-token': t });
    expect(r.status, r.body).toBe(200);
    expect((JSON.parse(r.body) as EchoReply).headers['x-token']).toBe(t);
    const sales = await send(ip('10.2'), '/r', { 'x-token': await token(keys['remote-1']!, { ...eng, org: { unit: 'sales' } }) });
    expect(sales.status).toBe(403);
  });

  it('ignores an Authorization header when the rule reads only x-token', async () => {
    const r = await send(ip('10.2'), '/r', bearer('garbage'));
    expect(r.status).toBe(403); // unauthenticated: no claims for the policy
  });

  it('refetches the JWKS for an unknown kid: 401 before the issuer publishes the key, 200 after', async () => {
    const t = await token(keys['remote-2']!, eng);
    expect((await send(ip('10.2'), '/rotate', { 'x-token': t })).status).toBe(401);
    served = jwks(keys['remote-1']!, keys['remote-2']!);
    await eventually(async () => (await send(ip('10.2'), '/rotate', { 'x-token': t })).status === 200, 10_000, 'the rotated key to be fetched');
  });

  it('keeps the last good keys when a fetch fails, logs and counts the failure', async () => {
    served = undefined;
    const before = fetches;
    await eventually(() => logs.find((l) => l.msg === 'JWKS fetch failed; keeping the last keys fetched'), 10_000, 'a failed refresh');
    expect(fetches).toBeGreaterThan(before);
    const metric = await mesh.waypoint.admin.registry.getSingleMetricAsString('waypoint_jwks_fetch_failures_total');
    expect(metric).toMatch(/waypoint_jwks_fetch_failures_total\{jwks_uri="https:\/\/127\.150\.0\.5:\d+\/jwks"\} [1-9]/);
    const r = await send(ip('10.2'), '/still', { 'x-token': await token(keys['remote-1']!, eng) });
    expect(r.status).toBe(200);
    served = jwks(keys['remote-1']!, keys['remote-2']!);
  });
});
