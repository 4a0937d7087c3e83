export { DEFAULT_RAFT_LIMITS, type RaftLimits, validateRaftLimits } from './limits.js';
export * from './membership.js';
export type { ProgressStatus, RaftConfig, RaftStatus } from './raft.js';
export { RawNode } from './rawnode.js';
export { ENTRY_OVERHEAD_BYTES, entrySize, MemoryStorage, type RaftStorage } from './storage.js';
export * from './types.js';
