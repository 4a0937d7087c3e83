/**
 * A part's cache key: the Go version, the part's spec and every file of its wrapper module
 * (go.mod, go.sum, main.go ...). Same inputs, same key, so a fresh clone finds its outputs.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file below `dir`, recursively, as paths relative to it, sorted folder by folder. */
export function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (statSync(join(dir, name)).isDirectory())
      out.push(...filesBelow(join(dir, name)).map((f) => join(name, f)));
    else out.push(name);
  }
  return out;
}

export function cacheKey(parts: {
  spec: unknown;
  goVersion: string;
  moduleDir: string;
  extra?: string;
}): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(parts.spec));
  hash.update(`\0${parts.goVersion}\0${parts.extra ?? ''}\0`);
  for (const file of filesBelow(parts.moduleDir)) {
    hash.update(`/${file}\0`);
    hash.update(readFileSync(join(parts.moduleDir, file)));
  }
  return hash.digest('hex').slice(0, 20);
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
