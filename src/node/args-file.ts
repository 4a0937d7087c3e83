/**
 * Args files ($SNAP_DATA/args/<service>): the one grammar, the one reader and the one writer.
 *
 * Grammar, line by line (surrounding blanks ignored): empty; a comment starting with '#'; or a
 * flag: `--name=value`, `--name value` or a bare `--name` (value ''). Anything else is refused
 * with the file and line, so a typo is never silently ignored.
 *
 * Every change is a read-modify-write of the text under the node's lock (one lock file per args
 * folder), so two writers at the same moment (a placement change and `configure --set`) both
 * land. Only the named flags change; comments, blank lines, other flags (known to this version
 * or not) and their order stay, and so does the file's mode. The file is replaced atomically and
 * durably, so a daemon starting at that moment reads the old file or the new one, never half.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';
import { DEFAULT_FILE_MODE, writeFileAtomicSync } from './atomic-write.js';
import { withFileLock } from './lock.js';

/** flag name (without --) -> its values in file order. */
export type ArgsFlags = Map<string, string[]>;

export interface ArgsEdit {
  /** flag (without --) -> value; '' writes the bare flag. */
  readonly set?: Readonly<Record<string, string>>;
  /** Flags (without --) whose lines go, every one of them. */
  readonly remove?: readonly string[];
}

export interface ArgsEditResult {
  readonly file: string;
  readonly changed: boolean;
  readonly set: string[];
  /** Flags that were present and are gone. */
  readonly removed: string[];
  /** The text before the edit ('' for a file that did not exist), to put back on failure. */
  readonly previous: string;
}

/** The lock every writer of the args files in `dir` takes (the node's args lock). */
export const ARGS_LOCK_FILE = '.args.lock';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const MAX_VALUE = 4096;
const FLAG_LINE = /^--([^=\s]+)(?:(=|\s+)(.*))?$/;

/** One parsed line: a flag (name and value) or undefined for a blank or comment line. */
function parseLine(line: string, where: string): { name: string; value: string } | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const m = FLAG_LINE.exec(text);
  if (!m) {
    throw new MicroK8sError('MK_INVALID_CONFIG', `${where}: '${text}' is not a flag line (--name=value)`, {
      line: text,
    });
  }
  const value = m[2] === '=' ? (m[3] ?? '') : (m[3] ?? '').trim();
  return { name: m[1]!, value };
}

/** The flags of an args file's text (`origin` names the file in errors). */
export function parseArgsText(text: string, origin: string): ArgsFlags {
  const out: ArgsFlags = new Map();
  text.split('\n').forEach((line, i) => {
    const flag = parseLine(line, `${origin}:${i + 1}`);
    if (flag) out.set(flag.name, [...(out.get(flag.name) ?? []), flag.value]);
  });
  return out;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MicroK8sError('MK_INVALID_CONFIG', `cannot read ${path}: ${(error as Error).message}`, {
      file: path,
    });
  }
}

/**
 * The flags of the args file at `path`. A missing file is MK_INVALID_CONFIG, or no flags at all
 * with `missingOk` (a service that takes its defaults).
 */
export function readArgsFile(path: string, options: { missingOk?: boolean } = {}): ArgsFlags {
  const text = readText(path);
  if (text !== undefined) return parseArgsText(text, path);
  if (options.missingOk) return new Map();
  throw new MicroK8sError('MK_INVALID_CONFIG', `cannot read args file ${path}: it does not exist`, {
    file: path,
  });
}

function badFlag(message: string, flag: string): never {
  throw new MicroK8sError('MK_SERVICE_BAD_FLAG', message, { flag });
}

/** Check an edit before anything is written (also what a remote node will check). */
export function checkArgsEdit(edit: ArgsEdit): void {
  for (const [name, value] of Object.entries(edit.set ?? {})) {
    if (!NAME.test(name)) badFlag(`'${name}' is not a flag name (lowercase letters, digits and -)`, name);
    if (typeof value !== 'string' || value.length > MAX_VALUE || /[\r\n\0]/.test(value))
      badFlag(`--${name}: the value must be one line of at most ${MAX_VALUE} characters`, name);
  }
  for (const name of edit.remove ?? []) {
    if (!NAME.test(name)) badFlag(`'${name}' is not a flag name (lowercase letters, digits and -)`, name);
    if (Object.hasOwn(edit.set ?? {}, name)) badFlag(`--${name} is both set and removed`, name);
  }
}

/** The flag a line names, if it is a flag line (lines the grammar refuses are kept as they are). */
function flagNameOf(line: string): string | undefined {
  return FLAG_LINE.exec(line.trim())?.[1];
}

/** Pure: the new text of an args file. */
export function editArgsText(
  text: string,
  edit: ArgsEdit,
): { text: string; set: string[]; removed: string[] } {
  checkArgsEdit(edit);
  const set = new Map(Object.entries(edit.set ?? {}));
  const remove = new Set(edit.remove ?? []);
  const written = new Set<string>();
  const removed = new Set<string>();
  const render = (name: string, value: string) => (value === '' ? `--${name}` : `--${name}=${value}`);
  const lines = text === '' ? [] : text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const out: string[] = [];
  for (const line of lines) {
    const name = flagNameOf(line);
    if (name !== undefined && remove.has(name)) {
      removed.add(name);
      continue;
    }
    const value = name === undefined ? undefined : set.get(name);
    if (name === undefined || value === undefined) {
      out.push(line);
      continue;
    }
    // A set names the one value: the first line takes it, any repeat of the flag goes.
    if (!written.has(name)) out.push(render(name, value));
    written.add(name);
  }
  for (const [name, value] of set) if (!written.has(name)) out.push(render(name, value));
  return { text: out.length === 0 ? '' : `${out.join('\n')}\n`, set: [...set.keys()], removed: [...removed] };
}

function modeOf(path: string, fallback: number): number {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return fallback;
  }
}

/** Run `body` under the lock of the args folder that holds `path` (created when missing). */
export async function withArgsLock<T>(path: string, body: () => T | Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  return withFileLock(join(dirname(path), ARGS_LOCK_FILE), body);
}

/**
 * The one writer: a read-modify-write under the args lock. `change` gets the current text (''
 * for a missing file) and returns the new text, or undefined to leave the file alone. The mode
 * of an existing file is kept; a new file gets `mode`.
 */
export async function rewriteArgsFile(
  path: string,
  change: (text: string) => string | undefined,
  mode: number = DEFAULT_FILE_MODE,
): Promise<{ previous: string; changed: boolean }> {
  return withArgsLock(path, () => {
    const previous = readText(path) ?? '';
    const next = change(previous);
    if (next === undefined || next === previous) return { previous, changed: false };
    writeFileAtomicSync(path, next, { mode: modeOf(path, mode) });
    return { previous, changed: true };
  });
}

/** Apply `edit` to the file at `path` (created when missing and something is set). */
export async function editArgsFile(path: string, edit: ArgsEdit): Promise<ArgsEditResult> {
  checkArgsEdit(edit);
  let result: { set: string[]; removed: string[] } = { set: [], removed: [] };
  const { previous, changed } = await rewriteArgsFile(path, (text) => {
    const after = editArgsText(text, edit);
    result = after;
    return after.text;
  });
  return { file: path, changed, set: result.set, removed: result.removed, previous };
}

/** Replace the whole text of an args file (a new node's file, or a restore of `previous`). */
export async function writeArgsFile(
  path: string,
  text: string,
  mode: number = DEFAULT_FILE_MODE,
): Promise<void> {
  await rewriteArgsFile(path, () => text, mode);
}
