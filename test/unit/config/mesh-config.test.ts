import { describe, expect, it } from 'vitest';
import { parseMeshConfig, parseMeshDurationMs } from '../../../src/config/mesh-config.js';

describe('parseMeshDurationMs', () => {
  it.each([
    ['0.5s', 500],
    ['250ms', 250],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['10', undefined],
    ['fast', undefined],
  ])('%s → %s', (text, ms) => {
    expect(parseMeshDurationMs(text)).toBe(ms);
  });
});

describe('parseMeshConfig', () => {
  it('reads HTTP and gRPC providers with Istio defaults, and accessLogFile; other providers are left out', () => {
    const r = parseMeshConfig(`
accessLogFile: /dev/stdout
defaultConfig: { discoveryAddress: istiod.istio-system.svc:15012 }
enableTracing: true
extensionProviders:
- name: opa
  envoyExtAuthzHttp:
    service: opa.authz.svc.cluster.local
    port: 8181
    pathPrefix: /v1/check
    includeRequestHeadersInCheck: [X-Ext-Authz]
    headersToDownstreamOnDeny: [Content-Type]
- name: grpc
  envoyExtAuthzGrpc: { service: 127.0.0.9, port: 9000, timeout: 0.25s, failOpen: true, statusOnError: "503" }
- name: tracing
  zipkin: { service: zipkin.istio-system.svc.cluster.local, port: 9411 }
`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.accessLogFile).toBe('/dev/stdout');
    expect([...r.config.extAuthzProviders.keys()]).toEqual(['opa', 'grpc']);
    expect(r.config.extAuthzProviders.get('opa')).toMatchObject({
      kind: 'http',
      port: 8181,
      pathPrefix: '/v1/check',
      timeoutMs: 600_000,
      failOpen: false,
      statusOnError: 403,
      includeRequestHeadersInCheck: ['x-ext-authz'],
      headersToDownstreamOnDeny: ['content-type'],
    });
    expect(r.config.extAuthzProviders.get('grpc')).toEqual({ kind: 'grpc', name: 'grpc', service: '127.0.0.9', port: 9000, timeoutMs: 250, failOpen: true, statusOnError: 503 });
  });

  it('an empty document is an empty mesh config', () => {
    expect(parseMeshConfig('')).toMatchObject({ ok: true, config: { accessLogFile: undefined } });
  });

  it.each([
    { name: 'port out of range', yaml: 'extensionProviders: [{ name: a, envoyExtAuthzHttp: { service: s, port: 70000 } }]', error: 'extensionProviders[0].envoyExtAuthzHttp.port' },
    { name: 'bad timeout', yaml: 'extensionProviders: [{ name: a, envoyExtAuthzGrpc: { service: s, port: 1, timeout: soon } }]', error: 'must be a duration' },
    { name: 'bad statusOnError', yaml: 'extensionProviders: [{ name: a, envoyExtAuthzGrpc: { service: s, port: 1, statusOnError: "abc" } }]', error: 'statusOnError: must be an HTTP status code' },
    { name: 'both kinds', yaml: 'extensionProviders: [{ name: a, envoyExtAuthzGrpc: { service: s, port: 1 }, envoyExtAuthzHttp: { service: s, port: 1 } }]', error: 'only one of envoyExtAuthzHttp or envoyExtAuthzGrpc' },
    { name: 'duplicate names', yaml: 'extensionProviders: [{ name: a, envoyExtAuthzGrpc: { service: s, port: 1 } }, { name: a, envoyExtAuthzGrpc: { service: s, port: 2 } }]', error: 'duplicate provider name "a"' },
    { name: 'not YAML', yaml: 'a: [', error: 'not valid YAML' },
  ])('rejects $name', ({ yaml, error }) => {
    const r = parseMeshConfig(yaml);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain(error);
  });
});
