/**
 * An upstream main package built without some of its imports (parts.ts, TrimmedMain): the
 * module is downloaded as go.mod pins it (checked against go.sum), its main file is read from
 * the module cache, the named blank imports are removed, and the result is handed to `go
 * build -overlay` as a file of the wrapper module. Nothing is copied into the repository, and
 * a new upstream release whose main file no longer has such an import stops the build here
 * rather than building something else.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TrimmedMain } from './parts.js';

/** The main file's text less the dropped imports; throws unless each is there exactly once. */
export function trimMainSource(source: string, trim: TrimmedMain): string {
  let lines = source.split('\n');
  for (const path of trim.dropImports) {
    const isImport = (line: string) => line.trim() === `_ ${JSON.stringify(path)}`;
    const found = lines.filter(isImport).length;
    if (found !== 1) {
      throw new Error(
        `${trim.module}/${trim.file}: expected one blank import of ${path}, found ${found}; ` +
          'update dropImports in snap/local/build/parts.ts for this release',
      );
    }
    lines = lines.filter((line) => !isImport(line));
  }
  return lines.join('\n');
}

export interface Overlay {
  /** The file to pass to `go build -overlay`. */
  readonly file: string;
  readonly remove: () => void;
}

/** Writes the trimmed main file and an overlay placing it at <moduleDir>/<pkg>/<file>. */
export function trimmedMainOverlay(
  trim: TrimmedMain,
  pkg: string,
  moduleDir: string,
  env: NodeJS.ProcessEnv,
): Overlay {
  const info = JSON.parse(
    execFileSync('go', ['mod', 'download', '-json', trim.module], { cwd: moduleDir, env }).toString(),
  ) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${trim.module}: ${info.Error ?? 'no folder'}`);
  const scratch = mkdtempSync(join(tmpdir(), 'mk8s-trimmed-main-'));
  const source = join(scratch, trim.file);
  writeFileSync(source, trimMainSource(readFileSync(join(info.Dir, trim.file), 'utf8'), trim));
  const file = join(scratch, 'overlay.json');
  const target = join(resolve(moduleDir, pkg), trim.file);
  writeFileSync(file, JSON.stringify({ Replace: { [target]: source } }));
  return { file, remove: () => rmSync(scratch, { recursive: true, force: true }) };
}
