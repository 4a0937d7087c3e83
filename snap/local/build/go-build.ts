/**
 * Runs `go build` for one binary of a part, with progress: go's -v lists each package as it is
 * compiled, so the count and the elapsed time are printed every few seconds. Builds on 2 cores
 * take minutes; a silent terminal would look hung.
 */
import { spawn } from 'node:child_process';
import type { GoBinary, GoPart } from './parts.js';
import { type PatchedModules, patchedModules } from './source-patch.js';
import { type Overlay, trimmedMainOverlay } from './trimmed-main.js';

const PROGRESS_EVERY_MS = 15_000;

export function goEnv(part: GoPart): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-mod=readonly -buildvcs=false',
    CGO_ENABLED: part.cgo ? '1' : '0',
  };
}

export function goBuild(
  part: GoPart,
  binary: GoBinary,
  moduleDir: string,
  output: string,
  log: (line: string) => void,
): Promise<void> {
  const tags = [...part.tags, ...(binary.extraTags ?? [])];
  const args = ['build', '-v', '-trimpath', '-o', output, '-ldflags', part.ldflags.join(' ')];
  if (tags.length > 0) args.push('-tags', tags.join(','));
  const env = goEnv(part);
  let overlay: Overlay | undefined;
  if (binary.trimmedMain) {
    overlay = trimmedMainOverlay(binary.trimmedMain, binary.pkg, moduleDir, env);
    args.push('-overlay', overlay.file);
  }
  let patched: PatchedModules | undefined;
  if (binary.patches?.length) {
    try {
      patched = patchedModules(binary.patches, moduleDir, env);
    } catch (error) {
      overlay?.remove();
      throw error;
    }
    args.push(...patched.args);
  }
  args.push(binary.pkg);
  const started = Date.now();
  const built = new Promise<void>((resolveBuild, rejectBuild) => {
    // nice: a cold build takes both cores for minutes; the machine stays usable meanwhile.
    const child = spawn('nice', ['go', ...args], { cwd: moduleDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let packages = 0;
    let tail = '';
    const onOutput = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n'))
        if (line && !line.startsWith('#') && !line.includes(' ')) packages++;
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const timer = setInterval(() => {
      const seconds = Math.round((Date.now() - started) / 1000);
      log(`  ${binary.name}: ${packages} packages compiled, ${seconds}s`);
    }, PROGRESS_EVERY_MS);
    child.on('error', (error) => {
      clearInterval(timer);
      rejectBuild(new Error(`cannot run go: ${error.message} (is Go installed?)`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) resolveBuild();
      else rejectBuild(new Error(`go build ${binary.pkg} failed (exit ${code}):\n${tail}`));
    });
  });
  return built.finally(() => {
    overlay?.remove();
    patched?.remove();
  });
}
