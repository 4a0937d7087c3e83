/**
 * The cluster agent's wire format, shared by the server and the client: JSON bodies, and errors
 * as `{code, message}` with a stable MK_* code. Request bodies are validated here, field by
 * field, before a handler sees them.
 */
import { isIP } from 'node:net';
import { ERROR_TABLE, type ErrorCode, MicroK8sError } from '../../lib/errors.js';

export const API_PREFIX = '/v1';

export interface JoinRequest {
  readonly token: string;
  readonly hostname: string;
  /** The address the other members reach the joining node at. */
  readonly address: string;
  /** Every address of the joining node, for its certificates' SANs. */
  readonly ips: readonly string[];
  readonly worker: boolean;
  readonly version: string;
  /** Control plane: the ports its datastore will listen on. */
  readonly peerPort?: number;
  readonly clientPort?: number;
  readonly failureDomain?: string;
  /** Worker: certificate requests (PEM) for its kubelet and kube-proxy; the keys stay on the worker. */
  readonly csrs?: Readonly<Partial<Record<WorkerCertName, string>>>;
}

export const WORKER_CERT_NAMES = ['kubelet', 'proxy'] as const;
export type WorkerCertName = (typeof WORKER_CERT_NAMES)[number];

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export interface MemberEndpoint {
  readonly id: number;
  readonly peerAddress: string;
  readonly clientUrl: string;
}

export interface ControlPlaneJoinResponse {
  readonly kind: 'control-plane';
  readonly nodeId: number;
  readonly clusterId: string;
  readonly ca: PemPair;
  readonly frontProxyCa?: PemPair;
  readonly serviceAccount?: { readonly key: string; readonly pub: string };
  readonly peer: PemPair;
  readonly members: readonly MemberEndpoint[];
  /**
   * The membership the cluster's logs start from (ID=ROLE,...), while they still do: the joiner
   * starts from it too (its --bootstrap), or it would replay later membership entries onto an
   * empty group. Absent once compacted: the joiner then receives a snapshot.
   */
  readonly bootstrap?: string;
}

export interface WorkerJoinResponse {
  readonly kind: 'worker';
  readonly clusterId: string;
  readonly caCert: string;
  readonly certs: Readonly<Partial<Record<WorkerCertName, string>>>;
  /** Control-plane addresses, for the worker's API server proxy. */
  readonly controlPlane: readonly string[];
}

export type JoinResponse = ControlPlaneJoinResponse | WorkerJoinResponse;

/**
 * A worker renews its certificates: authenticated by its current kubelet certificate (mutual
 * TLS), never by a token, and only for the name that certificate carries.
 */
export interface SignCsrRequest {
  readonly csrs: Readonly<Partial<Record<WorkerCertName, string>>>;
}

/** Sent by a member, authenticated by its cluster client (peer) certificate, not a token. */
export interface RemoveRequest {
  readonly node: string;
  readonly force: boolean;
}

/**
 * A service's args changed on this node, or on every control-plane node (`propagate`: the
 * receiving agent passes it on with propagate false). Sent by a member, like RemoveRequest.
 */
export interface ConfigureRequest {
  readonly service: string;
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
  readonly restart: boolean;
  readonly propagate: boolean;
}

/** One node's outcome; a failure keeps its stable code. */
export interface ConfigureNodeResult {
  readonly node: string;
  readonly address?: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
  /** The args file changed (false: it already said so). */
  readonly changed?: boolean;
  /** restarted, restarted-by-snap, not-running, not-installed, skipped. */
  readonly restart?: string;
  readonly pid?: number;
}

export interface ConfigureResponse {
  readonly service: string;
  readonly results: readonly ConfigureNodeResult[];
  /** The change was recorded for the workers and later joiners (kubelet, kube-proxy). */
  readonly recorded?: boolean;
}

/** A service's args as a node's args file has them; `all`: every control-plane node's. */
export interface ServiceArgsRequest {
  readonly service: string;
  readonly all: boolean;
}

export interface ServiceArgsNode {
  readonly node: string;
  readonly address: string;
  /** flag -> its values, as the args file lists them ('' for a bare flag). */
  readonly flags: Readonly<Record<string, readonly string[]>>;
  /** The member did not answer (its code): its args are unknown, not empty. */
  readonly error?: string;
}

export interface ServiceArgsResponse {
  readonly service: string;
  readonly nodes: readonly ServiceArgsNode[];
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
}

/** HTTP status of an agent error: what a generic HTTP client or a proxy log should see. */
export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case 'MK_JOIN_TOKEN_INVALID':
    case 'MK_JOIN_TOKEN_EXPIRED':
    case 'MK_JOIN_TOKEN_USED':
    case 'MK_AGENT_UNAUTHORIZED':
    case 'MK_CERT_REVOKED':
      return 401;
    case 'MK_JOIN_TOKEN_ROLE':
      return 403;
    case 'MK_JOIN_NAME_TAKEN':
      return 409;
    case 'MK_JOIN_ADDRESS_IN_USE':
    case 'MK_JOIN_VERSION_SKEW':
      return 409;
    case 'MK_LIMIT_EXCEEDED':
      return 413;
    case 'MK_NOT_RUNNING':
    case 'MK_NO_LEADER':
    case 'MK_TIMEOUT':
      return 503;
    case 'MK_MEMBER_ALIVE':
      return 409;
    case 'MK_INTERNAL':
    case 'MK_TLS':
      return 500;
    default:
      return ERROR_TABLE[code].exitCode === 4 ? 400 : 500;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

function bad(message: string): never {
  throw new MicroK8sError('MK_AGENT_BAD_REQUEST', message);
}

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('the body must be a JSON object');
  return body as Record<string, unknown>;
}

function str(o: Record<string, unknown>, name: string, max = 1024): string {
  const v = o[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    bad(`${name} must be a string of 1 to ${max} characters`);
  return v;
}

function optPort(o: Record<string, unknown>, name: string): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (!(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535)) bad(`${name} must be a port`);
  return v as number;
}

function csrMap(o: Record<string, unknown>): Partial<Record<WorkerCertName, string>> {
  const raw = o.csrs;
  if (raw === undefined) return {};
  const map = object(raw);
  const out: Partial<Record<WorkerCertName, string>> = {};
  for (const [name, pem] of Object.entries(map)) {
    if (!(WORKER_CERT_NAMES as readonly string[]).includes(name)) bad(`csrs.${name}: unknown certificate`);
    if (typeof pem !== 'string' || pem.length > 16 * 1024) bad(`csrs.${name} must be a PEM string`);
    out[name as WorkerCertName] = pem;
  }
  return out;
}

export function parseJoinRequest(body: unknown): JoinRequest {
  const o = object(body);
  const ipsRaw = o.ips ?? [];
  if (
    !Array.isArray(ipsRaw) ||
    ipsRaw.length > 64 ||
    ipsRaw.some((ip) => typeof ip !== 'string' || isIP(ip) === 0)
  ) {
    bad('ips must be a list of at most 64 IP addresses');
  }
  if (o.worker !== undefined && typeof o.worker !== 'boolean') bad('worker must be a boolean');
  const peerPort = optPort(o, 'peerPort');
  const clientPort = optPort(o, 'clientPort');
  const failureDomain = o.failureDomain === undefined ? undefined : str(o, 'failureDomain', 63);
  return {
    token: str(o, 'token', 256),
    hostname: str(o, 'hostname', 253),
    address: str(o, 'address', 64),
    ips: ipsRaw as string[],
    worker: o.worker === true,
    version: str(o, 'version', 64),
    ...(peerPort !== undefined ? { peerPort } : {}),
    ...(clientPort !== undefined ? { clientPort } : {}),
    ...(failureDomain !== undefined ? { failureDomain } : {}),
    csrs: csrMap(o),
  };
}

export function parseSignCsrRequest(body: unknown): SignCsrRequest {
  const o = object(body);
  const csrs = csrMap(o);
  if (Object.keys(csrs).length === 0) bad('csrs must name at least one certificate request');
  return { csrs };
}

export function parseRemoveRequest(body: unknown): RemoveRequest {
  const o = object(body);
  return { node: str(o, 'node', 253), force: bool(o, 'force') };
}

const MAX_CONFIGURE_FLAGS = 64;

function bool(o: Record<string, unknown>, name: string): boolean {
  const v = o[name] ?? false;
  if (typeof v !== 'boolean') bad(`${name} must be true or false`);
  return v;
}

/** The shape only; flag names and the service are checked against the catalog by the handler. */
export function parseConfigureRequest(body: unknown): ConfigureRequest {
  const o = object(body);
  const set = o.set === undefined ? {} : object(o.set);
  const entries = Object.entries(set);
  if (entries.length > MAX_CONFIGURE_FLAGS || entries.some(([, v]) => typeof v !== 'string'))
    bad(`set must map at most ${MAX_CONFIGURE_FLAGS} flags to string values`);
  const remove = o.remove ?? [];
  if (
    !Array.isArray(remove) ||
    remove.length > MAX_CONFIGURE_FLAGS ||
    remove.some((f) => typeof f !== 'string')
  )
    bad(`remove must be a list of at most ${MAX_CONFIGURE_FLAGS} flag names`);
  const request = {
    service: str(o, 'service', 64),
    set: set as Record<string, string>,
    remove: remove as string[],
    restart: bool(o, 'restart'),
    propagate: bool(o, 'propagate'),
  };
  if (entries.length === 0 && remove.length === 0 && !request.restart)
    bad('nothing to do: give set, remove or restart');
  return request;
}

export function parseServiceArgsRequest(body: unknown): ServiceArgsRequest {
  const o = object(body);
  return { service: str(o, 'service', 64), all: bool(o, 'all') };
}

/**
 * Version skew: same major, minor versions at most one apart (the Kubernetes skew rule, and
 * what a rolling refresh produces). Anything unparseable is refused rather than guessed at.
 */
export function checkVersionSkew(ours: string, theirs: string): void {
  const parse = (v: string) => /^v?(\d+)\.(\d+)/.exec(v);
  const a = parse(ours);
  const b = parse(theirs);
  const ok = a && b && a[1] === b[1] && Math.abs(Number(a[2]) - Number(b[2])) <= 1;
  if (!ok) {
    throw new MicroK8sError(
      'MK_JOIN_VERSION_SKEW',
      `this cluster runs version ${ours} and the joining node ${theirs}; they must share the major version and be at most one minor version apart`,
    );
  }
}
