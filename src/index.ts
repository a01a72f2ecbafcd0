/**
 * The library entry point (`import ... from 'ts-waypoint'`): what README.md's "Library" section
 * documents. Only named exports that a caller needs; everything else stays internal.
 *
 * - certificates: a mesh CA and SPIFFE workload certificates in Istio's on-disk layout
 * - a waypoint started in-process, with the types its options refer to
 * - the test kit: loopback mesh, fake destination ztunnel, echo app, HBONE clients and tunnels
 */

// Certificates (src/hbone/certs.ts) and SPIFFE identities (src/hbone/spiffe.ts).
export {
  createMeshCa,
  issueWorkloadCert,
  writeCertDir,
  readCertDir,
  writeCaDir,
  readCaDir,
  createTestMesh,
  CERT_CHAIN_FILE,
  KEY_FILE,
  ROOT_CERT_FILE,
  type MeshCa,
  type WorkloadCert,
  type CreateMeshCaOptions,
  type IssueWorkloadCertOptions,
  type TestMesh,
} from './hbone/certs.js';
export { spiffeId, parseSpiffeId, type SpiffeIdentity } from './hbone/spiffe.js';

// TLS material a waypoint or client serves with (src/hbone/tls-source.ts).
export { TlsSource, readTlsMaterial, type TlsMaterial } from './hbone/tls-source.js';

// HBONE client side: pooled CONNECT streams (src/hbone/client-pool.ts).
export {
  HboneClientPool,
  HboneConnectError,
  type HboneClientPoolOptions,
  type HboneConnectErrorCode,
  type HboneTarget,
} from './hbone/client-pool.js';

// A waypoint in-process (src/waypoint.ts) and what its options name.
export { Waypoint, type WaypointOptions, type WaypointStats } from './waypoint.js';
export { DEFAULT_LIMITS, type WaypointLimits } from './config/limits.js';
export type { ConfigSource, ConfigSourceHandlers, ConfigState } from './config/source.js';
export type { ListenAddress } from './admin/servers.js';
export { createLogger } from './logger.js';

// The test kit (src/testkit/).
export { LoopbackMesh, type LoopbackMeshOptions, type MeshPod } from './testkit/mesh.js';
export { FakeZtunnel, type FakeZtunnelOptions, type ZtunnelBehaviour, type ConnectRecord } from './testkit/fake-ztunnel.js';
export { EchoApp, type EchoAppOptions, type EchoReply } from './testkit/echo-app.js';
export { HboneHttpClient, h2Request, type HboneDestination, type SimpleResponse } from './testkit/hbone-http-client.js';
export { Tunnel, type TunnelOptions } from './testkit/tunnel.js';
