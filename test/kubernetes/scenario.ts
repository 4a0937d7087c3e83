/**
 * The checks of issue 15's "done when", shared by the embedded-datastore and the external-etcd
 * runs: the node Ready with the real version, /readyz all ok, a Deployment of the imported test
 * image Available with logs, exec, a ClusterIP Service from the host and pod-to-pod traffic,
 * recovery from SIGKILL with the pods untouched, and a stop that leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import { KUBERNETES_VERSION } from '../../snap/local/build/parts.js';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { httpGet, type KubeNode, until } from './node-cli.js';

/** Hang guards (generous: a cold node on 2 busy cores). */
export const WAITS = { readyMs: 8 * 60_000, rolloutMs: 5 * 60_000, recoverMs: 4 * 60_000 } as const;

interface NodeList {
  items: {
    metadata: { name: string };
    status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string } };
  }[];
}

interface PodList {
  items: {
    metadata: { name: string };
    status: {
      podIP?: string;
      phase: string;
      containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[];
    };
  }[];
}

export async function waitReady(node: KubeNode): Promise<void> {
  const out = await node.ok(
    ['status', '--wait-ready', '--timeout', String(WAITS.readyMs / 1000)],
    WAITS.readyMs + 30_000,
  );
  assert.match(out, /kubernetes: api server ready, node \S+ Ready/);
}

export async function checkNodeReady(node: KubeNode): Promise<void> {
  const nodes = await node.kubectlJson<NodeList>('get', 'nodes');
  assert.is(nodes.items.length, 1);
  const [only] = nodes.items;
  assert.is(only!.status.nodeInfo.kubeletVersion, KUBERNETES_VERSION);
  assert.ok(only!.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
}

export async function checkReadyz(node: KubeNode): Promise<void> {
  const out = await node.kubectl('get', '--raw', '/readyz?verbose');
  const checks = out.split('\n').filter((line) => /^\[[+-]\]/.test(line));
  assert.ok(checks.length > 10, out);
  assert.equal(
    checks.filter((line) => !line.startsWith('[+]')),
    [],
  );
  assert.ok(checks.includes('[+]etcd ok'), out);
}

/** The test image the build made (localhost/microk8s/busybox:<Debian version>). */
export async function busyboxImage(node: KubeNode): Promise<string> {
  const names = (await node.ok(['ctr', 'images', 'list', '--quiet'])).split('\n');
  const image = names.find((n) => n.startsWith('localhost/microk8s/busybox:'));
  assert.ok(image, `no busybox image imported: ${names.join(', ')}`);
  return image!;
}

export function webManifest(image: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  name: 'httpd',
                  image,
                  imagePullPolicy: 'Never',
                  command: [
                    'sh',
                    '-c',
                    'echo "hello from $(hostname)" > /tmp/index.html; echo "serving $(hostname)"; exec httpd -f -p 8080 -h /tmp',
                  ],
                  ports: [{ containerPort: 8080 }],
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ],
  });
}

export async function deployWeb(node: KubeNode, manifestFile: string): Promise<void> {
  await node.kubectl('apply', '-f', manifestFile);
  await node.ok(
    [
      'kubectl',
      'wait',
      '--for=condition=Available',
      'deployment/web',
      `--timeout=${WAITS.rolloutMs / 1000}s`,
    ],
    WAITS.rolloutMs + 30_000,
  );
}

export async function webPods(node: KubeNode): Promise<PodList['items']> {
  return (await node.kubectlJson<PodList>('get', 'pods', '-l', 'app=web')).items;
}

/** logs, exec, the ClusterIP from the host (kube-proxy), and one pod to another by pod IP. */
export async function checkWeb(node: KubeNode): Promise<void> {
  const pods = await until('3 web pods running with IPs', WAITS.rolloutMs, async () => {
    const list = await webPods(node);
    const running = list.filter(
      (p) => p.status.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.[0]?.ready,
    );
    return running.length === 3 ? running : undefined;
  });
  const [a, b] = pods;
  // The container's first line reaches its log file through the shim a moment after it runs.
  await until('the pod log has its first line', 60_000, async () =>
    (await node.kubectl('logs', a!.metadata.name)).includes(`serving ${a!.metadata.name}`) ? true : undefined,
  );
  const page = await node.kubectl('exec', a!.metadata.name, '--', 'cat', '/tmp/index.html');
  assert.is(page.trim(), `hello from ${a!.metadata.name}`);
  // The Service's endpoints follow the pods (after a restart they have new IPs).
  const podIps = pods.map((p) => p.status.podIP).sort();
  await until('the Service endpoints are the pods', WAITS.rolloutMs, async () => {
    const slices = await node.kubectlJson<{ items: { endpoints?: { addresses: string[] }[] }[] }>(
      'get',
      'endpointslices',
      '-l',
      'kubernetes.io/service-name=web',
    );
    const ips = slices.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort();
    return JSON.stringify(ips) === JSON.stringify(podIps) ? true : undefined;
  });
  const clusterIp = (await node.kubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')).trim();
  assert.match(clusterIp, /^10\.152\.183\./);
  const seen = new Set<string>();
  // kube-proxy programs the endpoints a moment after the EndpointSlice lists them: bounded tries.
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const body = await until('the ClusterIP answers', 60_000, () =>
      httpGet(`http://${clusterIp}/index.html`),
    );
    seen.add(body.trim());
    await sleep(100);
  }
  assert.ok(seen.size >= 2, `the Service should spread over the pods, saw ${[...seen].join(', ')}`);
  // busybox's static wget cannot resolve; nc speaks HTTP/1.0 to the other pod's IP directly.
  const fromPod = await node.kubectl(
    'exec',
    a!.metadata.name,
    '--',
    'sh',
    '-c',
    `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc ${b!.status.podIP} 8080`,
  );
  assert.match(fromPod, `hello from ${b!.metadata.name}`);
}

/** SIGKILL one service; the supervisor restarts it, the API answers, the pods never restarted. */
export async function killAndRecover(node: KubeNode, service: string): Promise<number> {
  const before = await webPods(node);
  const containers = before.map((p) => p.status.containerStatuses?.[0]?.containerID).sort();
  const pid = node.servicePid(service);
  assert.ok(pid, `${service} has no pid`);
  const killedAt = Date.now();
  process.kill(pid!, 'SIGKILL');
  await until(`${service} restarted and ready`, WAITS.recoverMs, async () => {
    const entry = node.supervisorReport().services.find((s) => s.name === service);
    return entry?.state === 'ready' && entry.pid !== pid ? true : undefined;
  });
  await until('the API answers /readyz', WAITS.recoverMs, async () =>
    (await node.run(['kubectl', 'get', '--raw', '/readyz'], 30_000)).stdout.trim() === 'ok'
      ? true
      : undefined,
  );
  const recoveredMs = Date.now() - killedAt;
  const after = await until('the pods as before, all ready', WAITS.recoverMs, async () => {
    const pods = await webPods(node);
    return pods.length === 3 && pods.every((p) => p.status.containerStatuses?.[0]?.ready) ? pods : undefined;
  });
  assert.equal(after.map((p) => p.status.containerStatuses?.[0]?.containerID).sort(), containers);
  assert.ok(after.every((p) => p.status.containerStatuses?.[0]?.restartCount === 0));
  return recoveredMs;
}

/** Processes that are this node's: its folder or its containerd socket in their command line. */
export function processesOf(home: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      // The node's daemons and its shims (whose -address is the node's containerd socket).
      if (cmdline.includes(home)) found.push(`${entry}: ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

export function containersOf(home: string): string[] {
  const root = join(home, 'common', 'run', 'containerd', 'runc', 'k8s.io');
  try {
    const runc = join(resolveUpstreamPaths().bin, 'runc');
    return execFileSync(runc, ['--root', root, 'list', '-q'], { encoding: 'utf8', timeout: 30_000 })
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

export function mountsOf(home: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(home));
}
