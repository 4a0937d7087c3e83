/**
 * A git repository of addons made on the spot, as a third party publishes one: a bare
 * repository (the "remote", reached by a file:// URL) fed from a work tree. Commits and tags
 * are pushed; nothing leaves the machine.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const IDENTITY = ['-c', 'user.name=addon author', '-c', 'user.email=author@example.invalid'];

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...IDENTITY, ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export class GitSource {
  readonly bare: string;
  readonly work: string;

  constructor(readonly dir: string) {
    this.bare = join(dir, 'addons.git');
    this.work = join(dir, 'work');
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', this.bare);
    git(dir, 'init', '--quiet', '--initial-branch=main', this.work);
    git(this.work, 'remote', 'add', 'origin', this.bare);
  }

  get url(): string {
    return `file://${this.bare}`;
  }

  /** Writes the files (path -> text), commits them to main and pushes; returns the commit. */
  commit(message: string, files: Record<string, string>): string {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(this.work, path)), { recursive: true });
      writeFileSync(join(this.work, path), text);
    }
    git(this.work, 'add', '--all');
    git(this.work, 'commit', '--quiet', '-m', message);
    git(this.work, 'push', '--quiet', 'origin', 'main');
    return git(this.work, 'rev-parse', 'HEAD');
  }

  tag(name: string): void {
    git(this.work, 'tag', name);
    git(this.work, 'push', '--quiet', 'origin', name);
  }
}

/** An index with one addon NAME whose manifest is one ConfigMap in `default` holding VALUE. */
export function configMapAddon(name: string, value: string): Record<string, string> {
  return {
    'addons.yaml': [
      'addons:',
      `  - name: ${name}`,
      '    description: a ConfigMap from a third-party git repository',
      '    version: "1.0"',
      '    architectures: [amd64, arm64]',
      '    manifests: [configmap.yaml]',
      `    status: {apiVersion: v1, kind: ConfigMap, namespace: default, name: ${name}}`,
      '',
    ].join('\n'),
    [`${name}/configmap.yaml`]: [
      'apiVersion: v1',
      'kind: ConfigMap',
      `metadata: {name: ${name}, namespace: default, labels: {app.kubernetes.io/managed-by: microk8s}}`,
      `data: {value: ${value}}`,
      '',
    ].join('\n'),
  };
}
