import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseMeshConfig, type MeshConfig } from '../../../../src/config/mesh-config.js';
import { ExtAuthz } from '../../../../src/l7/ext-authz/custom.js';
import type { ReplyPlan } from '../../../../src/l7/http/plan.js';
import { NO_RESPONSE_FLAGS } from '../../../../src/metrics/response-flags.js';

// Providers are only parsed here, never dialled (no request is checked).
const mesh = (yaml: string): MeshConfig => {
  const r = parseMeshConfig(yaml);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.config;
};
const http = (name: string, port: number): string => `- name: ${name}\n  envoyExtAuthzHttp: { service: 127.170.30.1, port: ${port} }\n`;
const stop = (provider: string): ReplyPlan => ({ kind: 'reply', status: 403, body: '', replyFlags: NO_RESPONSE_FLAGS, extAuthzProvider: provider }) as unknown as ReplyPlan;

describe('ExtAuthz.update (a new mesh config from the istio ConfigMap)', () => {
  it('adds, changes and removes providers; TCP handling follows the kind', async () => {
    const authz = new ExtAuthz(mesh(''), pino({ level: 'silent' }));
    expect(authz.handles(stop('a'))).toBe(false);
    authz.update(mesh(`extensionProviders:\n${http('a', 8000)}`));
    expect(authz.handles(stop('a'))).toBe(true);
    expect(authz.ignoredOnTcp('a')).toBe(true);
    authz.update(mesh(`extensionProviders:\n${http('a', 8001)}- name: b\n  envoyExtAuthzGrpc: { service: 127.170.30.2, port: 9000 }\n`));
    expect(authz.handles(stop('b'))).toBe(true);
    expect(authz.ignoredOnTcp('b')).toBe(false);
    authz.update(mesh(`extensionProviders:\n${http('b', 8002)}`));
    expect(authz.handles(stop('a'))).toBe(false);
    expect(authz.ignoredOnTcp('b')).toBe(true);
    await authz.close();
  });
});
