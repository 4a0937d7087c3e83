/**
 * The snap's refresh policy as this node can see it (`microk8s status`) and the operator's hold
 * (`microk8s refresh-hold`). What snapd really offers a snap from inside (snapd's
 * overlord/hookstate/ctlcmd/refresh.go and the snapctl documentation, "Refresh control"):
 * - `snapctl refresh --pending` prints YAML `pending: none|ready|inhibited`, `channel:` (the
 *   tracking channel), `version:` and `revision:` (only when a refresh of the snap itself is
 *   pending), `base:` and `restart:`. Newer snapd answers it from an app too; older ones answer
 *   "cannot run outside of gate-auto-refresh hook", and the oldest have no `refresh` at all.
 * - `snapctl refresh --hold` is a plain switch (no duration: snapd holds the snap's own refreshes
 *   for at most 90 days) and works from the gate-auto-refresh hook only; from an app snapd says
 *   "cannot hold outside of gate-auto-refresh hook". There is no unhold: a hook that does not
 *   hold lets the refresh proceed.
 * - The revision and version are $SNAP_REVISION and $SNAP_VERSION. snapd tells a snap nothing
 *   about its refresh timer (`snap refresh --time` is the host's command), so the next window
 *   is reported as not visible rather than guessed.
 * So `refresh-hold` records the operator's wish in $SNAP_COMMON (shared by revisions) after
 * checking that snapd answers refresh control from inside, and the gate-auto-refresh hook asks
 * snapd to hold (`snapctl refresh --hold`) while that record is in effect.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import type { Paths } from '../lib/paths.js';
import { writeFileAtomicSync } from '../node/atomic-write.js';
import { snapctlRefresh } from './snapctl.js';

/** snapd's cap on a snap holding its own refreshes (ctlcmd/refresh.go help: "up to 90 days"). */
export const SNAPD_MAX_SELF_HOLD_DAYS = 90;

/** What snapd prints when it cannot do refresh control from an app (older releases). */
const TOO_OLD =
  /unknown (command|flag)|cannot run outside of gate-auto-refresh hook|can only be used from gate-auto-refresh hook/i;

export type HoldRecord = { readonly until: string } | { readonly forever: true };

export interface PendingRefresh {
  /** none, ready or inhibited, as snapd says. */
  readonly pending: string;
  readonly channel?: string;
  /** The revision and version waiting, when a refresh of this snap is pending. */
  readonly revision?: string;
  readonly version?: string;
}

export type RefreshPolicy =
  | { readonly snap: false }
  | {
      readonly snap: true;
      readonly revision: string;
      readonly version: string;
      /** From `snapctl refresh --pending`; null with `unavailable` when snapd cannot say. */
      readonly pending: PendingRefresh | null;
      readonly unavailable?: string;
      /** The operator's hold in effect (refresh-hold), or null. */
      readonly held: HoldRecord | null;
      /** snapd gives a snap no view of its refresh timer. */
      readonly nextWindow: null;
    };

function holdFile(paths: Paths): string {
  return join(paths.common, 'refresh-hold.json');
}

/** The hold in effect at `now`: an expired --until hold is no hold. */
export function currentHold(paths: Paths, now = new Date()): HoldRecord | null {
  const file = holdFile(paths);
  if (!existsSync(file)) return null;
  let record: unknown;
  try {
    record = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new MicroK8sError('MK_DATA_CORRUPTION', `${file} is not JSON`);
  }
  if ((record as { forever?: unknown }).forever === true) return { forever: true };
  const until = (record as { until?: unknown }).until;
  if (typeof until !== 'string' || Number.isNaN(Date.parse(until)))
    throw new MicroK8sError('MK_DATA_CORRUPTION', `${file} holds neither "forever" nor an "until" time`);
  return Date.parse(until) > now.getTime() ? { until } : null;
}

/** The `key: value` lines snapd prints (flat YAML of strings and booleans). */
export function parsePending(text: string): PendingRefresh {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([a-z-]+):\s*(.*)$/.exec(line.trim());
    if (match) fields.set(match[1]!, match[2]!.replace(/^"(.*)"$/, '$1'));
  }
  const get = (key: string) => fields.get(key);
  return {
    pending: get('pending') ?? 'none',
    ...(get('channel') ? { channel: get('channel')! } : {}),
    ...(get('revision') ? { revision: get('revision')! } : {}),
    ...(get('version') ? { version: get('version')! } : {}),
  };
}

type Answer = { code: number | null; stdout: string; stderr: string };

function tooOld(answer: Answer): boolean {
  return answer.code !== 0 && TOO_OLD.test(answer.stderr);
}

function tooOldError(answer: Answer): MicroK8sError {
  return new MicroK8sError(
    'MK_SNAPD_TOO_OLD',
    `this snapd does not offer refresh control to a snap (snapctl refresh --pending: ${answer.stderr.trim()})`,
  );
}

export async function readRefreshPolicy(
  paths: Paths,
  env: NodeJS.ProcessEnv = process.env,
  now = new Date(),
): Promise<RefreshPolicy> {
  if (!paths.inSnap) return { snap: false };
  // status must not fail for this part: a snapctl that cannot run is reported as such.
  const answer = await snapctlRefresh(['--pending']).catch(
    (error: unknown): Answer => ({ code: null, stdout: '', stderr: (error as Error).message }),
  );
  const base = {
    snap: true as const,
    revision: env.SNAP_REVISION ?? 'unknown',
    version: env.SNAP_VERSION ?? 'unknown',
    held: currentHold(paths, now),
    nextWindow: null,
  };
  if (answer.code === 0) return { ...base, pending: parsePending(answer.stdout) };
  const why = tooOld(answer)
    ? 'snapd too old for `snapctl refresh --pending`'
    : answer.stderr.trim() || `snapctl exit ${answer.code}`;
  return { ...base, pending: null, unavailable: why };
}

export type HoldRequest = { readonly until: Date } | { readonly forever: true } | { readonly release: true };

export interface HoldResult {
  readonly held: HoldRecord | null;
  readonly channel?: string;
  /** The hold reaches past what snapd grants a snap at a time. */
  readonly cappedBySnapd: boolean;
}

/**
 * Records (or drops) the operator's hold, after `snapctl refresh --pending` shows that snapd
 * offers refresh control to the snap; an older snapd is MK_SNAPD_TOO_OLD and nothing is written.
 */
export async function holdRefreshes(
  paths: Paths,
  request: HoldRequest,
  now = new Date(),
): Promise<HoldResult> {
  if (!paths.inSnap)
    throw new MicroK8sError('MK_SNAPCTL', 'refresh-hold works inside the snap only (SNAP is not set)');
  if ('until' in request && request.until.getTime() <= now.getTime())
    throw new MicroK8sError(
      'MK_INVALID_ARGUMENT',
      `--until ${request.until.toISOString()} is not in the future`,
    );
  const answer = await snapctlRefresh(['--pending']);
  if (tooOld(answer)) throw tooOldError(answer);
  if (answer.code !== 0)
    throw new MicroK8sError('MK_SNAPCTL', `snapctl refresh --pending failed: ${answer.stderr.trim()}`);
  const { channel } = parsePending(answer.stdout);
  const file = holdFile(paths);
  if ('release' in request) {
    rmSync(file, { force: true });
    return { held: null, ...(channel ? { channel } : {}), cappedBySnapd: false };
  }
  const held: HoldRecord = 'forever' in request ? { forever: true } : { until: request.until.toISOString() };
  writeFileAtomicSync(file, `${JSON.stringify(held)}\n`);
  const capMs = SNAPD_MAX_SELF_HOLD_DAYS * 86_400_000;
  const cappedBySnapd = 'forever' in held || Date.parse(held.until) - now.getTime() > capMs;
  return { held, ...(channel ? { channel } : {}), cappedBySnapd };
}

/**
 * The gate-auto-refresh hook: while the operator's hold is in effect, `snapctl refresh --hold`
 * (snapd prints `hold: <time left>`); otherwise nothing, and snapd proceeds.
 */
export async function gateAutoRefresh(
  paths: Paths,
  now = new Date(),
): Promise<{ held: boolean; snapd: string }> {
  if (currentHold(paths, now) === null) return { held: false, snapd: '' };
  const answer = await snapctlRefresh(['--hold']);
  if (answer.code !== 0)
    throw new MicroK8sError('MK_SNAPCTL', `snapctl refresh --hold failed: ${answer.stderr.trim()}`);
  return { held: true, snapd: answer.stdout.trim() };
}

/** The lines `status` prints for the refresh policy. */
export function formatRefreshPolicy(policy: RefreshPolicy): string[] {
  if (!policy.snap) return ['snap:', '  not a snap (no channel, revision or refresh policy)'];
  const held = policy.held
    ? 'forever' in policy.held
      ? 'held until released (microk8s refresh-hold --release)'
      : `held until ${policy.held.until}`
    : 'not held';
  const p = policy.pending;
  return [
    'snap:',
    `  channel: ${p?.channel ?? `unknown (${policy.unavailable ?? 'snapd did not say'})`}`,
    `  revision: ${policy.revision} (version ${policy.version})`,
    `  refreshes: ${held}`,
    `  pending refresh: ${p ? p.pending + (p.revision ? ` (revision ${p.revision}${p.version ? `, version ${p.version}` : ''})` : '') : 'unknown'}`,
    '  next refresh window: not visible from inside the snap (`snap refresh --time` on the host)',
  ];
}
