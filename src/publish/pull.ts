/**
 * The pull client: read a zoo's index (a URL or a local path), check its signature when a
 * public key is configured, resolve `name@range` to a version and artifacts, and download the
 * files in parallel (with the model card and manifest), each verified against the index's
 * sha256 before it gets its final name.
 *
 * An index from elsewhere is hostile input: every document is read under a size cap, a remote
 * index may only point at https URLs off this machine (no `file:`, no loopback, no plain http),
 * and credentials for the index come from the environment, go only to the index's own origin
 * and never into a message.
 */
import type { KeyObject } from 'node:crypto';
import { chmod, constants, copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import semver from 'semver';
import { EdgezooError, UsageError } from '../errors.js';
import { Sha256MismatchError } from '../fetch/errors.js';
import { downloadToFile } from '../fetch/download.js';
import { checkFetchableUrl, isLoopbackHost, planRedirect, redactUrl } from '../fetch/url-policy.js';
import type { RetryTiming } from '../fetch/http-rules.js';
import {
  INDEX_SIGNATURE_FILE,
  parseIndex,
  pulledDocumentName,
  verifyBytes,
  type IndexArtifact,
  type IndexModel,
  type IndexVersion,
  type ZooIndex,
} from '../zoo/index.js';
import { formatBytes } from '../util/format.js';
import { sha256File } from '../util/hash.js';
import { editDistance } from '../util/text.js';

/** index.json above this is refused before it is read (a 10 000-model zoo is about 30 MiB). */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** Manifests and model cards above this are refused. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/** index.json.sig is one line of base64. */
export const MAX_SIGNATURE_BYTES = 4096;

/** A loaded index and where it came from, so relative artifact URLs resolve against it. */
export interface LoadedIndex {
  index: ZooIndex;
  /** URL of index.json (`file:` for a local index). */
  location: URL;
  /** True when the signature was checked against a public key and matched. */
  verified: boolean;
  /** Request headers for the index's own origin (credentials from the environment); never printed. */
  headers: Record<string, string>;
}

export interface LoadIndexOptions {
  /** When set, index.json.sig must exist and be a valid signature of the exact bytes. */
  publicKey?: KeyObject;
  /** Sent with requests to the index's origin only (see `indexCredentialsFromEnv`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Size cap of index.json; default MAX_INDEX_BYTES. */
  maxIndexBytes?: number;
}

/**
 * Turns `--index` / EDGEZOO_INDEX into a URL: http(s) URLs as they are, anything else a path (a
 * folder means its index.json). A URL with `user:password@` is refused without echoing the
 * password: credentials belong in the environment (`indexCredentialsFromEnv`), not in shell
 * history, process lists and logs.
 */
export async function indexLocation(value: string, cwd: string = process.cwd()): Promise<URL> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !value.startsWith('file:')) {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      // checkFetchableUrl says what is wrong with it.
    }
    if (url && (url.username || url.password)) {
      throw new EdgezooError(
        'INDEX_URL_CREDENTIALS',
        `the index URL ${redactUrl(url)} carries a user name or password; edgezoo does not take credentials in URLs`,
        {
          hint: 'set EDGEZOO_INDEX_TOKEN (sent as a bearer token), or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD, and give the URL without them',
          exitCode: 2,
        },
      );
    }
    return checkFetchableUrl(value);
  }
  if (value.startsWith('file:')) return new URL(value);
  let file = path.resolve(cwd, value);
  try {
    if ((await stat(file)).isDirectory()) file = path.join(file, 'index.json');
  } catch {
    // A missing path is reported when it is read, with the path in the message.
  }
  return pathToFileURL(file);
}

/**
 * Credentials for an index behind authentication, from the environment: EDGEZOO_INDEX_TOKEN
 * (an `Authorization: Bearer` header), or EDGEZOO_INDEX_USER with EDGEZOO_INDEX_PASSWORD (HTTP
 * Basic). `loadIndex` and `pullArtifacts` send them to the index's origin only.
 */
export function indexCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const token = env.EDGEZOO_INDEX_TOKEN;
  if (token) return { authorization: `Bearer ${token.trim()}` };
  const user = env.EDGEZOO_INDEX_USER;
  const password = env.EDGEZOO_INDEX_PASSWORD;
  if (user !== undefined || password !== undefined) {
    if (!user || password === undefined)
      throw new UsageError('EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD go together; one of them is not set');
    return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
  }
  return {};
}

/** Reads index.json and, with a public key, its detached signature. */
export async function loadIndex(location: URL, options: LoadIndexOptions = {}): Promise<LoadedIndex> {
  const where = displayLocation(location);
  const headers = location.protocol === 'file:' ? {} : (options.headers ?? {});
  const read = (url: URL, what: string, maxBytes: number, notFoundCode: string) =>
    readDocument(url, { what, maxBytes, notFoundCode, headers, ...(options.signal ? { signal: options.signal } : {}) });
  const bytes = await read(location, 'index.json', options.maxIndexBytes ?? MAX_INDEX_BYTES, 'INDEX_NOT_FOUND');
  let verified = false;
  if (options.publicKey) {
    const sigUrl = new URL(INDEX_SIGNATURE_FILE, location);
    let signature: Buffer;
    try {
      signature = await read(sigUrl, 'index.json.sig', MAX_SIGNATURE_BYTES, 'SIGNATURE_MISSING');
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
  return { index: parseIndex(bytes.toString('utf8'), where), location, verified, headers };
}

function displayLocation(url: URL): string {
  return url.protocol === 'file:' ? fileURLToPath(url) : redactUrl(url);
}

interface ReadDocumentOptions {
  /** What it is, for messages: `index.json`, `the manifest of x@1.0.0`. */
  what: string;
  maxBytes: number;
  notFoundCode: string;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One small document (index, signature, manifest) into memory, refused past `maxBytes` by its
 * size or announced length before anything is read, and by the bytes that arrive otherwise.
 * Redirects are followed by hand so credentials never cross to another origin.
 */
async function readDocument(url: URL, options: ReadDocumentOptions): Promise<Buffer> {
  const where = displayLocation(url);
  const tooLarge = (size: number | undefined) =>
    new EdgezooError(
      'DOCUMENT_TOO_LARGE',
      `${where} is ${size === undefined ? 'larger than' : `${formatBytes(size)}, over`} ${formatBytes(options.maxBytes)}, the most edgezoo reads for ${options.what}`,
      { hint: 'check that the URL points at an edgezoo zoo; nothing was downloaded' },
    );
  if (url.protocol === 'file:') {
    try {
      const size = (await stat(url)).size;
      if (size > options.maxBytes) throw tooLarge(size);
      return await readFile(url);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new EdgezooError(options.notFoundCode, `${where} does not exist`);
      throw error;
    }
  }
  let current = checkFetchableUrl(url.href);
  let headers: Record<string, string> = { ...options.headers, 'accept-encoding': 'identity' };
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await fetch(current, {
        signal: options.signal ?? AbortSignal.timeout(60_000),
        headers,
        redirect: 'manual',
      });
    } catch (error) {
      throw new EdgezooError('NETWORK', `cannot read ${where}: ${(error as Error).message}`, {
        hint: 'check the network and the index URL',
        cause: error,
      });
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      if (hop >= 10) throw new EdgezooError('NETWORK', `cannot read ${where}: more than 10 redirects`);
      const next = planRedirect(current, location, headers);
      current = next.url;
      headers = next.headers;
      continue;
    }
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel();
      throw new EdgezooError(options.notFoundCode, `${where} does not exist (HTTP ${response.status})`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const hint =
        response.status === 401 || response.status === 403
          ? {
              hint: 'the server wants credentials: set EDGEZOO_INDEX_TOKEN, or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD',
            }
          : {};
      throw new EdgezooError('HTTP_STATUS', `HTTP ${response.status} for ${where}`, hint);
    }
    const announced = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(announced) && announced > options.maxBytes) {
      await response.body?.cancel();
      throw tooLarge(announced);
    }
    const chunks: Uint8Array[] = [];
    let received = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.byteLength;
        if (received > options.maxBytes) {
          await reader.cancel();
          throw tooLarge(undefined);
        }
        chunks.push(value);
      }
    }
    return Buffer.concat(chunks);
  }
}

/**
 * Where a file an index names may be fetched from. A local index may name anything local or
 * fetchable. A remote one names https URLs off this machine only: `file:` would read the
 * user's disk, loopback would reach services on their machine, and plain http lets anyone on
 * the way change the bytes (the sha256 would catch that, but only after the download). An index
 * on loopback (a test server, a local mirror) may also name http on loopback.
 */
export function checkIndexedUrl(url: URL, indexLocation: URL): void {
  if (indexLocation.protocol === 'file:') {
    if (url.protocol !== 'file:') checkFetchableUrl(url.href);
    return;
  }
  const indexOnLoopback = isLoopbackHost(indexLocation.hostname);
  const allowed =
    (url.protocol === 'https:' && (indexOnLoopback || !isLoopbackHost(url.hostname))) ||
    (url.protocol === 'http:' && indexOnLoopback && isLoopbackHost(url.hostname));
  if (!allowed) {
    throw new EdgezooError(
      'INDEX_URL_REFUSED',
      `the index ${displayLocation(indexLocation)} names ${redactUrl(url)}; a remote index may only name https:// URLs on other hosts`,
      { hint: 'the index is broken or hostile; nothing was downloaded' },
    );
  }
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
  /** Once done: where the bytes came from. */
  from?: PulledFile['from'];
}

export interface PullOptions {
  outDir: string;
  /**
   * A folder shared by every pull of this user: files are kept there by sha256 and copied into
   * `outDir`, so pulling the same artifact into another folder downloads nothing. Default none.
   */
  cacheDir?: string;
  /** Files downloaded at once; default 4. */
  concurrency?: number;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
  /** Download retry tuning (tests make it fast). */
  retryTiming?: Partial<RetryTiming>;
  retries?: number;
  timeoutMs?: number;
}

/** What a pulled file is. */
export type PulledRole = 'model' | 'weights' | 'license' | 'manifest' | 'card';

export interface PulledFile {
  name: string;
  path: string;
  role: PulledRole;
  /** `format/precision` of the artifact, for model and weights files. */
  target?: string;
  sha256: string;
  size: number;
  /** `out`: it was already in the out folder; `cache`: copied from the shared cache; `network`: downloaded. */
  from: 'out' | 'cache' | 'network';
}

export { pulledDocumentName };

export interface PullResult {
  name: string;
  version: string;
  yanked?: { reason: string; at: string };
  files: PulledFile[];
  bytes: number;
  seconds: number;
}

/** One file to fetch: what the index says about it and the name it gets in the out folder. */
interface WantedFile {
  name: string;
  url: string;
  sha256: string;
  /** Exact size when the index gives it; else a cap. */
  size?: number;
  role: PulledRole;
  target?: string;
}

/**
 * Downloads every file of the resolved artifacts, plus the version's license text, manifest
 * (inputs, preprocessing, output order) and model card, so what a runtime needs to use the model
 * travels with it. Each file is verified before it gets its final name; a failure of one file
 * fails the pull after the others finish, with nothing half-written.
 */
export async function pullArtifacts(
  loaded: LoadedIndex,
  resolved: ResolvedPull,
  options: PullOptions,
): Promise<PullResult> {
  const started = performance.now();
  const { model, version } = resolved;
  const files: WantedFile[] = resolved.artifacts.flatMap((a) =>
    a.files.map((f) => ({ ...f, role: f.role, target: `${a.format}/${a.precision}` })),
  );
  if (version.licenseFile)
    files.push({
      name: pulledDocumentName(model.name, version.version, 'license'),
      url: version.licenseFile.url,
      sha256: version.licenseFile.sha256,
      size: version.licenseFile.size,
      role: 'license',
    });
  files.push({
    name: pulledDocumentName(model.name, version.version, 'manifest'),
    url: version.manifest.url,
    sha256: version.manifest.sha256,
    role: 'manifest',
  });
  // Indexes written before cards had a sha256 in them name the card without one: it cannot be verified, so it is left out.
  if (version.cardSha256)
    files.push({
      name: pulledDocumentName(model.name, version.version, 'card'),
      url: version.card,
      sha256: version.cardSha256,
      ...(version.cardSize !== undefined ? { size: version.cardSize } : {}),
      role: 'card',
    });
  // Check every URL before downloading anything: a hostile index fails whole, not halfway.
  for (const file of files) checkIndexedUrl(new URL(file.url, loaded.location), loaded.location);
  await mkdir(options.outDir, { recursive: true });
  const limit = pLimit(options.concurrency ?? 4);
  const settled = await Promise.allSettled(files.map((file) => limit(() => pullFile(loaded, file, options))));
  const failures = settled
    .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    .map((s) => s.reason as unknown);
  if (failures.length > 0) throw failures[0];
  const pulled = settled.map((s) => (s as PromiseFulfilledResult<PulledFile>).value);
  return {
    name: model.name,
    version: version.version,
    ...(version.yanked ? { yanked: version.yanked } : {}),
    files: pulled,
    bytes: pulled.reduce((sum, f) => sum + f.size, 0),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The per-user folder `pull` keeps downloads in: EDGEZOO_CACHE_DIR, else $XDG_CACHE_HOME/edgezoo, else ~/.cache/edgezoo. */
export function defaultPullCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGEZOO_CACHE_DIR) return path.join(path.resolve(env.EDGEZOO_CACHE_DIR), 'pull');
  const base = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(base, 'edgezoo', 'pull');
}

async function pullFile(loaded: LoadedIndex, file: WantedFile, options: PullOptions): Promise<PulledFile> {
  const url = new URL(file.url, loaded.location);
  // The index names files; only plain names land in --out (the schema refuses separators too).
  const destination = path.join(options.outDir, path.basename(file.name));
  const described = { name: file.name, path: destination, role: file.role, sha256: file.sha256 };
  const result = (size: number, from: PulledFile['from']): PulledFile => {
    options.onProgress?.({ file: file.name, received: size, total: size, done: true, from });
    return { ...described, ...(file.target ? { target: file.target } : {}), size, from };
  };
  try {
    const there = await sizeIfSha256(destination, file.sha256);
    if (there !== undefined) return result(there, 'out');
    if (url.protocol === 'file:') {
      await copyVerified(fileURLToPath(url), destination, file.sha256);
      return result((await stat(destination)).size, 'network');
    }
    const blob = options.cacheDir ? path.join(options.cacheDir, 'sha256', file.sha256) : undefined;
    if (blob) {
      const cached = await sizeIfSha256(blob, file.sha256);
      if (cached !== undefined) {
        await copyVerified(blob, destination, file.sha256);
        return result(cached, 'cache');
      }
      await mkdir(path.dirname(blob), { recursive: true });
    }
    const downloaded = await downloadToFile({
      url: url.href,
      destination: blob ?? destination,
      sha256: file.sha256,
      maxBytes: file.size ?? MAX_DOCUMENT_BYTES,
      // Credentials only for the index's own origin; downloadToFile drops them on a redirect elsewhere.
      ...(url.origin === loaded.location.origin && Object.keys(loaded.headers).length > 0
        ? { headers: loaded.headers }
        : {}),
      onProgress: (p) =>
        options.onProgress?.({ file: file.name, received: p.received, total: file.size ?? p.total ?? 0, done: false }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.retryTiming ? { retryTiming: options.retryTiming } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    if (blob) await copyVerified(blob, destination, file.sha256);
    return result(downloaded.bytes, downloaded.reused ? 'cache' : 'network');
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
    if (error instanceof EdgezooError && error.code === 'TOO_LARGE') {
      throw new EdgezooError(
        'DOCUMENT_TOO_LARGE',
        `${file.name} from ${displayLocation(url)} is larger than ${formatBytes(file.size ?? MAX_DOCUMENT_BYTES)}, the size the index gives; nothing was written to ${destination}`,
        { hint: 'the zoo holds a changed file; tell its publisher', cause: error },
      );
    }
    throw error;
  }
}

/** The file's size when it exists with the expected sha256; undefined otherwise. */
async function sizeIfSha256(file: string, sha256: string): Promise<number | undefined> {
  try {
    const size = (await stat(file)).size;
    return (await sha256File(file)) === sha256 ? size : undefined;
  } catch {
    return undefined;
  }
}

/** Copy (a reflink where the file system has them) to a temporary name, hash the copy, and rename only when it matches. */
async function copyVerified(source: string, destination: string, sha256: string): Promise<void> {
  const partial = `${destination}.partial-${process.pid}`;
  try {
    await copyFile(source, partial, constants.COPYFILE_FICLONE);
  } catch (error) {
    await rm(partial, { force: true });
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
  const actual = await sha256File(partial);
  if (actual !== sha256) {
    await rm(partial, { force: true });
    throw new Sha256MismatchError(source, sha256, actual);
  }
  await chmod(partial, 0o644);
  await rename(partial, destination);
}
