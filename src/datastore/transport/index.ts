/** The peer transport: Raft messages between cluster members over mutual TLS. */
export { decodeBatch, decodeMessage, encodeBatch, encodeMessage } from './codec.js';
export {
  FRAME_HEADER_BYTES,
  FrameKind,
  FrameReader,
  type Hello,
  MAX_CLUSTER_ID_BYTES,
  MAX_HELLO_FRAME_BYTES,
  PROTOCOL_VERSION,
} from './frames.js';
export {
  nodeIdFromCertificate,
  nodeIdFromSubjectAltName,
  PEER_DNS_SUFFIX,
  peerCertificateNames,
  peerDnsName,
} from './identity.js';
export { DEFAULT_TRANSPORT_LIMITS, type TransportLimits, validateTransportLimits } from './limits.js';
export {
  type PeerAddress,
  PeerTransport,
  type PeerTransportOptions,
  type TransportStats,
} from './peer-transport.js';
