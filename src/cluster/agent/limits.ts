/** Named bounds of the cluster agent and of the join flow: every wait and size is capped here. */
export const AGENT_LIMITS = {
  /** The MicroK8s cluster agent port, kept so habits and firewall rules carry over. */
  defaultPort: 25000,
  /** A request body (a join carries a few hostnames, addresses and CSRs). */
  maxBodyBytes: 64 * 1024,
  /** Reading a request body, so a slow client cannot hold a handler forever. */
  requestTimeoutMs: 15_000,
  /** The TLS handshake of a connection to the agent (Node's default is 120 s). */
  tlsHandshakeTimeoutMs: 10_000,
  /** Open connections to the agent, handshaking or not (joins and configure rolls need a few). */
  maxConnections: 256,
  /** Open connections from one source address. */
  maxConnectionsPerSource: 32,
  /** One call to the local datastore (admin socket or etcd socket). */
  datastoreTimeoutMs: 3_000,
  /** The joiner's TCP + TLS connect to the agent. */
  connectTimeoutMs: 5_000,
  /** The joiner's wait for the agent's answer (the agent issues certificates with openssl). */
  responseTimeoutMs: 60_000,
  /** `join --start`: how long to wait for the local datastore to see a leader and itself. */
  startWaitMs: 120_000,
  startPollMs: 250,
  /** A progress line at most this often while waiting. */
  progressEveryMs: 2_000,
  /** Node ids handed out but not yet in the Raft group are remembered this long. */
  pendingIdMs: 10 * 60_000,
  /** Ids tried when another agent takes the same one at the same moment. */
  idAttempts: 5,
  /** Datastore ports when nothing else is configured (etcd's, like MicroK8s's dqlite setup). */
  defaultPeerPort: 2380,
  defaultClientPort: 2379,
  /** The agent claims its node's name at start, retried while the datastore is not serving yet. */
  nameClaimAttempts: 30,
  nameClaimRetryMs: 2_000,
} as const;
