/**
 * Helpers of the converter integration tests (not a test file): the tiny CNN project of
 * test/fixtures/tiny-cnn/project.ts, and a build of the real plan up to the convert steps with
 * the real runners. Run as a script it builds and prints the summary as JSON
 * (the network-cut test runs it under `unshare -n`):
 *   node --import tsx test/integration/convert-project.ts PROJECT_ROOT MODEL...
 */
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  executePlan,
  loadProjectPlan,
  registerBuiltinRunners,
  StepRunnerRegistry,
  type BuildEvent,
  type BuildSummary,
} from '../../src/build/index.js';
import { LocalCache } from '../../src/cache/index.js';
import { saveModel, type ModelProto } from '../../src/formats/onnx/index.js';
import type { StepKind } from '../../src/plan/types.js';
import { stopSharedWorkerPool } from '../../src/toolchain/pool.js';

import { sha256File, writeRecipe } from '../fixtures/tiny-cnn/project.js';

export { sha256File, tinyCnnRecipe, trainTinyCnn, writeRecipe } from '../fixtures/tiny-cnn/project.js';

/**
 * Runs `fn` with a new temporary folder (os.tmpdir()/<prefix>XXXXXX) as the project root and
 * removes the folder afterwards, whether `fn` passed or threw.
 */
export async function withProject<T>(prefix: string, fn: (root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    return await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Saves `model` as models/<name>/model.onnx under `root` and writes recipes/<name>.yaml for it:
 * the lines every converter test repeats, plus its own `inputs:` and `targets:` flow mappings and
 * any extra lines (allow_ops, strategies...). Returns the model file.
 */
export function writeOnnxModelRecipe(
  root: string,
  name: string,
  model: ModelProto,
  recipe: { description: string; inputs: string; targets: string; extra?: string[] },
): string {
  mkdirSync(path.join(root, 'models', name), { recursive: true });
  const file = path.join(root, 'models', name, 'model.onnx');
  saveModel(model, file);
  writeRecipe(
    root,
    name,
    [
      `name: ${name}`,
      'version: 0.1.0',
      'license: MIT',
      `description: ${recipe.description}`,
      'task: test',
      `source: { onnx: { path: models/${name}/model.onnx, sha256: ${sha256File(file)} } }`,
      `inputs: ${recipe.inputs}`,
      `targets: ${recipe.targets}`,
      ...(recipe.extra ?? []),
      '',
    ].join('\n'),
  );
  return file;
}

// Convert steps judge each attempt against the reference step's outputs.
const UP_TO_CONVERT: readonly StepKind[] = ['fetch', 'prepare', 'reference', 'convert-run', 'convert'];

/**
 * Plans `names` in `root` with the real planner and runs the fetch, prepare and convert steps
 * with the real runners and a cache under root/artifacts. Returns the summary and the output
 * folder of every step by id.
 */
export async function buildUpToConvert(
  root: string,
  names: string[],
  onEvent?: (event: BuildEvent) => void,
): Promise<{ summary: BuildSummary; outputs: Record<string, string> }> {
  const { recipes, plan } = await loadProjectPlan(root, names);
  const steps = plan.steps.filter((step) => UP_TO_CONVERT.includes(step.kind));
  const registry = new StepRunnerRegistry();
  registerBuiltinRunners(registry);
  const cache = new LocalCache(path.join(root, 'artifacts', 'cache'));
  const outputs: Record<string, string> = {};
  try {
    const summary = await executePlan({
      plan: { ...plan, steps },
      recipes,
      projectRoot: root,
      cache,
      runners: registry,
      jobs: 2,
      onEvent: (event) => onEvent?.(event),
    });
    for (const step of steps) {
      const entry = await cache.get(step.fingerprint);
      if (entry) outputs[step.id] = entry.dir;
    }
    return { summary, outputs };
  } finally {
    await stopSharedWorkerPool();
  }
}

/** buildUpToConvert, with the reason of every failed step collected (`step: reason`). */
export async function buildCollectingFailures(
  root: string,
  names: string[],
): Promise<{ summary: BuildSummary; outputs: Record<string, string>; failures: string[] }> {
  const failures: string[] = [];
  const built = await buildUpToConvert(root, names, (event) => {
    if (event.type === 'step-failed') failures.push(`${event.step}: ${event.reason}`);
  });
  return { ...built, failures };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [root, ...names] = process.argv.slice(2);
  const { summary } = await buildUpToConvert(path.resolve(root!), names, (event) => {
    if (event.type === 'step-failed') process.stderr.write(`FAILED ${event.step}: ${event.reason}\n`);
  });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.ok ? 0 : 1;
}
