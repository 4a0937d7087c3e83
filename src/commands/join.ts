import { Args, Flags } from '@oclif/core';
import { agentContext } from '../cluster/agent/context.js';
import { runJoin } from '../cluster/agent/join.js';
import { AGENT_LIMITS } from '../cluster/agent/limits.js';
import { formatJoin } from '../cluster/agent/output.js';
import { readJoinLine } from '../cluster/join/join-line.js';
import { MicroK8sCommand } from '../lib/command.js';
import { resolvePaths } from '../lib/paths.js';

export default class Join extends MicroK8sCommand {
  static override summary = 'Join the cluster whose node printed this `microk8s join` line.';
  static override description = [
    'Everything that can fail is checked before the token is used: a join refused for another reason leaves it usable.',
    'Outside a snap nothing starts the datastore: the command to run is printed, or --start runs it and waits until the node is a member.',
    'A worker runs no datastore: its API-server proxy (the kubeconfigs point at it) is started the same way.',
    'Exit codes: 0 joined; 3 the agent is unreachable (MK_AGENT_UNREACHABLE), no leader, or the wait timed out;',
    '4 a bad join string (MK_JOIN_STRING_*), a wrong certificate hash (MK_AGENT_CERT_MISMATCH),',
    'an invalid, expired or used token (MK_JOIN_TOKEN_*), already a member, or an address in use; 78 version skew.',
    'The join line may be read from a file or stdin (--token-file F, or - for stdin) so the token is not in the process list.',
    'A certificate hash shorter than 32 hex digits is refused (MK_JOIN_SHORT_PIN) unless --allow-short-pin; --skip-verify is refused.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> join 10.0.0.1:25000/4f2c…/9ab1…',
    '<%= config.bin %> join 10.0.0.1:25000/4f2c…/9ab1… --worker',
    'echo 10.0.0.1:25000/4f2c…/9ab1… | <%= config.bin %> join --token-file - --worker',
  ];
  static override enableJsonFlag = true;
  static override args = {
    joinString: Args.string({
      description: 'IP:PORT/TOKEN/CERTHASH as printed by add-node (or give --token-file)',
      required: false,
    }),
  };
  static override flags = {
    worker: Flags.boolean({ description: 'join as a worker: signed certificates only, no datastore' }),
    'token-file': Flags.string({
      description: 'read the join line (IP:PORT/TOKEN/CERTHASH) from this file, or - for stdin',
    }),
    'allow-short-pin': Flags.boolean({
      description: 'accept a certificate hash shorter than 32 hex digits (weaker; a warning is printed)',
    }),
    'skip-verify': Flags.boolean({
      description: 'refused: it would send the token to whoever answers (kept to say so)',
      hidden: true,
    }),
    address: Flags.string({
      description: 'the address other nodes reach this one at (default: the route to the agent)',
    }),
    hostname: Flags.string({ description: 'the node name (default: this machine hostname)' }),
    start: Flags.boolean({
      description:
        'start the datastore (a worker: the API-server proxy) here and wait until it is a member (listens)',
    }),
    'proxy-listen': Flags.string({
      description: "with --worker, HOST:PORT of the node's API-server proxy (default 127.0.0.1:16443)",
    }),
    timeout: Flags.integer({
      description: 'with --start, give up waiting after this many seconds',
      min: 1,
      max: 3600,
      default: AGENT_LIMITS.startWaitMs / 1000,
    }),
  };

  async run() {
    const { args, flags } = await this.parse(Join);
    const joinString = await readJoinLine(args.joinString, flags['token-file']);
    const result = await runJoin(agentContext(resolvePaths()), {
      joinString,
      allowShortPin: flags['allow-short-pin'],
      worker: flags.worker,
      skipVerify: flags['skip-verify'],
      start: flags.start,
      timeoutMs: flags.timeout * 1000,
      ...(flags.address ? { address: flags.address } : {}),
      ...(flags.hostname ? { hostname: flags.hostname } : {}),
      ...(flags['proxy-listen'] ? { proxyListen: flags['proxy-listen'] } : {}),
      onProgress: (line) => this.logToStderr(line),
    });
    this.logLines(formatJoin(result));
    return result;
  }
}
