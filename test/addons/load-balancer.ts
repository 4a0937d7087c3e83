// Shared by the metallb tests: the address MetalLB gave a LoadBalancer Service, once it has one.
import type { KubeNode } from '../kubernetes/node-cli.js';
import { until } from '../kubernetes/node-cli.js';
import { WAITS } from '../kubernetes/scenario.js';

export function loadBalancerAddress(node: KubeNode, service: string): Promise<string> {
  return until(`${service} to get a LoadBalancer address`, WAITS.rolloutMs, async () => {
    const svc = await node.kubectlJson<{ status: { loadBalancer: { ingress?: { ip: string }[] } } }>(
      'get',
      'service',
      service,
    );
    return svc.status.loadBalancer.ingress?.[0]?.ip;
  });
}
