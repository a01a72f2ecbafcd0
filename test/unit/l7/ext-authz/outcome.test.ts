import { describe, expect, it } from 'vitest';
import type { ExtAuthzProvider } from '../../../../src/config/mesh-config.js';
import { formatResponseFlags, NO_RESPONSE_FLAGS } from '../../../../src/metrics/response-flags.js';
import { checkRequest, outcomeOf } from '../../../../src/l7/ext-authz/grpc-client.js';
import { nameMatcher } from '../../../../src/l7/ext-authz/header-match.js';
import { verdictFor } from '../../../../src/l7/ext-authz/outcome.js';
import type { CheckOutcome } from '../../../../src/l7/ext-authz/types.js';
import type { ReplyPlan } from '../../../../src/l7/http/plan.js';

const provider = (failOpen: boolean): ExtAuthzProvider => ({ kind: 'grpc', name: 'authz', service: '127.0.0.9', port: 9000, timeoutMs: 1000, failOpen, statusOnError: 503 });

const denied = {
  kind: 'reply',
  status: 403,
  body: 'RBAC: access denied',
  replyFlags: NO_RESPONSE_FLAGS,
  policy: 'default/ext',
  extAuthzProvider: 'authz',
} as unknown as ReplyPlan;

describe('verdictFor', () => {
  const cases: Array<{ name: string; failOpen: boolean; outcome: CheckOutcome; expected: Record<string, unknown> }> = [
    {
      name: 'allow continues with the upstream headers',
      failOpen: false,
      outcome: { kind: 'allow', upstreamHeaders: [['x-user', 'alice']], removeUpstreamHeaders: [], downstreamHeaders: [] },
      expected: { kind: 'continue', upstreamHeaders: [['x-user', 'alice']], failedOpen: false },
    },
    {
      name: "deny replies with the authorizer's status and body",
      failOpen: true,
      outcome: { kind: 'deny', status: 401, body: 'who are you', headers: [['www-authenticate', 'Bearer']] },
      expected: { kind: 'reply', plan: expect.objectContaining({ status: 401, body: 'who are you', responseCodeDetails: 'ext_authz_denied', policy: 'default/ext' }) as unknown },
    },
    { name: 'an error with failOpen continues', failOpen: true, outcome: { kind: 'error', reason: 'timeout' }, expected: { kind: 'continue', failedOpen: true } },
    {
      name: 'an error without failOpen replies statusOnError',
      failOpen: false,
      outcome: { kind: 'error', reason: 'timeout' },
      expected: { kind: 'reply', plan: expect.objectContaining({ status: 503, body: '', responseCodeDetails: 'ext_authz_error' }) as unknown },
    },
  ];
  it.each(cases)('$name', ({ failOpen, outcome, expected }) => {
    expect(verdictFor(provider(failOpen), outcome, denied)).toMatchObject(expected);
  });

  const failures: Array<{ name: string; outcome: CheckOutcome }> = [
    { name: 'deny', outcome: { kind: 'deny', status: 403, body: '', headers: [] } },
    { name: 'error', outcome: { kind: 'error', reason: 'refused' } },
  ];
  it.each(failures)('a reply after $name carries UAEX', ({ outcome }) => {
    const v = verdictFor(provider(false), outcome, denied);
    expect(v.kind === 'reply' ? formatResponseFlags(v.plan.replyFlags) : '').toBe('UAEX');
  });

  it("the authorizer's first value of a header replaces the reply's own, later values are added", () => {
    const v = verdictFor(provider(false), { kind: 'deny', status: 403, body: '{}', headers: [['Content-Type', 'application/json'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']] }, denied);
    expect(v.kind === 'reply' ? v.plan.responseHeaders : undefined).toEqual({
      set: [['content-type', 'application/json'], ['set-cookie', 'a=1']],
      add: [['set-cookie', 'b=2']],
      remove: [],
    });
  });
});

describe('nameMatcher', () => {
  const m = nameMatcher(['X-Exact', 'x-prefix-*', '*-suffix']);
  it.each([
    ['x-exact', true],
    ['X-EXACT', true],
    ['x-prefix-one', true],
    ['my-suffix', true],
    ['x-other', false],
  ])('%s → %s', (name, matches) => {
    expect(m(name)).toBe(matches);
  });
});

describe('gRPC Check messages', () => {
  it('sends every header with the pseudo headers, and the peers', () => {
    const req = checkRequest({
      method: 'POST',
      path: '/a?b=1',
      host: 'reviews:80',
      scheme: 'http',
      protocol: 'HTTP/1.1',
      headers: { 'content-length': '12', 'x-multi': ['a=1', 'b=2'] },
      requestId: 'rid',
      source: { address: '127.0.0.2', port: 4000, principal: 'spiffe://cluster.local/ns/default/sa/sleep' },
      destination: { address: '127.0.0.3', port: 80 },
    });
    expect(req.attributes.request.http).toMatchObject({ id: 'rid', method: 'POST', path: '/a?b=1', host: 'reviews:80', size: 12 });
    expect(req.attributes.request.http.headers).toMatchObject({ ':authority': 'reviews:80', ':method': 'POST', ':path': '/a?b=1', 'x-multi': 'a=1,b=2' });
    expect(req.attributes.source).toEqual({ address: { socketAddress: { address: '127.0.0.2', portValue: 4000 } }, principal: 'spiffe://cluster.local/ns/default/sa/sleep' });
  });

  it.each([
    { name: 'status 0 allows', res: { status: { code: 0 }, okResponse: { headers: [{ header: { key: 'X-User', value: 'a' } }] } }, expected: { kind: 'allow', upstreamHeaders: [['x-user', 'a']] } },
    { name: 'no status allows', res: {}, expected: { kind: 'allow' } },
    { name: 'code 7 denies with the denied status', res: { status: { code: 7 }, deniedResponse: { status: { code: 401 }, body: 'no' } }, expected: { kind: 'deny', status: 401, body: 'no' } },
    { name: 'a denial without an HTTP status is 403', res: { status: { code: 7 } }, expected: { kind: 'deny', status: 403 } },
  ])('$name', ({ res, expected }) => {
    expect(outcomeOf(res)).toMatchObject(expected);
  });
});
