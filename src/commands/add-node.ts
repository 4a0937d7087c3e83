import { Flags } from '@oclif/core';
import { addNode, listTokens, revokeTokens } from '../cluster/agent/add-node.js';
import { agentContext } from '../cluster/agent/context.js';
import {
  ADD_NODE_FORMATS,
  type AddNodeFormat,
  formatAddNode,
  formatTokenList,
} from '../cluster/agent/output.js';
import { TOKEN_LIMITS } from '../cluster/join/token-store.js';
import { MicroK8sCommand } from '../lib/command.js';
import { MicroK8sError } from '../lib/errors.js';
import { resolvePaths } from '../lib/paths.js';

export default class AddNode extends MicroK8sCommand {
  static override summary = 'Create a join token and print the `microk8s join` line for a new node.';
  static override description =
    'The token is single use and lives one hour unless --token-ttl is given (then reusable until it expires, or once with --single-use). --worker makes a token that admits a worker only. One line is printed per address the cluster agent listens on; CERTHASH pins the agent certificate. --list shows the tokens this node remembers, --revoke forgets one (by token or id) or --all. Exit codes: 0 done; 4 a malformed --token or an unknown token to revoke; 78 no certificates (MK_CERTS_MISSING).';
  static override examples = [
    '<%= config.bin %> add-node',
    '<%= config.bin %> add-node --worker',
    '<%= config.bin %> add-node --token-ttl 3600',
    '<%= config.bin %> add-node --format short',
    '<%= config.bin %> add-node --list',
    '<%= config.bin %> add-node --revoke 3f1c0a9e2b7d',
    '<%= config.bin %> add-node --revoke --all',
  ];
  static override flags = {
    'token-ttl': Flags.integer({
      description: `seconds the token stays valid (reusable until then unless --single-use); default: single use, ${TOKEN_LIMITS.defaultTtlSeconds} s`,
      min: TOKEN_LIMITS.ttlSeconds.min,
      max: TOKEN_LIMITS.ttlSeconds.max,
    }),
    'single-use': Flags.boolean({ description: 'with --token-ttl: the token admits one node only' }),
    worker: Flags.boolean({
      description: 'a token that admits a worker only (never the control-plane keys)',
    }),
    token: Flags.string({ description: 'use this token (32 to 256 hex characters) instead of a random one' }),
    list: Flags.boolean({ description: 'list the tokens this node remembers (ids, roles, expiry)' }),
    revoke: Flags.string({ description: 'forget this token (the token, or its id from --list)' }),
    all: Flags.boolean({ description: 'forget every token (`--revoke --all`, or `--all` alone)' }),
    format: Flags.string({
      description: 'output format (json: the result, and errors, as JSON)',
      options: [...ADD_NODE_FORMATS],
      default: 'pretty',
    }),
  };

  async run() {
    // `--revoke --all` names no token: read it as `--all` (oclif would take --all as the value).
    const argv = this.argv.flatMap((a, i, all) => (a === '--revoke' && all[i + 1] === '--all' ? [] : [a]));
    const { flags } = await this.parse(AddNode, argv);
    const ctx = agentContext(resolvePaths());
    if (flags.list) {
      const tokens = await listTokens(ctx);
      if (flags.format !== 'json') this.logLines(formatTokenList(tokens));
      return { tokens };
    }
    if (flags.revoke !== undefined || flags.all) {
      if (!flags.all && !flags.revoke)
        throw new MicroK8sError('MK_INVALID_ARGUMENT', '--revoke needs a token, its id, or --all');
      const result = await revokeTokens(ctx, flags.all ? 'all' : flags.revoke!);
      if (flags.format !== 'json') this.logLines([`Revoked ${result.revoked} token(s).`]);
      return result;
    }
    const result = await addNode(ctx, {
      ...(flags['token-ttl'] !== undefined ? { ttlSeconds: flags['token-ttl'] } : {}),
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      singleUse: flags['single-use'],
      worker: flags.worker,
    });
    this.logLines(formatAddNode(result, flags.format as AddNodeFormat));
    return result;
  }
}
