/**
 * Exact edits of an upstream module's files for one build. Go refuses overlays of files in the
 * module cache, so the module (as the wrapper's go.mod pins it, checked against go.sum) is copied
 * into the wrapper module's .patched/ folder (git-ignored, removed after the build), edited there
 * (each `find` text exactly once), and the build uses a copy of the wrapper's go.mod
 * (`-modfile`) that replaces the module with that folder by a relative path: the binary's build
 * info then names `./.patched/N`, the same on every machine, so the image stays reproducible.
 * Nothing is committed, and a release where the text is gone stops the build here, saying why
 * the edit was there.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourcePatch } from './parts.js';

/** The file's text with the edit made; throws unless `find` is there exactly once. */
export function patchSource(source: string, patch: SourcePatch): string {
  const count = source.split(patch.find).length - 1;
  if (count !== 1) {
    throw new Error(
      `${patch.module}/${patch.file}: expected the patched text once, found it ${count} times ` +
        `(the edit was for: ${patch.why}); update the patch in snap/local for this release`,
    );
  }
  return source.replace(patch.find, () => patch.replace);
}

/** In the wrapper module's folder; relative replace paths resolve from the main module's root. */
export const PATCHED_DIR = '.patched';

export interface PatchedModules {
  /** Extra `go build` arguments (-modfile). */
  readonly args: readonly string[];
  readonly remove: () => void;
}

/** Copies, edits and replaces each patched module for one build of the wrapper module. */
export function patchedModules(
  patches: readonly SourcePatch[],
  moduleDir: string,
  env: NodeJS.ProcessEnv,
): PatchedModules {
  const scratch = mkdtempSync(join(tmpdir(), 'mk8s-source-patch-'));
  const patched = join(moduleDir, PATCHED_DIR);
  const remove = () => {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(patched, { recursive: true, force: true });
  };
  // A folder left by a build that was killed.
  rmSync(patched, { recursive: true, force: true });
  try {
    const copies = new Map<string, string>();
    for (const patch of patches) {
      let copy = copies.get(patch.module);
      if (copy === undefined) {
        const info = JSON.parse(
          execFileSync('go', ['mod', 'download', '-json', patch.module], { cwd: moduleDir, env }).toString(),
        ) as { Dir?: string; Error?: string };
        if (!info.Dir) throw new Error(`go mod download ${patch.module}: ${info.Error ?? 'no folder'}`);
        copy = `./${PATCHED_DIR}/${copies.size}`;
        cpSync(info.Dir, join(moduleDir, copy), { recursive: true });
        // The module cache is read-only, and so is a copy of it: writable, to edit and remove.
        execFileSync('chmod', ['-R', 'u+w', join(moduleDir, copy)]);
        copies.set(patch.module, copy);
      }
      const file = join(moduleDir, copy, patch.file);
      writeFileSync(file, patchSource(readFileSync(file, 'utf8'), patch));
    }
    const modfile = join(scratch, 'go.mod');
    const replaces = [...copies].map(([module, dir]) => `replace ${module} => ${dir}`).join('\n');
    writeFileSync(modfile, `${readFileSync(join(moduleDir, 'go.mod'), 'utf8')}\n${replaces}\n`);
    copyFileSync(join(moduleDir, 'go.sum'), join(scratch, 'go.sum'));
    return { args: [`-modfile=${modfile}`], remove };
  } catch (error) {
    remove();
    throw error;
  }
}
