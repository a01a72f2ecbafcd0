/**
 * The CUSTOM layer of AuthorizationPolicy for HTTP requests (authz-spec §3): when `decide`
 * (src/l7/http/decide.ts) stops at a CUSTOM rule naming a provider, ask that provider, then either
 * answer with its denial or decide again without the CUSTOM layer (Envoy runs the RBAC filters
 * after ext_authz), with the authorizer's headers on the request. A provider missing from the mesh
 * config leaves the fail-closed 403 as it is, as istiod's "deny due to bad CUSTOM action". TCP
 * connections: see `ignoredOnTcp`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { ExtAuthzProvider, MeshConfig } from '../../config/mesh-config.js';
import type { ConfigSnapshot } from '../../snapshot/types.js';
import type { DownstreamResponse } from '../http/exchange.js';
import { decide } from '../http/decide.js';
import type { DecideOptions, HttpRequestHead, Plan, ReplyPlan } from '../http/plan.js';
import { GrpcExtAuthzClient } from './grpc-client.js';
import { HttpExtAuthzClient } from './http-client.js';
import { verdictFor } from './outcome.js';
import { resolveProvider } from './resolve.js';
import type { CheckInput, ExtAuthzClient } from './types.js';

interface ProviderEntry {
  provider: ExtAuthzProvider;
  client: ExtAuthzClient;
}

export class ExtAuthz {
  readonly #providers = new Map<string, ProviderEntry>();
  readonly #log: Logger;
  #grpc: GrpcExtAuthzClient | undefined;

  constructor(mesh: MeshConfig, logger: Logger) {
    this.#log = logger.child({ filter: 'ext_authz' });
    this.update(mesh);
  }

  /**
   * Takes the providers of a new mesh config (the `istio` ConfigMap changed): a provider defined
   * as before keeps its client and connections; the HTTP clients of removed or changed ones are
   * closed once their checks in flight are done.
   */
  update(mesh: MeshConfig): void {
    const old = new Map(this.#providers);
    this.#providers.clear();
    for (const provider of mesh.extAuthzProviders.values()) {
      const prev = old.get(provider.name);
      if (prev !== undefined && isDeepStrictEqual(prev.provider, provider)) {
        this.#providers.set(provider.name, prev);
        old.delete(provider.name);
        continue;
      }
      const client = provider.kind === 'http' ? new HttpExtAuthzClient(provider) : (this.#grpc ??= new GrpcExtAuthzClient());
      this.#providers.set(provider.name, { provider, client });
    }
    for (const { client } of old.values()) if (client !== this.#grpc) client.close().catch(() => undefined);
  }

  /** True when `plan` is the CUSTOM layer's stop and its provider is configured here. */
  handles(plan: Plan): plan is ReplyPlan & { extAuthzProvider: string } {
    return plan.kind === 'reply' && plan.extAuthzProvider !== undefined && this.#providers.has(plan.extAuthzProvider);
  }

  /**
   * True for an HTTP provider: on TCP connections its CUSTOM rules are skipped, as istiod does
   * ("Ignored CUSTOM action with HTTP provider on TCP filter chain"). A gRPC provider would need
   * Envoy's network ext_authz, which this waypoint lacks: its rules, like an unknown provider's,
   * deny the TCP connections they match.
   */
  ignoredOnTcp(provider: string): boolean {
    return this.#providers.get(provider)?.provider.kind === 'http';
  }

  /**
   * Asks the provider of `plan` (see `handles`) about `head`; resolves to the plan to execute.
   * Allowed: `head` gets the authorizer's upstream headers and is decided again after CUSTOM;
   * the downstream headers are set on `res`.
   */
  async check(plan: ReplyPlan & { extAuthzProvider: string }, head: HttpRequestHead, snap: ConfigSnapshot, options: DecideOptions, res: DownstreamResponse): Promise<Plan> {
    const entry = this.#providers.get(plan.extAuthzProvider)!;
    const { provider, client } = entry;
    const target = resolveProvider(snap, provider.service, provider.port);
    const outcome = await client.check(target, checkInput(head, plan.base.path), provider.timeoutMs);
    if (outcome.kind === 'error') this.#log.warn({ provider: provider.name, target: `${target.host}:${target.port}`, reason: outcome.reason, failOpen: provider.failOpen }, 'ext_authz check failed');
    const verdict = verdictFor(provider, outcome, plan);
    if (verdict.kind === 'reply') return verdict.plan;
    const headers = { ...head.headers };
    for (const name of verdict.removeUpstreamHeaders) delete headers[name.toLowerCase()];
    for (const [name, value] of verdict.upstreamHeaders) headers[name] = value;
    for (const [name, value] of verdict.downstreamHeaders) if (!res.headersSent) res.setHeader(name, value);
    return decide({ ...head, headers, customAllowed: true }, snap, options);
  }

  async close(): Promise<void> {
    const clients = new Set<ExtAuthzClient>([...this.#providers.values()].map((e) => e.client));
    if (this.#grpc !== undefined) clients.add(this.#grpc);
    await Promise.all([...clients].map((c) => c.close()));
  }
}

function checkInput(head: HttpRequestHead, path: string): CheckInput {
  const peer = head.tunnel.peer;
  return {
    method: head.method,
    path,
    host: head.authority,
    scheme: 'http',
    protocol: head.downstream === 'h2c' ? 'HTTP/2' : 'HTTP/1.1',
    headers: head.headers,
    requestId: head.requestId,
    source: { address: peer.address, port: peer.port, principal: peer.identity },
    destination: { address: head.tunnel.authority.ip, port: head.tunnel.authority.port },
  };
}
