import { Flags } from '@oclif/core';
import { formatRefreshAddress, refreshAddressFailure } from '../cluster/address-change/output.js';
import { refreshAddress } from '../cluster/address-change/refresh.js';
import { agentContext } from '../cluster/agent/context.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class RefreshAddress extends MicroK8sCommand {
  static override summary =
    "Follow a change of this node's IP address (the cluster agent also does it by itself).";
  static override description =
    "Compares the address this node is configured with (the datastore's --peer-listen, else the agent's --bind) with the machine's interfaces. When it is gone: the only candidate, the only one on the same interface, or the only one in the same subnet replaces it; the certificates are issued again for it, the listen addresses and --bind are rewritten and a datastore this project started is restarted. Exit codes: 0 unchanged or followed; 4 several candidates (MK_ADDRESS_AMBIGUOUS: name one with --address); 3 no usable address (MK_ADDRESS_MISSING).";
  static override examples = [
    '<%= config.bin %> refresh-address --check',
    '<%= config.bin %> refresh-address',
    '<%= config.bin %> refresh-address --address 10.0.0.7 --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    check: Flags.boolean({ description: 'only say what changed and what would be done; change nothing' }),
    address: Flags.string({ description: "this node's new address, when the rules cannot choose one" }),
  };

  async run() {
    const { flags } = await this.parse(RefreshAddress);
    const ctx = agentContext(resolvePaths());
    const result = await refreshAddress(ctx, {
      apply: !flags.check,
      ...(flags.address === undefined ? {} : { address: flags.address }),
    });
    this.logLines(formatRefreshAddress(result, flags.check));
    const failure = refreshAddressFailure(result, flags.check);
    if (failure) throw failure;
    return result;
  }
}
