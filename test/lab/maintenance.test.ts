// Maintenance on a real 3-node lab through etcdctl: HashKV agrees across members (consistency
// check), Defragment works on every member, and the data survives both.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, startLab, type TestLab } from './helpers.js';

let lab: TestLab;

function etcdctl(endpoints: string[], ...args: string[]): string {
  return execFileSync('etcdctl', [`--endpoints=${endpoints.join(',')}`, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 20_000,
  });
}

test.before(async () => {
  lab = await startLab(3, '127.0.12.1');
});
test.after(async () => {
  await lab?.down();
});

test('HashKV is the same on every member, at the current and at an older revision', async () => {
  const client = lab.client();
  for (let i = 0; i < 30; i++) await client.put(`h/${i % 7}`).value(`v${i}`);
  await client.delete().key('h/3');
  const endpoints = lab.nodes.map((n) => n.clientEndpoint);
  const revision = Number(JSON.parse(etcdctl([endpoints[0]!], 'get', 'h/0', '-w', 'json')).header.revision);
  await eventually(
    async () => {
      const hashes = endpoints.map(
        (e) => JSON.parse(etcdctl([e], 'endpoint', 'hashkv', '-w', 'json'))[0].HashKV.hash,
      );
      if (new Set(hashes).size !== 1) throw new Error(`hashes differ: ${hashes}`);
    },
    10_000,
    'equal hashes',
  );
  const old = endpoints.map(
    (e) =>
      JSON.parse(etcdctl([e], 'endpoint', 'hashkv', `--rev=${revision - 5}`, '-w', 'json'))[0].HashKV.hash,
  );
  assert.is(new Set(old).size, 1, 'equal at an older revision');
  const now = JSON.parse(etcdctl([endpoints[0]!], 'endpoint', 'hashkv', '-w', 'json'))[0].HashKV.hash;
  assert.is.not(old[0], now, 'the hash covers the newer revisions');
});

test('Defragment on every member keeps the data', async () => {
  const endpoints = lab.nodes.map((n) => n.clientEndpoint);
  const out = etcdctl(endpoints, 'defrag');
  assert.match(out, /Finished defragmenting/);
  const got = JSON.parse(etcdctl([endpoints[2]!], 'get', 'h/', '--prefix', '--keys-only', '-w', 'json'));
  assert.is(got.count, 6);
});

test.run();
