import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Fingerprint, JsonValue } from '../plan/types.js';
import { formatBytes } from '../util/format.js';
import { RemoteDataError, RemoteRefusedError, RemoteUnreachableError } from './remote-errors.js';
import { RemoteHttpClient, type RemoteHttpOptions } from './remote-http.js';
import {
  checkRecordMatchesAction,
  decodeActionResult,
  type Digest,
  EMPTY_SHA256,
  encodeActionResult,
  encodeRecord,
  MAX_ACTION_RESULT_BYTES,
  MAX_RECORD_BYTES,
  parseRecord,
  REMOTE_FORMAT,
  type RemoteEntryRecord,
  type RemoteFile,
  remoteActionKey,
  sha256Hex,
} from './remote-protocol.js';
import type { Cache, CacheEntry, PendingEntry } from './types.js';

/** Options of the remote layer. */
export interface RemoteCacheOptions extends Omit<RemoteHttpOptions, 'baseUrl'> {
  /** The server's base URL (checked by `resolveRemoteCacheSettings`). */
  url: URL;
  /** Read, never upload (untrusted builds: pull requests from forks). */
  readOnly?: boolean;
  /** Concurrent downloads (GET of action results and blobs). Default 8. */
  downloadJobs?: number;
  /** Concurrent uploads (HEAD and PUT). Default 4: uploads run beside the build and must not starve its downloads. */
  uploadJobs?: number;
  /** After this many corrupt entries the server is not read any more this build. Default 3. */
  maxCorruptEntries?: number;
  /** Told what a person should know: the server is unreachable, an entry was corrupt. */
  onWarning?: (message: string) => void;
}

/** What the remote layer did in one build (the CLI prints it; `--json` emits it). */
export interface RemoteCacheStats {
  /** The base URL without credentials. */
  url: string;
  readOnly: boolean;
  /** Entries fetched from the server, verified and sealed into the local cache. */
  hits: number;
  /** Look-ups the server had no (complete) entry for. */
  misses: number;
  /** Entries whose action result, record or blobs did not verify (ignored, built here). */
  corrupt: number;
  /** Entries uploaded (their action result written). */
  uploaded: number;
  /** Entries built here that did not reach the server (failed, or uploads were off by then; 0 when read-only). */
  notUploaded: number;
  bytesDown: number;
  bytesUp: number;
  /** Why the server stopped being used this build, when it did. */
  disabled?: string;
  /** Why uploads stopped this build, when they did (not set for read-only). */
  uploadsDisabled?: string;
}

/** Warnings about single entries beyond this many are counted in the summary only. */
const MAX_ENTRY_WARNINGS = 5;

/**
 * A remote cache in front of the local one, speaking the bazel-remote HTTP protocol (see
 * remote-protocol.ts for what is stored). `get` asks the local cache first; on a miss it reads
 * `/ac/<key>`, fetches the entry record and every file from `/cas/`, checks each against its
 * sha256 and size while streaming it into a pending local entry, and seals that entry locally:
 * the executor only ever sees local, verified entries. `put` seals locally and queues an upload:
 * blobs first (skipping those the server already has), the action result last, so a reader
 * never finds an action result whose blobs were not sent.
 *
 * Failures never fail the build: an unreachable or refusing server is switched off for the
 * rest of the build with one warning; an entry that does not verify is ignored (and its bad
 * blobs re-sent when we upload our own copy) with a warning; after `maxCorruptEntries` such
 * entries the server is not read any more. A step's deterministic failure result is uploaded
 * like a success: the executor caches it locally because the fingerprint decides it, and
 * sharing it spares every other machine the same conversion and validation.
 */
export class RemoteCache implements Cache {
  private readonly local: Cache;
  private readonly client: RemoteHttpClient;
  private readonly readOnly: boolean;
  private readonly downloads: LimitFunction;
  private readonly uploads: LimitFunction;
  private readonly maxCorrupt: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onWarning: (message: string) => void;
  private readonly counts = { hits: 0, misses: 0, corrupt: 0, uploaded: 0, notUploaded: 0 };
  private disabled: string | undefined;
  private uploadsDisabled: string | undefined;
  private entryWarnings = 0;
  private readonly lookups = new Map<Fingerprint, Promise<CacheEntry | undefined>>();
  private readonly pendingUploads = new Set<Promise<void>>();
  /** Blobs known to be on the server (sent or seen by HEAD), by sha256, or being sent. */
  private readonly blobs = new Map<string, Promise<void>>();
  /** Blobs the server served wrong this build: re-sent without asking HEAD. */
  private readonly distrusted = new Set<string>();

  constructor(local: Cache, options: RemoteCacheOptions) {
    this.local = local;
    this.client = new RemoteHttpClient({ ...options, baseUrl: options.url });
    this.readOnly = options.readOnly === true;
    this.downloads = pLimit(Math.max(1, options.downloadJobs ?? 8));
    this.uploads = pLimit(Math.max(1, options.uploadJobs ?? 4));
    this.maxCorrupt = Math.max(1, options.maxCorruptEntries ?? 3);
    this.signal = options.signal;
    this.onWarning = options.onWarning ?? (() => undefined);
  }

  async get(fingerprint: Fingerprint): Promise<CacheEntry | undefined> {
    const entry = await this.local.get(fingerprint);
    if (entry || this.disabled !== undefined || this.signal?.aborted) return entry;
    let lookup = this.lookups.get(fingerprint);
    if (!lookup) {
      lookup = this.fetchEntry(fingerprint).finally(() => this.lookups.delete(fingerprint));
      this.lookups.set(fingerprint, lookup);
    }
    return lookup;
  }

  begin(): Promise<PendingEntry> {
    return this.local.begin();
  }

  async put(
    fingerprint: Fingerprint,
    pending: PendingEntry,
    meta: { stepId: string; result: JsonValue; replace?: boolean },
  ): Promise<CacheEntry> {
    const entry = await this.local.put(fingerprint, pending, meta);
    if (this.uploading()) {
      const upload = this.upload(entry).finally(() => this.pendingUploads.delete(upload));
      this.pendingUploads.add(upload);
    } else if (!this.readOnly) {
      this.counts.notUploaded += 1;
    }
    return entry;
  }

  /** Waits for every queued upload (call before reading `stats` at the end of a build). */
  async flush(): Promise<void> {
    while (this.pendingUploads.size > 0) await Promise.all([...this.pendingUploads]);
  }

  /** Closes the server connections (after `flush`). */
  close(): void {
    this.client.close();
  }

  stats(): RemoteCacheStats {
    return {
      url: this.client.displayUrl,
      readOnly: this.readOnly,
      ...this.counts,
      ...this.client.counts,
      ...(this.disabled === undefined ? {} : { disabled: this.disabled }),
      ...(this.uploadsDisabled === undefined ? {} : { uploadsDisabled: this.uploadsDisabled }),
    };
  }

  private uploading(): boolean {
    return !this.readOnly && this.disabled === undefined && this.uploadsDisabled === undefined;
  }

  private async fetchEntry(fingerprint: Fingerprint): Promise<CacheEntry | undefined> {
    try {
      const key = remoteActionKey(fingerprint);
      const actionBytes = await this.downloads(() =>
        this.client.getBytes('ac', key, { maxBytes: MAX_ACTION_RESULT_BYTES }),
      );
      if (actionBytes === undefined) return this.miss();
      const action = decodeActionResult(actionBytes);
      const recordBytes = await this.fetchBlobBytes(action.record);
      // A blob gone from the server (evicted by its size limit) makes the entry incomplete: a miss.
      if (recordBytes === undefined) return this.miss();
      const record = parseRecord(recordBytes, fingerprint);
      checkRecordMatchesAction(record, action);
      return await this.download(fingerprint, record);
    } catch (error) {
      this.onFailure(error, 'read', `remote cache entry ${fingerprint.slice(0, 12)}`);
      return undefined;
    }
  }

  private miss(): undefined {
    this.counts.misses += 1;
    return undefined;
  }

  private async fetchBlobBytes(digest: Digest): Promise<Buffer | undefined> {
    try {
      return await this.downloads(() =>
        this.client.getBytes('cas', digest.sha256, { maxBytes: MAX_RECORD_BYTES, expect: digest }),
      );
    } catch (error) {
      if (error instanceof RemoteDataError) this.distrusted.add(digest.sha256);
      throw error;
    }
  }

  /** Streams every file into a pending local entry, verified, then seals it. */
  private async download(fingerprint: Fingerprint, record: RemoteEntryRecord): Promise<CacheEntry | undefined> {
    const pending = await this.local.begin();
    try {
      const fetched = await Promise.allSettled(record.files.map((file) => this.downloadFile(file, pending.outDir)));
      const failure = fetched.find((outcome) => outcome.status === 'rejected');
      if (failure) throw failure.reason;
      if (fetched.some((outcome) => outcome.status === 'fulfilled' && !outcome.value)) {
        await pending.discard();
        return this.miss();
      }
      const entry = await this.local.put(fingerprint, pending, { stepId: record.stepId, result: record.result });
      this.counts.hits += 1;
      return entry;
    } catch (error) {
      await pending.discard();
      throw error;
    }
  }

  private async downloadFile(file: RemoteFile, outDir: string): Promise<boolean> {
    const target = path.join(outDir, ...file.path.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    if (file.size === 0) {
      if (file.sha256 !== EMPTY_SHA256) throw new RemoteDataError(`${file.path} is empty but has a non-empty sha256`);
      await writeFile(target, '');
      return true;
    }
    try {
      return await this.downloads(() => this.client.getToFile(file, target));
    } catch (error) {
      if (error instanceof RemoteDataError) this.distrusted.add(file.sha256);
      throw error;
    }
  }

  private async upload(entry: CacheEntry): Promise<void> {
    try {
      const files: RemoteFile[] = entry.record.files.map((file) => ({
        path: file.path,
        sha256: file.sha256,
        size: file.size,
      }));
      const record: RemoteEntryRecord = {
        format: REMOTE_FORMAT,
        fingerprint: entry.fingerprint,
        stepId: entry.record.stepId,
        createdAt: entry.record.createdAt,
        result: entry.result,
        files,
      };
      const recordBytes = encodeRecord(record);
      const recordDigest: Digest = { sha256: sha256Hex(recordBytes), size: recordBytes.length };
      const sources = new Map<string, string>();
      for (const file of files)
        if (file.size > 0) sources.set(file.sha256, path.join(entry.dir, ...file.path.split('/')));
      const sent = await Promise.allSettled([
        ...[...sources].map(([sha256, source]) =>
          this.ensureBlob(sha256, () => ({ file: source, digest: { sha256, size: sizeOf(files, sha256) } })),
        ),
        this.ensureBlob(recordDigest.sha256, () => recordBytes),
      ]);
      const failure = sent.find((outcome) => outcome.status === 'rejected');
      if (failure) throw failure.reason;
      // Last, so no reader ever sees an action result whose blobs are not all there.
      const action = encodeActionResult({ record: recordDigest, files });
      await this.uploads(() => this.client.put('ac', remoteActionKey(entry.fingerprint), Buffer.from(action)));
      this.counts.uploaded += 1;
    } catch (error) {
      this.counts.notUploaded += 1;
      this.onFailure(error, 'upload', `upload of cache entry ${entry.fingerprint.slice(0, 12)}`);
    }
  }

  /** Sends a blob unless the server has it; one attempt per blob per build, shared by entries. */
  private ensureBlob(sha256: string, body: () => Buffer | { file: string; digest: Digest }): Promise<void> {
    let sending = this.blobs.get(sha256);
    if (!sending) {
      sending = this.uploads(async () => {
        if (!this.uploading()) throw new UploadsStopped();
        if (!this.distrusted.has(sha256) && (await this.client.has('cas', sha256))) return;
        await this.client.put('cas', sha256, body());
      });
      // A failed blob may be tried again by a later entry.
      sending.catch(() => this.blobs.delete(sha256));
      this.blobs.set(sha256, sending);
    }
    return sending;
  }

  /** Turns a failure into at most one warning and the right state change; never throws. */
  private onFailure(error: unknown, during: 'read' | 'upload', what: string): void {
    if (this.signal?.aborted || error instanceof UploadsStopped) return;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RemoteUnreachableError) {
      this.disable(`unreachable (${message})`);
    } else if (error instanceof RemoteRefusedError && error.status === 413) {
      this.entryWarning(
        `${what} refused as too large (${message}); raise the server's body size limit (nginx: client_max_body_size 0)`,
      );
    } else if (error instanceof RemoteRefusedError) {
      // A refused read is wrong or missing credentials (or a wrong URL); a refused upload from a
      // server that serves reads is a read-only account or server: go on reading.
      if (during === 'upload') this.disableUploads(`uploads refused (${message})`);
      else
        this.disable(
          `refused access (${message})${error.status === 401 || error.status === 403 ? '; check EDGEZOO_REMOTE_CACHE_TOKEN or EDGEZOO_REMOTE_CACHE_USER and _PASSWORD' : ''}`,
        );
    } else if (error instanceof RemoteDataError) {
      this.counts.corrupt += 1;
      this.entryWarning(`${what} ignored: ${message}; building it here`);
      if (this.counts.corrupt >= this.maxCorrupt) this.disable(`served ${this.counts.corrupt} corrupt entries`);
    } else {
      this.entryWarning(`${what} failed: ${message}`);
    }
  }

  private disable(reason: string): void {
    if (this.disabled !== undefined) return;
    this.disabled = reason;
    this.onWarning(`remote cache ${this.client.displayUrl}: ${reason}; building with the local cache only`);
  }

  private disableUploads(reason: string): void {
    if (this.uploadsDisabled !== undefined || this.disabled !== undefined) return;
    this.uploadsDisabled = reason;
    this.onWarning(`remote cache ${this.client.displayUrl}: ${reason}; going on without uploading`);
  }

  private entryWarning(message: string): void {
    this.entryWarnings += 1;
    if (this.entryWarnings <= MAX_ENTRY_WARNINGS) this.onWarning(message);
    else if (this.entryWarnings === MAX_ENTRY_WARNINGS + 1)
      this.onWarning('more remote cache problems are counted in the summary only');
  }
}

/** An upload queued before uploads stopped; dropped without a warning of its own. */
class UploadsStopped extends Error {}

function sizeOf(files: readonly RemoteFile[], sha256: string): number {
  return files.find((file) => file.sha256 === sha256)!.size;
}

/** One line for people: `remote cache https://host/: 12 hits, 3 misses, 3 uploads (41 MiB down, 8 MiB up)`. */
export function formatRemoteCacheStats(stats: RemoteCacheStats): string {
  const parts = [`${stats.hits} hits`, `${stats.misses} misses`];
  if (stats.corrupt > 0) parts.push(`${stats.corrupt} corrupt ignored`);
  if (stats.readOnly) parts.push('read-only');
  else {
    parts.push(`${stats.uploaded} uploads`);
    if (stats.notUploaded > 0) parts.push(`${stats.notUploaded} not uploaded`);
  }
  let line = `remote cache ${stats.url}: ${parts.join(', ')} (${formatBytes(stats.bytesDown)} down, ${formatBytes(stats.bytesUp)} up)`;
  if (stats.disabled !== undefined) line += `; stopped using it: ${stats.disabled}`;
  else if (stats.uploadsDisabled !== undefined) line += `; ${stats.uploadsDisabled}`;
  return line;
}
