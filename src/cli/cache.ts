import type { Command } from 'commander';
import { loadProjectPlan } from '../build/index.js';
import { LocalCache } from '../cache/index.js';
import { UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import { shortFingerprint, type Fingerprint } from '../plan/index.js';
import type { CliContext } from './context.js';
import { formatBytes } from '../util/format.js';

export function register(program: Command, ctx: CliContext): void {
  const cache = program.command('cache').description('Check and clean the build cache (artifacts/cache)');

  cache
    .command('verify')
    .description(
      'Re-hash every file of every cache entry and report corrupt entries (exit 1 if any, unless --fix evicted them)',
    )
    .option('--fix', 'evict the corrupt entries (the next build rebuilds them)')
    .option('--json', 'print the report as JSON')
    .action(async (options: { fix?: boolean; json?: boolean }) => {
      const store = new LocalCache(artifactPaths(ctx.projectRoot()).cache);
      const report = await store.verifyAll({ fix: options.fix === true });
      if (options.json) ctx.print(JSON.stringify({ ...report, fixed: options.fix === true }));
      else {
        for (const { fingerprint, problem } of report.corrupt) {
          ctx.print(`corrupt ${shortFingerprint(fingerprint)}: ${problem}${options.fix ? ' (evicted)' : ''}`);
        }
        ctx.print(
          `checked ${report.checked} entries: ${report.corrupt.length === 0 ? 'all intact' : `${report.corrupt.length} corrupt${options.fix ? ', evicted' : ''}`}`,
        );
        if (report.corrupt.length > 0 && !options.fix) ctx.warn('hint: run `edgezoo cache verify --fix` to evict them');
      }
      ctx.exitCode = report.corrupt.length > 0 && !options.fix ? 1 : 0;
    });

  cache
    .command('gc')
    .description(
      "Remove cache entries the current plan of the project's recipes does not use, and temporary folders of dead builds",
    )
    .option('--dry-run', 'only report what would be removed')
    .option(
      '--tmp-age <minutes>',
      'also remove temporary folders older than this even if their process looks alive',
      '360',
    )
    .option('--json', 'print the report as JSON')
    .action(async (options: { dryRun?: boolean; tmpAge: string; json?: boolean }) => {
      const minutes = Number(options.tmpAge);
      if (!Number.isFinite(minutes) || minutes < 0)
        throw new UsageError(`--tmp-age must be a number of minutes, received "${options.tmpAge}"`);
      const projectRoot = ctx.projectRoot();
      // The plan of every recipe decides what is kept; an invalid recipe stops gc (it throws)
      // rather than letting its entries look unused.
      const { plan } = await loadProjectPlan(projectRoot, [], ctx.overrides);
      const keep = new Set<string>(plan.steps.map((step) => step.fingerprint));
      // Failed conversion attempts are kept while a planned converter step has their conversion.
      const conversions = new Set<string>(plan.steps.flatMap((step) => step.conversionKey ?? []));
      const store = new LocalCache(artifactPaths(projectRoot).cache);
      const report = await store.gc(keep, {
        dryRun: options.dryRun === true,
        staleAfterMs: minutes * 60_000,
        keepConversions: conversions,
      });
      if (options.json) {
        ctx.print(JSON.stringify({ ...report, dryRun: options.dryRun === true }));
        return;
      }
      const verb = options.dryRun ? 'would remove' : 'removed';
      for (const entry of report.entries)
        ctx.print(`${verb} ${shortFingerprint(entry.fingerprint as Fingerprint)}  ${formatBytes(entry.bytes)}`);
      for (const temporary of report.temporaries)
        ctx.print(`${verb} ${temporary.name}  ${formatBytes(temporary.bytes)}`);
      ctx.print(
        `${options.dryRun ? 'would free' : 'freed'} ${formatBytes(report.freedBytes)} (${report.entries.length} entries, ${report.temporaries.length} temporary folders; ${keep.size} entries in use kept)`,
      );
    });
}
