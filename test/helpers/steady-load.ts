import type { ClientHttp2Session } from 'node:http2';
import type { HboneClientPool } from '../../src/hbone/client-pool.js';
import type { EchoReply } from '../../src/testkit/echo-app.js';
import { h2Request, HboneHttpClient, type HboneDestination, type SimpleResponse } from '../../src/testkit/hbone-http-client.js';

/** One way to send requests through the waypoint: keep-alive HTTP/1.1 connections or an h2c session. */
export interface LoadChannel {
  readonly name: string;
  send(path: string): Promise<SimpleResponse>;
  /** Inner connections this channel opened again after one closed (0 when nothing was reset). */
  connectionsReopened(): number;
  close(): Promise<void>;
}

/**
 * Keep-alive HTTP/1.1 connections, each over its own HBONE tunnel: a request goes to the
 * connection with the fewest waiting, so one slow answer does not hold up the rest.
 */
export function http1Channel(name: string, pool: HboneClientPool, dest: HboneDestination, connections = 3): LoadChannel {
  const clients = Array.from({ length: connections }, () => ({ client: new HboneHttpClient(pool, dest), busy: 0 }));
  return {
    name,
    send: async (path) => {
      const c = clients.reduce((a, b) => (b.busy < a.busy ? b : a));
      c.busy++;
      try {
        return await c.client.request({ path });
      } finally {
        c.busy--;
      }
    },
    connectionsReopened: () => clients.reduce((n, c) => n + Math.max(0, c.client.tunnelsOpened - 1), 0),
    close: async () => void (await Promise.allSettled(clients.map((c) => c.client.close()))),
  };
}

/** An h2c session over one HBONE tunnel; requests run as concurrent streams. */
export async function h2cChannel(name: string, pool: HboneClientPool, dest: HboneDestination): Promise<LoadChannel> {
  const client = new HboneHttpClient(pool, dest);
  let opened = 0;
  let session: ClientHttp2Session | undefined;
  const current = async (): Promise<ClientHttp2Session> => {
    if (session === undefined || session.closed || session.destroyed) {
      session = await client.h2c();
      opened++;
    }
    return session;
  };
  await current();
  return { name, send: async (path) => h2Request(await current(), { path }), connectionsReopened: () => opened - 1, close: () => client.close() };
}

/** One request of a load, as the client saw it. */
export interface LoadSample {
  channel: string;
  startedAt: number;
  endedAt: number;
  status: number;
  /** The pod that answered (echo app), when it did. */
  pod?: string | undefined;
  error?: string | undefined;
}

export interface LoadResult {
  samples: LoadSample[];
  /** Non-2xx answers, errors and timeouts, described. */
  failures: string[];
}

export interface SteadyLoadOptions {
  ratePerSecond: number;
  durationMs: number;
  /** Path of each request; `i` counts from 0. */
  path: (i: number) => string;
  /** Each request is abandoned (and counted as failed) after this long. Default 5 s. */
  requestTimeoutMs?: number;
}

/**
 * A paced open-loop load: requests are started on schedule (every 10 ms, the number due since the
 * start), spread round robin over the channels, whether or not earlier ones have finished; each
 * is bounded by a timeout. Resolves once every request has finished.
 */
export async function steadyLoad(channels: readonly LoadChannel[], opts: SteadyLoadOptions): Promise<LoadResult> {
  const samples: LoadSample[] = [];
  const failures: string[] = [];
  const pending: Array<Promise<void>> = [];
  const timeoutMs = opts.requestTimeoutMs ?? 5_000;
  const total = Math.round((opts.ratePerSecond * opts.durationMs) / 1000);
  const start = Date.now();
  let sent = 0;
  const one = async (i: number): Promise<void> => {
    const channel = channels[i % channels.length]!;
    const startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const res = await Promise.race([channel.send(opts.path(i)), timeout]);
      const pod = res.headers['x-echo-pod'];
      samples.push({ channel: channel.name, startedAt, endedAt: Date.now(), status: res.status, pod: typeof pod === 'string' ? pod : undefined });
      if (res.status < 200 || res.status > 299) failures.push(`${channel.name} #${i}: status ${res.status} ${res.body.toString().slice(0, 200)}`);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      samples.push({ channel: channel.name, startedAt, endedAt: Date.now(), status: 0, error });
      failures.push(`${channel.name} #${i}: ${error}`);
    } finally {
      clearTimeout(timer);
    }
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - start) * opts.ratePerSecond) / 1000) + 1);
    while (sent < due) pending.push(one(sent++));
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
  return { samples, failures };
}

/** One slow request on its own connection, sent to be in flight across a change. */
export async function inFlight(pool: HboneClientPool, dest: HboneDestination, path: string): Promise<{ startedAt: number; endedAt: number; status: number; reply: EchoReply }> {
  const client = new HboneHttpClient(pool, dest);
  const startedAt = Date.now();
  try {
    const res = await client.request({ path });
    return { startedAt, endedAt: Date.now(), status: res.status, reply: JSON.parse(res.body.toString()) as EchoReply };
  } finally {
    await client.close();
  }
}
