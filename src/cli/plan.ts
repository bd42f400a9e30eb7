import type { Command } from 'commander';
import pLimit from 'p-limit';
import { loadProjectPlan } from '../build/index.js';
import { LocalCache } from '../cache/index.js';
import { artifactPaths } from '../paths.js';
import { shortFingerprint } from '../plan/index.js';
import type { CliContext } from './context.js';
import { recipeNamesFromArgs } from './recipe-args.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description('Show the steps a build would run: fingerprints, dependencies, what is cached, and skipped targets')
    .argument('[names...]', 'models to plan: names, or recipe files and folders (default: every recipe)')
    .option('--json', 'print the plan as JSON')
    .action(async (names: string[], options: { json?: boolean }) => {
      const projectRoot = ctx.projectRoot();
      const wanted = await recipeNamesFromArgs(names, process.cwd(), projectRoot);
      const { plan } = await loadProjectPlan(projectRoot, wanted, ctx.overrides);
      const cache = new LocalCache(artifactPaths(projectRoot).cache);
      const lookups = pLimit(16);
      const cached = await Promise.all(
        plan.steps.map((step) => lookups(async () => (await cache.get(step.fingerprint)) !== undefined)),
      );

      if (options.json) {
        ctx.print(
          JSON.stringify(
            {
              models: plan.models,
              steps: plan.steps.map((step, index) => ({ ...step, cached: cached[index] })),
              skipped: plan.skipped,
              missingToolVersions: plan.missingToolVersions,
            },
            null,
            2,
          ),
        );
        return;
      }
      const width = Math.max(0, ...plan.steps.map((step) => step.id.length - step.model.length - 1));
      for (const model of plan.models) {
        const steps = plan.steps
          .map((step, index) => ({ step, cached: cached[index]! }))
          .filter(({ step }) => step.model === model);
        const skipped = plan.skipped.filter((entry) => entry.model === model);
        const hits = steps.filter(({ cached: hit }) => hit).length;
        ctx.print(
          `${model}: ${steps.length} steps, ${hits} cached, ${steps.length - hits} to run${skipped.length ? `, ${skipped.length} skipped` : ''}`,
        );
        for (const { step, cached: hit } of steps) {
          const name = step.id.slice(model.length + 1);
          const deps = step.deps.map((dep) => (dep.startsWith(`${model}/`) ? dep.slice(model.length + 1) : dep));
          ctx.print(
            `  ${name.padEnd(width)}  ${shortFingerprint(step.fingerprint)}  ${hit ? 'cached' : 'to run'}${deps.length ? `  <- ${deps.join(', ')}` : ''}`,
          );
        }
        for (const entry of skipped) ctx.print(`  ${entry.target.padEnd(width)}  skipped: ${entry.reason}`);
      }
      const total = cached.filter(Boolean).length;
      ctx.print(
        `${plan.steps.length} steps in ${plan.models.length} model(s): ${total} cached, ${plan.steps.length - total} to run`,
      );
      if (plan.missingToolVersions.length)
        ctx.warn(`warning: no pinned version for ${plan.missingToolVersions.join(', ')}; run \`edgezoo setup\``);
    });
}
