/**
 * The Istio certificate service definition, loaded from `proto/istio/v1/auth/ca.proto` (shipped
 * in the package beside `dist/`). The file is found by walking up from this module, which works
 * from `src/` (tests), `dist/src/` and the bundled command in `dist/bin/` (the installed package).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageFile } from '../../config/files.js';
import type { ServiceClientConstructor, ServiceDefinition } from '@grpc/grpc-js';

export const CA_PROTO = join('proto', 'istio', 'v1', 'auth', 'ca.proto');
export const CA_SERVICE = 'istio.v1.auth.IstioCertificateService';

/** Request and response as the loader hands them over (`longs: String`, camelCase fields). */
export interface IstioCertificateRequest {
  csr: string;
  validityDuration: string;
}
export interface IstioCertificateResponse {
  certChain: string[];
}

export async function caProtoPath(): Promise<string> {
  const found = findPackageFile(CA_PROTO, import.meta.url);
  if (found === undefined) throw new Error(`cannot find ${CA_PROTO} above ${dirname(fileURLToPath(import.meta.url))}`);
  return found;
}

interface LoadedService {
  client: ServiceClientConstructor;
  definition: ServiceDefinition;
}

let loading: Promise<LoadedService> | undefined;

/** The generated client constructor and the service definition (for servers), loaded once. */
export function loadCaService(): Promise<LoadedService> {
  loading ??= (async () => {
    const [grpc, protoLoader, path] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader'), caProtoPath()]);
    const def = await protoLoader.load(path, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def);
    const client = (((pkg.istio as Record<string, unknown>).v1 as Record<string, unknown>).auth as Record<string, unknown>).IstioCertificateService as ServiceClientConstructor;
    return { client, definition: client.service };
  })();
  return loading;
}
