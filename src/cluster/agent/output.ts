/**
 * The text that `add-node`, `join` and `configure` print, beside the library calls they make:
 * the commands only choose the format and print these lines (JSON is the result itself, printed
 * by the base command).
 */
import { stringify } from 'yaml';
import { MicroK8sError } from '../../lib/errors.js';
import type { TokenSummary } from '../join/token-store.js';
import type { AddNodeResult } from './add-node.js';
import type { JoinResult } from './join.js';
import type { ConfigureResponse } from './protocol.js';

export const ADD_NODE_FORMATS = ['pretty', 'short', 'token', 'json', 'yaml'] as const;
export type AddNodeFormat = (typeof ADD_NODE_FORMATS)[number];

/** add-node's output in `format` (none for json: the result is the output). */
export function formatAddNode(result: AddNodeResult, format: AddNodeFormat): string[] {
  const lines = result.joinStrings.map((s) => `microk8s join ${s}`);
  switch (format) {
    case 'json':
      return [];
    case 'token':
      return [result.token];
    case 'short':
      return lines;
    case 'yaml':
      return [stringify(result).trimEnd()];
  }
  const out =
    result.role === 'worker'
      ? [
          'From the node you wish to join to this cluster as a worker, run the following:',
          `${lines[0]!} --worker`,
          '',
          'This token admits a worker only: it cannot join a control-plane node.',
        ]
      : [
          'From the node you wish to join to this cluster, run the following:',
          lines[0]!,
          '',
          "Use the '--worker' flag to join a node as a worker not running the control plane, eg:",
          `${lines[0]!} --worker`,
          '(`microk8s add-node --worker` makes a token that admits a worker only.)',
        ];
  if (lines.length > 1) {
    out.push(
      '',
      'If the node you are adding is not reachable through the default interface you can use one of the following:',
      ...lines,
    );
  }
  out.push(
    '',
    result.singleUse
      ? `The token can be used once, until ${result.expiresAt}.`
      : `The token can be used until ${result.expiresAt}.`,
  );
  return out;
}

/** `add-node --list`: one line per token the node remembers. */
export function formatTokenList(tokens: readonly TokenSummary[]): string[] {
  if (tokens.length === 0) return ['No join tokens.'];
  return [
    'ID            ROLE           USE       STATE    EXPIRES',
    ...tokens.map(
      (t) =>
        `${t.id.padEnd(14)}${t.role.padEnd(15)}${(t.singleUse ? 'once' : 'reusable').padEnd(10)}${t.state.padEnd(9)}${t.expiresAt ?? 'never'}`,
    ),
  ];
}

/** What a join did, and what is left to start by hand. */
export function formatJoin(result: JoinResult): string[] {
  const out: string[] = [];
  if (result.kind === 'worker') {
    out.push(`Joined ${result.clusterId} as a worker; control plane: ${result.controlPlane?.join(', ')}.`);
    const proxy = result.proxy;
    if (proxy?.pid !== undefined)
      out.push(`The API-server proxy listens on ${proxy.listen} (pid ${proxy.pid}).`);
    else if (proxy?.startCommand)
      out.push(`Start the API-server proxy (${proxy.listen}) with:`, `  ${proxy.startCommand.join(' ')}`);
  } else if (result.started) {
    const s = result.started;
    out.push(
      `Joined ${result.clusterId} as node ${result.nodeId} (${s.role}; ${s.members} members, leader ${s.leader}).`,
    );
  } else {
    out.push(
      `Joined ${result.clusterId} as node ${result.nodeId}. Start the datastore with:`,
      `  ${result.startCommand?.join(' ')}`,
    );
  }
  if (result.certsBackup) out.push(`The previous certificates are kept in ${result.certsBackup}.`);
  if (result.datastoreBackup) out.push(`The previous datastore is kept in ${result.datastoreBackup}.`);
  return out;
}

/** `configure --set FLAG=VALUE` (a leading -- is allowed) -> the flags to set. */
export function parseSetFlags(raw: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    raw.map((item) => {
      const at = item.indexOf('=');
      if (at <= 0)
        throw new MicroK8sError('MK_SERVICE_BAD_FLAG', `--set expects FLAG=VALUE, got '${item}'`, {
          flag: item,
        });
      return [item.slice(0, at).replace(/^--/, ''), item.slice(at + 1)];
    }),
  );
}

/** One line per node: what changed there, or why it failed. */
export function formatConfigure(response: ConfigureResponse): string[] {
  return response.results.map((r) => {
    const what = r.ok
      ? `${r.changed === false ? 'args unchanged' : 'args changed'}${r.message ? `; ${r.message}` : ''}`
      : `FAILED [${r.code}] ${r.message}`;
    return `${r.node} (${r.address ?? 'address unknown'}): ${what}`;
  });
}

/** The exit code of a configure: 1 when any node failed (the results say which). */
export function configureExitCode(response: ConfigureResponse): 0 | 1 {
  return response.results.some((r) => !r.ok) ? 1 : 0;
}
