import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError, UsageError } from '../errors.js';
import { artifactPaths, toolRoot } from '../paths.js';
import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { computeInputDigests, currentPlatform, EDGEZOO_TOOL, planBuild, type PlanOptions } from '../plan/index.js';
import type { BuildPlan, ToolchainInfo } from '../plan/types.js';
import type { Recipe } from '../recipe/types.js';
import type { StepRunners } from './types.js';

/**
 * What a program calling the CLI's `main` may put in place of the project's own: step runners
 * (stand-ins that sleep, fail or spoil outputs on demand) and recipes. Tests use it to run the
 * real CLI without Python; the `edgezoo` command itself never sets it.
 */
export interface BuildOverrides {
  runners?: StepRunners;
  recipes?: Recipe[];
  /** The formats and converters to plan and build with; default the built-in catalogue. */
  catalogue?: Catalogue;
}

/** A project's recipes, planned: what `plan`, `build` and `cache gc` work on. */
export interface ProjectPlan {
  recipes: Recipe[];
  plan: BuildPlan;
  toolchain: ToolchainInfo;
}

/**
 * Loads the recipes named (or all when `names` is empty; `overrides.recipes` instead of the
 * project's files when given), hashes their local inputs, reads the toolchain versions and
 * plans. Invalid recipes throw RecipeInvalidError; unknown names a UsageError naming the
 * recipes there are.
 */
export async function loadProjectPlan(
  projectRoot: string,
  names: readonly string[],
  overrides: BuildOverrides = {},
  planOptions: PlanOptions = {},
): Promise<ProjectPlan> {
  const catalogue = overrides.catalogue ?? BUILTIN_CATALOGUE;
  const all = overrides.recipes ?? (await loadAllRecipes(projectRoot, names, catalogue));
  const byName = new Map(all.map((recipe) => [recipe.name, recipe]));
  const unknown = names.filter((name) => !byName.has(name));
  if (unknown.length > 0) {
    const known = [...byName.keys()].sort();
    throw new UsageError(
      `no recipe named ${unknown.map((name) => `"${name}"`).join(', ')} in recipes/`,
      known.length
        ? `recipes here: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}`
        : 'add recipes/<name>.yaml first',
    );
  }
  const recipes = names.length ? names.map((name) => byName.get(name)!) : all;
  const digests = await computeInputDigests(recipes, projectRoot, {
    statCacheFile: path.join(artifactPaths(projectRoot).cache, '.input-digests.json'),
  });
  const toolchain: ToolchainInfo = { versions: await readToolchainVersions(catalogue), platform: currentPlatform() };
  return { recipes, plan: planBuild(recipes, toolchain, digests, catalogue, planOptions), toolchain };
}

async function loadAllRecipes(projectRoot: string, names: readonly string[], catalogue: Catalogue): Promise<Recipe[]> {
  const { checkRecipes, discoverRecipes, RecipeInvalidError } = await import('../recipe/index.js');
  let files = await discoverRecipes(projectRoot);
  // Named models: load only their files (and let the unknown-name check report the rest).
  if (names.length) {
    const wanted = new Set(names);
    const picked = files.filter((file) => wanted.has(path.basename(file).replace(/\.ya?ml$/i, '')));
    if (picked.length === names.length) files = picked;
  }
  const results = await checkRecipes(files, projectRoot, { catalogue });
  const invalid = results.find((result) => result.recipe === undefined);
  if (invalid) throw new RecipeInvalidError(invalid.file, invalid.problems);
  return results.map((result) => result.recipe!);
}

/**
 * The versions that go into fingerprints, keyed by tool name: edgezoo's own, npm packages' from
 * their package.json, and every Python tool some catalogue entry keys its steps with. A Python
 * tool's value is its pinned version plus its environment's lock digest: any pin in that
 * environment (numpy, protobuf...) can change a converter's bytes. When the lock files are not
 * there yet the tools are left out, and the plan lists them as missing.
 */
export async function readToolchainVersions(catalogue: Catalogue = BUILTIN_CATALOGUE): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  const packageVersion = async (file: string) =>
    (JSON.parse(await readFile(file, 'utf8')) as { version: string }).version;
  versions[EDGEZOO_TOOL] = await packageVersion(path.join(toolRoot, 'package.json'));
  const toolEnvs = catalogue.cacheKeyToolEnvs();
  for (const [tool, env] of toolEnvs) {
    if (env !== null) continue;
    const version = await packageVersion(path.join(toolRoot, 'node_modules', tool, 'package.json')).catch(
      () => undefined,
    );
    if (version !== undefined) versions[tool] = version;
  }
  let pinned: Record<string, string>;
  try {
    const envs = await import('../toolchain/envs.js');
    pinned = await envs.toolVersions(undefined, catalogue);
  } catch (error) {
    if (error instanceof EdgezooError) throw error;
    return versions;
  }
  for (const [tool, env] of toolEnvs) {
    if (env === null) continue;
    const version = pinned[`${env}/${tool}`];
    const lock = pinned[`${env}/lock`];
    if (version !== undefined) versions[tool] = lock ? `${version} (${env} lock ${lock.slice(0, 12)})` : version;
  }
  return versions;
}
