/**
 * The build engine: runs a plan's steps with the cache, by resource class, with events.
 * Step runners are passed in as a StepRunnerRegistry; tools run through src/toolchain.
 */
export { executePlan, defaultMemoryBudgetMiB, type ExecuteOptions } from './executor.js';
export { StepRunnerRegistry } from './registry.js';
export { MemoryGate } from './memory-gate.js';
export { ExclusiveSlot } from './exclusive-slot.js';
export { exportOutputs, EXPORT_MARKER } from './export.js';
export {
  buildStatusOf,
  formatDuration,
  formatEventLine,
  formatSkippedLines,
  formatSummaryTable,
  groupSkippedTargets,
  LiveDisplay,
} from './progress.js';
export { loadProjectPlan, readToolchainVersions, type BuildOverrides, type ProjectPlan } from './project.js';
export { registerBuiltinRunners, runFetchStep, FETCHED_FILE_NAMES } from './runners/index.js';
export type {
  BuildEvent,
  BuildSummary,
  ModelSummary,
  StepContext,
  StepInput,
  StepResult,
  StepRunner,
  StepRunners,
} from './types.js';
