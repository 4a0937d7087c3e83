/**
 * What an addon's plugin gets: the typed API of the framework. Everything it changes is
 * recorded with an undo, so a failed enable rolls back what it applied, newest first, and the
 * error names the step that failed.
 */
import type { ServiceArgsNode } from '../cluster/agent/protocol.js';
import type { Paths } from '../lib/paths.js';
import { resolveUpstreamPaths } from '../lib/upstream-paths.js';
import type { ServiceName } from '../services/catalog.js';
import { NETWORK } from '../services/upstream/layout.js';
import type { AddonArgs } from './args.js';
import { helmOutput } from './helm.js';
import type { KubeClient } from './kube/client.js';
import { describeObject, type KubeObject } from './kube/object.js';
import { isWorkload, waitGone, waitPodsGone, waitRollout } from './kube/rollout.js';
import {
  alreadyConfigured,
  clusterServiceArgs,
  configureService,
  type ServiceChange,
} from './service-config.js';
import type { AddonSpec } from './spec.js';
import { crdSchemas } from './validate/crd.js';
import { validateObject } from './validate/manifests.js';

/** Facts about this node and cluster that templates and plugins may use. */
export interface NodeFacts {
  readonly paths: Paths;
  readonly clusterDns: string;
  readonly clusterDomain: string;
  /** The folder of the upstream binaries (kubectl, helm, ...): the snap's, or the build cache's. */
  readonly upstreamBin: string;
}

export function nodeFacts(paths: Paths): NodeFacts {
  return {
    paths,
    clusterDns: NETWORK.clusterDns,
    clusterDomain: NETWORK.clusterDomain,
    upstreamBin: resolveUpstreamPaths().bin,
  };
}

export interface AddonContext {
  readonly addon: AddonSpec;
  readonly node: NodeFacts;
  /** The addon's manifests, rendered and validated before the enable began. */
  readonly manifests: readonly KubeObject[];
  readonly kube: KubeClient;
  progress(line: string): void;
  /** Runs one named step; a failure carries the step's name. */
  step<T>(name: string, run: () => Promise<T>): Promise<T>;
  /** Validates, then server-side applies each object; new objects are deleted on rollback. */
  apply(objects: readonly KubeObject[]): Promise<void>;
  /** Deletes the objects (newest first) and waits until they, and their workloads' pods, are gone. */
  remove(objects: readonly KubeObject[]): Promise<void>;
  /** Waits for the workloads among the objects (default: the manifests) to roll out. */
  waitRollout(objects?: readonly KubeObject[], timeoutMs?: number): Promise<void>;
  /** A service's args on every node (the kubelet's --cluster-dns ...), restarting it. */
  configureService(change: ServiceChange, undo?: ServiceChange): Promise<void>;
  /**
   * helm ARGS with the admin kubeconfig, its output returned; the addon must depend on helm
   * (MK_ADDON_NOT_ENABLED otherwise). `undo`: the helm ARGS a rollback runs (an uninstall).
   */
  helm(args: readonly string[], undo?: readonly string[]): Promise<string>;
  /** A service's args as each control-plane node's args file has them. */
  serviceArgs(service: ServiceName): Promise<ServiceArgsNode[]>;
}

/** A plugin module (the addon's `plugin` file): every export is optional. */
export interface AddonPlugin {
  /** Template variables from the arguments (checked already) and the node. */
  variables?(node: NodeFacts, args: AddonArgs): Record<string, string>;
  enable?(ctx: AddonContext, args: AddonArgs): Promise<void>;
  disable?(ctx: AddonContext, args: AddonArgs & { readonly purge?: string }): Promise<void>;
}

export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly error: unknown,
  ) {
    super(`${step}: ${(error as Error).message}`);
  }
}

interface Undo {
  readonly what: string;
  readonly run: () => Promise<unknown>;
}

export class Context implements AddonContext {
  readonly undos: Undo[] = [];

  constructor(
    readonly addon: AddonSpec,
    readonly node: NodeFacts,
    readonly manifests: readonly KubeObject[],
    readonly kube: KubeClient,
    readonly progress: (line: string) => void,
  ) {}

  async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw error instanceof StepError ? error : new StepError(name, error);
    }
  }

  async apply(objects: readonly KubeObject[]): Promise<void> {
    const custom = crdSchemas([...this.manifests, ...objects]);
    for (const object of objects) validateObject(object, `${this.addon.name} plugin`, undefined, custom);
    for (const object of objects) {
      const what = describeObject(object);
      await this.step(`apply ${what}`, async () => {
        const existed = (await this.kube.get(object)) !== undefined;
        await this.kube.apply(object);
        if (!existed) this.undos.push({ what: `delete ${what}`, run: () => this.kube.delete(object) });
      });
    }
    this.progress(`${this.addon.name}: applied ${objects.length} objects`);
  }

  async remove(objects: readonly KubeObject[]): Promise<void> {
    const newestFirst = [...objects].reverse();
    for (const object of newestFirst) {
      await this.step(`delete ${describeObject(object)}`, () => this.kube.delete(object));
    }
    await this.step('wait for the deleted objects to go', () => waitGone(this.kube, newestFirst));
    // A workload's pods outlive its object; data or ports they hold are free only once they are gone.
    for (const workload of newestFirst.filter(isWorkload)) {
      await this.step(`wait for the pods of ${describeObject(workload)} to go`, () =>
        waitPodsGone(this.kube, workload),
      );
    }
  }

  async waitRollout(objects: readonly KubeObject[] = this.manifests, timeoutMs?: number): Promise<void> {
    await this.step('wait for the rollout', () => waitRollout(this.kube, objects, this.progress, timeoutMs));
  }

  serviceArgs(service: ServiceName): Promise<ServiceArgsNode[]> {
    return this.step(`read the args of ${service}`, () => clusterServiceArgs(this.node.paths, service));
  }

  async configureService(change: ServiceChange, undo?: ServiceChange): Promise<void> {
    const needed = change.everyNode || !alreadyConfigured(this.node.paths, change);
    const lines = await this.step(`configure ${change.service}`, () =>
      configureService(this.node.paths, change),
    );
    for (const line of lines) this.progress(`${this.addon.name}: ${line}`);
    if (needed && undo) {
      this.undos.push({
        what: `configure ${undo.service} back`,
        run: () => configureService(this.node.paths, undo),
      });
    }
  }

  async helm(args: readonly string[], undo?: readonly string[]): Promise<string> {
    const out = await this.step(`helm ${args.slice(0, 2).join(' ')}`, () =>
      helmOutput(this.node.paths, this.kube, args),
    );
    if (undo) {
      this.undos.push({
        what: `helm ${undo.slice(0, 2).join(' ')}`,
        run: () => helmOutput(this.node.paths, this.kube, undo),
      });
    }
    return out;
  }

  /** Undoes what this context changed, newest first; returns what could not be undone. */
  async rollback(): Promise<string[]> {
    const failures: string[] = [];
    for (const undo of this.undos.reverse()) {
      await undo.run().catch((error: unknown) => failures.push(`${undo.what}: ${(error as Error).message}`));
    }
    this.undos.length = 0;
    return failures;
  }
}
