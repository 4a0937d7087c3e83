/**
 * The Kubernetes lab as the HA scenarios drive it: `kubeLabUp` (the code behind `lab up`) in a
 * folder of the test's own, each node as a KubeNode (its CLI inside its namespaces), the
 * datastore's own view of each member (its admin socket), and the checks that a cluster has
 * converged after a failure: one leader, every member at the same revision, every acknowledged
 * write readable through every API server, every node Ready.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { adminRequest } from '../../src/cluster/agent/local-datastore.js';
import {
  datastoreDirOf,
  type KubeLabSpec,
  kubeLabDown,
  kubeLabStatus,
  kubeLabUp,
} from '../../src/lab/kube/cluster.js';
import { launcherOf } from '../../src/lab/kube/network.js';
import type { LabNodeStatus } from '../../src/lab/spec.js';
import { KubeNode, until } from './node-cli.js';
import { WAITS } from './scenario.js';

/** What a member's admin socket reports (/status): the fields the lab's status rows have. */
export type DatastoreView = Pick<
  LabNodeStatus,
  'id' | 'role' | 'state' | 'term' | 'leader' | 'applied' | 'revision' | 'members'
>;

export class ScenarioLab {
  readonly parent = mkdtempSync(join(tmpdir(), 'mk8s-scenario-'));
  readonly dir = join(this.parent, 'lab');
  private specValue: KubeLabSpec | undefined;

  get spec(): KubeLabSpec {
    assert.ok(this.specValue, 'the lab is up');
    return this.specValue!;
  }

  async up(nodes: number, subnet: string): Promise<void> {
    const startedAt = Date.now();
    this.specValue = await kubeLabUp({
      dir: this.dir,
      nodes,
      subnet,
      onProgress: (line) => console.log(`  ${line}`),
    });
    console.log(`  lab up: ${nodes} nodes in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
  }

  async down(): Promise<void> {
    await kubeLabDown(this.dir, true).catch((error) => console.log(`lab down: ${(error as Error).message}`));
    rmSync(this.parent, { recursive: true, force: true });
  }

  node(i: number): KubeNode {
    const n = this.spec.nodes[i]!;
    return new KubeNode(n.name, launcherOf(this.spec.network, i), n.home);
  }

  name(i: number): string {
    return this.spec.nodes[i]!.name;
  }

  address(i: number): string {
    return this.spec.nodes[i]!.address;
  }

  get indexes(): number[] {
    return this.spec.nodes.map((n) => n.index);
  }

  /** The datastore's own report of node i (its admin socket); undefined when it does not answer. */
  async datastore(i: number): Promise<DatastoreView | undefined> {
    try {
      return (await adminRequest(
        datastoreDirOf(this.spec.nodes[i]!),
        'GET',
        '/status',
        5_000,
      )) as DatastoreView;
    } catch {
      return undefined;
    }
  }

  /** The node that leads the highest term among `among`, once one does. */
  async leader(among: readonly number[] = this.indexes): Promise<number> {
    return until('a datastore leader', WAITS.recoverMs, async () => {
      const views = await Promise.all(among.map(async (i) => ({ i, view: await this.datastore(i) })));
      const leaders = views.filter((v) => v.view?.state === 'leader');
      leaders.sort((a, b) => b.view!.term - a.view!.term);
      return leaders[0]?.i;
    });
  }

  /** Every node of `among` answers, follows one leader, and has applied the same revision. */
  async waitConverged(among: readonly number[] = this.indexes): Promise<DatastoreView[]> {
    return until('the datastore converged', WAITS.recoverMs, async () => {
      const views = await Promise.all(among.map((i) => this.datastore(i)));
      if (views.some((v) => v === undefined)) return undefined;
      const all = views as DatastoreView[];
      const leaders = new Set(all.map((v) => v.leader));
      const revisions = new Set(all.map((v) => v.revision));
      return leaders.size === 1 && !leaders.has(0) && revisions.size === 1 ? all : undefined;
    });
  }

  /** Every control-plane node Ready, as Kubernetes sees them. */
  async waitAllReady(): Promise<void> {
    await until('every node Ready', WAITS.readyMs, async () => {
      const status = await kubeLabStatus(this.dir);
      return status.nodes.every((n) => n.kubernetes.startsWith('Ready')) ? true : undefined;
    });
  }

  /** Every name in `names` is a ConfigMap, as the API server of each node of `among` lists it. */
  async assertEverywhere(names: readonly string[], among: readonly number[] = this.indexes): Promise<void> {
    for (const i of among) {
      const listed = await until(
        `node ${this.name(i)} lists every acknowledged write`,
        WAITS.recoverMs,
        async () => {
          const out = await this.node(i).kubectl('get', 'configmaps', '-o', 'name');
          const set = new Set(out.split('\n').map((l) => l.replace('configmap/', '')));
          return names.every((n) => set.has(n)) ? set : undefined;
        },
      );
      assert.ok(listed.size >= names.length);
    }
  }

  /** `microk8s config` of node i: the admin credentials a client outside the nodes uses. */
  kubeconfig(i = 0): Promise<string> {
    return this.node(i).ok(['config']);
  }
}
