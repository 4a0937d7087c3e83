/**
 * How a Raft peer proves which node it is.
 *
 * Convention: the peer certificate of node N, issued by the cluster CA with usage 'peer'
 * (serverAuth + clientAuth), carries the SAN `DNS:node-N.peer.microk8s` (exactly one such name)
 * and, for people reading it, CN `node-N`. Only the SAN is trusted: the CN is free text in many
 * tools and SANs are what TLS name checks use.
 *
 * Both directions check it: the listener compares it with the node id claimed in the hello
 * frame; the dialer checks that the server it reached at a peer's address is that peer, so an
 * address taken over by another member (or a stale address after a readdress) is refused.
 *
 * The convention lives here, not in the PKI module, because the datastore must not import the
 * cluster layer; the PKI issues whatever names it is given (see peerCertificateNames).
 */
import type { X509Certificate } from 'node:crypto';
import type { NodeId } from '../raft/types.js';

export const PEER_DNS_SUFFIX = '.peer.microk8s';
const PEER_SAN_RE = /^DNS:node-([1-9][0-9]{0,15})\.peer\.microk8s$/;

export function peerDnsName(id: NodeId): string {
  return `node-${id}${PEER_DNS_SUFFIX}`;
}

/** What to issue a peer certificate with: `issueCertificate(ca, dir, name, { ...peerCertificateNames(id), ips, usage: 'peer' })`. */
export function peerCertificateNames(id: NodeId): { commonName: string; dnsNames: string[] } {
  return { commonName: `node-${id}`, dnsNames: [peerDnsName(id)] };
}

/**
 * The node id named by a certificate's SANs (Node's `subjectAltName` text: entries separated
 * by ", ", values with separators JSON-quoted, so a quoted value never matches the pattern).
 * Undefined when there is none or more than one: an ambiguous identity is no identity.
 */
export function nodeIdFromSubjectAltName(text: string | undefined): NodeId | undefined {
  if (!text) return undefined;
  let found: NodeId | undefined;
  for (const entry of text.split(', ')) {
    const match = PEER_SAN_RE.exec(entry);
    if (!match) continue;
    const id = Number(match[1]);
    if (!Number.isSafeInteger(id)) return undefined;
    if (found !== undefined) return undefined;
    found = id;
  }
  return found;
}

export function nodeIdFromCertificate(cert: X509Certificate | undefined): NodeId | undefined {
  return nodeIdFromSubjectAltName(cert?.subjectAltName);
}
