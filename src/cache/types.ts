import type { Fingerprint, JsonValue } from '../plan/types.js';

/** One output file of a cache entry, as recorded when the entry was sealed. */
export interface CachedFile {
  /** POSIX path relative to the entry's output folder. */
  path: string;
  size: number;
  sha256: string;
  /** Stat at sealing time; a quick check compares them before trusting the hash (see LocalCache). */
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/** What `entry.json` holds. */
export interface CacheEntryRecord {
  format: 1;
  fingerprint: Fingerprint;
  /** The step that first produced it (for people; equal fingerprints may come from several steps). */
  stepId: string;
  createdAt: string;
  /** The runner's small JSON result (figures, or a deterministic failure). */
  result: JsonValue;
  files: CachedFile[];
}

/** A complete, checked cache entry. */
export interface CacheEntry {
  fingerprint: Fingerprint;
  /** Absolute folder holding the step's output files; read-only. */
  dir: string;
  /** Output file paths relative to `dir`, sorted. */
  files: string[];
  result: JsonValue;
  record: CacheEntryRecord;
}

/** A folder being filled with a step's outputs before it becomes an entry. */
export interface PendingEntry {
  /** Write outputs here. */
  outDir: string;
  /** Removes the folder and everything in it (the step failed or was cancelled). */
  discard(): Promise<void>;
}

/**
 * A content-addressed store of step outputs. `get` never returns a corrupt entry: it evicts
 * one it finds and answers undefined, so the caller rebuilds.
 */
export interface Cache {
  get(fingerprint: Fingerprint): Promise<CacheEntry | undefined>;
  /** Starts a pending entry; fill `outDir`, then `put` or `discard`. */
  begin(): Promise<PendingEntry>;
  /**
   * Seals a pending entry under `fingerprint`. When another builder sealed the same
   * fingerprint first, theirs is kept, ours deleted, and theirs returned; with `replace`
   * (a forced rebuild) theirs is evicted and ours stored.
   */
  put(
    fingerprint: Fingerprint,
    pending: PendingEntry,
    meta: { stepId: string; result: JsonValue; replace?: boolean },
  ): Promise<CacheEntry>;
}
