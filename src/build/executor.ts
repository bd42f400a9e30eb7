import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Cache, PendingEntry } from '../cache/types.js';
import { isEdgezooError } from '../errors.js';
import type { BuildPlan, PlannedStep, ResourceClass } from '../plan/types.js';
import type { Recipe } from '../recipe/types.js';
import { cacheAttemptStore } from './attempt-store.js';
import { exportOutputs } from './export.js';
import { ExclusiveSlot } from './exclusive-slot.js';
import { MemoryGate, MemoryPeaks } from './memory-gate.js';
import type { StepRunnerRegistry } from './registry.js';
import type { BuildEvent, BuildSummary, ModelSummary, StepInput, StepResult } from './types.js';

/** Options of `executePlan`. */
export interface ExecuteOptions {
  plan: BuildPlan;
  /** The recipes the plan was made from (runners get theirs in the context). */
  recipes: readonly Recipe[];
  projectRoot: string;
  /** Where logs and exports go; default `<projectRoot>/artifacts`. */
  artifactsDir?: string;
  cache: Cache;
  runners: StepRunnerRegistry;
  /** The catalogue the plan was made with (runners get it in the context); default the built-in one. */
  catalogue?: Catalogue;
  /** Concurrent 'convert' and 'heavy' steps; default os.availableParallelism(). */
  jobs?: number;
  /** Concurrent downloads; default 4. */
  networkJobs?: number;
  /** Concurrent 'light' steps and cache look-ups; default 16. */
  lightJobs?: number;
  /** Sum of `memoryMiB` of running 'heavy' steps; default 60% of the machine's memory. */
  memoryBudgetMiB?: number;
  /** Run every step even when its outputs are cached (and replace the entries). */
  force?: boolean;
  signal?: AbortSignal;
  onEvent?: (event: BuildEvent) => void;
  /**
   * Where the peak memory measured for each heavy step is kept between builds (the memory gate
   * admits a step with its last measured peak instead of its class estimate); default
   * `<artifactsDir>/cache/.memory-peaks.json`; null keeps nothing.
   */
  memoryPeaksFile?: string | null;
}

type Outcome =
  | { state: 'ok'; input: StepInput; cached: boolean }
  /** A deterministic failure: it has outputs (e.g. a validation report) and may be cached. */
  | { state: 'failed'; input: StepInput; reason: string; cached: boolean }
  | { state: 'error'; reason: string }
  /** `deterministic`: every failure up the chain is a cached deterministic result. */
  | { state: 'blocked'; reason: string; deterministic: boolean }
  | { state: 'cancelled'; reason: string };

/** The default memory budget: 60% of the machine's memory, in MiB. */
export function defaultMemoryBudgetMiB(): number {
  return Math.floor((os.totalmem() / 1024 / 1024) * 0.6);
}

/**
 * Runs a plan: every step once its dependencies are done, admitted by the limiter of its
 * resource class, served from the cache when its fingerprint is there. A failing step blocks
 * its dependents and nothing else. Never throws for a step's failure; returns the summary
 * (also emitted as the last event).
 */
export async function executePlan(options: ExecuteOptions): Promise<BuildSummary> {
  const emit = options.onEvent ?? (() => undefined);
  const signal = options.signal ?? new AbortController().signal;
  const artifactsDir = options.artifactsDir ?? path.join(options.projectRoot, 'artifacts');
  const logsDir = path.join(artifactsDir, 'logs');
  const recipes = new Map(options.recipes.map((recipe) => [recipe.name, recipe]));
  const jobs = Math.max(1, options.jobs ?? os.availableParallelism());
  const attempts = cacheAttemptStore(options.cache, { force: options.force === true });
  // One limiter per resource class, owned here. 'heavy' steps pass the memory gate first and
  // then take a CPU slot from the 'convert' limiter; no task ever calls its own limiter.
  // 'exclusive' steps (benchmarks) take no limiter slot: the exclusive slot runs them alone,
  // once no 'convert' or 'heavy' step runs or waits for one.
  const limiters: Record<Exclude<ResourceClass, 'heavy' | 'exclusive'>, LimitFunction> = {
    convert: pLimit(jobs),
    network: pLimit(Math.max(1, options.networkJobs ?? 4)),
    light: pLimit(Math.max(1, options.lightJobs ?? 16)),
  };
  const cacheLookups = pLimit(Math.max(1, options.lightJobs ?? 16));
  const memoryGate = new MemoryGate(options.memoryBudgetMiB ?? defaultMemoryBudgetMiB());
  const peaks = await MemoryPeaks.load(
    options.memoryPeaksFile === undefined
      ? path.join(artifactsDir, 'cache', '.memory-peaks.json')
      : options.memoryPeaksFile,
  );
  const cpuSlot = new ExclusiveSlot();
  const startedAt = Date.now();
  const spans = new Map<string, { first: number; last: number }>();
  const touch = (model: string, from: number) => {
    const span = spans.get(model);
    const now = Date.now();
    if (!span) spans.set(model, { first: from, last: now });
    else {
      span.first = Math.min(span.first, from);
      span.last = Math.max(span.last, now);
    }
  };

  emit({
    type: 'plan',
    models: options.plan.models,
    steps: options.plan.steps.length,
    skipped: options.plan.skipped.length,
  });
  for (const skipped of options.plan.skipped) emit({ type: 'step-skipped', ...skipped });

  const outcomes = new Map<string, Promise<Outcome>>();

  const base = (step: PlannedStep) => ({
    step: step.id,
    model: step.model,
    kind: step.kind,
    fingerprint: step.fingerprint,
  });

  const runStep = async (step: PlannedStep): Promise<Outcome> => {
    const deps: Array<[string, Outcome]> = [];
    for (const dep of step.deps) deps.push([dep, await outcomes.get(dep)!]);
    const begun = Date.now();
    try {
      if (signal.aborted) return { state: 'cancelled', reason: 'cancelled' };
      const failedDeps = deps.filter(([dep, outcome]) => outcome.state !== 'ok' && !step.optionalDeps?.includes(dep));
      if (failedDeps.length > 0 && !step.runsAfterFailedDeps) {
        const [blocker, outcome] = failedDeps[0]!;
        const reason = `blocked by ${blocker}`;
        emit({ type: 'step-failed', ...base(step), reason, blockedBy: blocker, deterministic: false, cached: false });
        if (outcome.state === 'cancelled') return { state: 'cancelled', reason };
        return { state: 'blocked', reason, deterministic: isDeterministic(outcome) };
      }
      const recipe = recipes.get(step.model);
      if (!recipe)
        throw new Error(`no recipe for model ${step.model} (executePlan was given other recipes than the plan's)`);

      if (!options.force) {
        const entry = await cacheLookups(() => options.cache.get(step.fingerprint));
        if (entry) {
          const result = entry.result as StepResult;
          const input: StepInput = { dir: entry.dir, files: entry.files, result };
          // A failed step (a package with no artifact) exports nothing, so the last good export stays.
          if (step.exportTo && result.status === 'ok')
            await exportOutputs(entry.dir, entry.files, path.join(artifactsDir, step.exportTo), step.fingerprint);
          if (result.status === 'failed') {
            emit({ type: 'step-failed', ...base(step), reason: result.reason, deterministic: true, cached: true });
            return { state: 'failed', input, reason: result.reason, cached: true };
          }
          emit({ type: 'step-cached', ...base(step), result });
          return { state: 'ok', input, cached: true };
        }
      }

      const runner = options.runners.get(step.kind);
      if (!runner) {
        const reason = `no step runner is registered for "${step.kind}" steps (nothing can build ${step.id})`;
        emit({ type: 'step-failed', ...base(step), reason, deterministic: false, cached: false });
        return { state: 'error', reason };
      }

      const inputs: Record<string, StepInput> = {};
      const failedDepReasons: Record<string, string> = {};
      for (const [dep, outcome] of deps) {
        if (outcome.state === 'ok' || outcome.state === 'failed') inputs[dep] = outcome.input;
        if (outcome.state !== 'ok') failedDepReasons[dep] = outcome.reason;
      }

      const runFresh = async (): Promise<
        { pending: PendingEntry; result: StepResult; durationMs: number } | Outcome
      > => {
        if (signal.aborted) return { state: 'cancelled', reason: 'cancelled' };
        const pending = await options.cache.begin();
        const logFile = path.join(
          logsDir,
          step.model,
          `${step.id.slice(step.model.length + 1).replace(/\//g, '-')}.log`,
        );
        await mkdir(path.dirname(logFile), { recursive: true });
        const logStream = createWriteStream(logFile, { flags: 'w' });
        const log = (line: string) => {
          logStream.write(line.endsWith('\n') ? line : `${line}\n`);
          emit({ type: 'log', step: step.id, model: step.model, line });
        };
        emit({ type: 'step-start', ...base(step) });
        const runStarted = Date.now();
        try {
          const raw = await runner(step, {
            outDir: pending.outDir,
            inputs,
            failedDeps: failedDepReasons,
            log,
            signal,
            recipe,
            projectRoot: options.projectRoot,
            catalogue: options.catalogue ?? BUILTIN_CATALOGUE,
            attempts,
            cacheDir: path.join(artifactsDir, 'cache'),
          });
          const result = checkResult(raw);
          if (signal.aborted) throw new Error('cancelled');
          const peak = result.figures?.['peakRssMb'];
          if (typeof peak === 'number') peaks.record(step.id, peak);
          return { pending, result, durationMs: Date.now() - runStarted };
        } catch (error) {
          await pending.discard();
          const durationMs = Date.now() - runStarted;
          if (signal.aborted) {
            log('cancelled');
            emit({
              type: 'step-failed',
              ...base(step),
              reason: 'cancelled',
              deterministic: false,
              cached: false,
              durationMs,
              logFile,
            });
            return { state: 'cancelled', reason: 'cancelled' };
          }
          // A step killed for memory: admitted with the peak it reached next time.
          const killedAt = (error as { peakMb?: unknown } | undefined)?.peakMb;
          if (typeof killedAt === 'number' && killedAt > 0) peaks.record(step.id, Math.round(killedAt));
          const reason = isEdgezooError(error)
            ? error.message
            : `internal error in the ${step.kind} runner: ${error instanceof Error ? error.message : String(error)}`;
          if (!isEdgezooError(error) && error instanceof Error && error.stack) log(error.stack);
          else log(reason);
          emit({
            type: 'step-failed',
            ...base(step),
            reason,
            deterministic: false,
            cached: false,
            durationMs,
            logFile,
          });
          return { state: 'error', reason };
        } finally {
          await closeStream(logStream);
        }
      };

      const run =
        step.resource === 'heavy'
          ? await cpuSlot.shared(() =>
              memoryGate.run(peaks.admit(step.id, step.memoryMiB), () => limiters.convert(runFresh)),
            )
          : step.resource === 'convert'
            ? await cpuSlot.shared(() => limiters.convert(runFresh))
            : step.resource === 'exclusive'
              ? await cpuSlot.exclusive(runFresh)
              : await limiters[step.resource](runFresh);
      if ('state' in run) return run;

      // Stored only when the result is fully determined by the fingerprint: a package run
      // that missed an errored dependency would otherwise be served after that dependency is fixed.
      const cacheable = deps.every(([, outcome]) => isDeterministic(outcome));
      let input: StepInput;
      if (cacheable) {
        const entry = await options.cache.put(step.fingerprint, run.pending, {
          stepId: step.id,
          result: run.result,
          replace: options.force === true,
        });
        input = { dir: entry.dir, files: entry.files, result: run.result };
      } else {
        input = { dir: run.pending.outDir, files: await listFiles(run.pending.outDir), result: run.result };
      }
      try {
        if (step.exportTo && run.result.status === 'ok')
          await exportOutputs(input.dir, input.files, path.join(artifactsDir, step.exportTo), step.fingerprint, {
            fresh: true,
          });
      } finally {
        if (!cacheable) await run.pending.discard();
      }
      if (run.result.status === 'failed') {
        emit({
          type: 'step-failed',
          ...base(step),
          reason: run.result.reason,
          deterministic: true,
          cached: false,
          durationMs: run.durationMs,
        });
        return { state: 'failed', input, reason: run.result.reason, cached: false };
      }
      emit({ type: 'step-done', ...base(step), durationMs: run.durationMs, result: run.result });
      return { state: 'ok', input, cached: false };
    } catch (error) {
      // Cache or file-system trouble around the runner: this step fails, the build goes on.
      const reason = isEdgezooError(error)
        ? error.message
        : `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
      emit({ type: 'step-failed', ...base(step), reason, deterministic: false, cached: false });
      return { state: 'error', reason };
    } finally {
      touch(step.model, begun);
    }
  };

  // Steps come in dependency order, so every dep's promise exists before its dependents ask.
  for (const step of options.plan.steps) outcomes.set(step.id, runStep(step));
  const settled = new Map<string, Outcome>();
  for (const [id, promise] of outcomes) settled.set(id, await promise);
  await peaks.save();

  const summaries = new Map<string, ModelSummary>();
  for (const model of options.plan.models) {
    const span = spans.get(model);
    summaries.set(model, {
      model,
      steps: 0,
      run: 0,
      cached: 0,
      failed: 0,
      skipped: options.plan.skipped.filter((skipped) => skipped.model === model).length,
      durationMs: span ? span.last - span.first : 0,
      failures: [],
    });
  }
  for (const step of options.plan.steps) {
    const summary = summaries.get(step.model)!;
    const outcome = settled.get(step.id)!;
    summary.steps += 1;
    if (outcome.state === 'ok') {
      if (outcome.cached) summary.cached += 1;
      else summary.run += 1;
    } else {
      summary.failed += 1;
      summary.failures.push({ step: step.id, reason: outcome.reason });
    }
  }
  const models = [...summaries.values()];
  const summary: BuildSummary = {
    ok: !signal.aborted && models.every((model) => model.failed === 0),
    interrupted: signal.aborted,
    durationMs: Date.now() - startedAt,
    models,
  };
  emit({ type: 'summary', ...summary });
  return summary;
}

/** An outcome the same fingerprint always gives again (so what depends on it may be cached). */
function isDeterministic(outcome: Outcome): boolean {
  return outcome.state === 'ok' || outcome.state === 'failed' || (outcome.state === 'blocked' && outcome.deterministic);
}

// biome-ignore lint/suspicious/noConfusingVoidType: what a StepRunner may return
function checkResult(raw: StepResult | void): StepResult {
  if (raw === undefined) return { status: 'ok' };
  if (raw && raw.status === 'ok') return raw;
  if (raw && raw.status === 'failed' && typeof raw.reason === 'string') return raw;
  throw new Error(
    `the runner returned ${JSON.stringify(raw)}, expected { status: 'ok' } or { status: 'failed', reason }`,
  );
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => stream.end(() => resolve()));
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}
