import type { StepRunnerRegistry } from '../registry.js';
import { runFetchStep } from './fetch.js';

/**
 * Registers the runners the build engine itself provides (fetch). Converter, validation,
 * benchmark and package runners are registered by their own modules with `registerStepRunner`.
 */
export function registerBuiltinRunners(registry: StepRunnerRegistry): void {
  registry.register('fetch', runFetchStep);
}

export { runFetchStep, FETCHED_FILE_NAMES } from './fetch.js';
