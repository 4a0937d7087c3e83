/**
 * Helpers for multi-process tests: a lab of real datastore processes (real TLS between them, real
 * sockets on loopback addresses of its own), driven by the real npm etcd3 client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Client } from 'undici';
import { type LabNodeStatus, labDown, labStatus, labUp, readLab } from '../../src/datastore/lab/lab.js';

export interface TestLab {
  dir: string;
  nodes: LabNodeStatus[];
  client(names?: string[]): Etcd3;
  leader(): Promise<LabNodeStatus | undefined>;
  down(): Promise<void>;
}

const clients: Etcd3[] = [];

export async function startLab(
  nodes: number,
  baseAddress: string,
  extraArgs: string[] = [],
): Promise<TestLab> {
  const dir = mkdtempSync(join(tmpdir(), 'mk8s-lab-'));
  const status = await labUp({ nodes, dir, baseAddress, extraArgs });
  const lab: TestLab = {
    dir,
    nodes: status,
    client(names) {
      const hosts = status.filter((n) => !names || names.includes(n.name)).map((n) => n.clientEndpoint);
      const c = new Etcd3({ hosts, dialTimeout: 3000 });
      clients.push(c);
      return c;
    },
    async leader() {
      const all = await labStatus(dir);
      return all.find((n) => n.state === 'leader');
    },
    async down() {
      for (const c of clients.splice(0)) c.close();
      await labDown(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return lab;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Retry `fn` until it succeeds or the bounded time runs out. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (error) {
      last = error;
      await sleep(100);
    }
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms: ${String(last)}`);
}

/** The hash of a node's key space, through its admin socket. */
export async function nodeHash(dir: string, name: string): Promise<{ hash: string; revision: number }> {
  const node = readLab(dir).nodes.find((n) => n.name === name)!;
  const client = new Client('http://admin', { socketPath: join(node.dataDir, 'admin.sock') });
  try {
    const res = await client.request({ path: '/hash', method: 'GET' });
    return (await res.body.json()) as { hash: string; revision: number };
  } finally {
    await client.close();
  }
}
