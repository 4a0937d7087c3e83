export { DurableLog, type DurableLogOptions, type DurableLogStats } from './durable-log.js';
export { DEFAULT_STORAGE_LIMITS, type StorageLimits, validateStorageLimits } from './limits.js';
