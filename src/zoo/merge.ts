/**
 * The parts of a sharded build and their merge. `edgezoo build --shard K/N` writes the zoo of
 * its models as usual plus `shard.json` (which shard, of how many, the partition's digest and
 * the model versions it built); `edgezoo zoo merge` checks that the parts are the N shards of
 * one partition, copies their version folders into one zoo (every listed file re-hashed against
 * its manifest on the way), joins their build-status and build-costs records and writes the
 * index. The merged zoo equals the zoo one machine would have built from the same recipes.
 */
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EdgezooError } from '../errors.js';
import { replaceAtomically, writeFileAtomic } from '../util/atomic-write.js';
import { sha256File } from '../util/hash.js';
import { BUILD_COSTS_FILE, readBuildCosts } from './build-costs.js';
import { readBuildStatus, updateBuildStatus } from './build-status.js';
import { versionDir } from './layout.js';
import { stableJson } from './stable-json.js';
import { readManifestIfAny } from './write.js';
import { writeIndex } from './zoo-index.js';

export const SHARD_FILE = 'shard.json';
export const SHARD_SCHEMA = 'edgezoo.shard/1';

const shardRecordSchema = z.object({
  schema: z.literal(SHARD_SCHEMA),
  shard: z.number().int().positive(),
  of: z.number().int().positive(),
  /** sha256 of the whole partition: parts of different partitions (other recipes or costs) do not fit together. */
  partition: z.string(),
  /** The model versions this shard built, by name. */
  models: z.array(z.object({ name: z.string(), version: z.string() })),
});
/** `shard.json` of a shard's zoo. */
export type ShardRecord = z.infer<typeof shardRecordSchema>;

/** Writes the shard's record into its zoo. */
export async function writeShardRecord(zooDir: string, record: Omit<ShardRecord, 'schema'>): Promise<void> {
  await writeFileAtomic(path.join(zooDir, SHARD_FILE), stableJson({ schema: SHARD_SCHEMA, ...record }));
}

/** Removes a shard record (a whole build's zoo is no shard's part any more). */
export async function removeShardRecord(zooDir: string): Promise<void> {
  await rm(path.join(zooDir, SHARD_FILE), { force: true });
}

/** Reads a part's record; a folder without one is not a shard's zoo. */
export async function readShardRecord(zooDir: string): Promise<ShardRecord> {
  const file = path.join(zooDir, SHARD_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new EdgezooError('ZOO_INVALID', `${zooDir} is not a shard's zoo: it has no ${SHARD_FILE}`, {
        hint: 'merge the artifacts/zoo folders of `edgezoo build --shard K/N` runs',
      });
    throw error;
  }
  try {
    return shardRecordSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new EdgezooError('ZOO_INVALID', `${file} is not a valid ${SHARD_SCHEMA} record`, { cause: error });
  }
}

/** What `mergeZooParts` did. */
export interface MergeResult {
  out: string;
  shards: number;
  /** `name@version` of every version copied. */
  versions: string[];
  /** `name@version` a shard built but has no folder for (nothing of it passed); build-status says why. */
  withoutFolder: string[];
  indexPath: string;
}

/**
 * Merges the zoos of the N shards of one build into `outDir` (see the module comment). Throws
 * `ZOO_INVALID` when the parts are not exactly shards 1..N of one partition, and
 * `ZOO_INCOMPLETE` when a file is missing or does not match its manifest's sha256.
 */
export async function mergeZooParts(partDirs: readonly string[], outDir: string): Promise<MergeResult> {
  if (partDirs.length === 0)
    throw new EdgezooError('USAGE', 'name the shards\u2019 zoo folders to merge', { exitCode: 2 });
  const out = path.resolve(outDir);
  const parts = await Promise.all(
    partDirs.map(async (dir) => ({ dir: path.resolve(dir), record: await readShardRecord(dir) })),
  );
  for (const part of parts)
    if (part.dir === out)
      throw new EdgezooError('USAGE', `the output zoo ${out} is one of the parts`, {
        exitCode: 2,
        hint: 'merge into another folder with --out',
      });
  checkPartsFit(parts);

  // Everything is checked before anything is written: a bad part leaves the output untouched.
  const versions: string[] = [];
  const withoutFolder: string[] = [];
  const copies: Array<{ source: string; target: string }> = [];
  const status: Parameters<typeof updateBuildStatus>[1] = {};
  const costs: Record<string, number> = {};
  for (const part of [...parts].sort((a, b) => a.record.shard - b.record.shard)) {
    const partStatus = await readBuildStatus(part.dir);
    const partCosts = await readBuildCosts(part.dir);
    for (const { name, version } of part.record.models) {
      const key = `${name}@${version}`;
      if (partStatus.versions[key]) status[key] = partStatus.versions[key];
      for (const [step, seconds] of Object.entries(partCosts.steps))
        if (step.startsWith(`${name}/`)) costs[step] = seconds;
      const source = versionDir(part.dir, name, version);
      const manifest = await readManifestIfAny(source);
      if (!manifest) {
        withoutFolder.push(key);
        continue;
      }
      await verifyVersionFiles(source, manifest);
      copies.push({ source, target: versionDir(out, name, version) });
      versions.push(key);
    }
  }
  await mkdir(out, { recursive: true });
  for (const { source, target } of copies) await copyVersionFolder(source, target);
  await updateBuildStatus(out, status);
  if (Object.keys(costs).length > 0) {
    const merged = await readBuildCosts(out);
    Object.assign(merged.steps, costs);
    await writeFileAtomic(path.join(out, BUILD_COSTS_FILE), stableJson(merged));
  }
  const index = await writeIndex(out);
  return {
    out,
    shards: parts.length,
    versions: versions.sort(),
    withoutFolder: withoutFolder.sort(),
    indexPath: index.path,
  };
}

function checkPartsFit(parts: ReadonlyArray<{ dir: string; record: ShardRecord }>): void {
  const [first] = parts;
  const count = first!.record.of;
  for (const part of parts) {
    if (part.record.of !== count || part.record.partition !== first!.record.partition)
      throw new EdgezooError(
        'ZOO_INVALID',
        `${part.dir} is shard ${part.record.shard}/${part.record.of} of another partition than ${first!.dir} (shard ${first!.record.shard}/${count})`,
        {
          hint: 'every shard must build the same recipes with the same build-costs.json (pass one --costs file to all)',
        },
      );
  }
  const byShard = new Map<number, string[]>();
  for (const part of parts) byShard.set(part.record.shard, [...(byShard.get(part.record.shard) ?? []), part.dir]);
  const problems: string[] = [];
  for (let shard = 1; shard <= count; shard++) {
    const dirs = byShard.get(shard) ?? [];
    if (dirs.length === 0) problems.push(`shard ${shard}/${count} is missing`);
    if (dirs.length > 1) problems.push(`shard ${shard}/${count} is given twice (${dirs.join(', ')})`);
  }
  const owner = new Map<string, number>();
  for (const part of parts)
    for (const { name } of part.record.models) {
      const other = owner.get(name);
      if (other !== undefined && other !== part.record.shard)
        problems.push(`${name} was built by shards ${other} and ${part.record.shard}`);
      owner.set(name, part.record.shard);
    }
  if (problems.length > 0)
    throw new EdgezooError('ZOO_INVALID', `the parts do not make one zoo: ${problems.join('; ')}`);
}

/** Every file the manifest lists is there with its sha256 (a part may come through an upload and a download). */
async function verifyVersionFiles(dir: string, manifest: NonNullable<Awaited<ReturnType<typeof readManifestIfAny>>>) {
  const listed = [
    ...manifest.artifacts.flatMap((a) => a.files),
    ...(manifest.licenseFile ? [manifest.licenseFile] : []),
  ];
  for (const file of listed) {
    const full = path.join(dir, file.name);
    const actual = await sha256File(full).catch(() => undefined);
    if (actual === undefined) throw new EdgezooError('ZOO_INCOMPLETE', `${full} is listed in its manifest but missing`);
    if (actual !== file.sha256)
      throw new EdgezooError('ZOO_INCOMPLETE', `${full} has sha256 ${actual}; its manifest says ${file.sha256}`);
  }
}

/** Replaces `target` with a copy of the version folder `source` (all its files, the export marker too). */
async function copyVersionFolder(source: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  await replaceAtomically(target, async (temporary) => {
    for (const entry of await readdir(source, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const from = path.join(entry.parentPath, entry.name);
      const to = path.join(temporary, path.relative(source, from));
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(from, to);
    }
    await mkdir(temporary, { recursive: true });
  });
}
