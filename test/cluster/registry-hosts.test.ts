/**
 * Every node's containerd trusts the registry addon (localhost:32000) over plain HTTP: the
 * rendered containerd config points config_path at the certs.d folder, and the hosts.toml for
 * localhost:32000 is rendered beside it, for a control-plane node and for a worker alike (so a
 * node that joins later has it from its first start). No daemons.
 */
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LOCAL_REGISTRY_HOST, renderUpstreamConfig } from '../../src/cluster/kubernetes/render.js';
import { certsLayout } from '../../src/cluster/pki/layout.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { resolveUpstreamPaths } from '../../src/lib/upstream-paths.js';
import { SANDBOX_IMAGE } from '../../src/services/images/names.js';
import { upstreamLayout } from '../../src/services/upstream/layout.js';

const paths = resolvePaths({ MICROK8S_HOME: '/nonexistent/mk8s-render' });
const layout = upstreamLayout(paths);
const render = {
  certs: certsLayout(join(paths.data, 'certs')),
  layout,
  upstream: resolveUpstreamPaths({ SNAP: '' }),
  hostname: 'node-a',
  address: '10.200.60.9',
  etcd: { kind: 'embedded' as const, socket: '/nonexistent/etcd.socket' },
  sandboxImage: SANDBOX_IMAGE,
  canLowerOomScore: true,
};

for (const role of ['control-plane', 'worker'] as const) {
  test(`a ${role} node trusts ${LOCAL_REGISTRY_HOST} over plain HTTP`, () => {
    const files = renderUpstreamConfig(render, paths.args, role);
    const containerd = files.find((f) => f.path === layout.containerdConfig);
    assert.ok(containerd);
    const match =
      /\[plugins\."io\.containerd\.cri\.v1\.images"\.registry\]\n {2}config_path = "([^"]+)"/.exec(
        containerd.text,
      );
    assert.ok(match, containerd.text);
    assert.is(match[1], layout.containerdCertsDir);
    const hosts = files.find((f) => f.path.endsWith('hosts.toml'));
    assert.ok(hosts);
    assert.is(dirname(hosts.path), join(layout.containerdCertsDir, LOCAL_REGISTRY_HOST));
    assert.match(hosts.text, /^server = "http:\/\/localhost:32000"$/m);
    assert.match(
      hosts.text,
      /^\[host\."http:\/\/localhost:32000"\]\n {2}capabilities = \["pull", "resolve"\]$/m,
    );
  });
}

test.run();
