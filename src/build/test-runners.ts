import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EdgezooError } from '../errors.js';
import type { Recipe } from '../recipe/types.js';
import type { StepRunners } from './types.js';

/**
 * TEST-ONLY: the environment variable naming a module whose exported `runners` replace the
 * real step runners (stand-ins that sleep, write files or fail on demand), so the build
 * engine and the CLI can be tested end to end without Python. The module may also export
 * `recipes` (Recipe[]) to use instead of the project's recipe files. Never set it in real use.
 */
export const TEST_RUNNERS_ENV = 'EDGEZOO_TEST_RUNNERS';

/** What a test-runner module exports. */
export interface TestRunnerModule {
  runners: StepRunners;
  recipes?: Recipe[];
}

/** Loads the module named by EDGEZOO_TEST_RUNNERS, or undefined when it is not set. */
export async function loadTestRunnerModule(
  env: NodeJS.ProcessEnv = process.env,
): Promise<TestRunnerModule | undefined> {
  const specifier = env[TEST_RUNNERS_ENV];
  if (!specifier) return undefined;
  let loaded: Partial<TestRunnerModule>;
  try {
    loaded = (await import(pathToFileURL(path.resolve(specifier)).href)) as Partial<TestRunnerModule>;
  } catch (error) {
    throw new EdgezooError(
      'TEST_RUNNERS',
      `${TEST_RUNNERS_ENV}=${specifier} could not be loaded: ${(error as Error).message}`,
    );
  }
  if (!loaded.runners || typeof loaded.runners !== 'object') {
    throw new EdgezooError('TEST_RUNNERS', `${TEST_RUNNERS_ENV}=${specifier} does not export \`runners\``);
  }
  return loaded as TestRunnerModule;
}
