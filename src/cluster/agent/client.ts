/**
 * The joiner's side of the cluster agent: undici over a TLS connection we open ourselves, so
 * the agent's certificate can be pinned by the join string's hash (the joiner has no CA yet):
 * the SHA-256 of the presented leaf's DER must start with the hash, or the connection is
 * dropped before a byte (the token) is sent. (`join --skip-verify`, which skipped it, is refused.)
 *
 * Between members (a configure passed on) there is a CA: `ca` verifies the agent by the cluster
 * CA instead, and `clientCert` presents the caller's member certificate (mutual TLS).
 *
 * Failures are told apart: nothing listening or no route (MK_AGENT_UNREACHABLE), the wrong
 * certificate (MK_AGENT_CERT_MISMATCH), something that is not our agent (MK_AGENT_PROTOCOL),
 * and the agent's own refusals, which keep their MK_* code.
 */
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { Client } from 'undici';
import { isMicroK8sError, MicroK8sError } from '../../lib/errors.js';
import { certificateMatchesHash } from '../join/cert-hash.js';
import { AGENT_LIMITS } from './limits.js';
import { type ErrorBody, isErrorCode } from './protocol.js';

type ConnectCallback = (error: Error | null, socket: TLSSocket | null) => void;

export interface AgentClientOptions {
  readonly host: string;
  readonly port: number;
  /** Hash prefix from the join string; undefined only with skipVerify or ca. */
  readonly certHash?: string;
  /** The cluster CA (PEM): the agent's certificate must chain to it (members calling members). */
  readonly ca?: string;
  /** The caller's member certificate and key (PEM), for requests only members may make. */
  readonly clientCert?: { readonly cert: string; readonly key: string };
  readonly skipVerify: boolean;
  /** The joining node's own address: outgoing connections leave from it (see DESIGN, tests). */
  readonly localAddress?: string;
  readonly connectTimeoutMs?: number;
  readonly responseTimeoutMs?: number;
}

export class AgentClient {
  private readonly client: Client;
  /** The PEM of the certificate the agent presented (to check it chains to the CA it sends). */
  presentedCert: string | undefined;
  private pinFailure: MicroK8sError | undefined;
  private readonly target: string;

  constructor(private readonly options: AgentClientOptions) {
    if (!options.skipVerify && options.certHash === undefined && options.ca === undefined) {
      throw new MicroK8sError(
        'MK_JOIN_NO_CERT_HASH',
        'the join string has no certificate hash to verify the agent with',
      );
    }
    const connectTimeout = options.connectTimeoutMs ?? AGENT_LIMITS.connectTimeoutMs;
    const responseTimeout = options.responseTimeoutMs ?? AGENT_LIMITS.responseTimeoutMs;
    this.target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    this.client = new Client(`https://${this.target}`, {
      connect: (_opts, callback) => this.connect(connectTimeout, callback as unknown as ConnectCallback),
      headersTimeout: responseTimeout,
      bodyTimeout: responseTimeout,
      pipelining: 0,
    });
  }

  private connect(
    timeoutMs: number,
    callback: (error: Error | null, socket: TLSSocket | null) => void,
  ): TLSSocket {
    // The hash replaces the CA check: the joiner has no CA before it joins. A member has the CA;
    // the agent's certificate names its node, not necessarily the address dialled, so the chain
    // is what is checked (only the cluster CA issues it).
    const { ca, clientCert, localAddress } = this.options;
    const socket = tlsConnect({
      host: this.options.host,
      port: this.options.port,
      minVersion: 'TLSv1.2',
      ...(ca === undefined
        ? { rejectUnauthorized: false }
        : { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }),
      ...(clientCert ?? {}),
      ...(localAddress ? { localAddress } : {}),
    });
    let done = false;
    const finish = (error: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        callback(error, null);
      } else callback(null, socket);
    };
    const timer = setTimeout(() => finish(this.unreachable(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish(this.unreachable(error.code ?? error.message, error)),
    );
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      this.presentedCert = cert?.toString();
      if (!cert)
        return finish(new MicroK8sError('MK_AGENT_PROTOCOL', `${this.target} presented no certificate`));
      const hash = this.options.certHash;
      if (!this.options.skipVerify && hash !== undefined && !certificateMatchesHash(cert.toString(), hash)) {
        this.pinFailure = new MicroK8sError(
          'MK_AGENT_CERT_MISMATCH',
          `the agent at ${this.target} presented a certificate whose hash does not start with ${hash}; nothing was sent to it`,
        );
        return finish(this.pinFailure);
      }
      finish(null);
    });
    return socket;
  }

  private unreachable(why: string, cause?: unknown): MicroK8sError {
    return new MicroK8sError(
      'MK_AGENT_UNREACHABLE',
      `cannot reach the cluster agent at ${this.target} (${why})`,
      {},
      cause === undefined ? {} : { cause },
    );
  }

  /** One JSON request; an agent error comes back as a MicroK8sError with the agent's code. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Awaited<ReturnType<Client['request']>>;
    try {
      res = await this.client.request({
        method,
        path,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
    } catch (error) {
      throw this.mapTransportError(error);
    }
    let parsed: unknown;
    try {
      parsed = await res.body.json();
    } catch (error) {
      throw new MicroK8sError(
        'MK_AGENT_PROTOCOL',
        `${this.target} did not answer with JSON (HTTP ${res.statusCode})`,
        {},
        { cause: error },
      );
    }
    if (res.statusCode === 200) return parsed as T;
    const err = parsed as Partial<ErrorBody>;
    if (isErrorCode(err.code) && typeof err.message === 'string') {
      throw new MicroK8sError(err.code, `the cluster agent at ${this.target} refused: ${err.message}`);
    }
    throw new MicroK8sError(
      'MK_AGENT_PROTOCOL',
      `${this.target} answered HTTP ${res.statusCode} without an error code`,
    );
  }

  private mapTransportError(error: unknown): MicroK8sError {
    if (this.pinFailure) return this.pinFailure;
    if (isMicroK8sError(error)) return error;
    const cause = (error as { cause?: unknown }).cause;
    if (isMicroK8sError(cause)) return cause;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new MicroK8sError(
        'MK_TIMEOUT',
        `the cluster agent at ${this.target} did not answer in time`,
        {},
        { cause: error },
      );
    }
    return new MicroK8sError(
      'MK_AGENT_PROTOCOL',
      `the connection to ${this.target} failed: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
