/**
 * The Istio certificate service definition, loaded from `proto/istio/v1/auth/ca.proto` (shipped
 * in the package beside `dist/`). The file is found by walking up from this module, which works
 * from `src/` (tests) and from `dist/src/` (the installed package).
 */
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, CA_PROTO);
    try {
      await access(candidate);
      return candidate;
    } catch {
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error(`cannot find ${CA_PROTO} above ${dirname(fileURLToPath(import.meta.url))}`);
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
