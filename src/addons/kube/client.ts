/**
 * The Kubernetes REST API with the node's admin identity, over undici: server-side apply under
 * one field manager (a second apply of the same manifest is a no-op, and our fields win over a
 * hand edit, as `kubectl apply --server-side --force-conflicts` does), get and delete. Resource
 * paths come from API discovery, so any kind the server serves (a CRD too) can be applied.
 * A refused connection, 429 and 5xx are retried with a doubling backoff, a bounded number of times.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { MicroK8sError } from '../../lib/errors.js';
import type { ApiCredentials } from './kubeconfig.js';
import { describeObject, type KubeObject } from './object.js';

export const KUBE_CLIENT_LIMITS = {
  attempts: 6,
  firstBackoffMs: 250,
  requestTimeoutMs: 30_000,
  quickTimeoutMs: 3_000,
} as const;

export const FIELD_MANAGER = 'microk8s-addons';

interface Resource {
  readonly plural: string;
  readonly namespaced: boolean;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

function retryable(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 504);
}

export class KubeClient {
  private readonly agent: Agent;
  private readonly discovery = new Map<string, Map<string, Resource>>();

  private readonly attempts: number;

  /** `quick`: one attempt, a short timeout (status must not hang on a stopped API server). */
  constructor(
    private readonly creds: ApiCredentials,
    options: { quick?: boolean } = {},
  ) {
    const timeout = options.quick ? KUBE_CLIENT_LIMITS.quickTimeoutMs : KUBE_CLIENT_LIMITS.requestTimeoutMs;
    this.attempts = options.quick ? 1 : KUBE_CLIENT_LIMITS.attempts;
    this.agent = new Agent({
      connect: { ca: creds.ca, cert: creds.cert, key: creds.key, timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** One request, retried while the server is unreachable or overloaded. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Answer> {
    let backoff: number = KUBE_CLIENT_LIMITS.firstBackoffMs;
    let lastError = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const response = await request(`${this.creds.server}${path}`, {
          method: method as 'GET',
          dispatcher: this.agent,
          headers: {
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': contentType }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.body.text();
        let parsed: unknown = text;
        try {
          parsed = text === '' ? undefined : JSON.parse(text);
        } catch {
          // a non-JSON answer (a proxy's error page) is kept as text for the message
        }
        if (!retryable(response.statusCode)) return { status: response.statusCode, body: parsed };
        lastError = `HTTP ${response.statusCode}: ${messageOf(parsed)}`;
      } catch (error) {
        lastError = (error as Error).message;
      }
      if (attempt < this.attempts) {
        await sleep(backoff);
        backoff *= 2;
      }
    }
    throw new MicroK8sError(
      'MK_KUBE_API',
      `${method} ${path}: no answer after ${this.attempts} attempt(s) (${lastError})`,
    );
  }

  private async resources(apiVersion: string, refresh: boolean): Promise<Map<string, Resource>> {
    const known = this.discovery.get(apiVersion);
    if (known && !refresh) return known;
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const answer = await this.call('GET', path);
    const table = new Map<string, Resource>();
    if (answer.status === 200) {
      const list = answer.body as { resources?: { name: string; kind: string; namespaced: boolean }[] };
      for (const r of list.resources ?? []) {
        if (!r.name.includes('/')) table.set(r.kind, { plural: r.name, namespaced: r.namespaced });
      }
    }
    this.discovery.set(apiVersion, table);
    return table;
  }

  /** The object's REST path (its collection when name is omitted). */
  async pathOf(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name?: string,
  ): Promise<string> {
    let resource = (await this.resources(apiVersion, false)).get(kind);
    // A CRD applied a moment ago appears in discovery a little later.
    if (!resource) resource = (await this.resources(apiVersion, true)).get(kind);
    if (!resource)
      throw new MicroK8sError('MK_KUBE_API', `the API server does not serve ${kind} in ${apiVersion}`, {
        apiVersion,
        kind,
      });
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
    return `${base}${ns}/${resource.plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  private objectPath(object: KubeObject): Promise<string> {
    return this.pathOf(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name);
  }

  /** Server-side apply; returns the object as the server stored it. */
  async apply(object: KubeObject): Promise<KubeObject> {
    const path = `${await this.objectPath(object)}?fieldManager=${FIELD_MANAGER}&force=true`;
    // JSON is YAML: the apply-patch content type takes it as it is.
    const answer = await this.call('PATCH', path, object, 'application/apply-patch+yaml');
    if (answer.status !== 200 && answer.status !== 201) throw apiError('apply', object, answer);
    return answer.body as KubeObject;
  }

  async get(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): Promise<KubeObject | undefined> {
    const answer = await this.call('GET', await this.objectPath(object as KubeObject));
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw apiError('get', object, answer);
    return answer.body as KubeObject;
  }

  async list(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<KubeObject[]> {
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const answer = await this.call('GET', `${await this.pathOf(apiVersion, kind, namespace)}${query}`);
    if (answer.status !== 200) throw apiError('list', { apiVersion, kind, metadata: { name: '*' } }, answer);
    return ((answer.body as { items?: KubeObject[] }).items ?? []) as KubeObject[];
  }

  /** Deletes (dependants in the background); true when it existed. */
  async delete(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): Promise<boolean> {
    const path = await this.objectPath(object as KubeObject);
    const answer = await this.call('DELETE', path, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy: 'Background',
    });
    if (answer.status === 404) return false;
    if (answer.status !== 200 && answer.status !== 202) throw apiError('delete', object, answer);
    return true;
  }
}

function messageOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body)
    return String((body as { message: unknown }).message);
  return String(body ?? '').slice(0, 300);
}

function apiError(action: string, object: Partial<KubeObject>, answer: Answer): MicroK8sError {
  return new MicroK8sError(
    'MK_KUBE_API',
    `${action} ${describeObject(object)}: HTTP ${answer.status}: ${messageOf(answer.body)}`,
    { status: answer.status, object: describeObject(object) },
  );
}
