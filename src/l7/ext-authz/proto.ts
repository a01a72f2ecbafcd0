/**
 * Envoy's `envoy.service.auth.v3.Authorization` service, loaded once from
 * `proto/envoy/service/auth/v3/external_auth.proto` (shipped in the package beside `proto/istio`,
 * which `caProtoPath` (src/hbone/istio-ca/proto.ts) already finds from `src/` and `dist/src/`).
 */
import { dirname, join } from 'node:path';
import type { ServiceClientConstructor } from '@grpc/grpc-js';
import { caProtoPath, CA_PROTO } from '../../hbone/istio-ca/proto.js';

export const EXT_AUTHZ_PROTO = join('proto', 'envoy', 'service', 'auth', 'v3', 'external_auth.proto');
export const EXT_AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization';

/** Messages as the loader hands them over (camelCase fields, `longs: Number`, `defaults: true`). */
export interface SocketAddressMsg {
  address: string;
  portValue: number;
}
export interface PeerMsg {
  address: { socketAddress: SocketAddressMsg };
  principal: string;
}
export interface CheckRequestMsg {
  attributes: {
    source: PeerMsg;
    destination: PeerMsg;
    request: { http: { id: string; method: string; headers: Record<string, string>; path: string; host: string; scheme: string; protocol: string; size: number } };
  };
}
export interface HeaderValueOptionMsg {
  header?: { key: string; value: string } | null;
}
export interface CheckResponseMsg {
  status?: { code: number; message?: string } | null;
  deniedResponse?: { status?: { code: number } | null; headers?: HeaderValueOptionMsg[]; body?: string } | null;
  okResponse?: { headers?: HeaderValueOptionMsg[]; headersToRemove?: string[]; responseHeadersToAdd?: HeaderValueOptionMsg[] } | null;
}

/** The package root: `proto/istio/v1/auth/ca.proto` is five levels below it. */
async function extAuthzProtoPath(): Promise<string> {
  let root = await caProtoPath();
  for (let i = 0; i < CA_PROTO.split(/[\\/]/).length; i++) root = dirname(root);
  return join(root, EXT_AUTHZ_PROTO);
}

let loading: Promise<ServiceClientConstructor> | undefined;

/** The generated client constructor; its `.service` is the definition servers register. */
export function loadExtAuthzService(): Promise<ServiceClientConstructor> {
  loading ??= (async () => {
    const [grpc, protoLoader, path] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader'), extAuthzProtoPath()]);
    const def = await protoLoader.load(path, { keepCase: false, longs: Number, enums: Number, defaults: true, oneofs: true });
    const ctor = def[EXT_AUTHZ_SERVICE];
    if (ctor === undefined) throw new Error(`${path} does not define ${EXT_AUTHZ_SERVICE}`);
    return grpc.makeClientConstructor(ctor as Parameters<typeof grpc.makeClientConstructor>[0], EXT_AUTHZ_SERVICE);
  })();
  return loading;
}
