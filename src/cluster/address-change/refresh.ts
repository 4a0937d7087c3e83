/**
 * One look at this node's address, and following a change when asked: what the cluster agent
 * does at start and then periodically, and what `microk8s refresh-address` does once. Both may
 * run at the same moment, so applying holds a lock file and decides again under it (the other
 * one may have just followed the change).
 */
import { mkdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { withFileLock } from '../../node/lock.js';
import type { AgentContext } from '../agent/context.js';
import { type AppliedChange, applyAddressChange } from './apply.js';
import { configuredAddress } from './configured.js';
import {
  type AddressDecision,
  decideAddress,
  decideGiven,
  type InterfaceTable,
  type LastSeen,
} from './decide.js';

const LOCK_FILE = 'address-change.lock';

export interface RefreshAddressOptions {
  /** Follow a change (false: only decide). */
  readonly apply: boolean;
  /** The new address named by the operator, instead of the rules. */
  readonly address?: string;
  readonly lastSeen?: LastSeen;
  /** The interface table (os.networkInterfaces by default; injected by tests). */
  readonly interfaces?: () => InterfaceTable;
}

export interface RefreshAddressResult {
  readonly decision: AddressDecision;
  readonly applied?: AppliedChange;
}

function decide(ctx: AgentContext, table: InterfaceTable, options: RefreshAddressOptions): AddressDecision {
  const configured = configuredAddress(ctx);
  return options.address === undefined
    ? decideAddress(configured, table, options.lastSeen)
    : decideGiven(configured, table, options.address);
}

export async function refreshAddress(
  ctx: AgentContext,
  options: RefreshAddressOptions,
): Promise<RefreshAddressResult> {
  const table = (options.interfaces ?? networkInterfaces)();
  const decision = decide(ctx, table, options);
  if (!options.apply || decision.kind !== 'changed') return { decision };
  mkdirSync(ctx.paths.run, { recursive: true });
  return withFileLock(join(ctx.paths.run, LOCK_FILE), async () => {
    const again = decide(ctx, table, options);
    if (again.kind !== 'changed') return { decision: again };
    return { decision: again, applied: await applyAddressChange(ctx, again, table) };
  });
}
