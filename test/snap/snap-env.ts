/**
 * A simulated snap environment for the hooks: SNAP is the real .snap that `npm run snap` builds
 * from this checkout (cached-snap.ts: built once per set of inputs, dist/ among them), unpacked
 * with unsquashfs into a temporary folder shared by the test file's environments (read only, as
 * snapd mounts it); SNAP_DATA (one folder per revision, copied on a refresh as
 * snapd does), SNAP_COMMON, SNAP_REVISION, and a stand-in `snapctl` on PATH. snapd cannot run
 * here, so snapctl is MOCKED: the stand-in records every call, answers is-connected from a list
 * of missing plugs, keeps the daemons' enabled state for `snapctl services`, and for
 * `start microk8s.daemon-datastore` runs that app's real command (commands/run-daemon datastore)
 * in the background, as snapd would start the service (and `stop` sends it SIGTERM). Nothing
 * else is started. `refresh --pending` prints the YAML snapd prints (stub file refresh-pending,
 * or no pending refresh on latest/stable), `refresh --hold` what snapd prints for a 90-day hold;
 * with setOldSnapd() both answer as a snapd without them answers an unknown flag.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BuiltSnap, ensureCachedSnap } from '../../snap/local/pack/cached-snap.js';
import { snapCacheDir } from '../../snap/local/pack/project.js';
import { ensureSquashfsTools } from '../../snap/local/pack/squashfs.js';
import { upstreamCacheDir } from '../../src/lib/upstream-paths.js';

const STAND_IN = `#!/bin/sh
# snapctl stand-in (MOCKED: snapd cannot run here); see test/snap/snap-env.ts.
echo "$*" >> "$STUB_DIR/calls"
case "$1" in
  is-connected) grep -qx "$2" "$STUB_DIR/missing-plugs" 2>/dev/null && exit 1; exit 0 ;;
  get) cat "$STUB_DIR/options.json" 2>/dev/null || echo '{}' ;;
  services)
    echo "Service  Startup  Current  Notes"
    [ -f "$STUB_DIR/enabled" ] && sort -u "$STUB_DIR/enabled" | while read -r app; do echo "$app  enabled  active  -"; done ;;
  refresh)
    if [ -f "$STUB_DIR/old-snapd" ]; then
      echo "error: error running snapctl: unknown flag \\\`\${2#--}'" >&2; exit 1
    fi
    case "$2" in
      --pending) cat "$STUB_DIR/refresh-pending" 2>/dev/null || printf 'pending: none\nchannel: latest/stable\nbase: false\nrestart: false\n' ;;
      --hold) echo 'hold: 2160h0m0s' ;;
    esac ;;
  start)
    shift
    if [ "$1" = --enable ]; then shift; echo "$1" >> "$STUB_DIR/enabled"; fi
    if [ "$1" = microk8s.daemon-datastore ] && [ ! -s "$STUB_DIR/datastore.pid" ]; then
      "$SNAP/commands/run-daemon" datastore >> "$STUB_DIR/datastore.log" 2>&1 &
      echo $! > "$STUB_DIR/datastore.pid"
    fi ;;
  stop)
    shift
    [ "$1" = --disable ] && shift
    if [ "$1" = microk8s.daemon-datastore ] && [ -s "$STUB_DIR/datastore.pid" ]; then
      kill -TERM "$(cat "$STUB_DIR/datastore.pid")"
      : > "$STUB_DIR/datastore.pid"
    fi ;;
esac
exit 0
`;

export interface UnpackedSnap {
  readonly snap: BuiltSnap;
  /** The unpacked tree: $SNAP. */
  readonly root: string;
  readonly unpackSeconds: number;
}

let unpacked: UnpackedSnap | undefined;

/**
 * The .snap of this checkout (built when the cache has none for its inputs; that takes minutes),
 * unpacked once per process. Throws saying why when it cannot be built: no upstream build, no
 * dist/, no squashfs-tools.
 */
export function unpackedSnap(): UnpackedSnap {
  if (unpacked) return unpacked;
  const bin = join(upstreamCacheDir(), 'bin', 'kubelet');
  if (!existsSync(bin)) throw new Error(`no upstream build at ${bin}: run \`npm run build:upstream\` first`);
  const log = (line: string) => process.stderr.write(`[snap] ${line}\n`);
  ensureSquashfsTools(log);
  const snap = ensureCachedSnap({ upstreamCache: upstreamCacheDir(), log });
  const dir = mkdtempSync(join(tmpdir(), 'microk8s-unpacked-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'snap');
  const started = Date.now();
  execFileSync('unsquashfs', ['-no-progress', '-d', root, snap.file], { stdio: 'ignore' });
  unpacked = { snap, root, unpackSeconds: (Date.now() - started) / 1000 };
  log(`${snap.file} (${snap.bytes} bytes) unpacked at ${root} in ${unpacked.unpackSeconds} s`);
  return unpacked;
}

export interface HookRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class SimulatedSnap {
  readonly work: string;
  /** $SNAP: the unpacked .snap (shared, never written). */
  readonly snapDir: string;
  readonly stub: string;
  readonly common: string;
  revision = 1;
  /** More environment for the hooks and the app (e.g. MICROK8S_LAUNCH_CONFIG). */
  extraEnv: Record<string, string> = {};

  constructor(label: string) {
    mkdirSync(snapCacheDir(), { recursive: true });
    this.work = mkdtempSync(join(snapCacheDir(), `${label}-`));
    this.snapDir = unpackedSnap().root;
    this.stub = join(this.work, 'stub');
    this.common = join(this.work, 'common');
    mkdirSync(join(this.stub, 'bin'), { recursive: true });
    mkdirSync(this.common, { recursive: true });
    mkdirSync(this.data(), { recursive: true });
    writeFileSync(join(this.stub, 'bin', 'snapctl'), STAND_IN);
    chmodSync(join(this.stub, 'bin', 'snapctl'), 0o755);
  }

  data(revision = this.revision): string {
    return join(this.work, 'data', String(revision));
  }

  env(): Record<string, string> {
    return {
      PATH: `${join(this.stub, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: this.work,
      SNAP: this.snapDir,
      SNAP_DATA: this.data(),
      SNAP_COMMON: this.common,
      SNAP_NAME: 'microk8s',
      SNAP_REVISION: String(this.revision),
      SNAP_VERSION: '1.36.3',
      STUB_DIR: this.stub,
      ...this.extraEnv,
    };
  }

  /** Runs meta/hooks/NAME as snapd would (its environment, no terminal), under `launcher` if given. */
  hook(name: string, timeoutMs = 180_000, launcher: readonly string[] = []): HookRun {
    const argv = [...launcher, join(this.snapDir, 'meta', 'hooks', name)];
    const r = spawnSync(argv[0]!, argv.slice(1), {
      env: this.env(),
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** The microk8s app, as a user runs it. */
  app(args: readonly string[], timeoutMs = 60_000): HookRun {
    const r = spawnSync(join(this.snapDir, 'commands', 'microk8s'), args, {
      env: this.env(),
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  calls(): string[] {
    const file = join(this.stub, 'calls');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
  }

  clearCalls(): void {
    rmSync(join(this.stub, 'calls'), { force: true });
  }

  setMissingPlugs(plugs: readonly string[]): void {
    writeFileSync(join(this.stub, 'missing-plugs'), plugs.map((p) => `${p}\n`).join(''));
  }

  /** snapctl answers `refresh --pending`/`--hold` as a snapd without them does (unknown flag). */
  setOldSnapd(): void {
    writeFileSync(join(this.stub, 'old-snapd'), '');
  }

  /** What `snapctl refresh --pending` prints (snapd's YAML). */
  setPendingRefresh(yaml: string): void {
    writeFileSync(join(this.stub, 'refresh-pending'), yaml);
  }

  /** A refresh to the next revision: SNAP_DATA copied as snapd copies it, the revision moved on. */
  refreshData(): void {
    cpSync(this.data(), this.data(this.revision + 1), { recursive: true, preserveTimestamps: true });
    this.revision++;
  }

  datastorePid(): number | undefined {
    const file = join(this.stub, 'datastore.pid');
    const pid = existsSync(file) ? Number.parseInt(readFileSync(file, 'utf8'), 10) : Number.NaN;
    return Number.isInteger(pid) ? pid : undefined;
  }

  /** Stops the datastore the stand-in started (SIGTERM to its runner, which passes it on). */
  async stop(): Promise<void> {
    const pid = this.datastorePid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(pid, 'SIGKILL');
  }

  remove(): void {
    rmSync(this.work, { recursive: true, force: true });
  }
}
