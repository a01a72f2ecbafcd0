/**
 * Evaluation semantics, one group per field and per precedence rule. Each
 * field case puts one rule in an ALLOW policy on the waypoint Gateway: the request is allowed
 * exactly when the rule matches. Every IP is loopback unless it is only CIDR data.
 */
import { describe, expect, it } from 'vitest';
import {
  compileYaml,
  context,
  decideYaml,
  gatewayPolicy,
  httpReq,
  oneRule,
  REVIEWS,
  SLEEP,
  tcpReq,
} from '../../fixtures/policy/resources.js';
import { evaluate, evaluateAfterCustom } from '../../../src/policy/evaluate.js';
import { requestPrincipal } from '../../../src/policy/authn/claims.js';
import type { PolicyContext, RequestAttributes } from '../../../src/policy/types.js';

interface MatchCase {
  name: string;
  rule: string;
  req: RequestAttributes;
  matches: boolean;
  ctx?: PolicyContext;
}

/** Runs a table of single-rule cases through an ALLOW policy. */
function matchTable(cases: MatchCase[]): void {
  it.each(cases)('$name', ({ rule, req, matches, ctx }) => {
    const d = decideYaml(oneRule('ALLOW', rule), req, ctx !== undefined ? { ctx } : {});
    expect(d.allowed, d.reason).toBe(matches);
  });
}

const ANON = { sourcePrincipal: '' };
const peer = (ns: string, sa: string, td = 'cluster.local'): { sourcePrincipal: string } => ({ sourcePrincipal: `spiffe://${td}/ns/${ns}/sa/${sa}` });

describe('from.source.principals', () => {
  matchTable([
    { name: 'exact principal matches the peer', rule: '{from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]}', req: httpReq(), matches: true },
    { name: 'another service account does not match', rule: '{from: [{source: {principals: [cluster.local/ns/default/sa/other]}}]}', req: httpReq(), matches: false },
    { name: 'a spiffe:// prefix never matches (Istio adds it again)', rule: '{from: [{source: {principals: ["spiffe://cluster.local/ns/default/sa/sleep"]}}]}', req: httpReq(), matches: false },
    { name: 'prefix form', rule: '{from: [{source: {principals: [cluster.local/ns/default/*]}}]}', req: httpReq(), matches: true },
    { name: 'suffix form', rule: '{from: [{source: {principals: ["*/sa/sleep"]}}]}', req: httpReq(), matches: true },
    { name: 'suffix form needs the whole suffix', rule: '{from: [{source: {principals: ["*/sa/sleepy"]}}]}', req: httpReq(), matches: false },
    { name: '"*" matches any authenticated peer', rule: '{from: [{source: {principals: ["*"]}}]}', req: httpReq(), matches: true },
    { name: '"*" does not match a peer without identity', rule: '{from: [{source: {principals: ["*"]}}]}', req: httpReq({}, ANON), matches: false },
    { name: 'a * in the middle is literal', rule: '{from: [{source: {principals: ["cluster.local/ns/*/sa/sleep"]}}]}', req: httpReq(), matches: false },
    { name: 'matching is case-sensitive', rule: '{from: [{source: {principals: [cluster.local/ns/default/sa/Sleep]}}]}', req: httpReq(), matches: false },
    { name: 'OR over the list', rule: '{from: [{source: {principals: [cluster.local/ns/x/sa/y, cluster.local/ns/default/sa/sleep]}}]}', req: httpReq(), matches: true },
    {
      name: 'cluster.local is rewritten to the mesh trust domain',
      rule: '{from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]}',
      req: httpReq({}, peer('default', 'sleep', 'example.org')),
      ctx: context({ trustDomain: 'example.org' }),
      matches: true,
    },
    {
      name: 'after the rewrite, a cluster.local peer no longer matches',
      rule: '{from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]}',
      req: httpReq(),
      ctx: context({ trustDomain: 'example.org' }),
      matches: false,
    },
    {
      name: 'a foreign trust domain is kept as written',
      rule: '{from: [{source: {principals: [other.td/ns/default/sa/sleep]}}]}',
      req: httpReq({}, peer('default', 'sleep', 'other.td')),
      ctx: context({ trustDomain: 'example.org' }),
      matches: true,
    },
    {
      name: 'a *-prefixed trust domain matching the mesh one stays a suffix pattern',
      rule: '{from: [{source: {principals: ["*-td/ns/default/sa/sleep"]}}]}',
      req: httpReq({}, peer('default', 'sleep', 'old-td')),
      ctx: context({ trustDomain: 'new-td' }),
      matches: true,
    },
  ]);
});

describe('from.source.notPrincipals', () => {
  matchTable([
    { name: 'excludes the listed peer', rule: '{from: [{source: {notPrincipals: [cluster.local/ns/default/sa/sleep]}}]}', req: httpReq(), matches: false },
    { name: 'admits other peers', rule: '{from: [{source: {notPrincipals: [cluster.local/ns/default/sa/other]}}]}', req: httpReq(), matches: true },
    { name: 'a peer without identity matches a negative list', rule: '{from: [{source: {notPrincipals: [cluster.local/ns/default/sa/sleep]}}]}', req: httpReq({}, ANON), matches: true },
    { name: 'notPrincipals "*" matches only unauthenticated peers', rule: '{from: [{source: {notPrincipals: ["*"]}}]}', req: httpReq({}, ANON), matches: true },
    { name: 'notPrincipals "*" excludes authenticated peers', rule: '{from: [{source: {notPrincipals: ["*"]}}]}', req: httpReq(), matches: false },
    {
      name: 'positive and negative lists are ANDed',
      rule: '{from: [{source: {principals: [cluster.local/ns/default/*], notPrincipals: ["*/sa/sleep"]}}]}',
      req: httpReq(),
      matches: false,
    },
  ]);
});

describe('from.source.namespaces / notNamespaces', () => {
  matchTable([
    { name: 'exact namespace', rule: '{from: [{source: {namespaces: [default]}}]}', req: httpReq(), matches: true },
    { name: 'another namespace', rule: '{from: [{source: {namespaces: [prod]}}]}', req: httpReq(), matches: false },
    { name: 'prefix wildcard', rule: '{from: [{source: {namespaces: [def*]}}]}', req: httpReq(), matches: true },
    { name: 'suffix wildcard', rule: '{from: [{source: {namespaces: ["*ault"]}}]}', req: httpReq(), matches: true },
    { name: 'a namespace needs a peer identity', rule: '{from: [{source: {namespaces: ["*"]}}]}', req: httpReq({}, ANON), matches: false },
    { name: 'notNamespaces excludes', rule: '{from: [{source: {notNamespaces: [default]}}]}', req: httpReq(), matches: false },
    { name: 'notNamespaces on a peer without identity matches', rule: '{from: [{source: {notNamespaces: [default]}}]}', req: httpReq({}, ANON), matches: true },
  ]);
});

describe('from.source.serviceAccounts / trustDomains', () => {
  matchTable([
    { name: 'bare service account in the policy namespace', rule: '{from: [{source: {serviceAccounts: [sleep]}}]}', req: httpReq(), matches: true },
    { name: 'namespace/serviceAccount', rule: '{from: [{source: {serviceAccounts: [default/sleep]}}]}', req: httpReq(), matches: true },
    { name: 'same account name in another namespace', rule: '{from: [{source: {serviceAccounts: [other/sleep]}}]}', req: httpReq(), matches: false },
    { name: 'account name prefix does not match', rule: '{from: [{source: {serviceAccounts: [sle]}}]}', req: httpReq(), matches: false },
    { name: 'notServiceAccounts excludes', rule: '{from: [{source: {notServiceAccounts: [sleep]}}]}', req: httpReq(), matches: false },
    { name: 'exact trust domain', rule: '{from: [{source: {trustDomains: [cluster.local]}}]}', req: httpReq(), matches: true },
    { name: 'any trust domain', rule: '{from: [{source: {trustDomains: ["*"]}}]}', req: httpReq(), matches: true },
    { name: 'trust domain prefix', rule: '{from: [{source: {trustDomains: [cluster.*]}}]}', req: httpReq(), matches: true },
    { name: 'another trust domain', rule: '{from: [{source: {trustDomains: [example.org]}}]}', req: httpReq(), matches: false },
    { name: 'notTrustDomains without identity matches', rule: '{from: [{source: {notTrustDomains: [cluster.local]}}]}', req: httpReq({}, ANON), matches: true },
  ]);
});

describe('from.source.ipBlocks / notIpBlocks / remoteIpBlocks', () => {
  matchTable([
    { name: 'single IPv4 address', rule: '{from: [{source: {ipBlocks: [127.0.0.10]}}]}', req: httpReq(), matches: true },
    { name: 'IPv4 CIDR', rule: '{from: [{source: {ipBlocks: [127.0.0.0/24]}}]}', req: httpReq(), matches: true },
    { name: 'IPv4 CIDR with host bits set is masked', rule: '{from: [{source: {ipBlocks: [127.0.0.99/24]}}]}', req: httpReq(), matches: true },
    { name: 'outside the CIDR', rule: '{from: [{source: {ipBlocks: [127.0.1.0/24]}}]}', req: httpReq(), matches: false },
    { name: 'IPv6 address', rule: '{from: [{source: {ipBlocks: ["::1"]}}]}', req: httpReq({}, { sourceIp: '::1' }), matches: true }, // never dialled
    { name: 'IPv6 CIDR', rule: '{from: [{source: {ipBlocks: ["::/64"]}}]}', req: httpReq({}, { sourceIp: '::1' }), matches: true }, // never dialled
    // 2001:db8::/32 is CIDR data only, never dialled.
    { name: 'IPv6 outside the CIDR', rule: '{from: [{source: {ipBlocks: ["2001:db8::/32"]}}]}', req: httpReq({}, { sourceIp: '::1' }), matches: false }, // never dialled
    { name: 'IPv4 peer against an IPv6 CIDR', rule: '{from: [{source: {ipBlocks: ["::/0"]}}]}', req: httpReq(), matches: false }, // never dialled
    { name: 'IPv4-mapped IPv6 peer against an IPv4 CIDR', rule: '{from: [{source: {ipBlocks: [127.0.0.0/8]}}]}', req: httpReq({}, { sourceIp: '::ffff:127.0.0.10' }), matches: true }, // never dialled
    { name: 'notIpBlocks excludes', rule: '{from: [{source: {notIpBlocks: [127.0.0.0/24]}}]}', req: httpReq(), matches: false },
    { name: 'notIpBlocks admits others', rule: '{from: [{source: {notIpBlocks: [127.9.0.0/16]}}]}', req: httpReq(), matches: true },
    { name: 'remoteIpBlocks is the peer address (no XFF trust)', rule: '{from: [{source: {remoteIpBlocks: [127.0.0.10/32]}}]}', req: httpReq(), matches: true },
    { name: 'notRemoteIpBlocks excludes', rule: '{from: [{source: {notRemoteIpBlocks: [127.0.0.10]}}]}', req: httpReq(), matches: false },
    { name: 'an unparseable peer address matches no ipBlocks', rule: '{from: [{source: {ipBlocks: ["0.0.0.0/0"]}}]}', req: httpReq({}, { sourceIp: '' }), matches: false }, // never dialled
    { name: 'an unparseable peer address matches notIpBlocks', rule: '{from: [{source: {notIpBlocks: ["0.0.0.0/0"]}}]}', req: httpReq({}, { sourceIp: '' }), matches: true }, // never dialled
  ]);
});

describe('from: entries are ORed, fields within a source are ANDed', () => {
  matchTable([
    { name: 'second entry matches', rule: '{from: [{source: {namespaces: [prod]}}, {source: {namespaces: [default]}}]}', req: httpReq(), matches: true },
    { name: 'both fields of one entry hold', rule: '{from: [{source: {namespaces: [default], ipBlocks: [127.0.0.0/8]}}]}', req: httpReq(), matches: true },
    { name: 'one field of the entry fails', rule: '{from: [{source: {namespaces: [default], ipBlocks: [127.9.0.0/16]}}]}', req: httpReq(), matches: false },
  ]);
});

describe('JWT attributes: requestPrincipals and request.auth.* (a token verified by RequestAuthentication)', () => {
  const payload = { iss: 'https://issuer.test', sub: 'alice', aud: ['api', 'web'], azp: 'cli', groups: ['dev', 'admin'], team: 'blue', org: { unit: 'eng', tags: ['x'] }, level: 3 };
  const withJwt = (p: Record<string, unknown> = payload): RequestAttributes => httpReq({}, { jwt: { principal: requestPrincipal(p), payload: p } });
  const noJwt = httpReq();
  matchTable([
    { name: 'requestPrincipals exact <iss>/<sub>', rule: '{from: [{source: {requestPrincipals: ["https://issuer.test/alice"]}}]}', req: withJwt(), matches: true },
    { name: 'requestPrincipals another subject', rule: '{from: [{source: {requestPrincipals: ["https://issuer.test/bob"]}}]}', req: withJwt(), matches: false },
    { name: 'requestPrincipals "*" needs a verified token', rule: '{from: [{source: {requestPrincipals: ["*"]}}]}', req: noJwt, matches: false },
    { name: 'requestPrincipals "*" with a token', rule: '{from: [{source: {requestPrincipals: ["*"]}}]}', req: withJwt(), matches: true },
    { name: 'requestPrincipals issuer prefix', rule: '{from: [{source: {requestPrincipals: ["https://issuer.test/*"]}}]}', req: withJwt(), matches: true },
    { name: 'notRequestPrincipals "*" matches a request without a token', rule: '{from: [{source: {notRequestPrincipals: ["*"]}}]}', req: noJwt, matches: true },
    { name: 'notRequestPrincipals "*" does not match a token', rule: '{from: [{source: {notRequestPrincipals: ["*"]}}]}', req: withJwt(), matches: false },
    { name: 'request.auth.principal', rule: '{when: [{key: request.auth.principal, values: ["https://issuer.test/alice"]}]}', req: withJwt(), matches: true },
    { name: 'request.auth.audiences: one of a list', rule: '{when: [{key: request.auth.audiences, values: [web]}]}', req: withJwt(), matches: true },
    { name: 'request.auth.audiences: a string aud', rule: '{when: [{key: request.auth.audiences, values: [api]}]}', req: withJwt({ ...payload, aud: 'api' }), matches: true },
    { name: 'request.auth.audiences: none matches', rule: '{when: [{key: request.auth.audiences, values: [other]}]}', req: withJwt(), matches: false },
    { name: 'request.auth.presenter', rule: '{when: [{key: request.auth.presenter, values: [cli]}]}', req: withJwt(), matches: true },
    { name: 'claims: a string claim', rule: '{when: [{key: "request.auth.claims[team]", values: [blue]}]}', req: withJwt(), matches: true },
    { name: 'claims: a list claim matches one element', rule: '{when: [{key: "request.auth.claims[groups]", values: [admin]}]}', req: withJwt(), matches: true },
    { name: 'claims: a list claim with no element matching', rule: '{when: [{key: "request.auth.claims[groups]", values: [ops]}]}', req: withJwt(), matches: false },
    { name: 'claims: nested [org][unit]', rule: '{when: [{key: "request.auth.claims[org][unit]", values: [eng]}]}', req: withJwt(), matches: true },
    { name: 'claims: nested list [org][tags]', rule: '{when: [{key: "request.auth.claims[org][tags]", values: [x]}]}', req: withJwt(), matches: true },
    { name: 'claims: a number claim is not a string (absent)', rule: '{when: [{key: "request.auth.claims[level]", values: ["3"]}]}', req: withJwt(), matches: false },
    { name: 'claims: notValues on a list claim', rule: '{when: [{key: "request.auth.claims[groups]", notValues: [admin]}]}', req: withJwt(), matches: false },
    { name: 'claims: notValues on an absent claim matches', rule: '{when: [{key: "request.auth.claims[missing]", notValues: [admin]}]}', req: withJwt(), matches: true },
    { name: 'claims without a token never match values', rule: '{when: [{key: "request.auth.claims[groups]", values: [admin]}]}', req: noJwt, matches: false },
  ]);
  it('a JWT in `from` is evaluated per request, not cached per client', () => {
    const set = compileYaml(oneRule('ALLOW', '{from: [{source: {requestPrincipals: ["https://issuer.test/alice"]}}]}')).policies.forWorkload();
    expect(evaluate(set, withJwt()).allowed).toBe(true);
    expect(evaluate(set, noJwt).allowed).toBe(false);
    expect(evaluate(set, withJwt({ ...payload, sub: 'bob' })).allowed).toBe(false);
    expect(evaluate(set, withJwt()).allowed).toBe(true);
  });
  it('DENY with requestPrincipals denies only that principal', () => {
    const denyAdmin = oneRule('DENY', '{from: [{source: {requestPrincipals: ["https://issuer.test/alice"]}}], to: [{operation: {paths: ["/admin*"]}}]}');
    expect(decideYaml(denyAdmin, withJwt()).allowed).toBe(true);
    expect(decideYaml(denyAdmin, httpReq({ path: '/admin/x' }, { jwt: { principal: 'https://issuer.test/alice', payload } })).allowed).toBe(false);
    expect(decideYaml(denyAdmin, httpReq({ path: '/admin/x' })).allowed).toBe(true);
  });
});

describe('to.operation.hosts / notHosts', () => {
  matchTable([
    { name: 'exact host', rule: `{to: [{operation: {hosts: [${REVIEWS}]}}]}`, req: httpReq(), matches: true },
    { name: 'hosts are case-insensitive', rule: `{to: [{operation: {hosts: [Reviews.Default.svc.cluster.local]}}]}`, req: httpReq({ host: 'REVIEWS.default.svc.cluster.local' }), matches: true },
    { name: 'an exact host does not match a host with a port', rule: `{to: [{operation: {hosts: [${REVIEWS}]}}]}`, req: httpReq({ host: `${REVIEWS}:80` }), matches: false },
    { name: 'host:* matches the host with a port', rule: `{to: [{operation: {hosts: ["${REVIEWS}:*"]}}]}`, req: httpReq({ host: `${REVIEWS}:80` }), matches: true },
    { name: 'host with explicit port', rule: `{to: [{operation: {hosts: ["${REVIEWS}:80"]}}]}`, req: httpReq({ host: `${REVIEWS}:80` }), matches: true },
    { name: 'suffix wildcard', rule: '{to: [{operation: {hosts: ["*.svc.cluster.local"]}}]}', req: httpReq(), matches: true },
    { name: 'suffix wildcard fails on a host with a port', rule: '{to: [{operation: {hosts: ["*.svc.cluster.local"]}}]}', req: httpReq({ host: `${REVIEWS}:80` }), matches: false },
    { name: 'prefix wildcard', rule: '{to: [{operation: {hosts: [reviews.*]}}]}', req: httpReq(), matches: true },
    { name: '"*" matches any host', rule: '{to: [{operation: {hosts: ["*"]}}]}', req: httpReq(), matches: true },
    { name: 'notHosts excludes (case-insensitive)', rule: `{to: [{operation: {notHosts: [REVIEWS.default.svc.cluster.local]}}]}`, req: httpReq(), matches: false },
    { name: 'notHosts with a port form admits a host without port', rule: `{to: [{operation: {notHosts: ["${REVIEWS}:80"]}}]}`, req: httpReq(), matches: true },
  ]);
});

describe('to.operation.ports / notPorts (the service port)', () => {
  matchTable([
    { name: 'the service port the client dialled', rule: '{to: [{operation: {ports: ["80"]}}]}', req: httpReq(), matches: true },
    { name: 'the target (container) port is not what is compared', rule: '{to: [{operation: {ports: ["8080"]}}]}', req: httpReq(), matches: false },
    { name: 'leading zeros parse as the number', rule: '{to: [{operation: {ports: ["080"]}}]}', req: httpReq(), matches: true },
    { name: 'notPorts excludes', rule: '{to: [{operation: {notPorts: ["80"]}}]}', req: httpReq(), matches: false },
    { name: 'notPorts admits other ports', rule: '{to: [{operation: {notPorts: ["80"]}}]}', req: httpReq({}, { destinationPort: 9080 }), matches: true },
  ]);
});

describe('to.operation.methods / notMethods', () => {
  matchTable([
    { name: 'exact method', rule: '{to: [{operation: {methods: [GET]}}]}', req: httpReq(), matches: true },
    { name: 'methods are case-sensitive', rule: '{to: [{operation: {methods: [get]}}]}', req: httpReq(), matches: false },
    { name: 'prefix wildcard', rule: '{to: [{operation: {methods: [P*]}}]}', req: httpReq({ method: 'PATCH' }), matches: true },
    { name: 'another method', rule: '{to: [{operation: {methods: [POST]}}]}', req: httpReq(), matches: false },
    { name: 'notMethods excludes', rule: '{to: [{operation: {notMethods: [GET]}}]}', req: httpReq(), matches: false },
    { name: 'notMethods admits others', rule: '{to: [{operation: {notMethods: [DELETE]}}]}', req: httpReq(), matches: true },
  ]);
});

describe('to.operation.paths / notPaths (normalised, query stripped)', () => {
  matchTable([
    { name: 'exact path', rule: '{to: [{operation: {paths: [/allow]}}]}', req: httpReq({ path: '/allow' }), matches: true },
    { name: 'query string is not part of the path', rule: '{to: [{operation: {paths: [/allow]}}]}', req: httpReq({ path: '/allow?param=value' }), matches: true },
    { name: 'fragment is not part of the path', rule: '{to: [{operation: {paths: [/allow]}}]}', req: httpReq({ path: '/allow#top' }), matches: true },
    { name: 'paths are case-sensitive', rule: '{to: [{operation: {paths: [/Allow]}}]}', req: httpReq({ path: '/allow' }), matches: false },
    { name: 'prefix', rule: '{to: [{operation: {paths: ["/public*"]}}]}', req: httpReq({ path: '/public/a' }), matches: true },
    { name: 'suffix', rule: '{to: [{operation: {paths: ["*.js"]}}]}', req: httpReq({ path: '/static/app.js?v=1' }), matches: true },
    { name: '"*" matches any path', rule: '{to: [{operation: {paths: ["*"]}}]}', req: httpReq({ path: '/x' }), matches: true },
    { name: 'a * in the middle is literal', rule: '{to: [{operation: {paths: [/foo/*/bar]}}]}', req: httpReq({ path: '/foo/x/bar' }), matches: false },
    { name: 'dot segments are removed before matching', rule: '{to: [{operation: {paths: ["/public*"]}}]}', req: httpReq({ path: '/public/../private' }), matches: false },
    { name: 'encoded dot segments are removed', rule: '{to: [{operation: {paths: ["/public*"]}}]}', req: httpReq({ path: '/public/%2E%2E/private' }), matches: false },
    { name: 'lower-case encoded dots too', rule: '{to: [{operation: {paths: ["/public*"]}}]}', req: httpReq({ path: '/public/%2e%2e/private' }), matches: false },
    { name: 'backslashes are slashes', rule: '{to: [{operation: {paths: ["/public*"]}}]}', req: httpReq({ path: '/public\\..\\private' }), matches: false },
    { name: 'encoded unreserved characters are decoded', rule: '{to: [{operation: {paths: [/admin]}}]}', req: httpReq({ path: '/%61dmin' }), matches: true },
    { name: 'an encoded slash stays encoded', rule: '{to: [{operation: {paths: [/a/b]}}]}', req: httpReq({ path: '/a%2Fb' }), matches: false },
    { name: 'slashes are not merged', rule: '{to: [{operation: {paths: [/a/b]}}]}', req: httpReq({ path: '//a/b' }), matches: false },
    { name: 'notPaths excludes the normalised path', rule: '{to: [{operation: {notPaths: [/private]}}]}', req: httpReq({ path: '/public/../private' }), matches: false },
    { name: 'paths and notPaths are ANDed', rule: '{to: [{operation: {paths: ["/api/*"], notPaths: [/api/admin]}}]}', req: httpReq({ path: '/api/admin' }), matches: false },
    { name: 'template {**} matches a trailing slash', rule: '{to: [{operation: {paths: ["/allow/admin/{**}"]}}]}', req: httpReq({ path: '/allow/admin/' }), matches: true },
    { name: 'template {**} matches several segments', rule: '{to: [{operation: {paths: ["/allow/admin/{**}"]}}]}', req: httpReq({ path: '/allow/admin/foo/temp.txt' }), matches: true },
    { name: 'template {**} needs the slash before it', rule: '{to: [{operation: {paths: ["/allow/admin/{**}"]}}]}', req: httpReq({ path: '/allow/admin' }), matches: false },
    { name: 'template ignores the query', rule: '{to: [{operation: {paths: ["/allow/admin/{**}"]}}]}', req: httpReq({ path: '/allow/admin?param=value' }), matches: false },
    { name: 'template {*} is one non-empty segment', rule: '{to: [{operation: {paths: ["/foo/{*}/bar/{**}"]}}]}', req: httpReq({ path: '/foo//bar/bat.txt' }), matches: false },
    { name: 'template {*} needs its segment', rule: '{to: [{operation: {paths: ["/foo/{*}/bar/{**}"]}}]}', req: httpReq({ path: '/foo/bar/bat.txt' }), matches: false },
    { name: 'template {*} matches a segment', rule: '{to: [{operation: {paths: ["/foo/{*}/bar/{**}"]}}]}', req: httpReq({ path: '/foo/x/bar/bat.txt' }), matches: true },
    { name: 'template {**} in the middle may be empty', rule: '{to: [{operation: {paths: ["/store/{**}/cart"]}}]}', req: httpReq({ path: '/store//cart' }), matches: true },
    { name: 'template {**} in the middle spans segments', rule: '{to: [{operation: {paths: ["/store/{**}/cart"]}}]}', req: httpReq({ path: '/store/a/b/cart' }), matches: true },
    { name: 'template {**} in the middle keeps both slashes', rule: '{to: [{operation: {paths: ["/store/{**}/cart"]}}]}', req: httpReq({ path: '/store/cart' }), matches: false },
  ]);
  it('a path Envoy rejects (%00) is denied when a path rule needs it', () => {
    const d = decideYaml(oneRule('DENY', '{to: [{operation: {paths: [/admin]}}]}'), httpReq({ path: '/x%00y' }));
    expect(d).toMatchObject({ allowed: false, action: 'NONE' });
    expect(d.reason).toContain('cannot be normalised');
  });
});

describe('to: entries are ORed, fields within an operation are ANDed', () => {
  matchTable([
    { name: 'second entry matches', rule: '{to: [{operation: {methods: [POST]}}, {operation: {paths: [/]}}]}', req: httpReq(), matches: true },
    { name: 'method and path both hold', rule: '{to: [{operation: {methods: [GET], paths: [/]}}]}', req: httpReq(), matches: true },
    { name: 'method holds, path does not', rule: '{to: [{operation: {methods: [GET], paths: [/x]}}]}', req: httpReq(), matches: false },
    { name: 'from, to and when are ANDed', rule: '{from: [{source: {namespaces: [default]}}], to: [{operation: {methods: [GET]}}], when: [{key: destination.port, values: ["81"]}]}', req: httpReq(), matches: false },
  ]);
});

describe('when: request.headers[...]', () => {
  const h = (headers: Record<string, string | string[]>): RequestAttributes => httpReq({ headers });
  matchTable([
    { name: 'exact value', rule: '{when: [{key: "request.headers[x-user]", values: [alice]}]}', req: h({ 'x-user': 'alice' }), matches: true },
    { name: 'header names are case-insensitive', rule: '{when: [{key: "request.headers[X-User]", values: [alice]}]}', req: h({ 'x-user': 'alice' }), matches: true },
    { name: 'values are case-sensitive', rule: '{when: [{key: "request.headers[x-user]", values: [Alice]}]}', req: h({ 'x-user': 'alice' }), matches: false },
    { name: 'prefix', rule: '{when: [{key: "request.headers[x-user]", values: [ali*]}]}', req: h({ 'x-user': 'alice' }), matches: true },
    { name: 'suffix', rule: '{when: [{key: "request.headers[x-user]", values: ["*ice"]}]}', req: h({ 'x-user': 'alice' }), matches: true },
    { name: '"*" is presence, even of an empty value', rule: '{when: [{key: "request.headers[x-user]", values: ["*"]}]}', req: h({ 'x-user': '' }), matches: true },
    { name: 'an absent header matches no values', rule: '{when: [{key: "request.headers[x-user]", values: ["*"]}]}', req: h({}), matches: false },
    { name: 'an absent header matches notValues', rule: '{when: [{key: "request.headers[x-user]", notValues: [alice]}]}', req: h({}), matches: true },
    { name: 'notValues excludes', rule: '{when: [{key: "request.headers[x-user]", notValues: [alice]}]}', req: h({ 'x-user': 'alice' }), matches: false },
    { name: 'repeated headers are joined with ","', rule: '{when: [{key: "request.headers[x-user]", values: ["alice,bob"]}]}', req: h({ 'x-user': ['alice', 'bob'] }), matches: true },
    { name: ':authority reads the host', rule: '{when: [{key: "request.headers[:authority]", values: ["reviews.*"]}]}', req: h({}), matches: true },
    { name: 'several conditions are ANDed', rule: '{when: [{key: "request.headers[x-a]", values: ["1"]}, {key: "request.headers[x-b]", values: ["2"]}]}', req: h({ 'x-a': '1' }), matches: false },
  ]);
});

describe('when: source and destination attributes', () => {
  matchTable([
    { name: 'source.ip CIDR', rule: '{when: [{key: source.ip, values: [127.0.0.0/24]}]}', req: httpReq(), matches: true },
    { name: 'source.ip notValues', rule: '{when: [{key: source.ip, notValues: [127.0.0.10]}]}', req: httpReq(), matches: false },
    { name: 'remote.ip is the peer address', rule: '{when: [{key: remote.ip, values: [127.0.0.10]}]}', req: httpReq(), matches: true },
    { name: 'destination.ip is the VIP dialled', rule: '{when: [{key: destination.ip, values: [127.40.0.1]}]}', req: httpReq(), matches: true },
    { name: 'destination.ip other address', rule: '{when: [{key: destination.ip, values: [127.40.0.2]}]}', req: httpReq(), matches: false },
    { name: 'destination.port is the service port', rule: '{when: [{key: destination.port, values: ["80"]}]}', req: httpReq(), matches: true },
    { name: 'destination.port notValues of its own port', rule: '{when: [{key: destination.port, notValues: ["80"]}]}', req: httpReq(), matches: false },
    { name: 'source.namespace', rule: '{when: [{key: source.namespace, values: [default]}]}', req: httpReq(), matches: true },
    { name: 'source.namespace without identity', rule: '{when: [{key: source.namespace, values: ["*"]}]}', req: httpReq({}, ANON), matches: false },
    { name: 'source.principal', rule: '{when: [{key: source.principal, values: [cluster.local/ns/default/sa/sleep]}]}', req: httpReq(), matches: true },
    { name: 'source.principal with spiffe:// never matches', rule: `{when: [{key: source.principal, values: ["${SLEEP}"]}]}`, req: httpReq(), matches: false },
    { name: 'source.serviceAccount', rule: '{when: [{key: source.serviceAccount, values: [default/sleep]}]}', req: httpReq(), matches: true },
    { name: 'source.trustDomain', rule: '{when: [{key: source.trustDomain, values: [cluster.local]}]}', req: httpReq(), matches: true },
    { name: 'connection.sni absent (plaintext) matches no values', rule: '{when: [{key: connection.sni, values: ["*"]}]}', req: httpReq(), matches: false },
    { name: 'connection.sni absent matches notValues', rule: '{when: [{key: connection.sni, notValues: [a.example]}]}', req: httpReq(), matches: true },
    { name: 'connection.sni suffix', rule: '{when: [{key: connection.sni, values: ["*.example"]}]}', req: httpReq({}, { sni: 'a.example' }), matches: true },
    { name: 'experimental metadata never matches values', rule: '{when: [{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"]}]}', req: httpReq(), matches: false },
    { name: 'experimental metadata always matches notValues', rule: '{when: [{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", notValues: ["[update]"]}]}', req: httpReq(), matches: true },
  ]);
});

describe('precedence: CUSTOM, then DENY, then ALLOW', () => {
  const allowGet = gatewayPolicy('allow-get', '  action: ALLOW\n  rules:\n  - to: [{operation: {methods: [POST]}}]\n  - to: [{operation: {methods: [GET]}}]\n');
  const allowAdmin = gatewayPolicy('allow-admin', '  rules:\n  - from: [{source: {principals: [cluster.local/ns/default/sa/admin]}}]\n');
  const denyAdmin = gatewayPolicy('deny-admin', '  action: DENY\n  rules:\n  - to: [{operation: {paths: ["/admin*"]}}]\n');
  const customAdmin = gatewayPolicy('ext-authz', '  action: CUSTOM\n  provider: {name: opa}\n  rules:\n  - to: [{operation: {paths: ["/admin/secret"]}}]\n');
  const cases = [
    { name: 'no policy: allowed', yaml: '', req: httpReq(), expected: { allowed: true, action: 'NONE', reason: 'allowed: no policy applies' } },
    {
      name: 'ALLOW rule 1 matches',
      yaml: allowGet,
      req: httpReq(),
      expected: { allowed: true, action: 'ALLOW', policy: 'default/allow-get', rule: 1, reason: 'allowed by ALLOW policy default/allow-get rule 1' },
    },
    {
      name: 'ALLOW policies apply but none matches',
      yaml: `${allowGet}---\n${allowAdmin}`,
      req: httpReq({ method: 'DELETE' }),
      expected: { allowed: false, action: 'ALLOW', reason: 'denied: no ALLOW policy matched (2 ALLOW policies apply)' },
    },
    {
      name: 'ALLOW policies are additive',
      yaml: `${allowGet}---\n${allowAdmin}`,
      req: httpReq({ method: 'DELETE' }, { sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/admin' }),
      expected: { allowed: true, policy: 'default/allow-admin', rule: 0 },
    },
    {
      name: 'DENY wins over a matching ALLOW',
      yaml: `${allowGet}---\n${denyAdmin}`,
      req: httpReq({ path: '/admin/users' }),
      expected: { allowed: false, action: 'DENY', policy: 'default/deny-admin', rule: 0, reason: 'denied by DENY policy default/deny-admin rule 0' },
    },
    {
      name: 'a DENY that does not match leaves ALLOW to decide',
      yaml: `${allowGet}---\n${denyAdmin}`,
      req: httpReq({ path: '/public' }),
      expected: { allowed: true, action: 'ALLOW', policy: 'default/allow-get' },
    },
    {
      name: 'only DENY policies, none matches: allowed',
      yaml: denyAdmin,
      req: httpReq(),
      expected: { allowed: true, action: 'NONE', reason: 'allowed: no DENY policy matched and no ALLOW policy applies' },
    },
    {
      name: 'CUSTOM fails closed for what it matches, before DENY',
      yaml: `${denyAdmin}---\n${customAdmin}`,
      req: httpReq({ path: '/admin/secret' }),
      expected: { allowed: false, action: 'CUSTOM', policy: 'default/ext-authz', rule: 0 },
    },
    {
      name: 'CUSTOM does not affect what it does not match',
      yaml: customAdmin,
      req: httpReq({ path: '/public' }),
      expected: { allowed: true, action: 'NONE', reason: 'allowed: no CUSTOM or DENY policy matched and no ALLOW policy applies' },
    },
  ];
  it.each(cases)('$name', ({ yaml, req, expected }) => {
    expect(decideYaml(yaml, req)).toMatchObject(expected);
  });
  it('CUSTOM names its provider and fails closed until the provider allows', () => {
    expect(decideYaml(customAdmin, httpReq({ path: '/admin/secret' }))).toMatchObject({
      provider: 'opa',
      reason: 'denied by CUSTOM policy default/ext-authz rule 0 unless ext_authz provider "opa" allows it (unknown providers, and gRPC providers on TCP: fail closed)',
    });
  });
  const afterCustom = [
    { name: 'CUSTOM alone: allowed once the provider allowed', yaml: customAdmin, path: '/admin/secret', expected: { allowed: true, action: 'NONE' } },
    { name: 'a DENY still applies after the provider allowed', yaml: `${denyAdmin}---\n${customAdmin}`, path: '/admin/secret', expected: { allowed: false, action: 'DENY', policy: 'default/deny-admin' } },
    { name: 'ALLOW policies still decide after the provider allowed', yaml: `${allowAdmin}---\n${customAdmin}`, path: '/admin/secret', expected: { allowed: false, action: 'ALLOW' } },
  ];
  it.each(afterCustom)('after CUSTOM: $name', ({ yaml, path, expected }) => {
    const { policies } = compileYaml(yaml);
    expect(evaluateAfterCustom(policies.forService(REVIEWS), httpReq({ path }))).toMatchObject(expected);
  });
  it('of several matching DENY policies the first by namespace/name is reported', () => {
    const yaml = `${gatewayPolicy('z-deny', '  action: DENY\n  rules: [{}]\n')}---\n${gatewayPolicy('a-deny', '  action: DENY\n  rules: [{}]\n')}`;
    expect(decideYaml(yaml, httpReq())).toMatchObject({ policy: 'default/a-deny' });
  });
});

describe('precedence: rules [{}], no rules, AUDIT', () => {
  const cases = [
    { name: 'ALLOW rules: [{}] allows everything', yaml: oneRule('ALLOW', '{}'), req: httpReq({ method: 'DELETE' }, ANON), allowed: true },
    { name: 'DENY rules: [{}] denies everything', yaml: oneRule('DENY', '{}'), req: httpReq(), allowed: false },
    { name: 'ALLOW without rules denies everything in its scope', yaml: gatewayPolicy('allow-nothing', ''), req: httpReq(), allowed: false },
    { name: 'ALLOW without rules also denies TCP', yaml: gatewayPolicy('allow-nothing', ''), req: tcpReq(), allowed: false },
    {
      name: 'an allow-all policy makes allow-nothing irrelevant',
      yaml: `${gatewayPolicy('allow-nothing', '')}---\n${oneRule('ALLOW', '{}', 'allow-all')}`,
      req: httpReq(),
      allowed: true,
    },
    { name: 'allow-all cannot beat a DENY', yaml: `${oneRule('ALLOW', '{}', 'allow-all')}---\n${oneRule('DENY', '{to: [{operation: {methods: [GET]}}]}', 'deny-get')}`, req: httpReq(), allowed: false },
    { name: 'AUDIT alone allows', yaml: oneRule('AUDIT', '{}'), req: httpReq(), allowed: true },
    { name: 'AUDIT does not satisfy an ALLOW requirement', yaml: `${oneRule('AUDIT', '{}', 'audit')}---\n${oneRule('ALLOW', '{to: [{operation: {methods: [POST]}}]}', 'allow-post')}`, req: httpReq(), allowed: false },
    { name: 'AUDIT does not deny', yaml: `${oneRule('AUDIT', '{}', 'audit')}---\n${oneRule('ALLOW', '{}', 'allow-all')}`, req: httpReq(), allowed: true },
  ];
  it.each(cases)('$name', ({ yaml, req, allowed }) => {
    expect(decideYaml(yaml, req).allowed).toBe(allowed);
  });
  it('AUDIT alone is reported as no enforced policy', () => {
    expect(decideYaml(oneRule('AUDIT', '{}'), httpReq()).reason).toBe('allowed: no enforced policy applies (1 AUDIT or dry-run policy only)');
  });
});

describe('precedence: dry-run', () => {
  const dry = (name: string, body: string, value = '"true"'): string => gatewayPolicy(name, body, { annotations: `    istio.io/dry-run: ${value}` });
  it('a dry-run DENY is evaluated and reported, never enforced', () => {
    const d = decideYaml(dry('deny-all', '  action: DENY\n  rules: [{}]\n'), httpReq());
    expect(d).toMatchObject({ allowed: true, action: 'NONE' });
    expect(d.dryRun).toEqual([{ policy: 'default/deny-all', action: 'DENY', matched: true }]);
  });
  it('a dry-run ALLOW does not count as an ALLOW policy', () => {
    const d = decideYaml(dry('allow-post', '  rules:\n  - to: [{operation: {methods: [POST]}}]\n'), httpReq());
    expect(d.allowed).toBe(true);
    expect(d.dryRun).toEqual([{ policy: 'default/allow-post', action: 'ALLOW', matched: false }]);
  });
  it('dry-run "false" is enforced', () => {
    expect(decideYaml(dry('deny-all', '  action: DENY\n  rules: [{}]\n', '"false"'), httpReq())).toMatchObject({ allowed: false, dryRun: [] });
  });
  it('the enforced decision is unchanged next to dry-run policies', () => {
    const yaml = `${dry('deny-all', '  action: DENY\n  rules: [{}]\n')}---\n${oneRule('DENY', '{to: [{operation: {methods: [GET]}}]}', 'deny-get')}`;
    const d = decideYaml(yaml, httpReq());
    expect(d).toMatchObject({ allowed: false, policy: 'default/deny-get' });
    expect(d.dryRun).toEqual([{ policy: 'default/deny-all', action: 'DENY', matched: true }]);
  });
});

describe('TCP traffic with HTTP-only fields', () => {
  const cases = [
    { name: 'ALLOW methods+ports: the rule is dropped, port 80 denied', yaml: oneRule('ALLOW', '{to: [{operation: {methods: [GET], ports: ["80"]}}]}'), req: tcpReq(), allowed: false },
    { name: 'ALLOW methods+ports: port 81 denied too', yaml: oneRule('ALLOW', '{to: [{operation: {methods: [GET], ports: ["80"]}}]}'), req: tcpReq({ destinationPort: 81 }), allowed: false },
    { name: 'ALLOW methods+ports still applies to HTTP', yaml: oneRule('ALLOW', '{to: [{operation: {methods: [GET], ports: ["80"]}}]}'), req: httpReq(), allowed: true },
    {
      name: 'ALLOW: a rule without HTTP fields survives next to one with them',
      yaml: gatewayPolicy('p', '  rules:\n  - to: [{operation: {paths: [/x]}}]\n  - to: [{operation: {ports: ["80"]}}]\n'),
      req: tcpReq(),
      allowed: true,
    },
    {
      name: 'ALLOW: a TCP-valid from entry does not save a rule whose other entry is HTTP-only',
      yaml: oneRule('ALLOW', '{from: [{source: {requestPrincipals: ["*"]}}, {source: {namespaces: [default]}}]}'),
      req: tcpReq(),
      allowed: false,
    },
    { name: 'ALLOW: notPaths drops the rule too', yaml: oneRule('ALLOW', '{to: [{operation: {notPaths: [/admin]}}]}'), req: tcpReq(), allowed: false },
    { name: 'ALLOW: an HTTP-only when condition drops the rule', yaml: oneRule('ALLOW', '{when: [{key: "request.headers[x-a]", notValues: ["1"]}]}'), req: tcpReq(), allowed: false },
    { name: 'ALLOW: remoteIpBlocks is not HTTP-only', yaml: oneRule('ALLOW', '{from: [{source: {remoteIpBlocks: [127.0.0.0/8]}}]}'), req: tcpReq(), allowed: true },
    { name: 'DENY methods alone denies every TCP connection', yaml: oneRule('DENY', '{to: [{operation: {methods: [GET]}}]}'), req: tcpReq(), allowed: false },
    { name: 'DENY methods alone does not deny HTTP POST', yaml: oneRule('DENY', '{to: [{operation: {methods: [GET]}}]}'), req: httpReq({ method: 'POST' }), allowed: true },
    { name: 'DENY methods+ports denies TCP to that port', yaml: oneRule('DENY', '{to: [{operation: {methods: [GET], ports: ["80"]}}]}'), req: tcpReq(), allowed: false },
    { name: 'DENY methods+ports allows TCP to another port', yaml: oneRule('DENY', '{to: [{operation: {methods: [GET], ports: ["80"]}}]}'), req: tcpReq({ destinationPort: 81 }), allowed: true },
    { name: 'DENY on a header condition denies all TCP', yaml: oneRule('DENY', '{when: [{key: "request.headers[x-a]", values: ["1"]}]}'), req: tcpReq(), allowed: false },
    {
      name: 'DENY requestPrincipals + ports denies the port from anyone',
      yaml: oneRule('DENY', '{from: [{source: {requestPrincipals: [iss/sub]}}], to: [{operation: {ports: ["80"]}}]}'),
      req: tcpReq({ sourcePrincipal: 'spiffe://cluster.local/ns/x/sa/y' }),
      allowed: false,
    },
    {
      name: 'DENY keeps its TCP-valid attributes: another namespace is allowed',
      yaml: oneRule('DENY', '{from: [{source: {namespaces: [prod]}}], to: [{operation: {paths: [/admin]}}]}'),
      req: tcpReq(),
      allowed: true,
    },
    {
      name: 'DENY: a from with an HTTP-only entry degenerates to any source',
      yaml: oneRule('DENY', '{from: [{source: {requestPrincipals: ["*"]}}, {source: {namespaces: [prod]}}], to: [{operation: {ports: ["80"]}}]}'),
      req: tcpReq(),
      allowed: false,
    },
    { name: 'CUSTOM on TCP is built like DENY (fails closed)', yaml: oneRule('CUSTOM', '{to: [{operation: {paths: [/admin]}}]}'), req: tcpReq(), allowed: false },
  ];
  it.each(cases)('$name', ({ yaml, req, allowed }) => {
    expect(decideYaml(yaml, req).allowed).toBe(allowed);
  });
});

describe('attachment decides which policies a request sees', () => {
  const denyAll = (name: string, ns: string, target: string): string =>
    `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  action: DENY\n  targetRefs: [${target}]\n  rules: [{}]\n`;
  const gw = '{group: gateway.networking.k8s.io, kind: Gateway, name: waypoint}';
  const gwc = '{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}';
  const svc = (name: string): string => `{kind: Service, group: "", name: ${name}}`;
  const cases = [
    { name: 'Gateway ref from the waypoint namespace: service traffic', yaml: denyAll('p', 'default', gw), target: REVIEWS, denied: true },
    { name: 'Gateway ref from the waypoint namespace: workload traffic', yaml: denyAll('p', 'default', gw), target: 'workload', denied: true },
    { name: 'Gateway ref from the root namespace does not reach the waypoint', yaml: denyAll('p', 'istio-system', gw), target: REVIEWS, denied: false },
    { name: 'Gateway ref to another Gateway', yaml: denyAll('p', 'default', '{group: gateway.networking.k8s.io, kind: Gateway, name: other}'), target: REVIEWS, denied: false },
    { name: 'GatewayClass istio-waypoint from the root namespace: service traffic', yaml: denyAll('p', 'istio-system', gwc), target: REVIEWS, denied: true },
    { name: 'GatewayClass istio-waypoint from the root namespace: workload traffic', yaml: denyAll('p', 'istio-system', gwc), target: 'workload', denied: true },
    { name: 'GatewayClass from another namespace is ignored', yaml: denyAll('p', 'default', gwc), target: REVIEWS, denied: false },
    { name: 'Service ref: that service', yaml: denyAll('p', 'default', svc('reviews')), target: REVIEWS, denied: true },
    { name: 'Service ref: not another service', yaml: denyAll('p', 'default', svc('reviews')), target: 'ratings.default.svc.cluster.local', denied: false },
    { name: 'Service ref: never workload traffic', yaml: denyAll('p', 'default', svc('reviews')), target: 'workload', denied: false },
    { name: 'Service ref from another namespace does not reach the service', yaml: denyAll('p', 'other', svc('reviews')), target: REVIEWS, denied: false },
    { name: 'Service ref from the service namespace across waypoint namespaces', yaml: denyAll('p', 'other', svc('catalog')), target: 'catalog.other.svc.cluster.local', denied: true },
    { name: 'Gateway policy applies to services of any namespace', yaml: denyAll('p', 'default', gw), target: 'catalog.other.svc.cluster.local', denied: true },
    { name: 'targetRefs are ORed', yaml: denyAll('p', 'default', `{group: gateway.networking.k8s.io, kind: Gateway, name: other}, ${svc('reviews')}`), target: REVIEWS, denied: true },
    {
      name: 'selector policies never apply at a waypoint',
      yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: waypoint}}\n  action: DENY\n  rules: [{}]\n',
      target: REVIEWS,
      denied: false,
    },
    {
      name: 'namespace-wide policies never apply at a waypoint',
      yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  action: DENY\n  rules: [{}]\n',
      target: REVIEWS,
      denied: false,
    },
    {
      name: 'the legacy targetRef field works',
      yaml: 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n  targetRef: {kind: Service, group: "", name: reviews}\n  action: DENY\n  rules: [{}]\n',
      target: REVIEWS,
      denied: true,
    },
  ];
  it.each(cases)('$name', ({ yaml, target, denied }) => {
    const { policies } = compileYaml(yaml);
    const set = target === 'workload' ? policies.forWorkload() : policies.forService(target);
    expect(evaluate(set, httpReq()).allowed).toBe(!denied);
  });

  const serviceEntry =
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: external-api, namespace: default}\nspec:\n  hosts: [api.example.com]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n';
  it.each([
    { name: 'ServiceEntry ref applies to its hosts', ref: '{kind: ServiceEntry, group: networking.istio.io, name: external-api}', denied: true },
    { name: 'a Service ref never matches a ServiceEntry', ref: '{kind: Service, group: "", name: external-api}', denied: false },
  ])('$name', ({ ref, denied }) => {
    const { policies } = compileYaml(`${serviceEntry}---\n${denyAll('p', 'default', ref)}`);
    expect(evaluate(policies.forService('api.example.com'), tcpReq()).allowed).toBe(!denied);
  });

  it('a configurable root namespace', () => {
    const { policies } = compileYaml(denyAll('p', 'mesh-root', gwc), context({ rootNamespace: 'mesh-root' }));
    expect(evaluate(policies.forWorkload(), tcpReq()).allowed).toBe(false);
  });
});

describe('evaluation does not allocate decisions', () => {
  it('returns the same precomputed decision object for repeated requests', () => {
    const { policies } = compileYaml(oneRule('ALLOW', '{from: [{source: {namespaces: [default]}}], to: [{operation: {methods: [GET]}}]}'));
    const set = policies.forService(REVIEWS);
    const a = evaluate(set, httpReq());
    expect(evaluate(set, httpReq({ path: '/other' }))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    const denied = evaluate(set, httpReq({ method: 'POST' }));
    expect(evaluate(set, httpReq({ method: 'PUT' }))).toBe(denied);
  });
  it('caches the candidate rules per client and keeps the first-match order', () => {
    const yaml = `${oneRule('ALLOW', '{from: [{source: {namespaces: [prod]}}]}', 'a')}---\n${oneRule('ALLOW', '{to: [{operation: {methods: [GET]}}]}', 'b')}---\n${oneRule('ALLOW', '{from: [{source: {namespaces: [default]}}]}', 'c')}`;
    const { policies } = compileYaml(yaml);
    const set = policies.forService(REVIEWS);
    expect(evaluate(set, httpReq())).toMatchObject({ policy: 'default/b' });
    expect(evaluate(set, httpReq({ method: 'POST' }))).toMatchObject({ policy: 'default/c' });
    expect(evaluate(set, httpReq({ method: 'POST' }, peer('prod', 'x')))).toMatchObject({ policy: 'default/a' });
    expect(set.httpIndex.cachedClients).toBe(2);
  });
});
