/**
 * Conformance: the same cases against our 3-node lab and a real 3-member etcd 3.4, every answer
 * compared in normal form (see normalize.ts, harness.ts). Both clusters start once for the file;
 * each case runs on both at the same time, under its own key prefix.
 *
 *   npx tsx test/conformance/conformance.test.ts                        # both, compared
 *   CONFORMANCE_TARGET=ours npx tsx test/conformance/conformance.test.ts # one target: expectations only
 *   CONFORMANCE_CASES=watch npx tsx test/conformance/conformance.test.ts # cases whose id matches
 *   CONFORMANCE_DUMP=out.json ...                                        # every recorded step, both targets
 *
 * Needs `npm run build` first (the lab runs bin/run.js, which loads dist/), `etcd` and `etcdctl`
 * (Debian etcd-server and etcd-client; test/setup/install-peers.sh installs them).
 */
import { writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterCases } from './cases/cluster.js';
import { kubeCases } from './cases/kube.js';
import { kvCases } from './cases/kv.js';
import { leaseCases } from './cases/lease.js';
import { watchCases } from './cases/watch.js';
import { type Case, runCase, type TargetClients, verdict } from './harness.js';
import { startTargets, type Target, targetNamesFromEnv } from './targets.js';

const names = targetNamesFromEnv();
const only = process.env.CONFORMANCE_CASES ? new RegExp(process.env.CONFORMANCE_CASES) : undefined;

// Order matters a little: compactions (compact, kube-txn) make every older revision unreadable,
// so cases reading old revisions of their own come first; each case reads only revisions it made.
const ALL: Case[] = [...kvCases, ...kubeCases, ...watchCases, ...leaseCases, ...clusterCases];
const CASES = ALL.filter((c) => !only || only.test(c.id));

let targets: Target[] = [];
let clients: TargetClients[] = [];
const summary: string[] = [];
/** CONFORMANCE_DUMP=file.json: every step of every case on every target, for reading. */
const dump: Record<string, unknown> | undefined = process.env.CONFORMANCE_DUMP ? {} : undefined;
const started = Date.now();

test.before(async () => {
  const t0 = Date.now();
  targets = await startTargets(names);
  clients = targets.map((target) => ({ target, c: target.client(), raw: target.raw() }));
  console.log(`  targets ${names.join(' + ')} up in ${Date.now() - t0} ms`);
});

test.after(async () => {
  await Promise.all(targets.map((t) => t.stop()));
  if (dump) writeFileSync(process.env.CONFORMANCE_DUMP!, `${JSON.stringify(dump, null, 1)}\n`);
  console.log(`\n  conformance (${names.join(' vs ')}), ${CASES.length} cases, ${Date.now() - started} ms:`);
  for (const line of summary) console.log(`  ${line}`);
});

for (const kase of CASES) {
  test(`${kase.id}: ${kase.name}`, async () => {
    const results = await Promise.all(clients.map((tc) => runCase(kase, tc)));
    for (const r of results) for (const note of r.notes) console.log(`    [${r.target}] ${kase.id}: ${note}`);
    const v = verdict(kase, results);
    for (const k of v.known) console.log(`    KNOWN ${kase.id}: ${k}`);
    if (names.length === 2) {
      for (const label of v.unseen)
        console.log(`    note ${kase.id}: known difference '${label}' did not show up`);
    }
    const state = v.failures.length > 0 ? 'FAIL' : v.known.length > 0 ? 'known differences' : 'same';
    summary.push(`${kase.id.padEnd(20)} ${state}${v.known.length > 0 ? ` (${v.known.length})` : ''}`);
    if (dump) dump[kase.id] = Object.fromEntries(results.map((r) => [r.target, r.steps]));
    if (v.failures.length > 0) assert.unreachable(`${kase.id}:\n  ${v.failures.join('\n  ')}`);
  });
}

test.run();
