import { Flags } from '@oclif/core';
import { stringify } from 'yaml';
import { addNode } from '../cluster/agent/add-node.js';
import { agentContext } from '../cluster/agent/context.js';
import { TOKEN_LIMITS } from '../cluster/join/token-store.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class AddNode extends MicroK8sCommand {
  static override summary = 'Create a join token and print the `microk8s join` line for a new node.';
  static override description =
    'The token is single use unless --token-ttl is given (then reusable until it expires). One line is printed per address the cluster agent listens on; CERTHASH pins the agent certificate. Exit codes: 0 done; 4 a malformed --token; 78 no certificates (MK_CERTS_MISSING).';
  static override examples = [
    '<%= config.bin %> add-node',
    '<%= config.bin %> add-node --token-ttl 3600',
    '<%= config.bin %> add-node --format short',
    '<%= config.bin %> add-node --format json',
  ];
  static override flags = {
    'token-ttl': Flags.integer({
      description: 'seconds the token stays valid (reusable until then); default: single use',
      min: TOKEN_LIMITS.ttlSeconds.min,
      max: TOKEN_LIMITS.ttlSeconds.max,
    }),
    token: Flags.string({ description: 'use this token (32 to 256 hex characters) instead of a random one' }),
    format: Flags.string({
      description: 'output format',
      options: ['pretty', 'short', 'token', 'json', 'yaml'],
      default: 'pretty',
    }),
  };

  async run() {
    const { flags } = await this.parse(AddNode);
    const result = await addNode(agentContext(resolvePaths()), {
      ...(flags['token-ttl'] !== undefined ? { ttlSeconds: flags['token-ttl'] } : {}),
      ...(flags.token !== undefined ? { token: flags.token } : {}),
    });
    const lines = result.joinStrings.map((s) => `microk8s join ${s}`);
    switch (flags.format) {
      case 'token':
        this.log(result.token);
        return;
      case 'short':
        for (const line of lines) this.log(line);
        return;
      case 'json':
        this.log(JSON.stringify(result, null, 2));
        return;
      case 'yaml':
        this.log(stringify(result).trimEnd());
        return;
    }
    this.log('From the node you wish to join to this cluster, run the following:');
    this.log(lines[0]!);
    this.log('');
    this.log("Use the '--worker' flag to join a node as a worker not running the control plane, eg:");
    this.log(`${lines[0]!} --worker`);
    if (lines.length > 1) {
      this.log('');
      this.log(
        'If the node you are adding is not reachable through the default interface you can use one of the following:',
      );
      for (const line of lines) this.log(line);
    }
    this.log('');
    this.log(
      result.singleUse ? 'The token can be used once.' : `The token can be used until ${result.expiresAt}.`,
    );
  }
}
