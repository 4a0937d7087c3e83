/** Counters shared by the parts of one transport (plain numbers: single-threaded). */
export interface TransportCounters {
  /** Messages handed to a socket in a batch frame. */
  sent: number;
  /** Messages delivered to the handler. */
  received: number;
  /** Messages not sent: queue overflow, unknown or removed peer, too large, stopped. */
  dropped: number;
  /** Connections closed for a malformed or oversized frame. */
  badFrames: number;
  /** Connections refused: TLS failure, no peer identity, wrong cluster, identity mismatch. */
  rejectedPeers: number;
  /** Our connections a peer refused with a reject frame (e.g. we are of another cluster). */
  refusedByPeers: number;
  /** Messages received whose `from` is not the connection's peer or whose `to` is not us. */
  misaddressed: number;
  /** Outbound connections with the TLS handshake done. */
  outbound: number;
  /** Inbound connections whose hello was accepted. */
  inbound: number;
}

export function newCounters(): TransportCounters {
  return {
    sent: 0,
    received: 0,
    dropped: 0,
    badFrames: 0,
    rejectedPeers: 0,
    refusedByPeers: 0,
    misaddressed: 0,
    outbound: 0,
    inbound: 0,
  };
}
