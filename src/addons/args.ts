/**
 * The words after `enable` / `disable`: addon names, each with its arguments given one way,
 * `dns:1.1.1.1,8.8.8.8` (the addon's positional argument) or `dns --upstream 1.1.1.1` (flags
 * that follow the addon they belong to). Both ways for one addon is MK_ADDON_ARGS, as is a
 * flag before any addon, an unknown flag or a value of the wrong type.
 */
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import { type IpRange, parseIpRange, rangesOverlap } from '../lib/ip-range.js';
import type { AddonSpec, ArgumentSpec } from './spec.js';

/** One addon as the user named it, before the repositories are consulted. */
export interface AddonRequest {
  readonly requested: string;
  /** The text after ':' (undefined: no colon form). */
  readonly colon?: string;
  /** --name value pairs, in order. */
  readonly flags: ReadonlyArray<readonly [string, string]>;
}

export type AddonArgs = Readonly<Record<string, string | readonly string[]>>;

function argsError(message: string, addon?: string): MicroK8sError {
  return new MicroK8sError('MK_ADDON_ARGS', message, addon === undefined ? {} : { addon });
}

export function parseAddonWords(words: readonly string[]): AddonRequest[] {
  const out: { requested: string; colon?: string; flags: [string, string][] }[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word.startsWith('--')) {
      const current = out.at(-1);
      if (!current) throw argsError(`the flag ${word} comes before any addon name`);
      const eq = word.indexOf('=');
      const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
      let value: string | undefined = eq === -1 ? undefined : word.slice(eq + 1);
      if (value === undefined) {
        value = words[i + 1];
        if (value === undefined || value.startsWith('--'))
          throw argsError(`the flag --${name} of ${current.requested} needs a value`, current.requested);
        i++;
      }
      if (current.colon !== undefined)
        throw argsError(
          `${current.requested}: give the arguments either as ${current.requested}:VALUE or as --${name} VALUE, not both`,
          current.requested,
        );
      current.flags.push([name, value]);
      continue;
    }
    const colon = word.indexOf(':');
    const requested = colon === -1 ? word : word.slice(0, colon);
    if (requested === '') throw argsError(`'${word}' names no addon`);
    out.push({ requested, ...(colon === -1 ? {} : { colon: word.slice(colon + 1) }), flags: [] });
  }
  if (out.length === 0) throw argsError('name at least one addon');
  return out;
}

function checkValue(addon: string, arg: ArgumentSpec, raw: string): string | string[] {
  const fail = (why: string) => argsError(`${addon}: --${arg.name} ${why}, got '${raw}'`, addon);
  switch (arg.type) {
    case 'ip':
      if (isIP(raw) === 0) throw fail('takes one IP address');
      return raw;
    case 'ip-list': {
      const items = raw.split(/[,\s]+/).filter((x) => x !== '');
      if (items.length === 0) throw fail('needs at least one IP address');
      for (const item of items) if (isIP(item) === 0) throw fail(`takes IP addresses`);
      return items;
    }
    case 'ip-ranges': {
      const items = raw.split(/[,\s]+/).filter((x) => x !== '');
      if (items.length === 0) throw fail('needs at least one range (FIRST-LAST or a CIDR)');
      const ranges: IpRange[] = [];
      for (const item of items) {
        const range = parseIpRange(item);
        if (typeof range === 'string') throw fail(`takes ranges FIRST-LAST or CIDRs: ${range}`);
        const other = ranges.find((r) => rangesOverlap(r, range));
        if (other) throw fail(`has overlapping ranges ${other.text} and ${range.text}`);
        ranges.push(range);
      }
      return ranges.map((r) => r.text);
    }
    case 'quantity':
      // The binary and decimal suffixes of a Kubernetes quantity, integers only.
      if (!/^[1-9][0-9]{0,8}(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.test(raw))
        throw fail('must be a quantity such as 20Gi or 500Mi');
      return raw;
    case 'path':
      if (!isAbsolute(raw)) throw fail('must be an absolute path');
      return raw;
    case 'string':
      if (raw === '' || [...raw].some((c) => c.charCodeAt(0) < 0x20))
        throw fail('must be a non-empty line of text');
      return raw;
  }
}

/** The request's arguments checked against the addon's schema. */
export function resolveArgs(spec: AddonSpec, request: AddonRequest): AddonArgs {
  const out: Record<string, string | string[]> = {};
  if (request.colon !== undefined) {
    const positional = spec.arguments.find((a) => a.positional);
    if (!positional) throw argsError(`${spec.name} takes no NAME:VALUE argument`, spec.name);
    out[positional.name] = checkValue(spec.name, positional, request.colon);
  }
  for (const [name, value] of request.flags) {
    const arg = spec.arguments.find((a) => a.name === name);
    if (!arg) {
      const known = spec.arguments.map((a) => `--${a.name}`).join(', ') || 'none';
      throw argsError(`${spec.name} has no argument --${name} (its arguments: ${known})`, spec.name);
    }
    if (name in out) throw argsError(`${spec.name}: --${name} is given twice`, spec.name);
    out[name] = checkValue(spec.name, arg, value);
  }
  return out;
}

/** An enable must give every required argument (a disable needs none). */
export function requireArgs(spec: AddonSpec, args: AddonArgs): void {
  for (const arg of spec.arguments) {
    if (arg.required && !(arg.name in args)) {
      const forms = arg.positional ? `${spec.name}:VALUE or --${arg.name} VALUE` : `--${arg.name} VALUE`;
      throw argsError(`${spec.name} needs its ${arg.name} (${forms}): ${arg.description}`, spec.name);
    }
  }
}
