import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError } from '../errors.js';
import { isFingerprint } from '../plan/fingerprint.js';
import type { Fingerprint, JsonValue } from '../plan/types.js';
import { sha256File } from '../util/hash.js';
import { processAlive } from '../util/process-info.js';
import type { Cache, CacheEntry, CacheEntryRecord, CachedFile, PendingEntry } from './types.js';

/**
 * How `get` checks an entry before serving it:
 * - 'stat' (default): compare each file's size, mtime, ctime and inode with those recorded
 *   when the entry was sealed, and re-hash only files whose stat changed. Writing a byte
 *   changes mtime and ctime, and ctime cannot be set back from user space (`touch -r` moves
 *   it), so any edit through the file system is caught. What it cannot see is corruption
 *   below the file system (bit rot, a disk writing garbage); `cache verify` and 'full' hash
 *   everything. Measured with scripts/bench-build.ts (2 cores, loaded): a 4 MiB entry
 *   takes 0.3 ms with 'stat' and 41 ms with 'full' (~10 ms per MiB), so 'full' would cost
 *   minutes on every no-op rebuild of a zoo of GiBs.
 * - 'full': hash every file on every use.
 */
export type VerifyMode = 'stat' | 'full';

/** Why an entry was found corrupt. */
export interface CacheProblem {
  fingerprint: Fingerprint;
  problem: string;
}

/** Options of the local store. */
export interface LocalCacheOptions {
  verify?: VerifyMode;
  /** Told about every corrupt entry `get` evicts (the executor logs it). */
  onEvict?: (problem: CacheProblem) => void;
}

/** A cache write failed for a reason other than a lost race (disk full, a symlink in outputs). */
export class CacheWriteError extends EdgezooError {
  constructor(message: string, cause?: unknown) {
    super('CACHE_WRITE', message, cause === undefined ? {} : { cause });
  }
}

const ENTRY_FILE = 'entry.json';
const OUT_DIR = 'out';
const TMP_PREFIX = '.tmp-';

/**
 * Folders of pieces a step keeps beside its entry across builds (src/quant/attempt-cache.ts):
 * `<root>/<folder>/<hash>/meta.json` names the step's fingerprint (`step`); gc keeps a piece
 * while that step is kept.
 */
export const STEP_PIECE_DIRS = ['.quant-attempts'] as const;
const TRASH_PREFIX = '.trash-';

/**
 * The content-addressed store on the local disk: `<root>/<fingerprint>/{entry.json, out/...}`.
 * Outputs are written under `<root>/.tmp-<pid>-<random>/out` and the folder is renamed to
 * `<root>/<fingerprint>` when complete; rename is atomic on one file system, so a reader sees
 * a whole entry or none, and a killed builder leaves only a `.tmp-` folder that `gc` removes.
 * Sealed files are made read-only so a runner cannot edit its inputs by accident.
 */
export class LocalCache implements Cache {
  readonly root: string;
  private readonly verify: VerifyMode;
  private readonly onEvict: ((problem: CacheProblem) => void) | undefined;

  constructor(root: string, options: LocalCacheOptions = {}) {
    this.root = root;
    this.verify = options.verify ?? 'stat';
    this.onEvict = options.onEvict;
  }

  entryDir(fingerprint: Fingerprint): string {
    return path.join(this.root, fingerprint);
  }

  async get(fingerprint: Fingerprint): Promise<CacheEntry | undefined> {
    const checked = await this.check(fingerprint, this.verify);
    if (checked.kind === 'missing') return undefined;
    if (checked.kind === 'corrupt') {
      await this.evict(fingerprint);
      this.onEvict?.({ fingerprint, problem: checked.problem });
      return undefined;
    }
    return checked.entry;
  }

  async begin(): Promise<PendingEntry> {
    await mkdir(this.root, { recursive: true });
    const dir = path.join(this.root, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    const outDir = path.join(dir, OUT_DIR);
    await mkdir(outDir, { recursive: true });
    return { outDir, discard: () => removeTree(dir) };
  }

  async put(
    fingerprint: Fingerprint,
    pending: PendingEntry,
    meta: { stepId: string; result: JsonValue; replace?: boolean },
  ): Promise<CacheEntry> {
    const tmpDir = path.dirname(pending.outDir);
    let files: CachedFile[];
    try {
      files = await sealFiles(pending.outDir);
    } catch (error) {
      await pending.discard();
      if (error instanceof EdgezooError) throw error;
      throw new CacheWriteError(`could not seal the outputs of ${meta.stepId}: ${(error as Error).message}`, error);
    }
    const record: CacheEntryRecord = {
      format: 1,
      fingerprint,
      stepId: meta.stepId,
      createdAt: new Date().toISOString(),
      result: meta.result,
      files,
    };
    await writeFile(path.join(tmpDir, ENTRY_FILE), JSON.stringify(record, null, 1));
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmpDir, this.entryDir(fingerprint));
        return toEntry(this.entryDir(fingerprint), record);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') {
          await pending.discard();
          throw new CacheWriteError(
            `could not store the outputs of ${meta.stepId} in the cache: ${(error as Error).message}`,
            error,
          );
        }
        if (meta.replace && attempt < 2) {
          await this.evict(fingerprint);
          continue;
        }
        // Another builder sealed the same fingerprint first: keep theirs (same inputs, same
        // outputs), unless theirs turns out corrupt, in which case `get` evicted it and we retry.
        const theirs = await this.get(fingerprint);
        if (theirs || attempt >= 2) {
          await pending.discard();
          if (theirs) return theirs;
          throw new CacheWriteError(`could not store the outputs of ${meta.stepId}: the entry keeps changing under us`);
        }
      }
    }
  }

  /** Moves an entry aside (atomic), then deletes it; readers never see half an entry. */
  async evict(fingerprint: Fingerprint): Promise<void> {
    const trash = path.join(this.root, `${TRASH_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(this.entryDir(fingerprint), trash);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else evicted it
      throw error;
    }
    await removeTree(trash);
  }

  /** Fingerprints of every entry on disk. */
  async list(): Promise<Fingerprint[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter(isFingerprint).sort();
  }

  /** Checks every entry by full hash; with `fix`, evicts the corrupt ones. */
  async verifyAll(options: { fix?: boolean } = {}): Promise<{ checked: number; corrupt: CacheProblem[] }> {
    const fingerprints = await this.list();
    const corrupt: CacheProblem[] = [];
    for (const fingerprint of fingerprints) {
      const checked = await this.check(fingerprint, 'full');
      if (checked.kind !== 'corrupt') continue;
      corrupt.push({ fingerprint, problem: checked.problem });
      if (options.fix) await this.evict(fingerprint);
    }
    return { checked: fingerprints.length, corrupt };
  }

  /**
   * Removes entries whose fingerprint is not in `keep`, and temporary folders left by
   * builders that died: a `.tmp-<pid>-` folder whose process is gone (this host), or any
   * older than `staleAfterMs` (default 6 h, for folders from another host or a reused pid).
   */
  /** The conversion key a remembered failed attempt's entry records, if the entry is one. */
  private async conversionOf(entryDir: string): Promise<string | undefined> {
    const text = await readFile(path.join(entryDir, ENTRY_FILE), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const result = (JSON.parse(text) as { result?: { kind?: unknown; conversion?: unknown } }).result;
      return result?.kind === 'failed-attempt' && typeof result.conversion === 'string' ? result.conversion : undefined;
    } catch {
      return undefined;
    }
  }

  async gc(
    keep: ReadonlySet<string>,
    options: {
      dryRun?: boolean;
      staleAfterMs?: number;
      now?: number;
      /**
       * Conversion keys of planned converter steps: a remembered failed attempt (an entry whose
       * result is `{ kind: 'failed-attempt', conversion }`, src/build/attempt-store.ts) of one of
       * them is kept.
       */
      keepConversions?: ReadonlySet<string>;
    } = {},
  ): Promise<GcReport> {
    const report: GcReport = { entries: [], temporaries: [], freedBytes: 0 };
    const names = await readdir(this.root).catch(() => [] as string[]);
    const now = options.now ?? Date.now();
    const staleAfterMs = options.staleAfterMs ?? 6 * 3600_000;
    for (const name of names.sort()) {
      const full = path.join(this.root, name);
      if (isFingerprint(name)) {
        if (keep.has(name)) continue;
        if (options.keepConversions) {
          const conversion = await this.conversionOf(full);
          if (conversion !== undefined && options.keepConversions.has(conversion)) continue;
        }
        const bytes = await treeSize(full);
        report.entries.push({ fingerprint: name, bytes });
        report.freedBytes += bytes;
        if (!options.dryRun) await this.evict(name);
      } else if (name.startsWith(TMP_PREFIX) || name.startsWith(TRASH_PREFIX)) {
        const pid = Number(
          name.slice(name.startsWith(TMP_PREFIX) ? TMP_PREFIX.length : TRASH_PREFIX.length).split('-')[0],
        );
        const info = await stat(full).catch(() => undefined);
        if (!info) continue;
        const stale = !processAlive(pid) || now - info.mtimeMs > staleAfterMs;
        if (!stale) continue;
        const bytes = await treeSize(full);
        report.temporaries.push({ name, bytes });
        report.freedBytes += bytes;
        if (!options.dryRun) await removeTree(full);
      }
    }
    for (const side of STEP_PIECE_DIRS) {
      const sideRoot = path.join(this.root, side);
      for (const name of (await readdir(sideRoot).catch(() => [] as string[])).sort()) {
        const full = path.join(sideRoot, name);
        const step = await readFile(path.join(full, 'meta.json'), 'utf8').then(
          (text) => (JSON.parse(text) as { step?: unknown }).step,
          () => undefined,
        );
        if (typeof step === 'string' && keep.has(step)) continue;
        if (typeof step !== 'string') {
          // Being written (a temporary folder) or left half-written: removed once stale.
          const info = await stat(full).catch(() => undefined);
          if (!info || now - info.mtimeMs <= staleAfterMs) continue;
        }
        const bytes = await treeSize(full);
        report.temporaries.push({ name: `${side}/${name}`, bytes });
        report.freedBytes += bytes;
        if (!options.dryRun) await removeTree(full);
      }
    }
    return report;
  }

  private async check(
    fingerprint: Fingerprint,
    mode: VerifyMode,
  ): Promise<{ kind: 'missing' } | { kind: 'corrupt'; problem: string } | { kind: 'ok'; entry: CacheEntry }> {
    const dir = this.entryDir(fingerprint);
    let text: string;
    try {
      text = await readFile(path.join(dir, ENTRY_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        return { kind: 'corrupt', problem: `entry.json unreadable: ${(error as Error).message}` };
      // A folder without entry.json was never sealed by us (entries are renamed in whole).
      const exists = await stat(dir).then(
        () => true,
        () => false,
      );
      return exists ? { kind: 'corrupt', problem: 'entry.json missing' } : { kind: 'missing' };
    }
    let record: CacheEntryRecord;
    try {
      record = JSON.parse(text) as CacheEntryRecord;
    } catch {
      return { kind: 'corrupt', problem: 'entry.json is not valid JSON' };
    }
    if (record.format !== 1 || record.fingerprint !== fingerprint || !Array.isArray(record.files)) {
      return { kind: 'corrupt', problem: 'entry.json does not describe this entry' };
    }
    let restated = false;
    for (const file of record.files) {
      const absolute = path.join(dir, OUT_DIR, file.path);
      const info = await lstat(absolute).catch(() => undefined);
      if (!info?.isFile()) return { kind: 'corrupt', problem: `${file.path} is missing` };
      if (info.size !== file.size)
        return { kind: 'corrupt', problem: `${file.path} has ${info.size} bytes, ${file.size} expected` };
      const statUnchanged = info.mtimeMs === file.mtimeMs && info.ctimeMs === file.ctimeMs && info.ino === file.ino;
      if (mode === 'stat' && statUnchanged) continue;
      const sha256 = await sha256File(absolute);
      if (sha256 !== file.sha256)
        return {
          kind: 'corrupt',
          problem: `${file.path} has sha256 ${sha256.slice(0, 12)}…, ${file.sha256.slice(0, 12)}… expected`,
        };
      if (!statUnchanged) {
        // Same bytes, new stat (touched, copied with the cache): remember it so the next
        // quick check is quick again.
        file.mtimeMs = info.mtimeMs;
        file.ctimeMs = info.ctimeMs;
        file.ino = info.ino;
        restated = true;
      }
    }
    if (restated) await rewriteRecord(dir, record).catch(() => undefined);
    return { kind: 'ok', entry: toEntry(dir, record) };
  }
}

/** What `gc` removed (or would remove, with dryRun). */
export interface GcReport {
  entries: Array<{ fingerprint: string; bytes: number }>;
  temporaries: Array<{ name: string; bytes: number }>;
  freedBytes: number;
}

function toEntry(dir: string, record: CacheEntryRecord): CacheEntry {
  return {
    fingerprint: record.fingerprint,
    dir: path.join(dir, OUT_DIR),
    files: record.files.map((file) => file.path),
    result: record.result,
    record,
  };
}

/** Makes every output read-only, then records size, stat and sha256 (after chmod: it moves ctime). */
async function sealFiles(outDir: string): Promise<CachedFile[]> {
  const files: CachedFile[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(outDir, relative), { withFileTypes: true });
    for (const entry of entries) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        const absolute = path.join(outDir, child);
        await chmod(absolute, 0o444);
        const info = await stat(absolute);
        files.push({
          path: child,
          size: info.size,
          sha256: await sha256File(absolute),
          mtimeMs: info.mtimeMs,
          ctimeMs: info.ctimeMs,
          ino: info.ino,
        });
      } else {
        throw new CacheWriteError(`step output ${child} is not a regular file (symlinks and devices cannot be cached)`);
      }
    }
  };
  await walk('');
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function rewriteRecord(dir: string, record: CacheEntryRecord): Promise<void> {
  const temporary = path.join(dir, `${ENTRY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await writeFile(temporary, JSON.stringify(record, null, 1));
  await rename(temporary, path.join(dir, ENTRY_FILE));
}

/** Deletes a tree, first making read-only files writable where the platform needs it. */
async function removeTree(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeSize(full);
    else total += (await lstat(full).catch(() => undefined))?.size ?? 0;
  }
  return total;
}
