/**
 * A steady stream of Kubernetes API writes from the test process, as a client behind a load
 * balancer sends them: one ConfigMap create at a time, each to the next API server in service
 * (the test takes a node out of service before it restarts or cuts it, as a load balancer drains
 * it). Every write is recorded, acknowledged or failed, with its time and error, so a test can
 * check afterwards that nothing acknowledged is lost and say when writes failed.
 * Client certificate: the admin kubeconfig a node prints with `microk8s config`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { parse } from 'yaml';
import { NETWORK } from '../../src/services/upstream/layout.js';

/** One request's hang guard: a write stuck in a stalled datastore counts as failed after it. */
const REQUEST_TIMEOUT_MS = 20_000;

interface Kubeconfig {
  clusters: { cluster: { 'certificate-authority-data': string } }[];
  users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
}

export interface WriteRecord {
  readonly name: string;
  readonly via: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ok: boolean;
  readonly error?: string;
}

const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

export class ApiWriter {
  private readonly clients = new Map<string, Client>();
  private readonly outOfService = new Set<string>();
  readonly records: WriteRecord[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private next = 0;

  /** `addresses`: the API servers (node addresses); `kubeconfig`: `microk8s config` of a node. */
  constructor(
    addresses: readonly string[],
    kubeconfig: string,
    private readonly prefix: string,
  ) {
    const doc = parse(kubeconfig) as Kubeconfig;
    const tls = {
      ca: decode(doc.clusters[0]!.cluster['certificate-authority-data']),
      cert: decode(doc.users[0]!.user['client-certificate-data']),
      key: decode(doc.users[0]!.user['client-key-data']),
    };
    for (const address of addresses) {
      this.clients.set(
        address,
        new Client(`https://${address}:${NETWORK.apiServerPort}`, {
          connect: { ...tls, timeout: 5_000 },
          headersTimeout: REQUEST_TIMEOUT_MS,
          bodyTimeout: REQUEST_TIMEOUT_MS,
        }),
      );
    }
  }

  /** Stop sending to `address` (before it is stopped or cut off) or send to it again. */
  setInService(address: string, inService: boolean): void {
    if (inService) this.outOfService.delete(address);
    else this.outOfService.add(address);
  }

  /** One write through `address`, recorded. */
  async write(address: string): Promise<WriteRecord> {
    const name = `${this.prefix}-${this.records.length + 1}`;
    const startedAt = Date.now();
    let ok = false;
    let error: string | undefined;
    try {
      const res = await this.clients.get(address)!.request({
        method: 'POST',
        path: '/api/v1/namespaces/default/configmaps',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name },
          data: { at: `${startedAt}` },
        }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.body.text();
      ok = res.statusCode === 201;
      if (!ok) error = `${res.statusCode} ${(JSON.parse(text) as { message?: string }).message ?? text}`;
    } catch (e) {
      error = (e as Error).message;
    }
    const record = { name, via: address, startedAt, endedAt: Date.now(), ok, ...(error ? { error } : {}) };
    this.records.push(record);
    return record;
  }

  /** Writes one after the other, round robin over the API servers in service, until stop(). */
  start(pauseMs = 100): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const candidates = [...this.clients.keys()].filter((a) => !this.outOfService.has(a));
        if (candidates.length === 0) {
          await sleep(pauseMs);
          continue;
        }
        await this.write(candidates[this.next++ % candidates.length]!);
        await sleep(pauseMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  acknowledged(): string[] {
    return this.records.filter((r) => r.ok).map((r) => r.name);
  }

  failed(): WriteRecord[] {
    return this.records.filter((r) => !r.ok);
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => undefined)));
  }
}
