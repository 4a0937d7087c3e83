/** The replicated key-value state machine (etcd v3 semantics over SQLite). */
export { COMMAND_FORMAT_VERSION, decodeCommand, encodeCommand } from './codec.js';
export { ETCD_MESSAGES } from './failures.js';
export { type AppliedEntry, KvStateMachine, type KvStateMachineOptions } from './kv-store.js';
export * from './types.js';
export type { RevisionListener } from './watch-hub.js';
