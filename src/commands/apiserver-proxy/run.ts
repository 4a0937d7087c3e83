import { Flags } from '@oclif/core';
import { runProxyDaemon } from '../../cluster/apiserver-proxy/daemon.js';
import { MicroK8sCommand } from '../../lib/command.js';
import { resolvePaths } from '../../lib/paths.js';
import { serviceArgsFile } from '../../services/catalog.js';

export default class ApiServerProxyRun extends MicroK8sCommand {
  static override summary =
    "Run a worker's API-server proxy (port 16443): a TCP balancer over the control-plane nodes.";
  static override description =
    'What the snap runs as a service on a worker; `join --worker --start` starts it outside a snap. Flags come from $SNAP_DATA/args/apiserver-proxy (--listen, one --upstream per control-plane node). SIGHUP reads the upstreams again. Exit codes: 0 stopped by a signal; 78 a bad args file (MK_PROXY_CONFIG) or the port is taken (MK_PROXY_LISTEN).';
  static override examples = [
    '<%= config.bin %> apiserver-proxy run',
    '<%= config.bin %> apiserver-proxy run --args-file ./apiserver-proxy',
  ];
  static override flags = {
    'args-file': Flags.string({ description: 'the args file (default: $SNAP_DATA/args/apiserver-proxy)' }),
  };

  async run() {
    const { flags } = await this.parse(ApiServerProxyRun);
    const paths = resolvePaths();
    const daemon = await runProxyDaemon(
      paths,
      flags['args-file'] ?? serviceArgsFile(paths, 'apiserver-proxy'),
    );
    this.log(`apiserver proxy listening on ${daemon.proxy.stats().listen}`);
    await daemon.done;
  }
}
