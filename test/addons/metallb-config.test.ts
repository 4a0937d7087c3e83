/**
 * The metallb addon without daemons: its address ranges (src/lib/ip-range.ts, the ip-ranges
 * argument type), its required argument, and its custom resources checked against the schemas
 * of the CRDs it ships (src/addons/validate/crd.ts), each failure with a stable code and the
 * field named, before anything could be applied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAddonWords } from '../../src/addons/args.js';
import { nodeFacts } from '../../src/addons/context.js';
import { resolveRequests } from '../../src/addons/operations.js';
import { loadPlugin } from '../../src/addons/plugin-loader.js';
import { renderAddon } from '../../src/addons/render.js';
import { repositories } from '../../src/addons/repo-store.js';
import { crdSchemas } from '../../src/addons/validate/crd.js';
import { validateObject } from '../../src/addons/validate/manifests.js';
import { parseIpRange } from '../../src/lib/ip-range.js';
import { resolvePaths } from '../../src/lib/paths.js';
import { METALLB_CONTROLLER_IMAGE, METALLB_SPEAKER_IMAGE } from '../../src/services/images/names.js';
import { throwsCode } from './throws-code.js';

const scratch = mkdtempSync(join(tmpdir(), 'mk8s-metallb-'));
const paths = resolvePaths({ MICROK8S_HOME: join(scratch, 'home') });
test.after(() => rmSync(scratch, { recursive: true, force: true }));

async function render(words: string[]) {
  const [{ spec, args }] = resolveRequests(repositories(paths), parseAddonWords(words)) as [
    ReturnType<typeof resolveRequests>[number],
  ];
  const plugin = await loadPlugin(spec);
  return renderAddon(spec, plugin.variables?.(nodeFacts(paths), args) ?? {});
}

test('ranges: FIRST-LAST and CIDRs, IPv4 and IPv6; the reasons a bad one is refused', () => {
  const range = parseIpRange('10.201.61.240-10.201.61.250');
  assert.ok(typeof range !== 'string');
  assert.is(range.last - range.first, 10n);
  const cidr = parseIpRange('10.201.61.0/28');
  assert.ok(typeof cidr !== 'string' && cidr.last - cidr.first === 15n);
  const v6 = parseIpRange('fd00::10-fd00::1:0');
  assert.ok(typeof v6 !== 'string' && v6.family === 6 && v6.last - v6.first === 0xfff0n);
  const mapped = parseIpRange('::ffff:10.0.0.1-::ffff:10.0.0.2');
  assert.ok(typeof mapped !== 'string' && mapped.last - mapped.first === 1n);
  assert.match(parseIpRange('10.0.0.9-10.0.0.1') as string, /ends before it starts/);
  assert.match(parseIpRange('10.0.0.1-fd00::1') as string, /mixes IPv4 and IPv6/);
  assert.match(parseIpRange('10.0.0.1/24') as string, /host bits/);
  assert.match(parseIpRange('10.0.0.0/33') as string, /prefix length/);
  assert.match(parseIpRange('10.0.0.300-10.0.0.301') as string, /not an IP address/);
  assert.match(parseIpRange('10.0.0.1') as string, /neither FIRST-LAST nor a CIDR/);
});

test('enable metallb: the range becomes the pool; bad or missing ranges are MK_ADDON_ARGS', async () => {
  const rendered = await render(['metallb:10.201.61.240-10.201.61.250,10.201.62.0/30']);
  const pool = rendered.objects.find((o) => o.kind === 'IPAddressPool') as unknown as {
    spec: { addresses: string[] };
  };
  assert.equal(pool.spec.addresses, ['10.201.61.240-10.201.61.250', '10.201.62.0/30']);
  assert.equal(rendered.images.sort(), [METALLB_CONTROLLER_IMAGE, METALLB_SPEAKER_IMAGE].sort());
  const cases: [string[], RegExp][] = [
    [['metallb'], /metallb needs its addresses/],
    [['metallb:10.201.61.250-10.201.61.240'], /ends before it starts/],
    [['metallb:10.201.61.240-10.201.61.250,10.201.61.245/32'], /overlapping ranges/],
    [['metallb:nonsense'], /neither FIRST-LAST nor a CIDR/],
    [['metallb', '--addresses', ''], /needs a value|at least one range/],
  ];
  for (const [words, message] of cases) {
    throwsCode(() => resolveRequests(repositories(paths), parseAddonWords(words)), 'MK_ADDON_ARGS', message);
  }
});

test('custom resources are checked against the CRDs the addon ships, field named', async () => {
  const rendered = await render(['metallb:10.201.61.240-10.201.61.250']);
  const custom = crdSchemas(rendered.objects);
  assert.ok(custom.has('metallb.io/v1beta1|IPAddressPool'));
  assert.ok(custom.has('metallb.io/v1beta1|L2Advertisement'));
  const pool = rendered.objects.find((o) => o.kind === 'IPAddressPool')!;
  validateObject(pool, 'test', undefined, custom);
  const bad = (change: Record<string, unknown>) => ({
    ...pool,
    spec: { ...(pool.spec as object), ...change },
  });
  throwsCode(
    () => validateObject(bad({ adresses: ['10.0.0.1-10.0.0.2'] }), 'test', undefined, custom),
    'MK_ADDON_MANIFEST_INVALID',
    /spec\.adresses is not a field of this object/,
  );
  throwsCode(
    () => validateObject(bad({ autoAssign: 'yes' }), 'test', undefined, custom),
    'MK_ADDON_MANIFEST_INVALID',
    /spec\.autoAssign must be boolean/,
  );
  throwsCode(
    () => validateObject({ ...pool, spec: {} }, 'test', undefined, custom),
    'MK_ADDON_MANIFEST_INVALID',
    /spec\.addresses is required/,
  );
  // Without the addon's CRDs, a custom kind is refused rather than applied unchecked.
  throwsCode(() => validateObject(pool, 'test'), 'MK_ADDON_MANIFEST_INVALID', /is not checked/);
  const advertisement = rendered.objects.find((o) => o.kind === 'L2Advertisement')!;
  throwsCode(
    () =>
      validateObject(
        { ...advertisement, spec: { nodeSelectors: [{ matchLabels: { a: 1 } }] } },
        'test',
        undefined,
        custom,
      ),
    'MK_ADDON_MANIFEST_INVALID',
    /spec\.nodeSelectors\[0\]\.matchLabels\.a must be string/,
  );
});

test.run();
