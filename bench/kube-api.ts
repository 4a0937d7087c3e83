/**
 * The kube bench's load driver: the Kubernetes API over one HTTP/2 connection (undici, keep-alive,
 * many streams at once), authenticated with the node's admin client certificate, as kubectl and
 * the controllers talk to kube-apiserver. JSON bodies; each watch on a connection of its own,
 * read line by line.
 */
import { Client } from 'undici';

export interface KubeCredentials {
  /** https://HOST:PORT of kube-apiserver. */
  readonly server: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A request kube-apiserver answered with a status outside 2xx. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; creationTimestamp?: string };
  [key: string]: unknown;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { status?: { phase?: string } };
}

/** Default bound on one request (a list of 10 000 objects included). */
const REQUEST_TIMEOUT_MS = 60_000;

function connection(credentials: KubeCredentials): Client {
  return new Client(credentials.server, {
    allowH2: true,
    h2Options: { maxConcurrentStreams: 256 },
    connect: {
      ca: credentials.caPem,
      cert: credentials.certPem,
      key: credentials.keyPem,
      // The server certificate names the node's address; the CA is what is checked.
      checkServerIdentity: () => undefined,
    },
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
}

export class KubeApi {
  private readonly client: Client;

  constructor(readonly credentials: KubeCredentials) {
    this.client = connection(credentials);
  }

  /** One request; the parsed JSON answer, or KubeApiError. `timeoutMs` aborts it (recovery probes). */
  async call<T = KubeObject>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<T> {
    const res = await this.client.request({
      method,
      path,
      headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300)
      throw new KubeApiError(res.statusCode, text, `${method} ${path}`);
    return JSON.parse(text) as T;
  }

  /**
   * A watch (`path` carries watch=1 and its resourceVersion): `onEvent` for every event until
   * `close()`. Resolves once the server has answered the request (the stream is open).
   */
  async watch(path: string, onEvent: (event: WatchEvent) => void): Promise<{ close: () => void }> {
    // A connection of its own, as an informer keeps one: on the load's connection (after lists
    // of 10 000 objects and watches aborted), a watch stalled with the events sent.
    const client = connection(this.credentials);
    const abort = new AbortController();
    const close = () => {
      abort.abort();
      void client.destroy().catch(() => undefined);
    };
    const res = await client.request({
      method: 'GET',
      path,
      headers: { accept: 'application/json' },
      signal: abort.signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      close();
      throw new KubeApiError(res.statusCode, text, `watch ${path}`);
    }
    let pending = '';
    res.body.setEncoding('utf8');
    res.body.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() !== '') onEvent(JSON.parse(line) as WatchEvent);
        nl = pending.indexOf('\n');
      }
    });
    res.body.on('error', () => undefined); // closing aborts the stream
    return { close };
  }

  close(): Promise<void> {
    return this.client.close();
  }

  /** Drop the connection at once (in-flight requests fail). */
  destroy(): Promise<void> {
    return this.client.destroy();
  }
}
