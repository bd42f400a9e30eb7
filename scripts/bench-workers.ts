/**
 * Warm workers vs a fresh Python process per step, in one run: trains the tiny CNN into a
 * temporary project, then builds its test zoo (every target and precision via onnx2tf, plus
 * litert-torch fp32/int8) up to the convert steps twice, each time into an empty cache:
 * once with the shared warm workers, once with `runOnce` (a new process per request).
 * Goal: warm >= 1.5x faster.
 *
 *   node --import tsx scripts/bench-workers.ts [--jobs N] [--keep]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setWorkerMode } from '../src/toolchain/pool.js';
import { buildUpToConvert, tinyCnnRecipe, trainTinyCnn, writeRecipe } from '../test/integration/convert-project.js';

const keep = process.argv.includes('--keep');
const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-bench-workers-'));
try {
  const { weightsSha256 } = trainTinyCnn(root);
  writeRecipe(root, 'tiny-cnn', tinyCnnRecipe('tiny-cnn', weightsSha256, '{ onnx: [fp32, fp16, dynamic-int8, int8], tflite: [fp32, fp16, dynamic-int8, int8, int16-act], openvino: [fp32, fp16] }'));
  writeRecipe(root, 'tiny-cnn-litert', tinyCnnRecipe('tiny-cnn-litert', weightsSha256, '{ tflite: [fp32, int8] }', 'litert-torch'));
  const names = ['tiny-cnn', 'tiny-cnn-litert'];
  const results: Record<string, { seconds: number; steps: number; ok: boolean }> = {};
  // Fresh first: it warms the OS page cache for the Python libraries, which favours the warm run least.
  for (const mode of ['fresh', 'warm'] as const) {
    setWorkerMode(mode);
    rmSync(path.join(root, 'artifacts'), { recursive: true, force: true });
    const started = performance.now();
    const { summary } = await buildUpToConvert(root, names);
    const seconds = (performance.now() - started) / 1000;
    results[mode] = { seconds, steps: summary.models.reduce((n, m) => n + m.run, 0), ok: summary.ok };
    console.log(`${mode.padEnd(5)}  ${seconds.toFixed(1)} s  ${results[mode].steps} steps run  ${summary.ok ? 'ok' : 'FAILED'}`);
  }
  const speedup = results.fresh!.seconds / results.warm!.seconds;
  console.log(`warm workers are ${speedup.toFixed(2)}x faster than a fresh process per step (goal >= 1.5x) on ${os.availableParallelism()} cores`);
} finally {
  if (keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
