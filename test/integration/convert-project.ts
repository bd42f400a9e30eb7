/**
 * Helpers of the converter integration tests (not a test file): a throw-away project with the
 * tiny CNN trained in it (seed 0), recipes for it, and a build of the real plan up to the
 * convert steps with the real runners. Run as a script it builds and prints the summary as JSON
 * (the network-cut test runs it under `unshare -n`):
 *   node --import tsx test/integration/convert-project.ts PROJECT_ROOT MODEL...
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import type { StepKind } from '../../src/plan/types.js';
import { envDef } from '../../src/toolchain/envs.js';
import { stopSharedWorkerPool } from '../../src/toolchain/pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, '..', 'fixtures', 'tiny-cnn');

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Copies the tiny CNN into `root/models/tiny-cnn` and trains it there (weights, calib, val). */
export function trainTinyCnn(root: string): { weightsSha256: string } {
  const dir = path.join(root, 'models', 'tiny-cnn');
  mkdirSync(dir, { recursive: true });
  execFileSync(envDef('torch').python, [path.join(FIXTURE, 'train.py'), dir, '--seed', '0'], {
    cwd: FIXTURE,
    stdio: 'pipe',
  });
  cpSync(path.join(FIXTURE, 'model.py'), path.join(dir, 'model.py'));
  return { weightsSha256: sha256File(path.join(dir, 'weights.pt')) };
}

/** A recipe of the tiny CNN (PyTorch source) with `targets` (YAML flow text) and converter. */
export function tinyCnnRecipe(
  name: string,
  weightsSha256: string,
  targets: string,
  tfliteConverter: 'onnx2tf' | 'litert-torch' = 'onnx2tf',
): string {
  return [
    `name: ${name}`,
    'version: 1.0.0',
    'license: MIT',
    'description: Tiny CNN test model (which quadrant holds the bright square)',
    'task: image-classification',
    'source:',
    '  pytorch:',
    '    factory: models/tiny-cnn/model.py:build',
    `    weights: { path: models/tiny-cnn/weights.pt, sha256: ${weightsSha256} }`,
    'inputs:',
    '  - { name: input, shape: [1, 3, 32, 32], layout: NCHW, range: [0, 1] }',
    'outputs:',
    '  - { name: logits, classifier: true }',
    'calibration: { samples: models/tiny-cnn/calib/*.npy, count: 32 }',
    'validation: { samples: models/tiny-cnn/val/*.npy, count: 16, topk: 2 }',
    'opset: 18',
    `converters: { tflite: ${tfliteConverter} }`,
    `targets: ${targets}`,
    '',
  ].join('\n');
}

export function writeRecipe(root: string, name: string, text: string): void {
  mkdirSync(path.join(root, 'recipes'), { recursive: true });
  writeFileSync(path.join(root, 'recipes', `${name}.yaml`), text);
}

const UP_TO_CONVERT: readonly StepKind[] = ['fetch', 'prepare', 'convert'];

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

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [root, ...names] = process.argv.slice(2);
  const { summary } = await buildUpToConvert(path.resolve(root!), names, (event) => {
    if (event.type === 'step-failed') process.stderr.write(`FAILED ${event.step}: ${event.reason}\n`);
  });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.ok ? 0 : 1;
}
