/**
 * Editing a service's args file ($SNAP_DATA/args/<service>, one flag per line) the way an
 * operator would by hand: only the named flags change; comments, blank lines, other flags and
 * their order stay. The file is replaced atomically (a temporary file, fsync, rename) with its
 * mode kept, so a daemon restarting at that moment reads the old file or the new one, never half.
 */
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { MicroK8sError } from '../lib/errors.js';

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

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const MAX_VALUE = 4096;
const DEFAULT_MODE = 0o644;

function badFlag(message: string, flag: string): never {
  throw new MicroK8sError('MK_SERVICE_BAD_FLAG', message, { flag });
}

/** Check an edit before anything is written (also what a remote node will check). */
export function checkArgsEdit(edit: ArgsEdit): void {
  const set = Object.entries(edit.set ?? {});
  for (const [name, value] of set) {
    if (!NAME.test(name)) badFlag(`'${name}' is not a flag name (lowercase letters, digits and -)`, name);
    if (typeof value !== 'string' || value.length > MAX_VALUE || /[\r\n\0]/.test(value))
      badFlag(`--${name}: the value must be one line of at most ${MAX_VALUE} characters`, name);
  }
  for (const name of edit.remove ?? []) {
    if (!NAME.test(name)) badFlag(`'${name}' is not a flag name (lowercase letters, digits and -)`, name);
    if (Object.hasOwn(edit.set ?? {}, name)) badFlag(`--${name} is both set and removed`, name);
  }
}

/** The flag a line sets ('--name=value' or '--name value' or '--name'), if it is a flag line. */
function flagOf(line: string): string | undefined {
  return /^--([^=\s]+)/.exec(line.trim())?.[1];
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
    const name = flagOf(line);
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

/** The flags of an args file as name -> values (comments and blank lines skipped). */
export function readArgsFlags(path: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of readText(path).split('\n')) {
    const m = /^--([^=\s]+)(?:(?:=|\s+)(.*))?$/.exec(raw.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), (m[2] ?? '').trim()]);
  }
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new MicroK8sError('MK_INVALID_CONFIG', `cannot read ${path}: ${(error as Error).message}`, {
      file: path,
    });
  }
}

function modeOf(path: string): number {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return DEFAULT_MODE;
  }
}

/** Replace the file's text atomically, keeping its mode (a restore writes back `previous`). */
export function writeArgsText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.edit-${process.pid}`;
  const mode = modeOf(path);
  const fd = openSync(tmp, 'w', mode);
  try {
    fchmodSync(fd, mode); // the umask only removes bits; a stale temporary keeps its own
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Apply `edit` to the file at `path` (created when missing and something is set). */
export function editArgsFile(path: string, edit: ArgsEdit): ArgsEditResult {
  const before = readText(path);
  const after = editArgsText(before, edit);
  const changed = after.text !== before;
  if (changed) writeArgsText(path, after.text);
  return { file: path, changed, set: after.set, removed: after.removed, previous: before };
}
