import type { StepRunnerRegistry } from '../registry.js';
import { runConvertStep } from './convert.js';
import { runFetchStep } from './fetch.js';
import { runPrepareStep } from './prepare.js';

/**
 * Registers the runners the build engine itself provides (fetch, prepare, convert). Validation,
 * benchmark and package runners are registered by their own modules with `registerStepRunner`.
 */
export function registerBuiltinRunners(registry: StepRunnerRegistry): void {
  registry.register('fetch', runFetchStep);
  registry.register('prepare', runPrepareStep);
  registry.register('convert', runConvertStep);
}

export { runFetchStep, FETCHED_FILE_NAMES } from './fetch.js';
export { runPrepareStep, PREPARED_MODEL_FILE, PREPARE_JSON_FILE, type PrepareParams } from './prepare.js';
export { runConvertStep, ARTIFACT_JSON_FILE, type ArtifactJson, type ArtifactInspection, type ConvertParams } from './convert.js';
