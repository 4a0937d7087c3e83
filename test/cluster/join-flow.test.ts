// add-node and join as a user runs them: the built CLI as child processes, one MICROK8S_HOME per
// node, every node on its own 127.0.53.x address (this file's range), real TLS everywhere: the
// cluster agent (`microk8s agent run`), the pinned client and the datastore peers.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cliNodes, expectError, ROOT, type Run, until } from './cli-nodes.js';

const nodes = cliNodes({
  name: 'join',
  subnet: '127.0.53',
  agentPort: 25053,
  peerPort: 23853,
  clientPort: 23753,
});
const { home, address, cli, daemon, init, startAgent } = nodes;

interface Token {
  token: string;
  certHash: string;
  joinStrings: string[];
  expiresAt?: string;
}

async function addNode(n: number, extra: string[] = []): Promise<Token> {
  const r = await cli(n, ['add-node', '--format', 'json', ...extra]);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Token;
}

async function joinNode(n: number, joinString: string, extra: string[] = []): Promise<Run> {
  return cli(n, ['join', joinString, '--hostname', `node${n}`, '--start', '--timeout', '90', ...extra]);
}

async function status(n: number) {
  const r = await cli(n, ['status', '--format', 'json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { highAvailability: boolean; datastore: { voters: { id: number }[] } };
}

test.before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'commands', 'join.js')), 'run `npm run build` first');
  await init(1);
  daemon(1, ['datastore', 'run', '--args-file', join(home(1), 'data', 'args', 'datastore')]);
  await startAgent(1);
  const r = await cli(1, ['status', '--wait-ready', '--timeout', '60', '--format', 'json']);
  assert.is(r.code, 0, r.stderr);
  for (const n of [2, 3, 4]) await init(n);
});

test.after(() => nodes.stopAll([2, 3, 4]));

test('add-node prints a join line for the agent address, with the certificate hash', async () => {
  const t = await addNode(1);
  assert.match(t.token, /^[0-9a-f]{32}$/);
  assert.match(t.certHash, /^[0-9a-f]{32}$/);
  assert.equal(t.joinStrings, [`${address(1)}:25053/${t.token}/${t.certHash}`]);
  const pretty = await cli(1, ['add-node']);
  assert.match(pretty.stdout, /microk8s join 127\.0\.53\.1:25053\/[0-9a-f]{32}\/[0-9a-f]{32} --worker/);
});

test('a bad join string is refused before anything is contacted', async () => {
  expectError(await joinNode(2, 'https://127.0.53.1:25053/abc'), 'MK_JOIN_STRING_SCHEME', 4);
  expectError(
    await joinNode(2, '127.0.53.1/0123456789abcdef0123456789abcdef'),
    'MK_JOIN_STRING_PORT_MISSING',
    4,
  );
  expectError(await joinNode(2, '127.0.53.1:25053/0123'), 'MK_JOIN_STRING_TOKEN_SHORT', 4);
});

let firstToken: Token;

test('an unreachable address and a wrong certificate hash: own codes, and the token stays usable', async () => {
  firstToken = await addNode(1);
  const { token, certHash } = firstToken;
  expectError(await joinNode(2, `${address(9)}:25053/${token}/${certHash}`), 'MK_AGENT_UNREACHABLE', 3);
  const wrong = certHash.startsWith('a') ? 'b'.repeat(32) : 'a'.repeat(32);
  expectError(await joinNode(2, `${address(1)}:25053/${token}/${wrong}`), 'MK_AGENT_CERT_MISMATCH', 4);
  expectError(await joinNode(2, `${address(1)}:25053/${token}`), 'MK_JOIN_NO_CERT_HASH', 4);
});

test('node2 joins with that same token and becomes a member', async () => {
  const started = Date.now();
  const r = await joinNode(2, firstToken.joinStrings[0]!);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as node 2 /);
  console.log(`  node2: join command to working member in ${Date.now() - started} ms`);
  assert.match(r.stderr, /waiting|started the datastore/);
});

test('a single-use token cannot be used twice', async () => {
  expectError(await joinNode(3, firstToken.joinStrings[0]!), 'MK_JOIN_TOKEN_USED', 4);
});

test('an expired token', async () => {
  const t = await addNode(1, ['--token-ttl', '1']);
  const expiresAt = Date.parse(t.expiresAt!);
  // Bounded: the TTL is one second; wait until the wall clock is past it.
  await until('the token to expire', 10_000, async () => (Date.now() > expiresAt + 100 ? true : undefined));
  expectError(await joinNode(3, t.joinStrings[0]!), 'MK_JOIN_TOKEN_EXPIRED', 4);
});

test('a joined member refuses to join again, before contacting anyone', async () => {
  const ready = await cli(2, ['status', '--wait-ready', '--timeout', '60', '--format', 'json']);
  assert.is(ready.code, 0, ready.stderr);
  const t = await addNode(1);
  const r = await joinNode(2, t.joinStrings[0]!);
  expectError(r, 'MK_JOIN_ALREADY_MEMBER', 4);
});

test('node3 joins through node2 agent; three voters: high availability on every node', async () => {
  await startAgent(2);
  const t = await addNode(2);
  const started = Date.now();
  const r = await joinNode(3, t.joinStrings[0]!);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as node 3 /);
  console.log(`  node3: join command to working member in ${Date.now() - started} ms`);
  await until('three voters', 90_000, async () => {
    const s = await status(1);
    return s.datastore.voters.length === 3 ? true : undefined;
  });
  const s = await status(1);
  assert.is(s.highAvailability, true);
  assert.equal(s.datastore.voters.map((v) => v.id).sort(), [1, 2, 3]);
});

// Every node's own view counts the same voters: a joiner starts from the membership the
// cluster's logs start from (the join response's bootstrap).
test('status is correct on every node: high availability on node2 and node3 too', async () => {
  for (const n of [2, 3]) {
    const s = await until(`node${n} to report high availability`, 30_000, async () => {
      const got = await status(n);
      return got.highAvailability ? got : undefined;
    });
    assert.equal(s.datastore.voters.map((v) => v.id).sort(), [1, 2, 3]);
  }
});

test('an address already in use is refused and the token stays usable', async () => {
  const t = await addNode(1, ['--token-ttl', '600']);
  const taken = await joinNode(4, t.joinStrings[0]!, ['--address', address(2)]);
  expectError(taken, 'MK_JOIN_ADDRESS_IN_USE', 4);
  const single = await addNode(1);
  expectError(
    await joinNode(4, single.joinStrings[0]!, ['--address', address(3)]),
    'MK_JOIN_ADDRESS_IN_USE',
    4,
  );
  const r = await joinNode(4, single.joinStrings[0]!);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /as node 4 /);
});

test('remove-node: refused while the node is alive; removed once it is dead', async () => {
  expectError(await cli(2, ['remove-node', 'node4']), 'MK_MEMBER_ALIVE', 4);
  const pidFile = join(home(4), 'common', 'run', 'datastore.pid');
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  const started = Date.now();
  const r = await until('node4 removed', 60_000, async () => {
    const run = await cli(2, ['remove-node', 'node4', '--timeout', '20']);
    return run.code === 0 ? run : undefined;
  });
  assert.match(r.stdout, /node4 is no longer a member/);
  const s = await status(1);
  assert.not.ok(
    s.datastore.voters.some((v) => v.id === 4),
    'node4 is not a voter',
  );
  console.log(`  a dead node4 removed ${Date.now() - started} ms after its SIGKILL`);
});

test('leave: node3 hands over, leaves, becomes a fresh single node, and joins again', async () => {
  const started = Date.now();
  const r = await cli(3, ['leave', '--start']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /node3 left the cluster/);
  const leftMs = Date.now() - started;
  const own = await status(3);
  assert.equal(
    own.datastore.voters.map((v) => v.id),
    [1],
    'a single node of its own',
  );
  await until('node3 gone from the cluster', 30_000, async () => {
    const s = await status(1);
    return s.datastore.voters.some((v) => v.id === 3) ? undefined : true;
  });
  // The same machine joins again (its fresh single-node datastore stopped first, as join asks).
  const pid = Number(readFileSync(join(home(3), 'common', 'run', 'datastore.pid'), 'utf8'));
  process.kill(pid, 'SIGINT');
  await until('the single-node datastore stopped', 15_000, async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
  const t = await addNode(1);
  const again = await joinNode(3, t.joinStrings[0]!);
  assert.is(again.code, 0, again.stderr);
  console.log(`  node3 left in ${leftMs} ms and joined again`);
});

test.run();
