import { createMeshCa, issueWorkloadCert, readCaDir, writeCaDir, writeCertDir } from '../hbone/certs.js';
import { parseSpiffeId, spiffeId } from '../hbone/spiffe.js';

/** `waypoint certs ca`: a new mesh root CA in DIR (ca-cert.pem, ca-key.pem, root-cert.pem). */
export async function certsCaCommand(flags: { out: string; trustDomain: string; days: number }): Promise<string> {
  const ca = await createMeshCa({ trustDomain: flags.trustDomain, validDays: flags.days });
  await writeCaDir(flags.out, ca);
  return `wrote mesh CA for trust domain ${flags.trustDomain} to ${flags.out}`;
}

/** `waypoint certs issue`: a workload certificate in Istio's layout (cert-chain.pem, key.pem, root-cert.pem). */
export async function certsIssueCommand(flags: {
  ca: string;
  out: string;
  spiffe?: string | undefined;
  namespace?: string | undefined;
  serviceAccount?: string | undefined;
  days: number;
}): Promise<string> {
  const ca = await readCaDir(flags.ca);
  let id: string;
  if (flags.spiffe !== undefined) {
    if (flags.namespace !== undefined || flags.serviceAccount !== undefined) throw new Error('give either --spiffe or --namespace with --service-account, not both');
    if (parseSpiffeId(flags.spiffe) === undefined) throw new Error(`--spiffe: "${flags.spiffe}" is not spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`);
    id = flags.spiffe;
  } else {
    if (flags.namespace === undefined || flags.serviceAccount === undefined) throw new Error('give --spiffe URI, or both --namespace and --service-account');
    id = spiffeId(ca.trustDomain, flags.namespace, flags.serviceAccount);
  }
  await writeCertDir(flags.out, await issueWorkloadCert(ca, { spiffe: id, validDays: flags.days }));
  return `wrote certificate for ${id} to ${flags.out}`;
}
