/**
 * `edgezoo build --shard K/N`: which models shard K of N builds. Pure: from the plan of every
 * wanted recipe and the step costs recorded by earlier builds (the zoo's build-costs.json), so
 * every shard, on any machine, computes the same partition from the same inputs.
 *
 * Models are balanced by cost with the longest-first rule: models in descending cost (ties by
 * a hash of the name, then the name), each to the shard with the least cost so far (ties to the
 * lowest shard). A step with no recorded cost is estimated from its kind and resource class, so
 * a first build balances by the size of each model's plan (how many conversions, how heavy).
 */
import { UsageError } from '../errors.js';
import type { BuildPlan, PlannedStep } from '../plan/types.js';
import { sha256Hex } from '../util/hash.js';

/** Shard `index` (1-based) of `count`. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** Parses `K/N` (1 <= K <= N); a `UsageError` naming `--shard` otherwise. */
export function parseShardSpec(text: string): ShardSpec {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : Number.NaN;
  const count = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count)
    throw new UsageError(
      `--shard must be K/N with 1 <= K <= N, received "${text}"`,
      'e.g. --shard 2/3 builds the second of three parts of the zoo',
    );
  return { index, count };
}

/** Seconds a step took when it last ran, by step id (the zoo's build-costs.json). */
export type RecordedStepCosts = Readonly<Record<string, number>>;

/** Seconds a step of this kind is guessed to take when no build recorded it (a 2-core runner). */
export function estimatedStepSeconds(step: PlannedStep): number {
  switch (step.kind) {
    case 'convert':
      // A convert step of a grouped run only takes its files from the run.
      return step.resource === 'heavy' ? 30 : step.resource === 'light' ? 0.1 : 5;
    case 'convert-run':
      return step.resource === 'heavy' ? 40 : 5;
    case 'prepare':
      return step.resource === 'heavy' ? 10 : 3;
    case 'reference':
      return 3;
    case 'validate':
      return 2;
    case 'benchmark':
      return 2;
    case 'fetch':
      return 1;
    case 'package':
      return 0.1;
  }
}

/** A model's cost: recorded seconds of its steps, estimates for the steps no build recorded. */
export interface ModelCost {
  model: string;
  seconds: number;
  /** How many of its steps had a recorded cost. */
  recordedSteps: number;
  steps: number;
}

/** The cost of every model of `plan` (in plan order). */
export function modelCosts(plan: BuildPlan, recorded: RecordedStepCosts): ModelCost[] {
  const costs = new Map<string, ModelCost>(
    plan.models.map((model) => [model, { model, seconds: 0, recordedSteps: 0, steps: 0 }]),
  );
  for (const step of plan.steps) {
    const cost = costs.get(step.model)!;
    const seconds = recorded[step.id];
    cost.steps += 1;
    if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) {
      cost.seconds += seconds;
      cost.recordedSteps += 1;
    } else cost.seconds += estimatedStepSeconds(step);
  }
  return [...costs.values()];
}

/** The models of each of `count` shards (index 0 is shard 1), each list sorted by name. */
export interface Partition {
  shards: string[][];
  /** Estimated seconds of each shard. */
  seconds: number[];
  /** sha256 of the partition itself: parts built from different partitions must not be merged. */
  digest: string;
}

/** Splits models over `count` shards, balanced by cost (see the module comment). Deterministic. */
export function partitionModels(costs: readonly ModelCost[], count: number): Partition {
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`shard count must be >= 1, got ${count}`);
  const order = [...costs].sort(
    (a, b) => b.seconds - a.seconds || compare(sha256Hex(a.model), sha256Hex(b.model)) || compare(a.model, b.model),
  );
  const shards: string[][] = Array.from({ length: count }, () => []);
  const seconds: number[] = Array.from({ length: count }, () => 0);
  for (const cost of order) {
    let lightest = 0;
    for (let i = 1; i < count; i++) if (seconds[i]! < seconds[lightest]!) lightest = i;
    shards[lightest]!.push(cost.model);
    seconds[lightest]! += cost.seconds;
  }
  for (const shard of shards) shard.sort(compare);
  return { shards, seconds, digest: sha256Hex(JSON.stringify(shards)) };
}

/** The part of `plan` that builds only `models` (steps, skipped targets and model list). */
export function restrictPlan(plan: BuildPlan, models: readonly string[]): BuildPlan {
  const keep = new Set(models);
  return {
    ...plan,
    steps: plan.steps.filter((step) => keep.has(step.model)),
    skipped: plan.skipped.filter((skipped) => keep.has(skipped.model)),
    models: plan.models.filter((model) => keep.has(model)),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
