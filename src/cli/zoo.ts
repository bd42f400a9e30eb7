import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import { pruneZoo } from '../zoo/index.js';
import type { CliContext } from './context.js';
import { projectRecipeVersions } from './recipe-args.js';

export function register(program: Command, ctx: CliContext): void {
  const zoo = program.command('zoo').description('Look after the zoo folder (artifacts/zoo)');
  zoo
    .command('prune')
    .description(
      'Remove the versions no recipe declares any more (a deleted recipe, a bumped version) and those with no artifact; published copies are not touched',
    )
    .option('--zoo <dir>', 'the zoo (default artifacts/zoo of the project)')
    .option('--dry-run', 'only list what would be removed')
    .option('--json', 'print the removed versions as JSON')
    .action(async (flags: { zoo?: string; dryRun?: boolean; json?: boolean }) => {
      const projectRoot = ctx.projectRoot();
      const recipes = await projectRecipeVersions(projectRoot);
      if (!recipes)
        throw new UsageError(
          `no recipes/ folder in ${projectRoot}: prune keeps the versions the project's recipes declare`,
          'run it in the project (or pass -C PROJECT)',
        );
      const zooDir = path.resolve(flags.zoo ?? artifactPaths(projectRoot).zoo);
      const pruned = await pruneZoo(zooDir, recipes, { dryRun: flags.dryRun === true });
      if (flags.json) {
        ctx.print(JSON.stringify({ zoo: zooDir, dryRun: flags.dryRun === true, removed: pruned }, null, 2));
        return;
      }
      for (const p of pruned)
        ctx.print(`${flags.dryRun ? 'would remove' : 'removed'} ${p.name}@${p.version}: ${p.why}`);
      ctx.print(
        pruned.length === 0
          ? `nothing to prune in ${zooDir}`
          : `${flags.dryRun ? 'would remove' : 'removed'} ${pruned.length} version(s) from ${zooDir}`,
      );
    });
}
