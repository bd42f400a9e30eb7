/**
 * `edgezoo zoo prune`: removes from a zoo folder the versions no recipe declares any more and
 * those with no artifact, so what is left is what publish would release. Published copies are
 * not touched: a directory target and GitHub releases keep every version they received.
 */
import { rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { updateBuildStatus } from './build-status.js';
import { versionDir } from './layout.js';
import { buildIndex, writeIndex } from './zoo-index.js';

export interface PrunedVersion {
  name: string;
  version: string;
  why: string;
}

/**
 * The stale versions of `zooDir` given the project's recipes (name -> version), removed unless
 * `dryRun`. The index is rewritten (unsigned, as a build writes it) when anything was removed.
 */
export async function pruneZoo(
  zooDir: string,
  recipes: ReadonlyMap<string, string | undefined>,
  options: { dryRun?: boolean } = {},
): Promise<PrunedVersion[]> {
  const index = await buildIndex(zooDir);
  const stale: PrunedVersion[] = [];
  for (const model of index.models) {
    for (const version of model.versions) {
      const current = recipes.get(model.name);
      const why = !recipes.has(model.name)
        ? `recipes/${model.name}.yaml is gone`
        : current !== undefined && current !== version.version
          ? `recipes/${model.name}.yaml declares ${current}`
          : version.artifacts.length === 0
            ? 'it has no artifact'
            : undefined;
      if (why) stale.push({ name: model.name, version: version.version, why });
    }
  }
  if (options.dryRun || stale.length === 0) return stale;
  for (const { name, version } of stale) {
    await rm(versionDir(zooDir, name, version), { recursive: true, force: true });
    // The model's folder goes with its last version; rmdir refuses while others remain.
    await rmdir(path.join(zooDir, name)).catch(() => undefined);
  }
  await updateBuildStatus(zooDir, Object.fromEntries(stale.map((s) => [`${s.name}@${s.version}`, undefined])));
  await writeIndex(zooDir);
  return stale;
}
