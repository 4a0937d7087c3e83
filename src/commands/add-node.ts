import { Flags } from '@oclif/core';
import { addNode } from '../cluster/agent/add-node.js';
import { agentContext } from '../cluster/agent/context.js';
import { ADD_NODE_FORMATS, type AddNodeFormat, formatAddNode } from '../cluster/agent/output.js';
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
      description: 'output format (json: the result, and errors, as JSON)',
      options: [...ADD_NODE_FORMATS],
      default: 'pretty',
    }),
  };

  async run() {
    const { flags } = await this.parse(AddNode);
    const result = await addNode(agentContext(resolvePaths()), {
      ...(flags['token-ttl'] !== undefined ? { ttlSeconds: flags['token-ttl'] } : {}),
      ...(flags.token !== undefined ? { token: flags.token } : {}),
    });
    this.logLines(formatAddNode(result, flags.format as AddNodeFormat));
    return result;
  }
}
