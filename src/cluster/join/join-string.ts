/**
 * Join strings: `HOST:PORT/TOKEN[/CERTHASH]`, as add-node prints them and join takes them.
 * HOST is an IPv4 address, a bracketed IPv6 address or a hostname. Each way a string can be
 * wrong has its own stable code (MK_JOIN_STRING_*), so the user is told what to fix, and
 * scripts and tests can tell the cases apart. Messages never repeat the token: it is a secret.
 */
import { isIP } from 'node:net';
import { type ErrorCode, MicroK8sError } from '../../lib/errors.js';
import { CERT_HASH_MAX_HEX, CERT_HASH_MIN_HEX } from './cert-hash.js';
import { TOKEN_MAX_HEX, TOKEN_MIN_HEX } from './token.js';

export type HostKind = 'ipv4' | 'ipv6' | 'hostname';

export interface JoinString {
  /** Without brackets for IPv6; lowercase. */
  readonly host: string;
  readonly hostKind: HostKind;
  readonly port: number;
  /** Lowercase hex. */
  readonly token: string;
  /** Lowercase hex prefix of the agent certificate's SHA-256, when given. */
  readonly certHash?: string;
}

const HEX_RE = /^[0-9a-fA-F]+$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const PORT_RE = /^[1-9][0-9]{0,4}$/;
const HOSTNAME_RE =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function fail(code: ErrorCode, message: string): never {
  throw new MicroK8sError(code, `invalid join string: ${message}`);
}

function parseHost(raw: string): { host: string; kind: HostKind } {
  if (raw === '') fail('MK_JOIN_STRING_HOST', 'the address is empty');
  // Dotted digits are meant as an IPv4 address: 10.0.0 or 300.1.1.1 must not pass as hostnames.
  if (/^[0-9.]+$/.test(raw)) {
    if (isIP(raw) !== 4) fail('MK_JOIN_STRING_HOST', `${JSON.stringify(raw)} is not an IPv4 address`);
    return { host: raw, kind: 'ipv4' };
  }
  const host = raw.toLowerCase();
  if (!HOSTNAME_RE.test(host)) fail('MK_JOIN_STRING_HOST', `${JSON.stringify(raw)} is not a valid hostname`);
  return { host, kind: 'hostname' };
}

function parsePort(raw: string): number {
  if (raw === '') fail('MK_JOIN_STRING_PORT_MISSING', 'no port after the address');
  const port = Number(raw);
  if (!PORT_RE.test(raw) || port > 65535)
    fail('MK_JOIN_STRING_PORT', `${JSON.stringify(raw)} is not a port (1-65535)`);
  return port;
}

function parseHostPort(raw: string): { host: string; kind: HostKind; port: number } {
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) fail('MK_JOIN_STRING_IPV6_BRACKETS', 'the IPv6 address has no closing bracket');
    const inner = raw.slice(1, close);
    // A zone (%eth0) only names a link-local address, which a join string never uses.
    if (isIP(inner) !== 6 || inner.includes('%')) {
      fail('MK_JOIN_STRING_HOST', `${JSON.stringify(inner)} is not an IPv6 address`);
    }
    const rest = raw.slice(close + 1);
    if (rest === '') fail('MK_JOIN_STRING_PORT_MISSING', 'no port after the address');
    if (!rest.startsWith(':')) fail('MK_JOIN_STRING_SHAPE', 'expected ":PORT" after the IPv6 address');
    return { host: inner.toLowerCase(), kind: 'ipv6', port: parsePort(rest.slice(1)) };
  }
  const colons = raw.split(':').length - 1;
  if (colons > 1) fail('MK_JOIN_STRING_IPV6_BRACKETS', 'an IPv6 address must be written in brackets');
  if (colons === 0) {
    parseHost(raw); // a bad address is the first thing to report
    fail('MK_JOIN_STRING_PORT_MISSING', 'no port after the address');
  }
  const at = raw.indexOf(':');
  const { host, kind } = parseHost(raw.slice(0, at));
  return { host, kind, port: parsePort(raw.slice(at + 1)) };
}

function parseHex(
  raw: string,
  what: string,
  min: number,
  max: number,
  codes: { bad: ErrorCode; short: ErrorCode },
): string {
  if (!HEX_RE.test(raw)) fail(codes.bad, `the ${what} is not hexadecimal`);
  if (raw.length < min)
    fail(codes.short, `the ${what} has ${raw.length} characters, at least ${min} are needed`);
  if (raw.length > max)
    fail(codes.bad, `the ${what} has ${raw.length} characters, at most ${max} are allowed`);
  return raw.toLowerCase();
}

export function parseJoinString(input: string): JoinString {
  const text = input.trim();
  if (text === '') fail('MK_JOIN_STRING_EMPTY', 'it is empty');
  if (SCHEME_RE.test(text)) fail('MK_JOIN_STRING_SCHEME', 'it starts with a scheme (such as https://)');
  if (/\s/.test(text)) fail('MK_JOIN_STRING_SHAPE', 'it contains spaces');
  const parts = text.split('/');
  if (parts.length < 2) fail('MK_JOIN_STRING_SHAPE', 'no token after the address');
  if (parts.length > 3)
    fail('MK_JOIN_STRING_SHAPE', `${parts.length} parts separated by '/', at most 3 expected`);
  if (parts.some((part) => part === '')) fail('MK_JOIN_STRING_SHAPE', "an empty part between '/'");
  const { host, kind, port } = parseHostPort(parts[0]!);
  const token = parseHex(parts[1]!, 'token', TOKEN_MIN_HEX, TOKEN_MAX_HEX, {
    bad: 'MK_JOIN_STRING_TOKEN',
    short: 'MK_JOIN_STRING_TOKEN_SHORT',
  });
  const result: JoinString = { host, hostKind: kind, port, token };
  if (parts[2] === undefined) return result;
  const certHash = parseHex(parts[2], 'certificate hash', CERT_HASH_MIN_HEX, CERT_HASH_MAX_HEX, {
    bad: 'MK_JOIN_STRING_CERT_HASH',
    short: 'MK_JOIN_STRING_CERT_HASH_SHORT',
  });
  return { ...result, certHash };
}

/** The string add-node prints; it is parsed back, so nothing invalid is ever printed. */
export function formatJoinString(parts: {
  host: string;
  port: number;
  token: string;
  certHash?: string;
}): string {
  const host = isIP(parts.host) === 6 ? `[${parts.host}]` : parts.host;
  const text = `${host}:${parts.port}/${parts.token}${parts.certHash === undefined ? '' : `/${parts.certHash}`}`;
  parseJoinString(text);
  return text;
}
