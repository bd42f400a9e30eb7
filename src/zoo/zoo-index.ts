/**
 * `index.json`: built from the version folders of a zoo (their manifests and yank records), so
 * the folders are the truth and the index can always be regenerated, e.g. after a publisher
 * copied new versions next to old ones.
 */
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import semver from 'semver';
import { EdgezooError } from '../errors.js';
import { stableJson } from './stable-json.js';
import { sha256Hex } from '../util/hash.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CARD_FILE, INDEX_FILE, INDEX_SIGNATURE_FILE, MANIFEST_FILE, versionDir } from './layout.js';
import { signBytes } from './signing.js';
import {
  INDEX_SCHEMA,
  zooIndexSchema,
  type IndexModel,
  type IndexVersion,
  type Manifest,
  type YankRecord,
  type ZooIndex,
} from './types.js';
import { listVersions, parseManifest, readYank } from './write.js';

/** Model folders of a zoo: names that are valid model names (skips index files and temporary folders). */
async function listModels(zooDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(zooDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((e) => e.isDirectory() && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * Builds the index of a zoo folder. Every file a manifest lists must be present with its size
 * (a cheap stat, not a re-hash); a version folder without a manifest is an interrupted copy
 * and is left out.
 */
export async function buildIndex(zooDir: string): Promise<ZooIndex> {
  const models: IndexModel[] = [];
  for (const name of await listModels(zooDir)) {
    const versions: IndexVersion[] = [];
    let latestManifest;
    for (const version of await listVersions(zooDir, name)) {
      const dir = versionDir(zooDir, name, version);
      const manifestPath = path.join(dir, MANIFEST_FILE);
      const manifestText = await readFile(manifestPath, 'utf8');
      const manifest = parseManifest(manifestText, manifestPath);
      if (manifest.name !== name || manifest.version !== version) {
        throw new EdgezooError(
          'ZOO_INVALID',
          `${manifestPath} describes ${manifest.name}@${manifest.version}, but sits in the folder of ${name}@${version}`,
        );
      }
      latestManifest ??= manifest;
      const rel = (file: string) => `${name}/${version}/${file}`;
      for (const file of [
        ...manifest.artifacts.flatMap((a) => a.files),
        ...(manifest.licenseFile ? [manifest.licenseFile] : []),
      ]) {
        await assertFilePresent(path.join(dir, file.name), file.size);
      }
      const card = await readFile(path.join(dir, CARD_FILE));
      versions.push(
        indexVersionOf(manifest, {
          manifestSha256: sha256Hex(manifestText),
          card: { sha256: sha256Hex(card), size: card.length },
          yank: await readYank(dir),
          urlOf: rel,
        }),
      );
    }
    if (!latestManifest) continue;
    models.push(indexModelOf(name, latestManifest, versions));
  }
  return zooIndexOf(models);
}

/** What the index needs of a version besides its manifest, and how its files are addressed. */
export interface IndexVersionSources {
  manifestSha256: string;
  card: { sha256: string; size: number };
  yank?: YankRecord | undefined;
  /** The URL of a file of the version, relative to index.json. */
  urlOf: (file: string) => string;
}

/** The index entry of one version, from its manifest: the same for every publisher, only the URLs differ. */
export function indexVersionOf(manifest: Manifest, sources: IndexVersionSources): IndexVersion {
  const { urlOf, yank } = sources;
  return {
    version: manifest.version,
    license: manifest.license,
    licenseFile: manifest.licenseFile && {
      url: urlOf(manifest.licenseFile.name),
      sha256: manifest.licenseFile.sha256,
      size: manifest.licenseFile.size,
    },
    manifest: { url: urlOf(MANIFEST_FILE), sha256: sources.manifestSha256 },
    card: urlOf(CARD_FILE),
    cardSha256: sources.card.sha256,
    cardSize: sources.card.size,
    yanked: yank && { reason: yank.reason, at: yank.at },
    source: manifest.source,
    recipeFingerprint: manifest.recipeFingerprint,
    toolVersions: manifest.toolVersions,
    artifacts: manifest.artifacts.map(({ files, ...figures }) => {
      const primary = files[0]!;
      return {
        ...figures,
        url: urlOf(primary.name),
        sha256: primary.sha256,
        size: files.reduce((sum, f) => sum + f.size, 0),
        files: files.map((f) => ({ ...f, url: urlOf(f.name) })),
      };
    }),
    skipped: manifest.skipped,
    failed: manifest.failed.map(({ format, precision, reason }) => ({ format, precision, reason })),
  };
}

/** A model's index entry: its versions (newest first) under the description of the newest. */
export function indexModelOf(name: string, newest: Manifest, versions: IndexVersion[]): IndexModel {
  return {
    name,
    description: newest.description,
    task: newest.task,
    license: newest.license,
    tags: newest.tags,
    versions: [...versions].sort((a, b) => semver.rcompare(a.version, b.version)),
  };
}

/** A whole index from its models (sorted by name), validated. */
export function zooIndexOf(models: IndexModel[]): ZooIndex {
  return zooIndexSchema.parse({
    schema: INDEX_SCHEMA,
    models: [...models].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  });
}

async function assertFilePresent(file: string, size: number): Promise<void> {
  let actual: number;
  try {
    actual = (await stat(file)).size;
  } catch {
    throw new EdgezooError('ZOO_INCOMPLETE', `${file} is listed in its manifest but missing`);
  }
  if (actual !== size)
    throw new EdgezooError('ZOO_INCOMPLETE', `${file} has ${actual} bytes; its manifest says ${size}`);
}

export interface WriteIndexOptions {
  /** ed25519 key: when given, index.json.sig is written over the exact bytes of index.json. */
  signingKey?: KeyObject;
}

export interface WriteIndexResult {
  index: ZooIndex;
  /** The exact bytes written (what the signature covers). */
  bytes: Buffer;
  path: string;
  signed: boolean;
}

/**
 * Writes `<zooDir>/index.json` (and `index.json.sig` when a key is given). Without a key a
 * stale signature is removed: it would no longer match, and a missing signature says more
 * truthfully that this index is unsigned.
 */
export async function writeIndex(zooDir: string, options: WriteIndexOptions = {}): Promise<WriteIndexResult> {
  const index = await buildIndex(zooDir);
  const bytes = Buffer.from(stableJson(index), 'utf8');
  const target = path.join(zooDir, INDEX_FILE);
  await writeFileAtomic(target, bytes);
  const signaturePath = path.join(zooDir, INDEX_SIGNATURE_FILE);
  if (options.signingKey) await writeFileAtomic(signaturePath, signBytes(bytes, options.signingKey));
  else await rm(signaturePath, { force: true });
  return { index, bytes, path: target, signed: options.signingKey !== undefined };
}

/** Parses index.json text from anywhere (a file, a server), with a `INDEX_INVALID` error naming where it came from. */
export function parseIndex(text: string, where: string): ZooIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EdgezooError('INDEX_INVALID', `${where} is not valid JSON: ${(error as Error).message}`);
  }
  if (json !== null && typeof json === 'object' && 'schema' in json && json.schema !== INDEX_SCHEMA) {
    throw new EdgezooError(
      'INDEX_INVALID',
      `${where} has schema "${String(json.schema)}"; this edgezoo reads "${INDEX_SCHEMA}"`,
      {
        hint: 'update edgezoo, or point --index at a zoo it can read',
      },
    );
  }
  const result = zooIndexSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new EdgezooError(
      'INDEX_INVALID',
      `${where}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'} (expected ${INDEX_SCHEMA})`,
    );
  }
  for (const model of result.data.models) {
    for (const v of model.versions) {
      if (semver.valid(v.version) === null)
        throw new EdgezooError(
          'INDEX_INVALID',
          `${where}: ${model.name} has version "${v.version}", which is not semver`,
        );
    }
  }
  return result.data;
}
