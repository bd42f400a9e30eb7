/**
 * Writes one model version into the zoo: artifact files under stable names, `manifest.json`,
 * the model card and the license text, all into a temporary folder renamed into place, so a
 * version folder is either complete or absent.
 */
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { EdgezooError } from '../errors.js';
import { renderModelCard } from './card.js';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import { CARD_FILE, LICENSE_FILE, MANIFEST_FILE, YANK_FILE, artifactFileName, versionDir } from './layout.js';
import { stableJson } from './stable-json.js';
import { sha256Hex, sha256File } from '../util/hash.js';
import { temporarySibling, writeFileAtomic } from '../util/atomic-write.js';
import {
  MANIFEST_SCHEMA,
  YANK_SCHEMA,
  manifestSchema,
  yankSchema,
  type ArtifactInput,
  type FailedTarget,
  type Manifest,
  type ManifestArtifact,
  type ModelVersionInput,
  type YankRecord,
} from './types.js';

/** Different bytes under a version that already exists. The message names the file and both sha256. */
export class VersionImmutableError extends EdgezooError {
  constructor(message: string, hint: string) {
    super('VERSION_IMMUTABLE', message, { hint });
  }
}

/** A model version where no artifact passed: no version is written (see `writeModelVersion`). */
export class NoArtifactsError extends EdgezooError {
  constructor(name: string, version: string, tried: number) {
    super(
      'NO_ARTIFACTS',
      `no version written for ${name}@${version}: none of its ${tried} target${tried === 1 ? '' : 's'} passed`,
      { hint: 'fix the failures above (or list the targets under skip: with the reason) and build again' },
    );
  }
}

export interface WriteModelVersionResult {
  dir: string;
  manifest: Manifest;
  /** False when the version already existed with identical bytes (a no-op). */
  written: boolean;
}

interface PlannedFile {
  name: string;
  sourcePath: string;
  sha256: string;
  size: number;
}

/**
 * Writes `<zooDir>/<model>/<version>/`. Only artifacts that passed validation are copied in;
 * failed ones are recorded in the manifest's `failed` list with their figures.
 * When the version exists: identical files are a no-op (the existing manifest and card stay, so
 * latency figures of a re-run do not rewrite a published card); any different, added or missing
 * file is refused with `VersionImmutableError`.
 */
export async function writeModelVersion(zooDir: string, input: ModelVersionInput): Promise<WriteModelVersionResult> {
  const { recipe } = input;
  if (semver.valid(recipe.version) === null) {
    throw new EdgezooError(
      'VERSION_INVALID',
      `version "${recipe.version}" of ${recipe.name} is not a semver version (like 1.0.0)`,
    );
  }
  const dir = versionDir(zooDir, recipe.name, recipe.version);
  const passed = input.artifacts.filter((a) => a.validation.status === 'passed');
  // A version is immutable once published, so one with nothing to download would only block
  // the version number for the build that works.
  if (passed.length === 0)
    throw new NoArtifactsError(recipe.name, recipe.version, input.artifacts.length + input.failed.length);
  const failedValidation: FailedTarget[] = input.artifacts
    .filter((a) => a.validation.status === 'failed')
    .map((a) => ({
      format: a.format,
      precision: a.precision,
      reason: a.validation.reason ?? 'validation outside tolerance',
      validation: a.validation,
    }));
  const seen = new Set<string>();
  for (const artifact of input.artifacts) {
    const key = `${artifact.format}/${artifact.precision}`;
    if (seen.has(key))
      throw new EdgezooError('ARTIFACT_DUPLICATE', `${recipe.name}@${recipe.version}: two artifacts for ${key}`);
    seen.add(key);
  }

  const files: PlannedFile[] = [];
  const manifestArtifacts: ManifestArtifact[] = [];
  for (const artifact of passed) {
    const planned = await planArtifactFiles(recipe.name, recipe.version, artifact);
    files.push(...planned);
    manifestArtifacts.push({
      format: artifact.format,
      precision: artifact.precision,
      files: planned.map((f, i) => ({
        name: f.name,
        role: i === 0 ? 'model' : 'weights',
        sha256: f.sha256,
        size: f.size,
      })),
      signature: artifact.signature,
      validation: artifact.validation,
      benchmark: artifact.benchmark,
      toolVersions: artifact.toolVersions ?? {},
      transposeCount: artifact.transposeCount,
      flexOps: artifact.flexOps,
      sizeRatio: artifact.sizeRatio,
      quantization: artifact.quantization,
      conversion: artifact.conversion,
    });
  }
  manifestArtifacts.sort(compareTargets);

  const licenseBytes = input.licenseText === undefined ? undefined : Buffer.from(input.licenseText, 'utf8');
  const manifest: Manifest = manifestSchema.parse({
    schema: MANIFEST_SCHEMA,
    name: recipe.name,
    version: recipe.version,
    license: recipe.license,
    licenseFile: licenseBytes && { name: LICENSE_FILE, sha256: sha256Hex(licenseBytes), size: licenseBytes.length },
    description: recipe.description,
    task: recipe.task,
    homepage: recipe.homepage,
    tags: recipe.tags,
    labels: input.labels,
    inputs: recipe.inputs.map((i) => ({
      name: i.name,
      shape: i.shape,
      layout: i.layout,
      dtype: i.dtype,
      range: i.range,
    })),
    outputs: recipe.outputs.map((o) => ({ name: o.name, layout: o.layout, classifier: o.classifier })),
    preprocess: recipe.preprocess,
    ...(recipe.validation.stream ? { stream: recipe.validation.stream } : {}),
    source: input.source,
    recipeFingerprint: input.recipeFingerprint,
    toolVersions: input.toolVersions,
    artifacts: manifestArtifacts,
    skipped: [...input.skipped].sort(compareTargets),
    failed: [...input.failed, ...failedValidation].sort(compareTargets),
  });

  const existing = await readManifestIfAny(dir);
  if (existing) {
    assertSameFiles(dir, existing, manifest, recipe.name);
    return { dir, manifest: existing, written: false };
  }

  await mkdir(path.dirname(dir), { recursive: true });
  const temp = temporarySibling(dir);
  try {
    await mkdir(temp);
    for (const file of files) await copyFile(file.sourcePath, path.join(temp, file.name));
    if (licenseBytes) await writeFile(path.join(temp, LICENSE_FILE), licenseBytes);
    await writeFile(path.join(temp, CARD_FILE), renderModelCard(manifest));
    // The manifest goes last: a folder with a manifest is a complete version.
    await writeFile(path.join(temp, MANIFEST_FILE), stableJson(manifest));
    await rename(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another writer won the rename: fall back to the immutability check against its result.
    const raced = await readManifestIfAny(dir);
    if (raced) {
      assertSameFiles(dir, raced, manifest, recipe.name);
      return { dir, manifest: raced, written: false };
    }
    throw error;
  }
  return { dir, manifest, written: true };
}

async function planArtifactFiles(name: string, version: string, artifact: ArtifactInput): Promise<PlannedFile[]> {
  const sources: Array<{ file: string; sha256?: string }> = [
    { file: artifact.file, sha256: artifact.sha256 },
    ...(artifact.companionFiles ?? []),
  ];
  const planned: PlannedFile[] = [];
  for (const source of sources) {
    let size: number;
    try {
      size = (await stat(source.file)).size;
    } catch {
      throw new EdgezooError(
        'ARTIFACT_MISSING',
        `${name}@${version} ${artifact.format}/${artifact.precision}: file ${source.file} does not exist`,
      );
    }
    const sha256 = await sha256File(source.file);
    // The build recorded a sha256; if the file changed since (a corrupted cache entry), refuse it.
    if (source.sha256 !== undefined && source.sha256 !== sha256) {
      throw new EdgezooError(
        'SHA256_MISMATCH',
        `${source.file} has sha256 ${sha256}, but the build recorded ${source.sha256}`,
        { hint: 'the build output changed after it was recorded; rebuild the model' },
      );
    }
    planned.push({
      name: artifactFileName(name, version, artifact.format, artifact.precision, path.extname(source.file)),
      sourcePath: source.file,
      sha256,
      size,
    });
  }
  return planned;
}

function compareTargets(a: { format: string; precision: string }, b: { format: string; precision: string }): number {
  const order: readonly string[] = PRECISION_NAMES;
  return a.format.localeCompare(b.format) || order.indexOf(a.precision) - order.indexOf(b.precision);
}

/** The files of a version that are immutable, name -> sha256. */
function immutableFiles(manifest: Manifest): Map<string, string> {
  const files = new Map<string, string>();
  for (const artifact of manifest.artifacts) for (const f of artifact.files) files.set(f.name, f.sha256);
  if (manifest.licenseFile) files.set(manifest.licenseFile.name, manifest.licenseFile.sha256);
  return files;
}

function assertSameFiles(dir: string, published: Manifest, candidate: Manifest, name: string): void {
  const before = immutableFiles(published);
  const after = immutableFiles(candidate);
  const hint = `a published version never changes: bump \`version\` in recipes/${name}.yaml, or delete ${dir} if it was never published`;
  const where = `${published.name}@${published.version}`;
  for (const [file, sha] of after) {
    const old = before.get(file);
    if (old === undefined) {
      throw new VersionImmutableError(
        `${where} is already published without ${path.join(dir, file)} (new sha256 ${sha})`,
        hint,
      );
    }
    if (old !== sha) {
      throw new VersionImmutableError(
        `${path.join(dir, file)} is already published with sha256 ${old}; the new one has sha256 ${sha}`,
        hint,
      );
    }
  }
  for (const [file, sha] of before) {
    if (!after.has(file)) {
      throw new VersionImmutableError(
        `${where} is already published with ${path.join(dir, file)} (sha256 ${sha}), which the new build does not have`,
        hint,
      );
    }
  }
}

/** Reads and validates a version's manifest; undefined when the folder has none (absent or incomplete). */
export async function readManifestIfAny(dir: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseManifest(text, path.join(dir, MANIFEST_FILE));
}

/** Parses `manifest.json` text, with a `ZOO_INVALID` error naming the file and the first problem. */
export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EdgezooError('ZOO_INVALID', `${where} is not valid JSON: ${(error as Error).message}`);
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new EdgezooError(
      'ZOO_INVALID',
      `${where}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'} (expected ${MANIFEST_SCHEMA})`,
    );
  }
  return result.data;
}

/** Reads `yanked.json` of a version, if any. */
export async function readYank(dir: string): Promise<YankRecord | undefined> {
  try {
    return yankSchema.parse(JSON.parse(await readFile(path.join(dir, YANK_FILE), 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EdgezooError('ZOO_INVALID', `${path.join(dir, YANK_FILE)} is not a valid ${YANK_SCHEMA} record`, {
      cause: error,
    });
  }
}

/**
 * Marks a version yanked: it stays downloadable by its exact version, but `pull` with a range
 * skips it. Writes `yanked.json` next to the manifest (the manifest itself never changes).
 * Yanking a yanked version keeps the first record. Call `writeIndex` afterwards.
 */
export async function yankVersion(
  zooDir: string,
  name: string,
  version: string,
  reason: string,
  now: Date = new Date(),
): Promise<YankRecord> {
  const dir = versionDir(zooDir, name, version);
  if (!(await readManifestIfAny(dir))) {
    const known = await listVersions(zooDir, name);
    throw new EdgezooError(
      'VERSION_NOT_FOUND',
      `${name}@${version} is not in the zoo at ${zooDir}`,
      known.length > 0 ? { hint: `versions of ${name}: ${known.join(', ')}` } : {},
    );
  }
  const existing = await readYank(dir);
  if (existing) return existing;
  const record: YankRecord = { schema: YANK_SCHEMA, reason, at: now.toISOString() };
  await writeFileAtomic(path.join(dir, YANK_FILE), stableJson(record));
  return record;
}

/** Versions of a model that have a manifest, newest first. */
export async function listVersions(zooDir: string, name: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(path.join(zooDir, name));
  } catch {
    return [];
  }
  const versions: string[] = [];
  for (const entry of entries) {
    if (semver.valid(entry) === null) continue;
    try {
      await stat(path.join(zooDir, name, entry, MANIFEST_FILE));
      versions.push(entry);
    } catch {
      // A folder without a manifest is an interrupted copy, not a version.
    }
  }
  return versions.sort(semver.rcompare);
}
