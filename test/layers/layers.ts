// The layers of src/ and the one rule between them: a module imports its own layer or a lower
// one, and nothing imports a command. Read as text (static imports, re-exports and import()),
// so the check needs no compiler and runs in a blink.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Top to bottom, as docs/architecture.md draws them; folders on one row are one layer. */
export const LAYERS: readonly (readonly string[])[] = [
  ['commands'],
  ['lab'],
  ['addons', 'lifecycle'],
  ['cluster'],
  ['services'],
  ['datastore'],
  ['node'],
  ['lib'],
];

export interface LayerViolation {
  readonly file: string;
  readonly imports: string;
  readonly why: string;
}

function rankOf(folder: string): number | undefined {
  const at = LAYERS.findIndex((row) => row.includes(folder));
  return at < 0 ? undefined : LAYERS.length - at;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

/** The top folder under src/ of `path` (a file of src/ itself is in no layer: ''). */
function topFolder(src: string, path: string): string {
  const parts = relative(src, path).split(sep);
  return parts.length > 1 ? parts[0]! : '';
}

export function layerViolations(src: string): LayerViolation[] {
  const out: LayerViolation[] = [];
  for (const file of sourceFiles(src)) {
    const from = topFolder(src, file);
    const fromRank = rankOf(from);
    const name = relative(src, file);
    if (fromRank === undefined) {
      out.push({ file: name, imports: '', why: `src/${from}/ is in no layer: add it to the layers` });
      continue;
    }
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1]!);
      if (!target.startsWith(src + sep)) continue;
      const to = topFolder(src, target);
      const toRank = rankOf(to);
      const imports = relative(src, target);
      if (to === 'commands' && from !== 'commands')
        out.push({ file: name, imports, why: 'nothing imports a command' });
      else if (toRank === undefined) out.push({ file: name, imports, why: `src/${to}/ is in no layer` });
      else if (toRank > fromRank) out.push({ file: name, imports, why: `${from} is below ${to}` });
    }
  }
  return out;
}
