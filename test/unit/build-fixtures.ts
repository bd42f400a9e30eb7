/**
 * Test helpers of the build engine (not a test file): Recipe literals, and stand-in step
 * runners that sleep, write files, fail on demand and record their concurrency. The module is
 * also a runners module for test/support/edgezoo-with-runners.mjs (exports `runners` and
 * `recipes`), steered by environment variables because the CLI runs in another process:
 * - EDGEZOO_STANDIN_MODELS: how many models (default 3), named m00, m01, ...
 * - EDGEZOO_STANDIN_SLEEP_MS: time each step takes (default 0)
 * - EDGEZOO_STANDIN_FAIL: regex of step ids that throw (an error, not cached)
 * - EDGEZOO_STANDIN_INVALID: regex of step ids that return a deterministic failure
 * - EDGEZOO_STANDIN_TRACE: file that gets `start`/`end` JSON lines per step
 * - EDGEZOO_STANDIN_CHILD: file; each step then runs a child `sh` (with a grandchild
 *   `sleep` taking EDGEZOO_STANDIN_SLEEP_MS) through runCommand and appends both pids to the file
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from '../../src/toolchain/process.js';
import type { StepRunner, StepRunners } from '../../src/build/types.js';
import { EdgezooError } from '../../src/errors.js';
import type { Precision, Recipe, TargetFormat } from '../../src/recipe/types.js';

const FAKE_SHA = 'a'.repeat(64);

/** A valid normalised Recipe with an ONNX source; override any field. */
export function makeRecipe(name: string, overrides: Partial<Recipe> = {}): Recipe {
  return {
    name,
    version: '1.0.0',
    license: 'Apache-2.0',
    description: `test model ${name}`,
    task: 'image-classification',
    tags: [],
    source: { kind: 'onnx', file: { location: { kind: 'path', path: `models/${name}/model.onnx` }, sha256: FAKE_SHA } },
    inputs: [{ name: 'input', shape: [1, 3, 8, 8], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] }],
    outputs: [],
    preprocess: { resize: false, channelOrder: 'rgb', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    validation: { samples: '', count: 0, topk: 5, seed: 0 },
    targets: { onnx: ['fp32', 'fp16'], tflite: ['fp32'] },
    skip: {},
    converters: {},
    opset: 17,
    tolerances: {},
    ...overrides,
  };
}

/** Targets shorthand: `targets('onnx/fp32', 'tflite/int8')`. */
export function targets(...list: string[]): Partial<Record<TargetFormat, Precision[]>> {
  const result: Partial<Record<TargetFormat, Precision[]>> = {};
  for (const item of list) {
    const [format, precision] = item.split('/') as [TargetFormat, Precision];
    (result[format] ??= []).push(precision);
  }
  return result;
}

/** The tool versions every test plans with. */
export const TEST_TOOLCHAIN = {
  versions: {
    edgezoo: '0.1.0',
    onnxslim: '0.1.0',
    onnxruntime: '1.23.0',
    'onnxruntime-node': '1.30.0',
    onnx2tf: '1.29.24',
    'ai-edge-litert': '2.1.0',
    openvino: '2025.1',
    torch: '2.13.0',
    'litert-torch': '0.9.4',
    tf2onnx: '1.17.0',
  },
  platform: 'linux-x64-node20',
};

/** Sleeps `ms`, rejecting as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A stand-in runner from the environment variables above (read on every call). */
export const standinRunner: StepRunner = async (step, ctx) => {
  const env = process.env;
  const trace = env['EDGEZOO_STANDIN_TRACE'];
  if (trace)
    appendFileSync(trace, `${JSON.stringify({ id: step.id, event: 'start', t: Date.now(), pid: process.pid })}\n`);
  try {
    const childFile = env['EDGEZOO_STANDIN_CHILD'];
    const sleepMs = Number(env['EDGEZOO_STANDIN_SLEEP_MS'] ?? '0');
    if (childFile) {
      // The step's time is spent in a grandchild, like a converter started by a Python driver.
      const seconds = (sleepMs / 1000).toFixed(3);
      await runCommand(['sh', '-c', `echo $$ >> "${childFile}"; sleep ${seconds} & echo $! >> "${childFile}"; wait`], {
        signal: ctx.signal,
        onLine: ctx.log,
        killGraceMs: 500,
      });
    } else if (sleepMs > 0) {
      await abortableSleep(sleepMs, ctx.signal);
    }
    if (env['EDGEZOO_STANDIN_FAIL'] && new RegExp(env['EDGEZOO_STANDIN_FAIL']).test(step.id)) {
      throw new EdgezooError('STANDIN_FAIL', `stand-in failure of ${step.id}`);
    }
    // Outputs that depend only on the step's inputs, like a real deterministic converter.
    const upstream = Object.entries(ctx.inputs)
      .map(([id, input]) => `${id}:${input.files.join(',')}`)
      .sort()
      .join(';');
    await writeFile(path.join(ctx.outDir, 'output.txt'), `${step.id}\n${step.fingerprint}\n${upstream}\n`);
    ctx.log(`stand-in ${step.id} wrote output.txt`);
    if (env['EDGEZOO_STANDIN_INVALID'] && new RegExp(env['EDGEZOO_STANDIN_INVALID']).test(step.id)) {
      return { status: 'failed', reason: 'stand-in: outputs differ from the reference' };
    }
    return { status: 'ok', figures: { inputs: Object.keys(ctx.inputs).length } };
  } finally {
    if (trace)
      appendFileSync(trace, `${JSON.stringify({ id: step.id, event: 'end', t: Date.now(), pid: process.pid })}\n`);
  }
};

export const runners: StepRunners = {
  fetch: standinRunner,
  prepare: standinRunner,
  'convert-run': standinRunner,
  convert: standinRunner,
  reference: standinRunner,
  validate: standinRunner,
  benchmark: standinRunner,
  package: standinRunner,
};

/** The models the CLI builds when run with this module's runners. */
export const recipes: Recipe[] = Array.from(
  { length: Number(process.env['EDGEZOO_STANDIN_MODELS'] ?? '3') },
  (_, index) => makeRecipe(`m${String(index).padStart(2, '0')}`),
);

/** Max number of steps running at once, from a trace's start/end lines. */
export function maxConcurrency(lines: Array<{ event: string; t: number }>): number {
  let running = 0;
  let max = 0;
  // Ends before starts at the same millisecond: a step that ended lets the next one start.
  const sorted = [...lines].sort((a, b) => a.t - b.t || (a.event === 'end' ? -1 : 1));
  for (const line of sorted) {
    running += line.event === 'start' ? 1 : -1;
    max = Math.max(max, running);
  }
  return max;
}

/** Alive and not a zombie (an orphan's zombie lingers until the container's init reaps it). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
