/**
 * The add-node tokens of this node, in one JSON file (`join-tokens.json` in the given folder,
 * 0600). Only SHA-256 hashes are stored, compared in constant time.
 *
 * Two phases, so a join that fails for another reason does not burn its token: the agent calls
 * `check` before anything else (read only), then runs every other check of the join, and calls
 * `consume` only when the join is about to proceed. `consume` checks again under the lock, so
 * two joins racing for one single-use token cannot both win.
 *
 * A token is single use unless it was given a TTL; then it can be used until it expires. Every
 * token expires (a single-use one after an hour by default), and has a role: a worker token
 * admits workers only and never unlocks the control-plane keys. Used and expired entries are
 * kept for a while so a second attempt hears "already used" or "expired" instead of "unknown";
 * a revoked entry is dropped (it is then unknown).
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ErrorCode, MicroK8sError } from '../../lib/errors.js';
import { checkLimit } from '../../lib/limits.js';
import { createLogger } from '../../lib/log.js';
import { writeFileAtomic } from '../../node/atomic-write.js';
import { withFileLock } from '../../node/lock.js';
import { PRIVATE_DIR_MODE, PRIVATE_MODE } from '../files.js';
import { hashToken, isWellFormedToken } from './token.js';

const log = createLogger('cluster.join');

export const TOKEN_FILE = 'join-tokens.json';
const LOCK_FILE = '.join-tokens.lock';
const FORMAT_VERSION = 1;

export const TOKEN_LIMITS = {
  ttlSeconds: { name: 'join.tokenTtlSeconds', min: 1, max: 365 * 24 * 3600, unit: 'seconds' },
  /** The life of a token given no TTL (single use): a forgotten token does not stay usable. */
  defaultTtlSeconds: 3600,
  /** Hex digits of a token's hash that name it in `add-node --list` and `--revoke`. */
  idHex: 12,
  /** How long a used or expired token is remembered, to name the failure precisely. */
  retainMs: 24 * 3600 * 1000,
  /** Tokens kept at once: bounds the file and the work of every check. */
  maxTokens: 1000,
} as const;

/** The comparison `check` uses; exported so tests can see it is the constant-time one. */
export const DEFAULT_COMPARE: (a: Buffer, b: Buffer) => boolean = timingSafeEqual;

export type TokenRole = 'worker' | 'control-plane';

interface StoredToken {
  /** SHA-256 of the token, hex. */
  hash: string;
  createdAt: number;
  /** Absent only in files written before tokens had a default life: no expiry. */
  expiresAt?: number;
  singleUse: boolean;
  usedAt?: number;
  /** Absent in older files: a control-plane token, as every token was then. */
  role?: TokenRole;
}

/** What `add-node --list` shows of a token (never the token itself: only its hash is kept). */
export interface TokenSummary {
  readonly id: string;
  readonly role: TokenRole;
  readonly singleUse: boolean;
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly state: 'usable' | 'used' | 'expired';
}

interface TokenFile {
  version: number;
  tokens: StoredToken[];
}

export type TokenFailureCode = Extract<
  ErrorCode,
  'MK_JOIN_TOKEN_INVALID' | 'MK_JOIN_TOKEN_EXPIRED' | 'MK_JOIN_TOKEN_USED'
>;

export type TokenCheck =
  | {
      readonly ok: true;
      readonly singleUse: boolean;
      readonly expiresAt?: number;
      readonly role: TokenRole;
    }
  | { readonly ok: false; readonly code: TokenFailureCode; readonly message: string };

export interface TokenStoreOptions {
  /** Milliseconds since the epoch; injected by tests. */
  readonly now?: () => number;
  readonly compare?: (a: Buffer, b: Buffer) => boolean;
}

export class JoinTokenStore {
  readonly path: string;
  private readonly dir: string;
  private readonly now: () => number;
  private readonly compare: (a: Buffer, b: Buffer) => boolean;

  constructor(dir: string, options: TokenStoreOptions = {}) {
    this.dir = dir;
    this.path = join(dir, TOKEN_FILE);
    this.now = options.now ?? Date.now;
    this.compare = options.compare ?? DEFAULT_COMPARE;
  }

  /**
   * Store `token`: single use (unless a TTL is given and `singleUse` is not set), valid for
   * `ttlSeconds` (default one hour), for the given role (default control plane).
   */
  async add(
    token: string,
    options: { ttlSeconds?: number; singleUse?: boolean; role?: TokenRole } = {},
  ): Promise<void> {
    if (!isWellFormedToken(token))
      throw new MicroK8sError('MK_INVALID_ARGUMENT', 'a token must be 32+ hex characters');
    const ttl = checkLimit(TOKEN_LIMITS.ttlSeconds, options.ttlSeconds ?? TOKEN_LIMITS.defaultTtlSeconds);
    const singleUse = options.singleUse ?? options.ttlSeconds === undefined;
    const role = options.role ?? 'control-plane';
    await mkdir(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await this.update((tokens, now) => {
      const hash = hashToken(token);
      const kept = tokens.filter((entry) => !this.compare(Buffer.from(entry.hash, 'hex'), hash));
      if (kept.length >= TOKEN_LIMITS.maxTokens) {
        throw new MicroK8sError('MK_LIMIT_EXCEEDED', `${TOKEN_LIMITS.maxTokens} join tokens are outstanding`);
      }
      const entry: StoredToken = {
        hash: hash.toString('hex'),
        createdAt: now,
        expiresAt: now + ttl * 1000,
        singleUse,
        role,
      };
      return [...kept, entry];
    });
    log.info('stored a join token', { singleUse, ttlSeconds: ttl, role });
  }

  /** The tokens this node still remembers (usable, used or expired), oldest first. */
  async list(): Promise<TokenSummary[]> {
    const now = this.now();
    return (await this.read()).map((entry) => ({
      id: entry.hash.slice(0, TOKEN_LIMITS.idHex),
      role: entry.role ?? 'control-plane',
      singleUse: entry.singleUse,
      createdAt: new Date(entry.createdAt).toISOString(),
      ...(entry.expiresAt === undefined ? {} : { expiresAt: new Date(entry.expiresAt).toISOString() }),
      state:
        entry.usedAt !== undefined
          ? 'used'
          : entry.expiresAt !== undefined && now >= entry.expiresAt
            ? 'expired'
            : 'usable',
    }));
  }

  /**
   * Forget tokens: the token itself, or the id `list` shows, or every token (`all`). Returns how
   * many were forgotten; a forgotten token is then unknown to every join.
   */
  async revoke(which: { token: string } | { all: true }): Promise<number> {
    let removed = 0;
    await mkdir(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await this.update((tokens) => {
      const kept =
        'all' in which ? [] : tokens.filter((entry) => !this.names(entry, which.token.toLowerCase()));
      removed = tokens.length - kept.length;
      return kept;
    });
    log.info('revoked join tokens', { count: removed });
    return removed;
  }

  /** Whether `given` is this entry's token, or the id `list` shows for it. */
  private names(entry: StoredToken, given: string): boolean {
    if (/^[0-9a-f]+$/.test(given) && given.length === TOKEN_LIMITS.idHex) {
      return entry.hash.startsWith(given);
    }
    if (!isWellFormedToken(given)) return false;
    return this.compare(Buffer.from(entry.hash, 'hex'), hashToken(given));
  }

  /** Whether `token` would be accepted now. Reads only: a failed join leaves the token as it was. */
  async check(token: string): Promise<TokenCheck> {
    return this.evaluate(await this.read(), token, this.now()).result;
  }

  /** Accept `token` for a join: check it again, then burn it if it is single use. */
  async consume(token: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    await this.update((tokens, now) => {
      const { result, index } = this.evaluate(tokens, token, now);
      if (!result.ok) throw new MicroK8sError(result.code, result.message);
      const entry = tokens[index]!;
      if (!entry.singleUse) return tokens;
      return tokens.map((item, i) => (i === index ? { ...item, usedAt: now } : item));
    });
    log.info('accepted a join token');
  }

  /**
   * Give a consumed single-use token back: the join it was consumed for failed afterwards (the
   * datastore could not record the node), and a failed join must not burn the token.
   */
  async release(token: string): Promise<void> {
    if (!isWellFormedToken(token)) return;
    const hash = hashToken(token);
    await this.update((tokens) =>
      tokens.map((item) => {
        const stored = Buffer.from(item.hash, 'hex');
        if (item.usedAt === undefined || stored.length !== hash.length || !this.compare(stored, hash))
          return item;
        const { usedAt: _used, ...rest } = item;
        return rest;
      }),
    );
    log.info('gave a join token back after a failed join');
  }

  /**
   * Every stored hash is compared, with no early exit, so the time taken does not depend on
   * which entry (if any) matches.
   */
  private evaluate(
    tokens: readonly StoredToken[],
    token: string,
    now: number,
  ): { result: TokenCheck; index: number } {
    const unknown = {
      ok: false,
      code: 'MK_JOIN_TOKEN_INVALID',
      message: 'the join token is not valid',
    } as const;
    if (!isWellFormedToken(token)) return { result: unknown, index: -1 };
    const hash = hashToken(token);
    let index = -1;
    tokens.forEach((entry, i) => {
      const stored = Buffer.from(entry.hash, 'hex');
      if (stored.length === hash.length && this.compare(stored, hash) && index < 0) index = i;
    });
    const entry = tokens[index];
    if (!entry) return { result: unknown, index };
    if (entry.usedAt !== undefined) {
      return {
        result: { ok: false, code: 'MK_JOIN_TOKEN_USED', message: 'the join token was already used' },
        index,
      };
    }
    if (entry.expiresAt !== undefined && now >= entry.expiresAt) {
      return {
        result: { ok: false, code: 'MK_JOIN_TOKEN_EXPIRED', message: 'the join token has expired' },
        index,
      };
    }
    const ok: TokenCheck = {
      ok: true,
      role: entry.role ?? 'control-plane',
      singleUse: entry.singleUse,
      ...(entry.expiresAt ? { expiresAt: entry.expiresAt } : {}),
    };
    return { result: ok, index };
  }

  private async read(): Promise<StoredToken[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    try {
      const file = JSON.parse(text) as TokenFile;
      if (file.version !== FORMAT_VERSION || !Array.isArray(file.tokens)) throw new Error('unknown format');
      return file.tokens.filter(
        (entry) => typeof entry.hash === 'string' && /^[0-9a-f]{64}$/.test(entry.hash),
      );
    } catch (error) {
      // Refuse rather than start empty: starting empty would forget which tokens were used.
      throw new MicroK8sError(
        'MK_DATA_CORRUPTION',
        `${this.path} is not a join token file`,
        {},
        { cause: error },
      );
    }
  }

  /** Read, change and write back under the lock; entries past their retention are dropped. */
  private async update(change: (tokens: StoredToken[], now: number) => StoredToken[]): Promise<void> {
    await withFileLock(join(this.dir, LOCK_FILE), async () => {
      const now = this.now();
      const tokens = change(await this.read(), now).filter((entry) => {
        const ended = entry.usedAt ?? entry.expiresAt;
        return ended === undefined || now < ended + TOKEN_LIMITS.retainMs;
      });
      const file: TokenFile = { version: FORMAT_VERSION, tokens };
      await writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`, { mode: PRIVATE_MODE });
    });
  }
}
