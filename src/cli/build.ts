import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  buildStatusOf,
  StepRunnerRegistry,
  executePlan,
  formatEventLine,
  formatSummaryTable,
  groupSkippedTargets,
  LiveDisplay,
  loadProjectPlan,
  registerBuiltinRunners,
  type BuildEvent,
} from '../build/index.js';
import {
  type Cache,
  formatRemoteCacheStats,
  LocalCache,
  REMOTE_CACHE_ENV,
  RemoteCache,
  resolveRemoteCacheSettings,
  type VerifyMode,
} from '../cache/index.js';
import { EdgezooError, UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import {
  CONVERTER_RUNS,
  shortFingerprint,
  type ConverterRuns,
  type Fingerprint,
  type PlannedStep,
} from '../plan/index.js';
import type { Recipe } from '../recipe/types.js';
import { diagnoseFailedArtifact } from '../build/runners/validate.js';
import { stopSharedWorkerPool } from '../toolchain/pool.js';
import { modelCosts, parseShardSpec, partitionModels, restrictPlan, type ShardSpec } from '../build/shard.js';
import {
  BUILD_COSTS_FILE,
  readBuildCostsFile,
  removeShardRecord,
  updateBuildCosts,
  updateBuildStatus,
  writeIndex,
  writeShardRecord,
} from '../zoo/index.js';
import type { CliContext } from './context.js';
import { recipeNamesFromArgs } from './recipe-args.js';

interface BuildOptions {
  all?: boolean;
  jobs?: string;
  force?: boolean;
  json?: boolean;
  verifyCache: string;
  memoryBudget?: string;
  diagnose?: boolean;
  /** A URL, or false for --no-remote-cache. */
  remoteCache?: string | false;
  remoteCacheReadOnly?: boolean;
  converterRuns: string;
  /** false for --no-benchmark. */
  benchmark: boolean;
  shard?: string;
  costs?: string;
}

/** Exit code of an interrupted build (128 + SIGINT), as shells report Ctrl-C. */
const EXIT_INTERRUPTED = 130;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('build')
    .description('Build models: fetch, prepare, convert, validate, benchmark and package, reusing every cached step')
    .argument('[names...]', 'models to build: recipe names, or recipe files and folders as `check` takes them')
    .option('--all', 'build every recipe of the project')
    .option('-j, --jobs <n>', 'converter steps at once (default: the number of cores)')
    .option('--force', 'run every step even when its outputs are cached')
    .option('--json', 'newline-delimited JSON events on stdout instead of the display')
    .option(
      '--verify-cache <mode>',
      'how cached files are checked before use: stat (re-hash files whose stat changed) or full (re-hash all)',
      'stat',
    )
    .option(
      '--converter-runs <mode>',
      'grouped: one converter run per model for the precisions a tool emits together (onnx2tf: fp32 + fp16); per-precision: one run per artifact',
      'grouped',
    )
    .option(
      '--no-benchmark',
      'convert, validate and package without timing the artifacts (the cards then show no latency)',
    )
    .option('--memory-budget <MiB>', 'memory the heavy converter steps may use together (default: 60% of RAM)')
    .option(
      '--diagnose',
      'for each ONNX, TFLite or OpenVINO artifact that fails validation, find the first op whose output diverges from the prepared model',
    )
    .option(
      '--remote-cache <url>',
      `share step outputs with other machines through an HTTP cache speaking the bazel-remote protocol (bazel-remote, nginx WebDAV, an S3 gateway); default: $${REMOTE_CACHE_ENV.url}`,
    )
    .option('--no-remote-cache', `do not use the remote cache named by $${REMOTE_CACHE_ENV.url}`)
    .option(
      '--shard <K/N>',
      'build only part K of N of the models, balanced by the step costs of earlier builds; merge the parts with `edgezoo zoo merge`',
    )
    .option(
      '--costs <file>',
      `the step costs that balance --shard (default: artifacts/zoo/${BUILD_COSTS_FILE}, written by every build)`,
    )
    .option(
      '--remote-cache-read-only',
      `read from the remote cache, never upload (for untrusted builds such as pull requests from forks; also $${REMOTE_CACHE_ENV.readOnly}=1)`,
    )
    .addHelpText(
      'after',
      [
        '',
        'Remote cache: a step missing locally is looked up at <url>/ac/ and its files fetched from',
        '<url>/cas/, each checked against its sha256 before use; what is built here is uploaded',
        '(blobs first, /ac/ last). An unreachable server gives one warning and the build goes on',
        'locally. https is required except on loopback. Credentials come from the environment only:',
        `$${REMOTE_CACHE_ENV.token} (bearer), or $${REMOTE_CACHE_ENV.user} and`,
        `$${REMOTE_CACHE_ENV.password} (basic auth); they are never printed.`,
        '',
        'Sharding: --shard K/N builds part K of N of the models (1 <= K <= N) into artifacts/zoo,',
        'with shard.json saying which part it is. Every shard computes the same partition from the',
        `same recipes and costs: models in descending cost (seconds recorded in ${BUILD_COSTS_FILE} by`,
        'earlier builds, else an estimate from the steps each model plans), each to the shard with the',
        'least so far. `edgezoo zoo merge PART...` checks that the parts are shards 1..N of one',
        'partition and assembles the zoo and its index; the result equals a one-machine build of the',
        'same recipes. Shards on several machines share their outputs through --remote-cache.',
        '',
        'Exit status: 0 all built, 1 something failed, 2 wrong usage, 130 interrupted.',
      ].join('\n'),
    )
    .action(async (names: string[], options: BuildOptions) => {
      ctx.exitCode = await runBuild(ctx, names, options);
    });
}

async function runBuild(ctx: CliContext, names: string[], options: BuildOptions): Promise<number> {
  let shardPartition: { spec: ShardSpec; digest: string } | undefined;
  if (names.length === 0 && !options.all)
    throw new UsageError(
      'name the models to build, or pass --all',
      'edgezoo build mobilenet-v2, or edgezoo build --all',
    );
  if (names.length > 0 && options.all) throw new UsageError('give model names or --all, not both');
  const jobs = options.jobs === undefined ? undefined : positiveInteger('--jobs', options.jobs);
  const memoryBudgetMiB =
    options.memoryBudget === undefined ? undefined : positiveInteger('--memory-budget', options.memoryBudget);
  if (options.verifyCache !== 'stat' && options.verifyCache !== 'full') {
    throw new UsageError(`--verify-cache must be stat or full, received "${options.verifyCache}"`);
  }
  if (!(CONVERTER_RUNS as readonly string[]).includes(options.converterRuns))
    throw new UsageError(
      `--converter-runs must be ${CONVERTER_RUNS.join(' or ')}, received "${options.converterRuns}"`,
    );
  const remoteSettings = resolveRemoteCacheSettings(
    {
      ...(options.remoteCache === undefined ? {} : { url: options.remoteCache }),
      readOnly: options.remoteCacheReadOnly === true,
    },
    process.env,
  );

  const projectRoot = ctx.projectRoot();
  const wanted = await recipeNamesFromArgs(names, process.cwd(), projectRoot);
  const registry = new StepRunnerRegistry();
  if (ctx.overrides.runners) registry.registerAll(ctx.overrides.runners);
  else registerBuiltinRunners(registry);
  const shard = options.shard === undefined ? undefined : parseShardSpec(options.shard);
  const zooDir = artifactPaths(projectRoot).zoo;
  const project = await loadProjectPlan(projectRoot, wanted, ctx.overrides, {
    converterRuns: options.converterRuns as ConverterRuns,
    benchmark: options.benchmark,
  });
  let { recipes, plan } = project;
  let shardModels: string[] | undefined;
  if (shard) {
    const costsFile = options.costs === undefined ? path.join(zooDir, BUILD_COSTS_FILE) : path.resolve(options.costs);
    if (options.costs !== undefined) await assertReadable(costsFile, '--costs');
    const costs = await readBuildCostsFile(costsFile);
    const partition = partitionModels(modelCosts(plan, costs.steps), shard.count);
    shardModels = partition.shards[shard.index - 1]!;
    plan = restrictPlan(plan, shardModels);
    const keep = new Set(shardModels);
    recipes = recipes.filter((recipe) => keep.has(recipe.name));
    shardPartition = { spec: shard, digest: partition.digest };
    if (!options.json)
      ctx.print(
        `shard ${shard.index}/${shard.count}: ${shardModels.length} of ${project.plan.models.length} models, ~${Math.round(partition.seconds[shard.index - 1]!)} s of ~${Math.round(partition.seconds.reduce((a, b) => a + b, 0))} s (${shardModels.join(', ') || 'none'})`,
      );
  } else if (options.costs !== undefined) throw new UsageError('--costs balances --shard; give --shard K/N too');
  if (plan.missingToolVersions.length > 0 && !options.json) {
    ctx.warn(
      `warning: no pinned version for ${plan.missingToolVersions.join(', ')}; run \`edgezoo setup\` (fingerprints use "unknown")`,
    );
  }

  const display = createReporter(ctx, plan.steps, options.json === true);
  // Seconds of every step that ran (not served from a cache): the costs the next --shard balances by.
  const stepSeconds: Record<string, number> = {};
  const report = Object.assign(
    (event: BuildEvent) => {
      if ((event.type === 'step-done' || event.type === 'step-failed') && event.durationMs !== undefined)
        stepSeconds[event.step] = event.durationMs / 1000;
      display(event);
    },
    { close: () => display.close() },
  );
  const localCache = new LocalCache(artifactPaths(projectRoot).cache, {
    verify: options.verifyCache as VerifyMode,
    onEvict: ({ fingerprint, problem }) =>
      report({
        type: 'warning',
        message: `cache entry ${shortFingerprint(fingerprint as Fingerprint)} was corrupt (${problem}); evicted, rebuilding`,
      }),
  });

  const controller = new AbortController();
  const remote =
    remoteSettings &&
    new RemoteCache(localCache, {
      ...remoteSettings,
      signal: controller.signal,
      onWarning: (message) => report({ type: 'warning', message }),
    });
  const cache: Cache = remote ?? localCache;
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts === 1) {
      if (!options.json) ctx.warn(`\n${signal}: stopping running steps (again to quit at once)…`);
      controller.abort();
    } else {
      process.exit(EXIT_INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await executePlan({
      plan,
      recipes,
      projectRoot,
      cache,
      runners: registry,
      ...(ctx.overrides.catalogue ? { catalogue: ctx.overrides.catalogue } : {}),
      ...(jobs === undefined ? {} : { jobs }),
      ...(memoryBudgetMiB === undefined ? {} : { memoryBudgetMiB }),
      force: options.force === true,
      signal: controller.signal,
      onEvent: report,
    });
    await remote?.flush();
    report.close();
    if (!options.json) for (const line of formatSummaryTable(summary)) ctx.print(line);
    if (remote) {
      const stats = remote.stats();
      if (options.json) report({ type: 'remote-cache', ...stats });
      else ctx.print(formatRemoteCacheStats(stats));
    }
    if (summary.interrupted) return EXIT_INTERRUPTED;
    // publish refuses a version whose last build failed: record how each one ended.
    await mkdir(artifactPaths(projectRoot).zoo, { recursive: true });
    await updateBuildStatus(
      artifactPaths(projectRoot).zoo,
      buildStatusOf(summary, new Map(recipes.map((r) => [r.name, r.version]))),
    );
    await updateBuildCosts(zooDir, stepSeconds);
    if (shardPartition)
      await writeShardRecord(zooDir, {
        shard: shardPartition.spec.index,
        of: shardPartition.spec.count,
        partition: shardPartition.digest,
        models: recipes.map((recipe) => ({ name: recipe.name, version: recipe.version })),
      });
    else await removeShardRecord(zooDir);
    // The index covers every model of the zoo, so it is written here, once the executor has
    // exported every package step, not by each package step (they run in parallel and their
    // outputs reach artifacts/zoo only after they finish).
    let indexOk = true;
    try {
      await mkdir(artifactPaths(projectRoot).zoo, { recursive: true });
      const index = await writeIndex(artifactPaths(projectRoot).zoo);
      if (!options.json) ctx.print(`zoo index: ${index.path} (${index.index.models.length} models)`);
    } catch (error) {
      if (!(error instanceof EdgezooError)) throw error;
      ctx.warn(`error: the zoo index was not written: ${error.message}`);
      indexOk = false;
    }
    if (options.diagnose) await printDiagnoses(ctx, plan.steps, recipes, projectRoot, localCache);
    return summary.ok && indexOk ? 0 : 1;
  } finally {
    report.close();
    remote?.close();
    // The converter workers live as long as the build: stop them so the process can exit.
    await stopSharedWorkerPool();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `--diagnose`: for each validate step whose cached result failed, where the artifact first diverges. */
async function printDiagnoses(
  ctx: CliContext,
  steps: readonly PlannedStep[],
  recipes: readonly Recipe[],
  projectRoot: string,
  cache: LocalCache,
): Promise<void> {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const outputsOf = async (id: string) => {
    const step = byId.get(id);
    return step ? (await cache.get(step.fingerprint))?.dir : undefined;
  };
  for (const step of steps) {
    if (step.kind !== 'validate') continue;
    const entry = await cache.get(step.fingerprint);
    if ((entry?.result as { status?: string } | undefined)?.status !== 'failed') continue;
    const recipe = recipes.find((r) => r.name === step.model);
    if (!recipe) continue;
    try {
      const found = await diagnoseFailedArtifact(step, outputsOf, recipe, projectRoot);
      if (!found.supported) {
        ctx.print(`diagnose ${step.id}: ${found.reason}`);
        continue;
      }
      const first = found.diagnosis.firstDivergence;
      if (!first) {
        ctx.print(
          `diagnose ${step.id}: all ${found.diagnosis.compared.length} intermediate tensors agree; the difference is in the outputs' handling (layout, names or quantisation)`,
        );
      } else {
        ctx.print(
          `diagnose ${step.id}: first diverging op: ${first.op} node '${first.node}' (tensor '${first.tensor}' [${first.dims.join(', ')}]): ${first.failures.join('; ')}`,
        );
      }
    } catch (error) {
      if (!(error instanceof EdgezooError)) throw error;
      ctx.print(`diagnose ${step.id}: could not diagnose: ${error.message}`);
    }
  }
}

async function assertReadable(file: string, flag: string): Promise<void> {
  try {
    await access(file);
  } catch {
    throw new UsageError(`${flag}: ${file} does not exist`);
  }
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${flag} must be a whole number of at least 1, received "${text}"`);
  return value;
}

type Reporter = ((event: BuildEvent) => void) & { close(): void };

/** NDJSON with --json, a live display on a terminal, plain lines otherwise. */
function createReporter(ctx: CliContext, steps: ReadonlyArray<{ model: string }>, json: boolean): Reporter {
  if (json) {
    const reporter = ((event: BuildEvent) => void ctx.stdout.write(`${JSON.stringify(event)}\n`)) as Reporter;
    reporter.close = () => undefined;
    return reporter;
  }
  if (!ctx.stdout.isTTY) {
    const skipped = groupSkippedTargets((line) => ctx.print(line));
    const reporter = ((event: BuildEvent) => {
      skipped.onEvent(event);
      const line = formatEventLine(event);
      if (line !== undefined) ctx.print(line);
    }) as Reporter;
    reporter.close = skipped.flush;
    return reporter;
  }

  const perModel = new Map<string, number>();
  for (const step of steps) perModel.set(step.model, (perModel.get(step.model) ?? 0) + 1);
  const display = new LiveDisplay(perModel);
  let drawnLines = 0;
  let closed = false;
  const clear = () => {
    // Up to the first line of the frame, then erase to the end of the screen.
    if (drawnLines > 0) ctx.stdout.write(`\x1b[${drawnLines}F\x1b[J`);
    drawnLines = 0;
  };
  const draw = () => {
    if (closed) return;
    clear();
    const rows = (ctx.stdout as { rows?: number }).rows ?? 24;
    const lines = display.render(Date.now(), (ctx.stdout.columns ?? 100) - 1, Math.max(3, Math.min(20, rows - 2)));
    ctx.stdout.write(`${lines.join('\n')}\n`);
    drawnLines = lines.length;
  };
  // ~10 Hz: smooth elapsed times without spending the CPU the converters need.
  const timer = setInterval(draw, 100);
  const skipped = groupSkippedTargets((line) => {
    clear();
    ctx.print(line);
  });
  const reporter = ((event: BuildEvent) => {
    display.update(event, Date.now());
    skipped.onEvent(event);
    // Failures and warnings stay on screen above the live frame; progress is only drawn.
    if (event.type === 'step-failed' || event.type === 'warning') {
      const line = formatEventLine(event);
      if (line !== undefined) {
        clear();
        ctx.print(line);
      }
    }
  }) as Reporter;
  reporter.close = () => {
    if (closed) return;
    skipped.flush();
    clearInterval(timer);
    clear();
    closed = true;
  };
  return reporter;
}
