#!/usr/bin/env node
// Entry point of the `microk8s` CLI. It must parse and run on an old Node too, so that it can
// refuse clearly instead of crashing inside a native module (better-sqlite3 13 aborts on Node 20).
const REQUIRED_NODE_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (!(major >= REQUIRED_NODE_MAJOR)) {
  process.stderr.write(
    `Error [MK_NODE_TOO_OLD]: microk8s needs Node.js ${REQUIRED_NODE_MAJOR} or newer, but this is Node.js ${process.versions.node}.\n` +
      'Hint: run it as `npx microk8s ...` (or `npm start -- ...`) inside the project folder after `npm ci`: ' +
      'the project pins its own Node.js runtime.\n',
  );
  process.exit(78);
}

const datastoreRun = process.argv[2] === 'datastore' && process.argv[3] === 'run';

const supervisorRun = process.argv[2] === 'supervisor' && process.argv[3] === 'run';

// Interactive commands keep stderr for warnings and errors; the daemons log at info.
if (!process.env.MICROK8S_LOG_LEVEL && !datastoreRun && !supervisorRun) {
  process.env.MICROK8S_LOG_LEVEL = 'warn';
}

// The datastore daemon runs for months on every node: a plain command line starts it without
// oclif, which would stay in its memory (~18 MB). Help and unusual command lines (no code
// here) go through the oclif command, which runs the same code.
if (datastoreRun) {
  const [{ runDatastoreFastPath }, { planRoles }] = await Promise.all([
    import('../dist/datastore/node/daemon-cli.js'),
    import('../dist/cluster/roles/index.js'),
  ]);
  const code = await runDatastoreFastPath(process.argv.slice(4), { rolesPlanner: planRoles });
  if (code !== undefined) process.exit(code);
}

// `microk8s kubectl|ctr|helm ...` and `microk8s lab kubectl ...` pass every argument to the upstream
// tool, so they never go through oclif's flag parser (kubectl's --help, -o and --raw are its own).
async function runTool(load) {
  const { isMicroK8sError } = await import('../dist/lib/errors.js');
  try {
    process.exit(await load());
  } catch (error) {
    if (!isMicroK8sError(error)) throw error;
    process.stderr.write(`Error [${error.code}]: ${error.message}\nHint: ${error.hint}\n`);
    process.exit(error.exitCode);
  }
}
const [first, second] = process.argv.slice(2);
if (first === 'kubectl' || first === 'ctr') {
  await runTool(async () => {
    const [{ runPassthrough }, { resolvePaths }] = await Promise.all([
      import('../dist/cluster/kubernetes/passthrough.js'),
      import('../dist/lib/paths.js'),
    ]);
    return runPassthrough(resolvePaths(), first, process.argv.slice(3));
  });
}
// `microk8s helm|helm3 ...`: the helm addon's CLI, every argument helm's.
if (first === 'helm' || first === 'helm3') {
  await runTool(async () => {
    const [{ runHelm }, { resolvePaths }] = await Promise.all([
      import('../dist/addons/helm.js'),
      import('../dist/lib/paths.js'),
    ]);
    return runHelm(resolvePaths(), process.argv.slice(3));
  });
}
if (first === 'lab' && second === 'kubectl') {
  await runTool(async () =>
    (await import('../dist/lab/kube/cluster.js')).labKubectlCommand(process.argv.slice(4)),
  );
}

const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
