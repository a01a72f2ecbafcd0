import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net from 'node:net';
import { meshPodManifest, type MeshPod } from '../../src/testkit/mesh.js';

/**
 * The GAMMA mesh conformance topology (kubernetes-sigs/gateway-api `conformance/mesh/manifests.yaml`)
 * on loopback under 127.46.x.x, for the routing end-to-end tests, plus two Services for retry and
 * timeout tests whose pods are partly served by a `StubBackend`.
 *
 * - waypoint `gateway-conformance-mesh/waypoint` at 127.46.0.10, `istio.io/waypoint-for: all`
 *   (so pod-addressed traffic crosses the waypoint too and MeshFrontend's "send to pod IP" case
 *   is exercised there)
 * - Services `echo` 127.46.10.1, `echo-v1` 127.46.10.2, `echo-v2` 127.46.10.3, each with the
 *   conformance ports http 80→8080, http-alt 8080, tcp 9090, grpc 7070. Adapted: `grpc` targets
 *   8080 (the test kit's echo app serves HTTP/1.1 and h2c on one port) and `https` 443 is left out
 *   (no TLS echo)
 * - pods echo-v1 ×2 (127.46.1.1-2) and echo-v2 ×2 (127.46.1.3-4), labels app: echo, version: v1/v2,
 *   named like Deployment pods (`echo-v1-<rs>-<pod>`) so the conformance `extractBackendName` works
 * - Service `flaky` 127.46.10.4 (port 80 h2c upstream, port 8080 HTTP/1.1 upstream, both → named
 *   targetPort `http`): pod flaky-bad (127.46.1.10) whose `http` port is a StubBackend answering
 *   503, pod flaky-good (127.46.1.11) the echo app
 * - Service `slow` 127.46.10.5 (port 80 → `http`): pod slow-1 (127.46.1.12) whose `http` port is a
 *   StubBackend that never answers and records when the waypoint gives up on a request
 * - Service `mirror` 127.46.10.6 (port 80 → `http`): pod mirror-1 (127.46.1.13) whose `http` port is
 *   a StubBackend answering 200 (it records what mirrors send)
 * - consumer namespace `gateway-conformance-mesh-consumer` with an echo-v1 pod at 127.46.2.1 (only
 *   a client: its address is the source address of the consumer client's tunnels)
 */
export const MESH_NS = 'gateway-conformance-mesh';
export const CONSUMER_NS = 'gateway-conformance-mesh-consumer';
export const STUB_PORT = 18080;

export const ip = (rest: string): string => `127.46.${rest}`;

export const VIP = {
  echo: ip('10.1'),
  'echo-v1': ip('10.2'),
  'echo-v2': ip('10.3'),
  flaky: ip('10.4'),
  slow: ip('10.5'),
  mirror: ip('10.6'),
} as const;

export const WAYPOINT_IP = ip('0.10');
export const CONSUMER_CLIENT_IP = ip('2.1');

/** A pod of the mesh namespace; `httpContainerPort` is its container port named `http`. */
function meshPod(name: string, podIp: string, labels: Record<string, string>, httpContainerPort = 8080, namespace = MESH_NS): MeshPod {
  return { name, namespace, serviceAccount: 'default', ip: podIp, httpPort: 8080, tcpPort: 9090, labels, containerPorts: { http: httpContainerPort, tcp: 9090 } };
}

export const PODS: MeshPod[] = [
  meshPod('echo-v1-6c8d9b-k2x4p', ip('1.1'), { app: 'echo', version: 'v1' }),
  meshPod('echo-v1-6c8d9b-q7m3z', ip('1.2'), { app: 'echo', version: 'v1' }),
  meshPod('echo-v2-5f7b4d-h8n2w', ip('1.3'), { app: 'echo', version: 'v2' }),
  meshPod('echo-v2-5f7b4d-t5r9v', ip('1.4'), { app: 'echo', version: 'v2' }),
  meshPod('flaky-bad', ip('1.10'), { app: 'flaky' }, STUB_PORT),
  meshPod('flaky-good', ip('1.11'), { app: 'flaky' }),
  meshPod('slow-1', ip('1.12'), { app: 'slow' }, STUB_PORT),
  meshPod('mirror-1', ip('1.13'), { app: 'mirror' }, STUB_PORT),
];
/** The consumer namespace's pod: only a client, its address the source of the consumer's tunnels. */
const CONSUMER_POD = meshPod('echo-v1-7a1b2c-c0n5m', CONSUMER_CLIENT_IP, { app: 'echo', version: 'v1' }, 8080, CONSUMER_NS);
export const V1_PODS = PODS.filter((p) => p.name.startsWith('echo-v1-')).map((p) => p.name);
export const V2_PODS = PODS.filter((p) => p.name.startsWith('echo-v2-')).map((p) => p.name);

/** `echo-v1-6c8d9b-k2x4p` → `echo-v1` (the conformance suite's `extractBackendName`). */
export function backendOf(podName: string): string {
  const parts = podName.split('-');
  return parts.length < 3 ? podName : parts.slice(0, -2).join('-');
}

/** A Service of the mesh namespace at its VIP. */
function service(name: keyof typeof VIP, selector: string, ports: string): string {
  return `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${MESH_NS}
spec:
  clusterIP: ${VIP[name]}
  selector: ${selector}
  ports:
${ports}`;
}

function echoService(name: 'echo' | 'echo-v1' | 'echo-v2'): string {
  const selector = name === 'echo' ? '{app: echo}' : `{app: echo, version: ${name.slice(5)}}`;
  return service(
    name,
    selector,
    `  - {name: http, port: 80, appProtocol: http, targetPort: 8080}
  - {name: http-alt, port: 8080, appProtocol: http}
  - {name: tcp, port: 9090}
  - {name: grpc, port: 7070, targetPort: 8080${name === 'echo' ? ', appProtocol: kubernetes.io/h2c' : ''}}
`,
  );
}

function namedPortService(name: 'flaky' | 'slow' | 'mirror', ports: string): string {
  return service(name, `{app: ${name}}`, ports);
}

/**
 * `flaky`: port 80 is HTTP/2 upstream (h2c), port 8080 HTTP/1.1 upstream (see the retry tests in
 * routing.test.ts for why both).
 */
const FLAKY_PORTS = `  - {name: http2, port: 80, appProtocol: http2, targetPort: http}
  - {name: http, port: 8080, appProtocol: http, targetPort: http}
`;

const HTTP_PORT = '  - {name: http, port: 80, appProtocol: http, targetPort: http}\n';

export const TOPOLOGY = `apiVersion: v1
kind: Namespace
metadata:
  name: ${MESH_NS}
  labels: {gateway-conformance: mesh, istio.io/use-waypoint: waypoint}
---
apiVersion: v1
kind: Namespace
metadata:
  name: ${CONSUMER_NS}
  labels: {gateway-conformance: mesh-consumer}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: ${MESH_NS}
  labels: {istio.io/waypoint-for: all}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - {name: mesh, port: 15008, protocol: HBONE}
${echoService('echo')}${echoService('echo-v1')}${echoService('echo-v2')}${namedPortService('flaky', FLAKY_PORTS)}${namedPortService('slow', HTTP_PORT)}${namedPortService('mirror', HTTP_PORT)}${[...PODS, CONSUMER_POD].map(meshPodManifest).join('')}`;

/** One request a StubBackend saw. */
export interface StubRequest {
  path: string;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  headers: IncomingHttpHeaders;
  receivedAt: number;
  /** When the connection or stream closed before the stub answered (the waypoint gave up). */
  abortedAt?: number;
}

/**
 * A backend the test controls, listening on a pod IP beside the echo app (HTTP/1.1 and h2c prior
 * knowledge on one port, like the echo app): `{status}` answers every request with that status
 * (JSON `{pod, path}`), `hang` never answers.
 */
export class StubBackend {
  readonly requests: StubRequest[] = [];
  readonly #server: net.Server;
  readonly #h1 = http.createServer();
  readonly #h2 = http2.createServer();
  readonly #sockets = new Set<net.Socket>();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly pod: string,
    readonly mode: { status: number } | 'hang',
  ) {
    this.#h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.#answer(req, res));
    this.#h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.#answer(req, res));
    this.#server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.once('readable', () => {
        const head = socket.read(Math.min(socket.readableLength, 3)) as Buffer | null;
        if (head === null) return;
        socket.unshift(head);
        if (head.toString() === 'PRI') this.#h2.emit('connection', socket);
        else this.#h1.emit('connection', socket);
      });
    });
  }

  #answer(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
    const rec: StubRequest = {
      path: req.url ?? '',
      protocol: req.httpVersionMajor === 2 ? 'HTTP/2' : 'HTTP/1.1',
      headers: req.headers,
      receivedAt: Date.now(),
    };
    this.requests.push(rec);
    let finished = false;
    res.once('finish', () => {
      finished = true;
    });
    res.once('close', () => {
      if (!finished) rec.abortedAt = Date.now();
    });
    req.resume();
    req.once('end', () => {
      if (this.mode === 'hang') return;
      const body = JSON.stringify({ pod: this.pod, path: rec.path });
      res.writeHead(this.mode.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-echo-pod': this.pod });
      res.end(body);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.port, this.host, () => resolve());
    });
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
