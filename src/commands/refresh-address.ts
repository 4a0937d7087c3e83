import { Flags } from '@oclif/core';
import { refreshAddress } from '../cluster/address-change/refresh.js';
import { agentContext } from '../cluster/agent/context.js';
import { MicroK8sCommand } from '../lib/command.js';
import { MicroK8sError } from '../lib/errors.js';
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
    const d = result.decision;
    if (d.kind === 'unchanged') this.log(`the address ${d.address} is unchanged (${d.interface})`);
    if (d.kind === 'not-watched') this.log(`nothing to follow: ${d.reason}`);
    if (d.kind === 'changed' && result.applied === undefined) {
      this.log(`the address changed: ${d.from} -> ${d.to} (${d.interface}, rule ${d.rule})`);
    }
    if (result.applied) {
      const a = result.applied;
      this.log(`followed the address change ${a.from} -> ${a.to}`);
      for (const flag of a.datastoreFlags) this.log(`  datastore --${flag}`);
      if (a.agentBind)
        this.log(`  cluster agent --bind=${a.agentBind} (restart the agent unless it did this)`);
      for (const c of a.certificates) this.log(`  certificate ${c.name}: ${c.action}`);
      const ds = a.datastore;
      this.log(
        a.datastorePid !== undefined
          ? `  datastore restarted (pid ${a.datastorePid})`
          : 'reason' in ds
            ? `  datastore: restart it (${ds.reason})`
            : `  datastore: ${ds.kind}`,
      );
    }
    if (!flags.check && d.kind === 'ambiguous') {
      throw new MicroK8sError(
        'MK_ADDRESS_AMBIGUOUS',
        `the address ${d.from} is gone and several could replace it: ${d.candidates.join(', ')}`,
        { candidates: d.candidates },
      );
    }
    if (!flags.check && d.kind === 'missing') {
      throw new MicroK8sError('MK_ADDRESS_MISSING', `the address ${d.from} is gone and no other is usable`);
    }
    if (flags.check && (d.kind === 'ambiguous' || d.kind === 'missing')) {
      this.log(
        d.kind === 'ambiguous'
          ? `the address ${d.from} is gone; candidates: ${d.candidates.join(', ')}`
          : `the address ${d.from} is gone; no other is usable`,
      );
    }
    return result;
  }
}
