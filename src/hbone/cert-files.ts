/**
 * Istio's workload certificate layout (as in /var/run/secrets/workload-spiffe-credentials). Kept
 * apart from certs.ts so that reading certificates does not load the certificate issuer
 * (node-forge), which only `waypoint certs` and the demo need.
 */
export const CERT_CHAIN_FILE = 'cert-chain.pem';
export const KEY_FILE = 'key.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';
