import type { StepRunnerRegistry } from '../registry.js';
import { runBenchmarkStep } from './benchmark.js';
import { runConvertRunStep, runConvertStep } from './convert.js';
import { runFetchStep } from './fetch.js';
import { runPackageStep } from './package.js';
import { runPrepareStep } from './prepare.js';
import { runReferenceStep } from './reference.js';
import { runValidateStep } from './validate.js';

/**
 * Registers the runners the build engine itself provides (fetch, prepare, convert, reference,
 * validate, benchmark, package) in `registry`.
 */
export function registerBuiltinRunners(registry: StepRunnerRegistry): void {
  registry.register('fetch', runFetchStep);
  registry.register('prepare', runPrepareStep);
  registry.register('convert-run', runConvertRunStep);
  registry.register('convert', runConvertStep);
  registry.register('reference', runReferenceStep);
  registry.register('validate', runValidateStep);
  registry.register('benchmark', runBenchmarkStep);
  registry.register('package', runPackageStep);
}

export { runFetchStep, FETCHED_FILE_NAMES } from './fetch.js';
export { runPrepareStep, PREPARED_MODEL_FILE } from './prepare.js';
export { runConvertRunStep, runConvertStep } from './convert.js';
export { runReferenceStep } from './reference.js';
