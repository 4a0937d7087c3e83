// Runs every test file (test/**/*.test.ts) in its own Node process with TypeScript loaded by tsx,
// two at a time, and ends with the one line CI reads: "N passed, N failed".
// A file that crashes before uvu prints its summary counts as one failure.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const CONCURRENCY = 2;
const FILE_TIMEOUT_MS = 10 * 60 * 1000;
const filter = process.argv[2];

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function runFile(file) {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = /Total:\s+(\d+)/.exec(output);
      const passed = /Passed:\s+(\d+)/.exec(output);
      const skipped = /Skipped:\s+(\d+)/.exec(output);
      let result;
      if (total && passed) {
        const t = Number(total[1]);
        const p = Number(passed[1]);
        const s = skipped ? Number(skipped[1]) : 0;
        result = { passed: p, failed: t - p, skipped: s };
        if (code !== 0 && result.failed === 0) result.failed = 1;
      } else {
        result = { passed: 0, failed: 1, skipped: 0 };
      }
      resolveRun({ file, code, output, ...result });
    });
  });
}

const files = findTests(join(ROOT, 'test')).filter((f) => !filter || f.includes(filter));
const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const result = await runFile(file);
    const name = relative(ROOT, file);
    const mark = result.failed === 0 ? 'ok  ' : 'FAIL';
    console.log(
      `${mark} ${name}: ${result.passed} passed, ${result.failed} failed${result.skipped ? `, ${result.skipped} skipped` : ''}`,
    );
    if (result.failed > 0) console.log(result.output.replace(/^/gm, '    | '));
    results.push(result);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
