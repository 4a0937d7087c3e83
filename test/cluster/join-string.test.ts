// Join strings (every bad input and its code), the certificate hash and the usable addresses.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { usableAddresses } from '../../src/cluster/join/addresses.js';
import {
  CERT_HASH_PRINTED_HEX,
  certificateHash,
  certificateHashPrefix,
  certificateMatchesHash,
} from '../../src/cluster/join/cert-hash.js';
import { formatJoinString, parseJoinString } from '../../src/cluster/join/join-string.js';
import { ensureClusterCa, issueCertificate } from '../../src/cluster/pki.js';
import { ERROR_TABLE, isMicroK8sError } from '../../src/lib/errors.js';

const TOKEN = '0123456789abcdef0123456789abcdef';
const HASH = 'a1b2c3d4e5f6';

test('valid strings', () => {
  const cases: [string, ReturnType<typeof parseJoinString>][] = [
    [
      `10.0.0.1:25000/${TOKEN}/${HASH}`,
      { host: '10.0.0.1', hostKind: 'ipv4', port: 25000, token: TOKEN, certHash: HASH },
    ],
    [`10.0.0.1:25000/${TOKEN}`, { host: '10.0.0.1', hostKind: 'ipv4', port: 25000, token: TOKEN }],
    [
      `[2001:DB8::1]:1/${TOKEN}/${HASH}`,
      { host: '2001:db8::1', hostKind: 'ipv6', port: 1, token: TOKEN, certHash: HASH },
    ],
    [
      `  Node-1.Example.com:65535/${TOKEN.toUpperCase()}/${'F'.repeat(64)}\n`,
      {
        host: 'node-1.example.com',
        hostKind: 'hostname',
        port: 65535,
        token: TOKEN,
        certHash: 'f'.repeat(64),
      },
    ],
    [
      `localhost:25000/${'b'.repeat(256)}`,
      { host: 'localhost', hostKind: 'hostname', port: 25000, token: 'b'.repeat(256) },
    ],
  ];
  for (const [input, expected] of cases) assert.equal(parseJoinString(input), expected, input);
});

const BAD: [string, string, string][] = [
  // [input, code, why]
  ['', 'MK_JOIN_STRING_EMPTY', 'empty'],
  ['   \n', 'MK_JOIN_STRING_EMPTY', 'only whitespace'],
  [`https://10.0.0.1:25000/${TOKEN}/${HASH}`, 'MK_JOIN_STRING_SCHEME', 'a URL'],
  [`10.0.0.1:25000 /${TOKEN}`, 'MK_JOIN_STRING_SHAPE', 'inner space'],
  ['10.0.0.1:25000', 'MK_JOIN_STRING_SHAPE', 'no token'],
  [`10.0.0.1:25000/${TOKEN}/${HASH}/extra`, 'MK_JOIN_STRING_SHAPE', 'too many parts'],
  [`10.0.0.1:25000//${TOKEN}`, 'MK_JOIN_STRING_SHAPE', 'empty part'],
  [`10.0.0.1:25000/${TOKEN}/`, 'MK_JOIN_STRING_SHAPE', 'trailing slash'],
  [`[::1]x/${TOKEN}`, 'MK_JOIN_STRING_SHAPE', 'garbage after the IPv6 bracket'],
  [`:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'no address'],
  [`300.1.1.1:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'IPv4 octet out of range'],
  [`10.0.0:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'three octets'],
  [`bad_host:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'underscore in hostname'],
  [`-lead.example:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'label starts with a dash'],
  [`${'a'.repeat(64)}.example:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'label longer than 63'],
  [`[10.0.0.1]:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'IPv4 in brackets'],
  [`[fe80::1%eth0]:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'IPv6 with a zone'],
  [`[zz::1]:25000/${TOKEN}`, 'MK_JOIN_STRING_HOST', 'not IPv6 in brackets'],
  [`2001:db8::1:25000/${TOKEN}`, 'MK_JOIN_STRING_IPV6_BRACKETS', 'IPv6 without brackets'],
  [`[2001:db8::1:25000/${TOKEN}`, 'MK_JOIN_STRING_IPV6_BRACKETS', 'no closing bracket'],
  [`10.0.0.1/${TOKEN}`, 'MK_JOIN_STRING_PORT_MISSING', 'no port'],
  [`10.0.0.1:/${TOKEN}`, 'MK_JOIN_STRING_PORT_MISSING', 'empty port'],
  [`[2001:db8::1]/${TOKEN}`, 'MK_JOIN_STRING_PORT_MISSING', 'IPv6 without port'],
  [`10.0.0.1:0/${TOKEN}`, 'MK_JOIN_STRING_PORT', 'port 0'],
  [`10.0.0.1:65536/${TOKEN}`, 'MK_JOIN_STRING_PORT', 'port too large'],
  [`10.0.0.1:025000/${TOKEN}`, 'MK_JOIN_STRING_PORT', 'leading zero'],
  [`10.0.0.1:http/${TOKEN}`, 'MK_JOIN_STRING_PORT', 'not a number'],
  [`10.0.0.1:-1/${TOKEN}`, 'MK_JOIN_STRING_PORT', 'negative'],
  [`10.0.0.1:25000/${TOKEN.slice(0, 31)}g`, 'MK_JOIN_STRING_TOKEN', 'non-hex token'],
  [`10.0.0.1:25000/${'a'.repeat(257)}`, 'MK_JOIN_STRING_TOKEN', 'token too long'],
  [`10.0.0.1:25000/${TOKEN.slice(0, 31)}`, 'MK_JOIN_STRING_TOKEN_SHORT', '31 hex characters'],
  [`10.0.0.1:25000/${TOKEN}/xyz123456789`, 'MK_JOIN_STRING_CERT_HASH', 'non-hex hash'],
  [`10.0.0.1:25000/${TOKEN}/${'a'.repeat(65)}`, 'MK_JOIN_STRING_CERT_HASH', 'hash longer than SHA-256'],
  [`10.0.0.1:25000/${TOKEN}/${HASH.slice(0, 11)}`, 'MK_JOIN_STRING_CERT_HASH_SHORT', '11 hex characters'],
];

test('every bad input gets its own stable code, and the message never repeats the token', () => {
  for (const [input, code, why] of BAD) {
    try {
      parseJoinString(input);
      assert.unreachable(`${why}: ${JSON.stringify(input)} should be refused`);
    } catch (error) {
      assert.ok(isMicroK8sError(error), `${why}: ${String(error)}`);
      const e = error as { code: string; message: string; hint: string };
      assert.is(e.code, code, `${why}: ${e.message}`);
      assert.not.ok(e.message.includes(TOKEN.slice(0, 31)), `${why}: the message leaks the token`);
      assert.ok(e.hint.length > 0);
    }
  }
});

test('each MK_JOIN_STRING_* code in the table is exercised by the table above', () => {
  const codes = Object.keys(ERROR_TABLE).filter((c) => c.startsWith('MK_JOIN_STRING_'));
  assert.equal([...new Set(BAD.map(([, code]) => code))].sort(), codes.sort());
  for (const code of codes) assert.is(ERROR_TABLE[code as keyof typeof ERROR_TABLE].exitCode, 4);
});

test('format brackets IPv6, round-trips, and refuses what it could not parse back', () => {
  const cases = [
    { host: '10.0.0.1', port: 25000, token: TOKEN, certHash: HASH },
    { host: '2001:db8::1', port: 25000, token: TOKEN, certHash: HASH },
    { host: 'node-1.example.com', port: 443, token: TOKEN },
  ];
  assert.is(formatJoinString(cases[0]!), `10.0.0.1:25000/${TOKEN}/${HASH}`);
  assert.is(formatJoinString(cases[1]!), `[2001:db8::1]:25000/${TOKEN}/${HASH}`);
  for (const parts of cases) {
    const parsed = parseJoinString(formatJoinString(parts));
    assert.equal(
      { host: parsed.host, port: parsed.port, token: parsed.token, certHash: parsed.certHash },
      {
        ...parts,
        certHash: parts.certHash,
      },
    );
  }
  for (const [parts, code] of [
    [{ host: '10.0.0.1', port: 70000, token: TOKEN }, 'MK_JOIN_STRING_PORT'],
    [{ host: '10.0.0.1', port: 25000, token: 'abc' }, 'MK_JOIN_STRING_TOKEN_SHORT'],
    [{ host: 'a/b', port: 25000, token: TOKEN }, 'MK_JOIN_STRING_PORT_MISSING'],
  ] as const) {
    try {
      formatJoinString(parts);
      assert.unreachable(JSON.stringify(parts));
    } catch (error) {
      assert.ok(isMicroK8sError(error), String(error));
      assert.is((error as { code: string }).code, code);
    }
  }
});

test('the certificate hash is the SHA-256 of the DER; prefixes match, short ones never do', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mk-cert-hash-'));
  try {
    const ca = await ensureClusterCa(join(dir, 'ca'));
    const agent = await issueCertificate(ca, dir, 'agent', { commonName: 'cluster-agent', usage: 'server' });
    const pem = await readFile(agent.certPath, 'utf8');
    const full = certificateHash(pem);
    assert.is(full, new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase());
    assert.is(certificateHashPrefix(pem), full.slice(0, CERT_HASH_PRINTED_HEX));
    assert.is(certificateHashPrefix(pem, 12), full.slice(0, 12));
    assert.ok(certificateMatchesHash(pem, full.slice(0, 12).toUpperCase()));
    assert.ok(certificateMatchesHash(Buffer.from(pem), full));
    assert.not.ok(certificateMatchesHash(pem, full.slice(0, 11)), 'too short never matches');
    assert.not.ok(certificateMatchesHash(pem, `${full.slice(0, 11)}${full[11] === '0' ? '1' : '0'}`));
    assert.not.ok(
      certificateMatchesHash(await readFile(ca.certPath), full.slice(0, 32)),
      'another certificate',
    );
    // What add-node prints is accepted by join.
    const line = formatJoinString({
      host: '10.0.0.1',
      port: 25000,
      token: TOKEN,
      certHash: certificateHashPrefix(pem),
    });
    assert.ok(certificateMatchesHash(pem, parseJoinString(line).certHash!));
    for (const chars of [11, 65, 1.5]) {
      try {
        certificateHashPrefix(pem, chars);
        assert.unreachable(String(chars));
      } catch (error) {
        assert.ok(isMicroK8sError(error, 'MK_INVALID_ARGUMENT'));
      }
    }
    try {
      certificateHash('not a certificate');
      assert.unreachable();
    } catch (error) {
      assert.ok(isMicroK8sError(error, 'MK_TLS'));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function nic(address: string, internal = false): NetworkInterfaceInfo {
  const family = address.includes(':') ? 'IPv6' : 'IPv4';
  return {
    address,
    family,
    internal,
    netmask: '',
    mac: '',
    cidr: null,
    ...(family === 'IPv6' ? { scopeid: 0 } : {}),
  } as NetworkInterfaceInfo;
}

test('usable addresses: no loopback, no link-local, IPv4 first, no duplicates', () => {
  const table = {
    lo: [nic('127.0.0.1', true), nic('::1', true)],
    eth0: [nic('fe80::1c2:3ff:fe04:506'), nic('2001:db8::5'), nic('192.0.2.10')],
    eth1: [nic('169.254.10.1'), nic('10.1.2.3'), nic('febf::1'), nic('fe9::1')],
    docker0: [nic('172.17.0.1'), nic('192.0.2.10')],
    down: undefined,
  };
  assert.equal(usableAddresses(table), [
    { address: '192.0.2.10', family: 'IPv4', interface: 'eth0' },
    { address: '10.1.2.3', family: 'IPv4', interface: 'eth1' },
    { address: '172.17.0.1', family: 'IPv4', interface: 'docker0' },
    { address: '2001:db8::5', family: 'IPv6', interface: 'eth0' },
    { address: 'fe9::1', family: 'IPv6', interface: 'eth1' },
  ]);
  assert.equal(usableAddresses({}), []);
  assert.equal(
    usableAddresses({ lo: [nic('127.0.1.1')] }),
    [],
    '127/8 is loopback even when not marked internal',
  );
});

test.run();
