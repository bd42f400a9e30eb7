/** Recipes named on the command line, as files, folders or model names. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';

/** Files stay as given; a folder stands for its *.yaml and *.yml files. Relative to `cwd`, else to the project. */
export async function expandRecipePaths(paths: readonly string[], cwd: string, projectRoot: string): Promise<string[]> {
  const files: string[] = [];
  for (const given of paths) {
    let absolute = path.resolve(cwd, given);
    let stats = await stat(absolute).catch(() => undefined);
    if (stats === undefined && !path.isAbsolute(given)) {
      absolute = path.resolve(projectRoot, given);
      stats = await stat(absolute).catch(() => undefined);
    }
    if (stats === undefined) throw new UsageError(`no such recipe file or folder: ${given}`);
    if (stats.isDirectory()) {
      // The same filter as discoverRecipes, for any folder the user names.
      const names = await readdir(absolute);
      files.push(
        ...names
          .filter((name) => /\.ya?ml$/i.test(name))
          .sort()
          .map((name) => path.join(absolute, name)),
      );
    } else {
      files.push(absolute);
    }
  }
  return [...new Set(files)];
}

/** An argument that names a path rather than a model: it has a separator, a YAML extension, or is `.`. */
function looksLikePath(arg: string): boolean {
  return arg.includes('/') || arg.includes(path.sep) || /\.ya?ml$/i.test(arg) || arg === '.' || arg === '..';
}

/**
 * The model names `build` and `plan` work on: names stay as they are, and recipe paths (as
 * `check` takes them: `recipes/x.yaml`, `recipes/`) become the names of their files. A build
 * works on the project's recipes/ folder, so a file elsewhere is refused with where it should go.
 */
export async function recipeNamesFromArgs(
  args: readonly string[],
  cwd: string,
  projectRoot: string,
): Promise<string[]> {
  const recipesDir = path.join(projectRoot, 'recipes');
  const names: string[] = [];
  for (const arg of args) {
    if (!looksLikePath(arg)) {
      names.push(arg);
      continue;
    }
    for (const file of await expandRecipePaths([arg], cwd, projectRoot)) {
      if (path.dirname(file) !== recipesDir)
        throw new UsageError(
          `${arg}: ${file} is not in the project's recipes/ folder (${recipesDir})`,
          'a build works on recipes/<name>.yaml of the project; move the recipe there, or pass -C PROJECT',
        );
      names.push(path.basename(file).replace(/\.ya?ml$/i, ''));
    }
  }
  return [...new Set(names)];
}

/**
 * The project's recipes by name (the file name), with the version each declares (undefined when
 * the recipe does not load); undefined when the project has no recipes/ folder.
 */
export async function projectRecipeVersions(projectRoot: string): Promise<Map<string, string | undefined> | undefined> {
  const recipesDir = path.join(projectRoot, 'recipes');
  if (!(await stat(recipesDir).catch(() => undefined))?.isDirectory()) return undefined;
  const { checkRecipes, discoverRecipes } = await import('../recipe/index.js');
  const results = await checkRecipes(await discoverRecipes(projectRoot), projectRoot);
  return new Map(results.map((r) => [path.basename(r.file).replace(/\.ya?ml$/i, ''), r.recipe?.version]));
}
