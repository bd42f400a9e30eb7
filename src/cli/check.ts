import path from 'node:path';
import type { Command } from 'commander';
import type { RecipeLoadResult } from '../recipe/index.js';
import type { CliContext } from './context.js';
import { expandRecipePaths } from './recipe-args.js';

interface CheckOptions {
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description('Check recipes against the schema and the rules; print every problem as file:line:col: message.')
    .argument('[paths...]', 'recipe files or folders of recipes (default: every recipe in recipes/)')
    .option('--json', 'print the result as JSON for machines')
    .addHelpText('after', '\nExit status: 0 when every recipe is valid, 1 when any has a problem, 2 on wrong usage.')
    .action(async (paths: string[], options: CheckOptions) => {
      // Loaded on use so other verbs do not pay for zod and the YAML parser at start-up.
      const { checkRecipes, discoverRecipes, formatProblem } = await import('../recipe/index.js');
      const projectRoot = ctx.projectRoot();
      const files =
        paths.length > 0
          ? await expandRecipePaths(paths, process.cwd(), projectRoot)
          : await discoverRecipes(projectRoot);
      const results = await checkRecipes(files, projectRoot, { sourceGraph: true });
      const problemCount = results.reduce((sum, result) => sum + result.problems.length, 0);
      const failedCount = results.filter((result) => result.problems.length > 0).length;
      ctx.exitCode = problemCount > 0 ? 1 : 0;

      if (options.json) {
        ctx.print(JSON.stringify(toJson(results, problemCount), null, 2));
        return;
      }
      if (results.length === 0) {
        ctx.print(`no recipes found in ${path.join(path.relative(process.cwd(), projectRoot) || '.', 'recipes')}/`);
        return;
      }
      for (const result of results) for (const problem of result.problems) ctx.print(formatProblem(problem));
      const where = results.length === 1 ? '1 recipe' : `${failedCount} of ${results.length} recipes`;
      ctx.print(
        problemCount === 0
          ? `${plural(results.length, 'recipe')} ok`
          : `${plural(problemCount, 'problem')} in ${where}`,
      );
    });
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function toJson(results: RecipeLoadResult[], problemCount: number) {
  return {
    ok: problemCount === 0,
    recipeCount: results.length,
    problemCount,
    recipes: results.map((result) => ({
      file: result.file,
      ok: result.problems.length === 0,
      ...(result.recipe === undefined ? {} : { name: result.recipe.name, version: result.recipe.version }),
      problems: result.problems,
    })),
  };
}
