/**
 * The catalog of a node's daemons as the supervisor runs them: for each, its command (the
 * binary and the flags of its args file, read at every start so that `configure` takes effect
 * on the next restart), what it waits for, how it is known to serve, and how long it may take
 * to stop. The layer that knows the node's certificates builds the context.
 */
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseHostPort } from '../../datastore/node/config.js';
import type { Paths } from '../../lib/paths.js';
import type { UpstreamPaths } from '../../lib/upstream-paths.js';
import { type ArgsFlags, readArgsFile } from '../../node/args-file.js';
import { daemonCommand } from '../spawn.js';
import type { DaemonSpec } from '../supervisor/spec.js';
import { writeFlannelConflist } from './flannel-cni.js';
import { NETWORK, type UpstreamLayout } from './layout.js';

export interface ClientTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface NodeDaemonContext {
  readonly paths: Paths;
  readonly upstream: UpstreamPaths;
  readonly layout: UpstreamLayout;
  /** A worker runs no control plane: its components reach the API through its API-server proxy. */
  readonly role: 'control-plane' | 'worker';
  /** The admin identity: how the API server's /readyz is asked (control plane only). */
  readonly adminTls?: ClientTls;
  /** Whether kube-apiserver uses this node's own datastore (else an external etcd). */
  readonly embeddedDatastore: boolean;
  /** Before each kubelet start: host preparation and the local images; returns what failed. */
  readonly prepareKubelet: () => Promise<string[]>;
  /**
   * Before each kubelet, kube-proxy and kube-apiserver start: the cluster-wide args of the service written into
   * its args file (a node that joined after a change starts with it); returns what failed.
   */
  readonly followClusterArgs?: (service: 'kubelet' | 'kube-proxy' | 'kube-apiserver') => Promise<string[]>;
  /** Before each flanneld start (control plane): what the cluster must grant it; returns what failed. */
  readonly prepareFlanneld?: () => Promise<string[]>;
}

export function argsFile(paths: Paths, service: string): string {
  return join(paths.args, service);
}

/** argv from an args file: each flag as `--name=value`, a bare flag as `--name`. */
export function flagsToArgv(flags: ArgsFlags): string[] {
  const argv: string[] = [];
  for (const [name, values] of flags) {
    for (const value of values) argv.push(value === '' ? `--${name}` : `--${name}=${value}`);
  }
  return argv;
}

function upstreamCommand(ctx: NodeDaemonContext, binary: string, service: string): () => string[] {
  return () => [join(ctx.upstream.bin, binary), ...flagsToArgv(readArgsFile(argsFile(ctx.paths, service)))];
}

const SECOND = 1000;

export function nodeDaemonSpecs(ctx: NodeDaemonContext): DaemonSpec[] {
  const { paths, layout } = ctx;
  const datastoreArgs = argsFile(paths, 'datastore');
  // containerd finds its shim, and the shim finds runc, through PATH.
  const withUpstreamPath = {
    PATH: `${ctx.upstream.bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
  };
  const apiServer = `https://127.0.0.1:${NETWORK.apiServerPort}`;
  const specs: DaemonSpec[] = [];
  if (ctx.embeddedDatastore) {
    const socket = readArgsFile(datastoreArgs).get('client-unix')?.[0] ?? join(paths.datastore, 'etcd.sock');
    specs.push({
      name: 'datastore',
      command: () => daemonCommand(['datastore', 'run', '--args-file', datastoreArgs]),
      dependsOn: [],
      probe: { kind: 'unix', path: socket },
      // A voter hands its role over before it stops.
      stopTimeoutMs: 30 * SECOND,
    });
  }
  const agentBind = readArgsFile(argsFile(paths, 'cluster-agent'), { missingOk: true }).get('bind')?.[0];
  if (agentBind !== undefined) {
    const { host, port } = parseHostPort('bind', agentBind);
    specs.push({
      name: 'cluster-agent',
      command: () => daemonCommand(['agent', 'run']),
      dependsOn: [],
      probe: { kind: 'tcp', host, port },
      stopTimeoutMs: 10 * SECOND,
    });
  }
  const containerd: DaemonSpec = {
    name: 'containerd',
    command: upstreamCommand(ctx, 'containerd', 'containerd'),
    env: withUpstreamPath,
    dependsOn: [],
    probe: { kind: 'unix', path: layout.containerdSocket },
    stopTimeoutMs: 20 * SECOND,
  };
  if (ctx.role === 'worker') return workerSpecs(ctx, containerd, withUpstreamPath);

  specs.push(
    containerd,
    {
      name: 'kube-apiserver',
      command: upstreamCommand(ctx, 'kube-apiserver', 'kube-apiserver'),
      dependsOn: ctx.embeddedDatastore ? ['datastore'] : [],
      probe: { kind: 'http', url: `${apiServer}/readyz`, ...(ctx.adminTls ?? {}) },
      prestart: async () => (await ctx.followClusterArgs?.('kube-apiserver')) ?? [],
      stopTimeoutMs: 20 * SECOND,
    },
    {
      name: 'kube-controller-manager',
      command: upstreamCommand(ctx, 'kube-controller-manager', 'kube-controller-manager'),
      dependsOn: ['kube-apiserver'],
      probe: { kind: 'http', url: 'https://127.0.0.1:10257/healthz' },
      stopTimeoutMs: 10 * SECOND,
    },
    {
      name: 'kube-scheduler',
      command: upstreamCommand(ctx, 'kube-scheduler', 'kube-scheduler'),
      dependsOn: ['kube-apiserver'],
      probe: { kind: 'http', url: 'https://127.0.0.1:10259/healthz' },
      stopTimeoutMs: 10 * SECOND,
    },
    ...nodeAgents(ctx, withUpstreamPath, 'kube-apiserver'),
  );
  return specs;
}

/** A worker: containerd, its API-server proxy (the local API endpoint), flanneld, the kubelet, kube-proxy. */
function workerSpecs(
  ctx: NodeDaemonContext,
  containerd: DaemonSpec,
  env: Record<string, string>,
): DaemonSpec[] {
  const proxyArgs = argsFile(ctx.paths, 'apiserver-proxy');
  const listen = readArgsFile(proxyArgs).get('listen')?.[0] ?? `127.0.0.1:${NETWORK.apiServerPort}`;
  const { host, port } = parseHostPort('listen', listen);
  return [
    containerd,
    {
      name: 'apiserver-proxy',
      command: () => daemonCommand(['apiserver-proxy', 'run', '--args-file', proxyArgs]),
      dependsOn: [],
      probe: { kind: 'tcp', host, port },
      stopTimeoutMs: 10 * SECOND,
    },
    ...nodeAgents(ctx, env, 'apiserver-proxy'),
  ];
}

/** The name this node's kubelet registers under (flanneld finds its Node by it). */
function kubeletNodeName(ctx: NodeDaemonContext): string {
  const flags = readArgsFile(argsFile(ctx.paths, 'kubelet'), { missingOk: true });
  return flags.get('hostname-override')?.[0] ?? hostname().toLowerCase();
}

/**
 * flanneld: ready once it has written this node's subnet file in this run (an old one is removed
 * before each start), and then the CNI conflist follows it (flannel-cni.ts). The kubelet needs
 * no wait: it reports the node NotReady until a conflist exists.
 */
function flanneld(ctx: NodeDaemonContext, api: string): DaemonSpec {
  const { layout } = ctx;
  return {
    name: 'flanneld',
    command: upstreamCommand(ctx, 'flanneld', 'flanneld'),
    env: { NODE_NAME: kubeletNodeName(ctx) },
    dependsOn: [api],
    probe: { kind: 'file', path: layout.flannelSubnetFile },
    prestart: async () => {
      await rm(layout.flannelSubnetFile, { force: true });
      return (await ctx.prepareFlanneld?.()) ?? [];
    },
    onReady: () => writeFlannelConflist(layout),
    stopTimeoutMs: 10 * SECOND,
  };
}

/** Every node's flanneld, kubelet and kube-proxy; `api` is what serves them the API on this node. */
function nodeAgents(ctx: NodeDaemonContext, env: Record<string, string>, api: string): DaemonSpec[] {
  return [
    flanneld(ctx, api),
    {
      name: 'kubelet',
      command: upstreamCommand(ctx, 'kubelet', 'kubelet'),
      env,
      dependsOn: ['containerd', api],
      probe: { kind: 'http', url: 'http://127.0.0.1:10248/healthz' },
      prestart: async () => [
        ...((await ctx.followClusterArgs?.('kubelet')) ?? []),
        ...(await ctx.prepareKubelet()),
      ],
      stopTimeoutMs: 20 * SECOND,
    },
    {
      name: 'kube-proxy',
      command: upstreamCommand(ctx, 'kube-proxy', 'kube-proxy'),
      env,
      dependsOn: [api],
      probe: { kind: 'http', url: 'http://127.0.0.1:10256/healthz' },
      prestart: async () => (await ctx.followClusterArgs?.('kube-proxy')) ?? [],
      stopTimeoutMs: 10 * SECOND,
    },
  ];
}
