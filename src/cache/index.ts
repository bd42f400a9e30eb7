/** The content-addressed store of step outputs. */
export { LocalCache, CacheWriteError } from './local.js';
export type { CacheProblem, GcReport, LocalCacheOptions, VerifyMode } from './local.js';
export type { Cache, CacheEntry, CacheEntryRecord, CachedFile, PendingEntry } from './types.js';
