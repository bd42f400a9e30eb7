import type { Precision, TargetFormat } from '../recipe/types.js';
import type { StepParamsByKind } from './params.js';

/**
 * A step's cache key: lower-case hex sha256 over everything that decides its outputs (see
 * `fingerprintStep`). Branded so a random string or a file sha256 cannot be passed where a
 * fingerprint is meant.
 */
export type Fingerprint = string & { readonly __brand: 'Fingerprint' };

/** What a step does. Runners are registered per kind. */
export type StepKind = keyof StepParamsByKind;

export const STEP_KINDS: readonly StepKind[] = [
  'fetch',
  'prepare',
  'convert-run',
  'convert',
  'reference',
  'validate',
  'benchmark',
  'package',
];

/**
 * Which executor limiter admits a step:
 * - convert: CPU-bound work (converters, validation, benchmarks), one per `--jobs` slot;
 * - heavy: like convert, and also admitted only while the sum of running `memoryMiB` estimates
 *   fits the memory budget (TensorFlow / PyTorch processes take several GiB each);
 * - exclusive: runs alone among the CPU-bound steps (benchmarks, whose timings and memory
 *   figures are noise beside a converter): only while no convert or heavy step runs or waits
 *   for a slot, one at a time, and no convert or heavy step starts while it runs;
 * - network: downloads, limited separately so they overlap with CPU work;
 * - light: bookkeeping in process (packaging), generous.
 */
export type ResourceClass = 'convert' | 'heavy' | 'exclusive' | 'network' | 'light';

/** JSON values: what step params and step results are made of. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What every step has besides its kind and params. */
export interface StepBase {
  /** Stable, readable and unique in a plan: `mobilenet-v2/convert/tflite/int8`. */
  id: string;
  /** The recipe (model) this step belongs to. */
  model: string;
  /** Set for convert/validate/benchmark steps. */
  target?: { format: TargetFormat; precision: Precision };
  /** Ids of the steps whose outputs this one reads; order is part of the fingerprint. */
  deps: string[];
  /**
   * Keys of `InputDigests` for local files this step reads (sample globs, replacement JSON,
   * model code, license text). Their content hashes are part of the fingerprint.
   */
  inputFiles: string[];
  resource: ResourceClass;
  /** Estimated peak memory, MiB; used to admit 'heavy' steps against the memory budget. */
  memoryMiB: number;
  /** Names of the tools the step calls (keys of the toolchain's version record). */
  tools: string[];
  /**
   * The step still runs when a dependency failed or was blocked (packaging writes a manifest
   * that marks those artifacts failed). Every other step is blocked by a failed dependency.
   */
  runsAfterFailedDeps: boolean;
  /**
   * Dependencies whose failure does not block the step: it runs without their outputs (the
   * convert step's judge validates against the reference step when that one succeeded).
   */
  optionalDeps?: string[];
  /** Project-relative folder under artifacts/ the step's outputs are copied to (the zoo version folder). */
  exportTo?: string;
  fingerprint: Fingerprint;
  /**
   * Converter steps (convert, convert-run): the fingerprint of what their converter runs read,
   * without what only judges the results (validation thresholds, allowed ops). Failed
   * conversion attempts are remembered under it (src/build/attempt-store.ts), so a convert step
   * re-run for a new threshold, or after a build was cancelled, does not repeat a conversion
   * that failed.
   */
  conversionKey?: Fingerprint;
}

/**
 * A step of kind `K`: its params are `StepParamsByKind[K]` (./params.ts), normalised and
 * JSON-serialisable: everything from the recipe its runner may use.
 */
export type PlannedStepOf<K extends StepKind> = StepBase & { kind: K; params: StepParamsByKind[K] };

/** One node of the build graph, a union keyed on `kind`. Everything in it is JSON-serialisable. */
export type PlannedStep = { [K in StepKind]: PlannedStepOf<K> }[StepKind];

/** A target the recipe lists in `skip`: kept in the plan so the model card can show it. */
export interface SkippedTarget {
  model: string;
  /** `format/precision` as written in the recipe's `skip`. */
  target: string;
  reason: string;
}

/** Tool versions and platform: part of every fingerprint. */
export interface ToolchainInfo {
  /** Tool name -> exact version, from the toolchain lock files (plus `edgezoo` itself). */
  versions: Record<string, string>;
  /** `os-arch-node<major>`, e.g. `linux-x64-node20`; see `currentPlatform()`. */
  platform: string;
}

/**
 * Content hashes of local input files, keyed by the path or glob as the recipe writes it
 * (`models/x/calib/*.npy`, `models/x/replace.json`). A glob's digest covers the sorted list
 * of every file it matches with their hashes. Computed by `computeInputDigests`.
 */
export type InputDigests = Record<string, string>;

/** The whole build graph: steps in dependency order (every dep appears before its dependents). */
export interface BuildPlan {
  steps: PlannedStep[];
  skipped: SkippedTarget[];
  /** Model names in plan order. */
  models: string[];
  /** Tools some step calls whose version the toolchain did not report (fingerprints use "unknown"). */
  missingToolVersions: string[];
}

/** `step` as a step of `kind`; throws when it is another kind (a caller bug). */
export function stepOfKind<K extends StepKind>(step: PlannedStep, kind: K): PlannedStepOf<K> {
  if (step.kind !== kind) throw new Error(`${step.id} is a ${step.kind} step, not ${kind}`);
  return step as PlannedStepOf<K>;
}
