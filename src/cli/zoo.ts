import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import { mergeZooParts, pruneZoo, SHARD_FILE } from '../zoo/index.js';
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
  zoo
    .command('merge')
    .description(
      'Assemble the zoo and its index from the zoos of the shards of one build (`edgezoo build --shard K/N`, K = 1..N)',
    )
    .argument('<parts...>', `the shards' zoo folders (each has a ${SHARD_FILE})`)
    .option('--out <dir>', 'the zoo to write (default artifacts/zoo of the project)')
    .option('--json', 'print what was merged as JSON')
    .addHelpText(
      'after',
      [
        '',
        'The parts must be exactly shards 1..N of one partition (same recipes, same costs file):',
        'a missing, doubled or foreign part is an error. Every file a manifest lists is checked',
        "against its sha256 before anything is written; the parts' build-status.json and",
        'build-costs.json records are joined; index.json is written last. Versions already in the',
        "output zoo are replaced by the parts' copies; other versions stay.",
      ].join('\n'),
    )
    .action(async (parts: string[], flags: { out?: string; json?: boolean }) => {
      const out = path.resolve(flags.out ?? artifactPaths(ctx.projectRoot()).zoo);
      const merged = await mergeZooParts(parts, out);
      if (flags.json) {
        ctx.print(JSON.stringify(merged, null, 2));
        return;
      }
      for (const key of merged.withoutFolder)
        ctx.print(`${key}: no version folder in its shard (nothing of it was built)`);
      ctx.print(
        `merged ${merged.shards} shard(s) into ${merged.out}: ${merged.versions.length} model version(s); index ${merged.indexPath}`,
      );
    });
}
