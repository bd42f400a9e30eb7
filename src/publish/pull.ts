/**
 * The pull client: read a zoo's index (a URL or a local path), check its signature when a
 * public key is configured, resolve `name@range` to a version and artifacts, and download the
 * files in parallel, each verified against the index's sha256 before it gets its final name.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import semver from 'semver';
import { EdgezooError } from '../errors.js';
import { Sha256MismatchError } from '../fetch/errors.js';
import { downloadToFile } from '../fetch/download.js';
import { checkFetchableUrl } from '../fetch/url-policy.js';
import type { RetryTiming } from '../fetch/http-rules.js';
import {
  INDEX_SIGNATURE_FILE,
  parseIndex,
  verifyBytes,
  type IndexArtifact,
  type IndexModel,
  type IndexVersion,
  type ZooIndex,
} from '../zoo/index.js';
import { editDistance } from '../util/text.js';

/** A loaded index and where it came from, so relative artifact URLs resolve against it. */
export interface LoadedIndex {
  index: ZooIndex;
  /** URL of index.json (`file:` for a local index). */
  location: URL;
  /** True when the signature was checked against a public key and matched. */
  verified: boolean;
}

export interface LoadIndexOptions {
  /** When set, index.json.sig must exist and be a valid signature of the exact bytes. */
  publicKey?: KeyObject;
  signal?: AbortSignal;
}

/** Turns `--index` / EDGEZOO_INDEX into a URL: http(s) URLs as they are, anything else a path (a folder means its index.json). */
export async function indexLocation(value: string, cwd: string = process.cwd()): Promise<URL> {
  if (/^https?:\/\//i.test(value)) return checkFetchableUrl(value);
  if (value.startsWith('file:')) return new URL(value);
  let file = path.resolve(cwd, value);
  try {
    if ((await stat(file)).isDirectory()) file = path.join(file, 'index.json');
  } catch {
    // A missing path is reported when it is read, with the path in the message.
  }
  return pathToFileURL(file);
}

/** Reads index.json and, with a public key, its detached signature. */
export async function loadIndex(location: URL, options: LoadIndexOptions = {}): Promise<LoadedIndex> {
  const where = displayLocation(location);
  const bytes = await readResource(location, options.signal, 'INDEX_NOT_FOUND');
  let verified = false;
  if (options.publicKey) {
    const sigUrl = new URL(INDEX_SIGNATURE_FILE, location);
    let signature: Buffer;
    try {
      signature = await readResource(sigUrl, options.signal, 'SIGNATURE_MISSING');
    } catch (error) {
      if (error instanceof EdgezooError && error.code === 'SIGNATURE_MISSING') {
        throw new EdgezooError(
          'SIGNATURE_MISSING',
          `${where} has no signature (${displayLocation(sigUrl)} not found), and a public key is configured`,
          {
            hint: 'the zoo must be published with EDGEZOO_SIGNING_KEY set; refusing an unsigned index',
          },
        );
      }
      throw error;
    }
    if (!verifyBytes(bytes, signature.toString('utf8'), options.publicKey)) {
      throw new EdgezooError(
        'SIGNATURE_INVALID',
        `the signature of ${where} does not match its bytes under the configured public key`,
        {
          hint: 'the index was changed after signing, or signed with another key; do not use it',
        },
      );
    }
    verified = true;
  }
  return { index: parseIndex(bytes.toString('utf8'), where), location, verified };
}

function displayLocation(url: URL): string {
  return url.protocol === 'file:' ? fileURLToPath(url) : url.href;
}

async function readResource(url: URL, signal: AbortSignal | undefined, notFoundCode: string): Promise<Buffer> {
  const where = displayLocation(url);
  if (url.protocol === 'file:') {
    try {
      return await readFile(url);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new EdgezooError(notFoundCode, `${where} does not exist`);
      throw error;
    }
  }
  checkFetchableUrl(url.href);
  let response: Response;
  try {
    response = await fetch(url, {
      signal: signal ?? AbortSignal.timeout(60_000),
      headers: { 'accept-encoding': 'identity' },
    });
  } catch (error) {
    throw new EdgezooError('NETWORK', `cannot read ${where}: ${(error as Error).message}`, {
      hint: 'check the network and the index URL',
      cause: error,
    });
  }
  if (response.status === 404 || response.status === 410)
    throw new EdgezooError(notFoundCode, `${where} does not exist (HTTP ${response.status})`);
  if (!response.ok) throw new EdgezooError('HTTP_STATUS', `HTTP ${response.status} for ${where}`);
  return Buffer.from(await response.arrayBuffer());
}

/** What to pull: `name@range` and filters, as a user types them. */
export interface PullRequest {
  name: string;
  /** A semver range (`1`, `^1.2`, `1.0.0`); default: the newest version that is not yanked. */
  range?: string;
  format?: string;
  precision?: string;
}

/** Splits `NAME[@RANGE]`. */
export function parseModelSpec(spec: string): { name: string; range?: string } {
  const at = spec.indexOf('@');
  if (at < 0) return { name: spec };
  const name = spec.slice(0, at);
  const range = spec.slice(at + 1);
  if (name === '' || range === '')
    throw new EdgezooError('USAGE', `"${spec}" is not NAME or NAME@RANGE (like mobilenet-v2@1)`, { exitCode: 2 });
  if (semver.validRange(range) === null)
    throw new EdgezooError('USAGE', `"${range}" in "${spec}" is not a semver version or range (like 1, ^1.2, 1.0.0)`, {
      exitCode: 2,
    });
  return { name, range };
}

/** The version and artifacts a pull request resolved to. */
export interface ResolvedPull {
  model: IndexModel;
  version: IndexVersion;
  artifacts: IndexArtifact[];
}

/**
 * Picks the version: an exact version is honoured even when yanked (people pin on purpose);
 * a range takes the newest matching version that is not yanked.
 */
export function resolvePull(index: ZooIndex, request: PullRequest): ResolvedPull {
  const model = index.models.find((m) => m.name === request.name);
  if (!model) {
    const near = nearestNames(
      request.name,
      index.models.map((m) => m.name),
    );
    throw new EdgezooError(
      'MODEL_NOT_FOUND',
      `no model "${request.name}" in the index`,
      near.length > 0 ? { hint: `did you mean ${near.join(', ')}?` } : { hint: 'run `edgezoo list` to see the models' },
    );
  }
  const range = request.range ?? '*';
  let version: IndexVersion | undefined;
  if (semver.valid(range) !== null) {
    version = model.versions.find((v) => semver.eq(v.version, range));
  } else {
    const live = model.versions.filter((v) => !v.yanked).map((v) => v.version);
    const best = semver.maxSatisfying(live, range);
    version = best === null ? undefined : model.versions.find((v) => v.version === best);
  }
  if (!version) {
    const yankedMatches = model.versions.filter((v) => v.yanked && semver.satisfies(v.version, range));
    const hint =
      yankedMatches.length > 0
        ? `only yanked versions match: ${yankedMatches.map((v) => `${v.version} (${v.yanked!.reason})`).join(', ')}; ask for one exactly, e.g. ${model.name}@${yankedMatches[0]!.version}`
        : `versions of ${model.name}: ${model.versions.map((v) => v.version + (v.yanked ? ' (yanked)' : '')).join(', ')}`;
    throw new EdgezooError('VERSION_NOT_FOUND', `no version of ${model.name} matches "${range}"`, { hint });
  }
  const artifacts = version.artifacts.filter(
    (a) =>
      (request.format === undefined || a.format === request.format) &&
      (request.precision === undefined || a.precision === request.precision),
  );
  if (artifacts.length === 0) {
    const wanted = [request.format ?? '*', request.precision ?? '*'].join('/');
    const failed = version.failed.find(
      (f) =>
        (request.format === undefined || f.format === request.format) &&
        (request.precision === undefined || f.precision === request.precision),
    );
    const skipped = version.skipped.find(
      (s) =>
        (request.format === undefined || s.format === request.format) &&
        (request.precision === undefined || s.precision === request.precision),
    );
    const why = failed
      ? ` (${failed.format}/${failed.precision} failed: ${failed.reason})`
      : skipped
        ? ` (${skipped.format}/${skipped.precision} skipped: ${skipped.reason})`
        : '';
    throw new EdgezooError('ARTIFACT_NOT_FOUND', `${model.name}@${version.version} has no artifact ${wanted}${why}`, {
      hint: `available: ${version.artifacts.map((a) => `${a.format}/${a.precision}`).join(', ') || 'none'}`,
    });
  }
  return { model, version, artifacts };
}

function nearestNames(wanted: string, names: string[]): string[] {
  return names
    .map((name) => ({ name, d: editDistance(wanted, name) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(wanted.length / 3)) || x.name.includes(wanted))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map((x) => x.name);
}

/** Progress of one file of a pull. */
export interface PullProgress {
  file: string;
  received: number;
  total: number;
  done: boolean;
}

export interface PullOptions {
  outDir: string;
  /** Files downloaded at once; default 4. */
  concurrency?: number;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
  /** Download retry tuning (tests make it fast). */
  retryTiming?: Partial<RetryTiming>;
  retries?: number;
  timeoutMs?: number;
}

export interface PulledFile {
  name: string;
  path: string;
  sha256: string;
  size: number;
  /** The file was already there with the right sha256. */
  reused: boolean;
}

export interface PullResult {
  name: string;
  version: string;
  yanked?: { reason: string; at: string };
  files: PulledFile[];
  bytes: number;
  seconds: number;
}

/**
 * Downloads every file of the resolved artifacts, plus the license text when the zoo has one
 * (a model's license travels with it). Each file is verified before it gets its final name;
 * a failure of one file fails the pull after the others finish, with nothing half-written.
 */
export async function pullArtifacts(
  loaded: LoadedIndex,
  resolved: ResolvedPull,
  options: PullOptions,
): Promise<PullResult> {
  const started = performance.now();
  const files: Array<{ name: string; url: string; sha256: string; size: number }> = resolved.artifacts.flatMap(
    (a) => a.files,
  );
  const license = resolved.version.licenseFile;
  if (license)
    files.push({
      name: `${resolved.model.name}-${resolved.version.version}-LICENSE.txt`,
      url: license.url,
      sha256: license.sha256,
      size: license.size,
    });
  await mkdir(options.outDir, { recursive: true });
  const limit = pLimit(options.concurrency ?? 4);
  const settled = await Promise.allSettled(files.map((file) => limit(() => pullFile(loaded.location, file, options))));
  const failures = settled
    .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    .map((s) => s.reason as unknown);
  if (failures.length > 0) throw failures[0];
  const pulled = settled.map((s) => (s as PromiseFulfilledResult<PulledFile>).value);
  return {
    name: resolved.model.name,
    version: resolved.version.version,
    ...(resolved.version.yanked ? { yanked: resolved.version.yanked } : {}),
    files: pulled,
    bytes: pulled.reduce((sum, f) => sum + f.size, 0),
    seconds: (performance.now() - started) / 1000,
  };
}

async function pullFile(
  base: URL,
  file: { name: string; url: string; sha256: string; size: number },
  options: PullOptions,
): Promise<PulledFile> {
  const url = new URL(file.url, base);
  // The index names files; only plain names land in --out (the schema refuses separators too).
  const destination = path.join(options.outDir, path.basename(file.name));
  const report = (received: number, done: boolean) =>
    options.onProgress?.({ file: file.name, received, total: file.size, done });
  try {
    if (url.protocol === 'file:') {
      const reused = await copyVerified(fileURLToPath(url), destination, file.sha256);
      report(file.size, true);
      return { name: file.name, path: destination, sha256: file.sha256, size: file.size, reused };
    }
    const result = await downloadToFile({
      url: url.href,
      destination,
      sha256: file.sha256,
      maxBytes: file.size,
      onProgress: (p) => report(p.received, false),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.retryTiming ? { retryTiming: options.retryTiming } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    report(file.size, true);
    return { name: file.name, path: destination, sha256: result.sha256, size: result.bytes, reused: result.reused };
  } catch (error) {
    if (error instanceof Sha256MismatchError || (error instanceof EdgezooError && error.code === 'SHA256_MISMATCH')) {
      const actual = error instanceof Sha256MismatchError ? error.actual : 'different bytes';
      throw new EdgezooError(
        'SHA256_MISMATCH',
        `${file.name} from ${displayLocation(url)} has sha256 ${actual}, but the index says ${file.sha256}; nothing was written to ${destination}`,
        {
          hint: 'the zoo holds a corrupted or changed file; tell its publisher',
          cause: error,
        },
      );
    }
    if (error instanceof EdgezooError && error.code === 'HTTP_STATUS' && /HTTP 404|HTTP 410/.test(error.message)) {
      throw new EdgezooError(
        'ARTIFACT_MISSING',
        `${file.name} is listed in the index but ${displayLocation(url)} does not exist (HTTP 404)`,
        {
          hint: 'the zoo is incomplete; tell its publisher (republishing restores missing files)',
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** Local index: copy to a temporary name, hash the copy, and rename only when it matches. */
async function copyVerified(source: string, destination: string, sha256: string): Promise<boolean> {
  try {
    if ((await hashFile(destination)) === sha256) return true;
  } catch {
    // Not there yet.
  }
  const partial = `${destination}.partial`;
  try {
    await copyFile(source, partial);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EdgezooError(
        'ARTIFACT_MISSING',
        `${path.basename(destination)} is listed in the index but ${source} does not exist`,
        {
          hint: 'the zoo is incomplete; tell its publisher (republishing restores missing files)',
        },
      );
    }
    throw error;
  }
  const actual = await hashFile(partial);
  if (actual !== sha256) {
    await rm(partial, { force: true });
    throw new Sha256MismatchError(source, sha256, actual);
  }
  await chmod(partial, 0o644);
  await rename(partial, destination);
  return false;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
