/**
 * A SINGLE-NODE EtcdBackend over the real KvStateMachine, for the etcd API tests only. There is
 * no Raft here: `execute` encodes the command and applies it at the next log index (on the next
 * turn of the event loop, so results arrive asynchronously as they do from Raft), a linearizable
 * range is a local range, and progressRevision is the current revision. Leases run on real
 * timers: grants and keep-alives set a deadline, and an expired lease is proposed as leaseExpire.
 * The replicated backend is the node driver's (src/datastore/node/driver.ts), not this one.
 */
import { randomInt } from 'node:crypto';
import type {
  EtcdBackend,
  EtcdHeaderInfo,
  EtcdMember,
  EtcdStatus,
} from '../../src/datastore/etcd/backend.js';
import { encodeCommand } from '../../src/datastore/state/codec.js';
import { KvStateMachine } from '../../src/datastore/state/kv-store.js';
import type {
  ApplyResult,
  Command,
  RangeRequest,
  RangeResponse,
  RevisionEvents,
} from '../../src/datastore/state/types.js';
import { type ErrorCode, MicroK8sError } from '../../src/lib/errors.js';
import { createLogger, type Logger } from '../../src/lib/log.js';

export const quietLogger: Logger = createLogger('test.etcd', { sink: { write: () => {} } });

export interface LocalBackendOptions {
  /** SQLite path; ':memory:' by default. */
  readonly path?: string;
  readonly clusterId?: bigint;
  readonly memberId?: bigint;
  /** How often expired leases are looked for. */
  readonly leaseCheckMs?: number;
  /** Client URLs reported by MemberList. */
  readonly clientURLs?: string[];
  readonly logger?: Logger;
}

function fail(result: Extract<ApplyResult, { ok: false }>): never {
  throw new MicroK8sError(result.error.code as ErrorCode, result.error.message);
}

export class LocalBackend implements EtcdBackend {
  readonly sm: KvStateMachine;
  private index: number;
  private readonly clusterId: bigint;
  private readonly memberId: bigint;
  private readonly clientURLs: string[];
  private readonly deadlines = new Map<number, number>();
  private readonly expiring = new Set<number>();
  private readonly timer: NodeJS.Timeout;
  /** Commands executed (for tests that check nothing reached the log). */
  executed = 0;
  /** Set to make the next operations fail as a leaderless cluster would. */
  leaderless = false;
  /** status() answers that named no leader (what the server's leader checks count). */
  leaderlessAnswers = 0;

  constructor(options: LocalBackendOptions = {}) {
    this.sm = KvStateMachine.open(options.path ?? ':memory:', { logger: options.logger ?? quietLogger });
    this.index = this.sm.appliedIndex();
    this.clusterId = options.clusterId ?? 0x1000_0000_0000_0001n;
    this.memberId = options.memberId ?? 0x8e9e_05c5_2164_694dn;
    this.clientURLs = options.clientURLs ?? [];
    this.timer = setInterval(() => this.expireLeases(), options.leaseCheckMs ?? 100);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.sm.close();
  }

  header(): EtcdHeaderInfo {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: this.sm.revision(), raftTerm: 2 };
  }

  async range(req: RangeRequest, _linearizable: boolean): Promise<RangeResponse> {
    if (this.leaderless && _linearizable) throw new MicroK8sError('MK_NO_LEADER', 'etcdserver: no leader');
    return this.sm.range(req);
  }

  execute(cmd: Command): Promise<ApplyResult> {
    if (this.leaderless) return Promise.reject(new MicroK8sError('MK_NO_LEADER', 'etcdserver: no leader'));
    let data: Uint8Array;
    try {
      data = encodeCommand(cmd);
    } catch (error) {
      return Promise.reject(error);
    }
    this.executed++;
    return new Promise<ApplyResult>((resolve, reject) => {
      setImmediate(() => {
        try {
          const [result] = this.sm.applyEntries([{ index: ++this.index, data }]);
          if (!result) throw new Error('no apply result');
          this.afterApply(cmd, result);
          resolve(result);
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  private afterApply(cmd: Command, result: ApplyResult): void {
    if (!result.ok) return;
    const r = result.response;
    if (r.type === 'leaseGrant' || r.type === 'leaseKeepAlive')
      this.deadlines.set(r.id, Date.now() + r.ttl * 1000);
    if (cmd.type === 'leaseRevoke' || cmd.type === 'leaseExpire') this.deadlines.delete(cmd.id);
  }

  private expireLeases(): void {
    const now = Date.now();
    for (const [id, deadline] of this.deadlines) {
      if (deadline > now || this.expiring.has(id)) continue;
      this.expiring.add(id);
      this.execute({ type: 'leaseExpire', id }).then(
        () => this.expiring.delete(id),
        () => this.expiring.delete(id),
      );
    }
  }

  subscribe(listener: (batch: RevisionEvents) => void): () => void {
    return this.sm.subscribe(listener);
  }

  history(fromRevision: number, key: Uint8Array, rangeEnd: Uint8Array | undefined, limit: number) {
    return this.sm.history(fromRevision, key, rangeEnd, limit);
  }

  revision(): number {
    return this.sm.revision();
  }

  compactRevision(): number {
    return this.sm.compactRevision();
  }

  async progressRevision(): Promise<number> {
    // Delivery to subscribers is synchronous with the apply: all of the current revision is out.
    return this.sm.revision();
  }

  async leaseGrant(ttl: number, id: number): Promise<{ id: number; ttl: number }> {
    const leaseId = id > 0 ? id : randomInt(1, 2 ** 47);
    const result = await this.execute({ type: 'leaseGrant', id: leaseId, ttl });
    if (!result.ok) fail(result);
    if (result.response.type !== 'leaseGrant') throw new Error('grant answered with another type');
    return { id: result.response.id, ttl: result.response.ttl };
  }

  async leaseRevoke(id: number): Promise<void> {
    const result = await this.execute({ type: 'leaseRevoke', id });
    if (!result.ok) fail(result);
  }

  async leaseKeepAlive(id: number): Promise<number> {
    const result = await this.execute({ type: 'leaseKeepAlive', id });
    if (!result.ok) fail(result);
    if (result.response.type !== 'leaseKeepAlive') throw new Error('keep-alive answered with another type');
    return result.response.ttl;
  }

  async leaseTimeToLive(
    id: number,
    keys: boolean,
  ): Promise<{ ttl: number; grantedTtl: number; keys: Uint8Array[] }> {
    const lease = this.sm.lease(id);
    const deadline = this.deadlines.get(id);
    if (!lease || deadline === undefined) return { ttl: -1, grantedTtl: 0, keys: [] };
    const left = deadline - Date.now();
    if (left <= 0) return { ttl: -1, grantedTtl: 0, keys: [] };
    return { ttl: Math.ceil(left / 1000), grantedTtl: lease.ttl, keys: keys ? lease.keys : [] };
  }

  leases(): number[] {
    return this.sm.leases().map((l) => l.id);
  }

  status(): EtcdStatus {
    if (this.leaderless) this.leaderlessAnswers++;
    return {
      version: '3.5.13',
      dbSize: this.sm.dbSize(),
      dbSizeInUse: this.sm.dbSize(),
      leader: this.leaderless ? 0n : this.memberId,
      raftIndex: this.index,
      raftTerm: 2,
      raftAppliedIndex: this.sm.appliedIndex(),
      isLearner: false,
      errors: [],
    };
  }

  hashKV(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number }> {
    return this.sm.hashKV(revision);
  }

  defragment(): Promise<void> {
    return this.sm.defragment();
  }

  alarms(): { memberId: bigint; alarm: 'NOSPACE' }[] {
    return [];
  }

  disarm(): void {}

  members(): EtcdMember[] {
    return [
      {
        id: this.memberId,
        name: 'local',
        peerURLs: ['https://127.0.0.1:2380'],
        clientURLs: this.clientURLs,
        isLearner: false,
      },
    ];
  }
}
