// The space quota on a real node process: over it, NOSPACE is raised and writes that grow the
// database are refused with etcd's error; reads and deletes go on; compact, defragment and disarm
// bring writes back. Nothing written before is lost.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLab, type TestLab } from './helpers.js';

let lab: TestLab;
let endpoint: string;

function etcdctl(...args: string[]): { ok: boolean; out: string } {
  try {
    const out = execFileSync('etcdctl', [`--endpoints=${endpoint}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 20_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { ok: true, out };
  } catch (error) {
    return { ok: false, out: String((error as { stderr?: string }).stderr ?? error) };
  }
}

test.before(async () => {
  lab = await startLab(1, '127.0.13.1', ['--quota-bytes=262144']);
  endpoint = lab.nodes[0]!.clientEndpoint;
});
test.after(async () => {
  await lab?.down();
});

test('over the quota: NOSPACE, refused writes, then recovery by compact + defrag + disarm', async () => {
  const big = 'x'.repeat(4096);
  let refused = '';
  let written = 0;
  for (let i = 0; i < 200 && !refused; i++) {
    const r = etcdctl('put', `q/${i % 40}`, big);
    if (r.ok) written++;
    else refused = r.out;
  }
  assert.ok(written > 0, 'writes went in before the quota');
  assert.match(refused, /database space exceeded/, "a write over the quota gets etcd's error");
  assert.match(etcdctl('alarm', 'list').out, /NOSPACE/);
  assert.ok(etcdctl('get', 'q/0').ok, 'reads go on');
  assert.ok(etcdctl('del', 'q/1').ok, 'deletes go on');
  const rev = JSON.parse(etcdctl('get', 'q/0', '-w', 'json').out).header.revision;
  assert.ok(etcdctl('compaction', String(rev)).ok);
  assert.ok(etcdctl('defrag').ok);
  assert.ok(etcdctl('alarm', 'disarm').ok);
  assert.is(etcdctl('alarm', 'list').out.trim(), '');
  assert.ok(etcdctl('put', 'q/after', 'small').ok, 'writes are back');
  assert.match(etcdctl('get', 'q/0', '--print-value-only').out, /^x+/);
});

test.run();
