/** The content-addressed store of step outputs: local, and optionally a remote cache in front of it. */
export { LocalCache, CacheWriteError } from './local.js';
export type { CacheProblem, GcReport, LocalCacheOptions, VerifyMode } from './local.js';
export type { Cache, CacheEntry, CacheEntryRecord, CachedFile, PendingEntry } from './types.js';
export { RemoteCache, formatRemoteCacheStats, type RemoteCacheOptions, type RemoteCacheStats } from './remote.js';
export {
  resolveRemoteCacheSettings,
  REMOTE_CACHE_ENV,
  type RemoteCacheFlags,
  type RemoteCacheSettings,
} from './remote-config.js';
