/**
 * What the supervisor needs to know of one daemon: how to start it, when it serves, what it
 * waits for, and how long it gets to stop. The specs are built by the layer that knows the
 * node (certificates, args files); the supervisor itself knows no service by name.
 */

export type Probe =
  /** A unix socket accepts a connection (containerd, the datastore's etcd socket). */
  | { readonly kind: 'unix'; readonly path: string }
  /** A TCP port accepts a connection. */
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  /** A file exists: what the daemon writes once it has done its work (flanneld's subnet file). */
  | { readonly kind: 'file'; readonly path: string }
  /**
   * An HTTP(S) GET answers 200. TLS material is PEM text; without a CA the server's certificate
   * is not verified (components' own self-signed health endpoints on loopback).
   */
  | {
      readonly kind: 'http';
      readonly url: string;
      readonly ca?: string;
      readonly cert?: string;
      readonly key?: string;
    };

export interface DaemonSpec {
  readonly name: string;
  /** argv: the binary and its arguments, worked out at each start (args files may change). */
  readonly command: () => readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Services that must be ready before this one starts. */
  readonly dependsOn: readonly string[];
  readonly probe: Probe;
  /** Work done before each start (host preparation, folders); a failure is logged, not fatal. */
  readonly prestart?: () => Promise<string[]>;
  /**
   * Work done each time the probe passes after a start or a lapse, before the daemon counts as
   * ready: files that follow what the daemon wrote (the CNI conflist from flanneld's subnet).
   * Returns a line for the log; a failure is a warning, and the next probe tries again.
   */
  readonly onReady?: () => Promise<string>;
  /** How long SIGTERM gets before SIGKILL. */
  readonly stopTimeoutMs: number;
}

export const SUPERVISOR_LIMITS = {
  /** First restart delay after a crash; doubles on each crash in a row. */
  restartBackoffFirstMs: 500,
  restartBackoffMaxMs: 30_000,
  /** A run this long resets the backoff. */
  healthyRunResetMs: 60_000,
  /** How long a start waits for the services it depends on before starting anyway. */
  dependencyWaitMs: 180_000,
  probeEveryMs: 1_000,
  /**
   * Once a daemon serves, a probe every few seconds is enough: each one is a new connection (for
   * the API server a TLS handshake with the admin identity), a cost paid for the node's life.
   */
  probeReadyEveryMs: 5_000,
  probeTimeoutMs: 2_000,
  /** Log files are rotated (one old copy kept) when they pass this size at a start. */
  logRotateBytes: 20 * 1024 * 1024,
} as const;
