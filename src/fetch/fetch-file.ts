import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FileSource } from '../recipe/types.js';
import { artifactPaths } from '../paths.js';
import { downloadToFile, hashIfExists, type DownloadOptions } from './download.js';
import { ArchiveError, InvalidSha256Error, Sha256MismatchError, SizeMismatchError, TooLargeError } from './errors.js';
import { SHA256_HEX, sha256FileWithSize } from '../util/hash.js';
import { resolveProjectFile } from './local.js';
import { acquireLock } from '../util/lock.js';
import { describePackageLocation, extractPackageFile, readPackageMemo, type PackageFileLocation } from './package.js';
import { redactUrl } from './url-policy.js';

/** Options of `fetchFile`. */
export interface FetchFileOptions
  extends Pick<
    DownloadOptions,
    'signal' | 'onProgress' | 'onLockWait' | 'timeoutMs' | 'retries' | 'headers' | 'sensitiveHeaders' | 'retryTiming'
  > {
  /** The project the recipe belongs to; `path` sources resolve against it. */
  projectRoot: string;
  /** Root of the shared content-addressed download cache, usually `artifacts/downloads`. */
  downloadsDir: string;
  /** Size cap for downloads and extracted package files. Default 16 GiB. */
  maxBytes?: number;
  /** Python interpreters to try for pypi packages; default the toolchain's tf venv, then python3. */
  pythonCandidates?: string[];
}

/** A fetched, verified file. */
export interface FetchedFile {
  /** Absolute path of the verified bytes. Cache files are read-only: copy before changing. */
  path: string;
  sha256: string;
  bytes: number;
  /** The bytes were already in the download cache (always false for `path` sources). */
  fromCache: boolean;
}

const DEFAULT_MAX_BYTES = 16 * 1024 ** 3;

/** How messages name where a file comes from: the project path, the URL without credentials, or the package file. */
export function describeFileLocation(location: FileSource['location']): string {
  return location.kind === 'url'
    ? redactUrl(location.url)
    : location.kind === 'path'
      ? location.path
      : describePackageLocation(location);
}

/** Where the cache keeps a verified file with this sha256. */
export function cachedFilePath(downloadsDir: string, sha256: string): string {
  return path.join(downloadsDir, 'sha256', sha256);
}

/**
 * Brings the bytes of a recipe's `FileSource` onto disk and verifies their sha256 before anyone
 * can use them.
 *
 * - `path`: the project file itself, hashed in place (absolute, `..` and symlinks leading out of
 *   the project are refused).
 * - `url` and `package`: the shared content-addressed cache `downloadsDir/sha256/<hex>`. A file
 *   appears there only after its hash matched, so any recipe pinning the same sha256 shares it,
 *   whatever its location. A cache hit is re-hashed (a damaged entry is fetched again).
 *   Incomplete work lives in `downloadsDir/tmp/<hex>.partial` (+ `.json` validators for resume),
 *   guarded by `<hex>.partial.lock`, so concurrent fetches of one file wait for each other
 *   instead of writing into the same bytes.
 */
export async function fetchFile(source: FileSource, options: FetchFileOptions): Promise<FetchedFile> {
  const location = source.location;
  const where = describeFileLocation(location);
  if (!SHA256_HEX.test(source.sha256)) throw new InvalidSha256Error(where, source.sha256);

  if (location.kind === 'path') {
    const real = await resolveProjectFile(options.projectRoot, location.path);
    const onDisk = (await stat(real)).size;
    if (source.size !== undefined && onDisk !== source.size) throw new SizeMismatchError(where, source.size, onDisk);
    const { sha256, bytes } = await sha256FileWithSize(real);
    if (sha256 !== source.sha256) throw new Sha256MismatchError(where, source.sha256, sha256);
    return { path: real, sha256, bytes, fromCache: false };
  }

  const finalPath = cachedFilePath(options.downloadsDir, source.sha256);
  const partialPath = path.join(options.downloadsDir, 'tmp', `${source.sha256}.partial`);
  const cached = await verifiedCacheEntry(finalPath, source.sha256);
  if (cached) return cached;

  // The recipe's size, when given, is the cap: a download or an archive entry stops past it.
  const maxBytes = source.size ?? options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (location.kind === 'url') {
    const result = await downloadToFile({
      url: location.url,
      destination: finalPath,
      sha256: source.sha256,
      partialPath,
      maxBytes,
      fileMode: 0o444,
      ...pick(options, [
        'signal',
        'onProgress',
        'onLockWait',
        'timeoutMs',
        'retries',
        'headers',
        'sensitiveHeaders',
        'retryTiming',
      ]),
    }).catch((error: unknown) => {
      if (error instanceof TooLargeError && source.size !== undefined)
        throw new SizeMismatchError(where, source.size, 'more');
      throw error;
    });
    // `reused`: another fetch finished it while we waited for the lock.
    return { path: result.path, sha256: result.sha256, bytes: result.bytes, fromCache: result.reused };
  }
  return fetchPackage(location, source.sha256, finalPath, partialPath, { ...options, maxBytes }, source.size);
}

async function fetchPackage(
  location: PackageFileLocation,
  expected: string,
  finalPath: string,
  partialPath: string,
  options: FetchFileOptions & { maxBytes: number },
  expectedBytes: number | undefined,
): Promise<FetchedFile> {
  const where = describePackageLocation(location);
  // A pinned release never changes, so a remembered different hash is a mismatch without
  // running pip or npm again.
  const memo = await readPackageMemo(options.downloadsDir, location);
  if (memo !== undefined && memo.sha256 !== expected) throw new Sha256MismatchError(where, expected, memo.sha256);

  await mkdir(path.dirname(partialPath), { recursive: true });
  const lock = await acquireLock(`${partialPath}.lock`, {
    purpose: `extraction of ${where}`,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onLockWait ? { onWait: options.onLockWait } : {}),
  });
  try {
    const cached = await verifiedCacheEntry(finalPath, expected);
    if (cached) return cached;
    await rm(partialPath, { force: true });
    const envs = artifactPaths(options.projectRoot).envs;
    const { sha256, bytes } = await extractPackageFile(location, partialPath, {
      projectRoot: options.projectRoot,
      pythonCandidates: options.pythonCandidates ?? [path.join(envs, 'tf', 'bin', 'python'), 'python3'],
      scratchParent: path.join(options.downloadsDir, 'tmp'),
      downloadsDir: options.downloadsDir,
      maxBytes: options.maxBytes,
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch((error: unknown) => {
      if (error instanceof ArchiveError && error.tooLarge && expectedBytes !== undefined)
        throw new SizeMismatchError(where, expectedBytes, 'more');
      throw error;
    });
    if (expectedBytes !== undefined && bytes !== expectedBytes)
      throw new SizeMismatchError(where, expectedBytes, bytes);
    if (sha256 !== expected) {
      await rm(partialPath, { force: true });
      throw new Sha256MismatchError(where, expected, sha256);
    }
    await mkdir(path.dirname(finalPath), { recursive: true });
    await chmod(partialPath, 0o444);
    await rename(partialPath, finalPath);
    return { path: finalPath, sha256, bytes, fromCache: false };
  } catch (error) {
    await rm(partialPath, { force: true });
    throw error;
  } finally {
    await lock.release();
  }
}

/** A cache entry whose bytes still hash to its name; a damaged one is removed so it is fetched again. */
async function verifiedCacheEntry(finalPath: string, expected: string): Promise<FetchedFile | undefined> {
  const existing = await hashIfExists(finalPath);
  if (existing === undefined) return undefined;
  if (existing.sha256 === expected) return { path: finalPath, ...existing, fromCache: true };
  await rm(finalPath, { force: true });
  return undefined;
}

function pick<T extends object, K extends keyof T>(object: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key];
  return picked;
}
