/**
 * Warm workers vs a fresh Python process per step, in one run: trains the tiny CNN into a
 * temporary project, then builds its test zoo (every target and precision via onnx2tf, plus
 * litert-torch fp32/int8) up to the convert steps twice, each time into an empty cache:
 * once with the shared warm workers, once with a pool that stops each worker after one request
 * (`requestsPerWorker: 1`: a new Python process per request, paying the imports every time).
 * Goal: warm >= 1.5x faster.
 *
 *   node --import tsx scripts/bench-workers.ts [--rounds N] [--keep]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configureSharedWorkerPool } from '../src/toolchain/pool.js';
import { buildUpToConvert, tinyCnnRecipe, trainTinyCnn, writeRecipe } from '../test/integration/convert-project.js';

const keep = process.argv.includes('--keep');
const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-bench-workers-'));
try {
  const { weightsSha256 } = trainTinyCnn(root);
  writeRecipe(
    root,
    'tiny-cnn',
    tinyCnnRecipe(
      'tiny-cnn',
      weightsSha256,
      '{ onnx: [fp32, fp16, dynamic-int8, int8], tflite: [fp32, fp16, dynamic-int8, int8, int16-act], openvino: [fp32, fp16] }',
    ),
  );
  writeRecipe(
    root,
    'tiny-cnn-litert',
    tinyCnnRecipe('tiny-cnn-litert', weightsSha256, '{ tflite: [fp32, int8] }', 'litert-torch'),
  );
  const names = ['tiny-cnn', 'tiny-cnn-litert'];
  // Other work on the machine skews single runs: alternate the modes and keep each one's best.
  const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 2;
  const best: Record<'warm' | 'fresh', number> = { warm: Infinity, fresh: Infinity };
  console.log(
    `load average before: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (let round = 0; round < rounds; round++) {
    // Fresh first in the first round: it warms the page cache for the Python libraries.
    for (const mode of round % 2 === 0 ? (['fresh', 'warm'] as const) : (['warm', 'fresh'] as const)) {
      await configureSharedWorkerPool(mode === 'fresh' ? { requestsPerWorker: 1 } : {});
      rmSync(path.join(root, 'artifacts'), { recursive: true, force: true });
      const started = performance.now();
      const { summary } = await buildUpToConvert(root, names);
      const seconds = (performance.now() - started) / 1000;
      best[mode] = Math.min(best[mode], seconds);
      const steps = summary.models.reduce((n, m) => n + m.run, 0);
      console.log(
        `round ${round + 1} ${mode.padEnd(5)}  ${seconds.toFixed(1)} s  ${steps} steps run  ${summary.ok ? 'ok' : 'FAILED'}`,
      );
      if (!summary.ok) process.exitCode = 1;
    }
  }
  console.log(`best: fresh ${best.fresh.toFixed(1)} s, warm ${best.warm.toFixed(1)} s (worker shutdown included)`);
  console.log(
    `warm workers are ${(best.fresh / best.warm).toFixed(2)}x faster than a fresh process per step (goal >= 1.5x) on ${os.availableParallelism()} cores`,
  );
} finally {
  if (keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
