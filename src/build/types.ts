import type { RemoteCacheStats } from '../cache/index.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import type { JsonValue, PlannedStepOf, StepKind } from '../plan/types.js';
import type { Recipe } from '../recipe/types.js';
import type { AttemptStore } from './attempt-store.js';

/** The outputs of a dependency as a runner sees them. */
export interface StepInput {
  /** Absolute folder of the dependency's output files (read-only when it comes from the cache). */
  dir: string;
  /** File paths relative to `dir`, sorted. */
  files: string[];
  /** The dependency's result JSON. */
  result: StepResult;
}

/** What a runner gets. */
export interface StepContext {
  /** An empty folder; the runner writes its output files here and nowhere else. */
  outDir: string;
  /** Outputs of the dependencies, by dependency step id. */
  inputs: Record<string, StepInput>;
  /**
   * Dependencies that did not succeed, by step id, with why. Only non-empty for steps that
   * run after failed dependencies (package), which record those artifacts as failed.
   */
  failedDeps: Record<string, string>;
  /** Appends one line to the step's log file (artifacts/logs/<model>/<step>.log). */
  log: (line: string) => void;
  /** Aborted on Ctrl-C: pass it to the worker pool or `runCommand`, which kill what they started, and stop early. */
  signal: AbortSignal;
  /** The recipe of the step's model. Use only what the step's params hold; the rest is not in the fingerprint. */
  recipe: Recipe;
  projectRoot: string;
  /** The formats and backends the plan was made with. */
  catalogue: Catalogue;
  /** Failed conversion attempts of earlier builds (src/build/attempt-store.ts); absent: none remembered. */
  attempts?: AttemptStore;
  /** The build cache folder (`artifacts/cache`), for runners that keep pieces of a step across builds. */
  cacheDir?: string;
}

/**
 * A runner's small JSON answer. `status: 'failed'` is a deterministic negative result (the
 * artifact does not validate, a quantised model falls below tolerance): the same inputs give
 * the same answer, so it IS cached, like a success, and served from the cache next time. It
 * still fails the build (exit 1) every time, and blocks dependents except package, which
 * records it in the manifest. A runner that throws is an error (a tool crashed, the network
 * failed): nothing is cached and the next build tries again.
 */
export type StepResult =
  | { status: 'ok'; figures?: { [key: string]: JsonValue } }
  | { status: 'failed'; reason: string; figures?: { [key: string]: JsonValue } };

/** Runs one step of kind `K`. Writes its outputs into `ctx.outDir`; returning nothing means ok. */
export type StepRunner<K extends StepKind = StepKind> = (
  step: PlannedStepOf<K>,
  ctx: StepContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: a runner that has nothing to report may return nothing
) => Promise<StepResult | void>;

/** Runners by step kind: each gets steps of its own kind, with their typed params. */
export type StepRunners = { [K in StepKind]?: StepRunner<K> };

interface StepEventBase {
  step: string;
  model: string;
  kind: StepKind;
  fingerprint: string;
}

/** The build's event stream; reporters turn it into a live display, plain lines or NDJSON. */
export type BuildEvent =
  | { type: 'plan'; models: string[]; steps: number; skipped: number }
  | (StepEventBase & { type: 'step-start' })
  | (StepEventBase & { type: 'step-cached'; result: StepResult })
  | (StepEventBase & { type: 'step-done'; durationMs: number; result: StepResult })
  | (StepEventBase & {
      type: 'step-failed';
      reason: string;
      /** The dependency whose failure kept this step from running. */
      blockedBy?: string;
      /** A deterministic failure (cached); otherwise an error, retried next build. */
      deterministic: boolean;
      cached: boolean;
      durationMs?: number;
      logFile?: string;
    })
  | { type: 'step-skipped'; model: string; target: string; reason: string }
  | { type: 'log'; step: string; model: string; line: string }
  /** Something a person should know that is not a step's outcome (a corrupt cache entry evicted). */
  | { type: 'warning'; message: string }
  | ({ type: 'summary' } & BuildSummary)
  /** After the summary, when a remote cache was used: its hits, misses and uploads. */
  | ({ type: 'remote-cache' } & RemoteCacheStats);

/** Counts and time of one model's build. */
export interface ModelSummary {
  model: string;
  steps: number;
  run: number;
  cached: number;
  /** Failed, blocked or cancelled steps. */
  failed: number;
  /** Targets the recipe skips. */
  skipped: number;
  durationMs: number;
  /** Why each failed step failed (blocked steps name their blocker). */
  failures: Array<{ step: string; reason: string }>;
}

/** The result of a whole build. `ok` is false when any step failed or the build was interrupted. */
export interface BuildSummary {
  ok: boolean;
  interrupted: boolean;
  durationMs: number;
  models: ModelSummary[];
}
