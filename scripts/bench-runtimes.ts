/**
 * Runtime latencies in one run, on artifacts the real build makes: fp32 TFLite on LiteRT
 * (XNNPACK, the interpreter's default CPU delegate) against the source exported to ONNX on
 * onnxruntime-node (goal: not slower), and int8 TFLite against fp32 TFLite (goal: >= 1.5x
 * faster). The model is the tiny-cnn fixture's TinyCNN widened to 64 channels on a 1x3x128x128
 * input (random seeded weights: latency does not depend on them), so kernels, not call
 * overheads, dominate.
 *
 *   node --import tsx scripts/bench-runtimes.ts [--iterations 100] [--keep]
 *
 * Timing: LiteRT is timed in the Python worker around `invoke()`; onnxruntime-node in this
 * process around `session.run()` (which includes the small cost of crossing from JS to native
 * and copying the output). Each figure is the median of `--iterations` runs after 10 warm-ups.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUILTIN_CATALOGUE } from '../src/catalogue/index.js';
import { toolRoot } from '../src/paths.js';
import { stopSharedWorkerPool } from '../src/toolchain/pool.js';
import { artifactRunner } from '../src/build/runners/validate.js';
import {
  benchmarkModel,
  defaultThreadCounts,
  prepareFeeds,
  seededRandom,
  syntheticSamples,
  writeNpy,
  type BenchmarkResult,
} from '../src/validate/index.js';
import type { InputSpec } from '../src/recipe/types.js';
import { benchOptions, goal, machineLine, numberOption, summariseGoals } from './lib/bench.js';

const options = benchOptions('node --import tsx scripts/bench-runtimes.ts [--iterations 100] [--keep]', {
  iterations: { type: 'string', default: '100' },
  keep: { type: 'boolean' },
});
const iterations = numberOption('iterations', options.iterations);
const keep = options.keep === true;

const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-bench-runtimes-'));
const modelDir = path.join(root, 'models', 'wide-cnn');
await mkdir(path.join(modelDir, 'calib'), { recursive: true });
await mkdir(path.join(root, 'recipes'));
await copyFile(path.join(toolRoot, 'test', 'fixtures', 'tiny-cnn', 'model.py'), path.join(modelDir, 'model.py'));
// The factory takes no seed: wrap it so the weights are the same in every run.
await writeFile(
  path.join(modelDir, 'seeded.py'),
  'import torch\nfrom model import build as _build\n\n\ndef build(**kwargs):\n    torch.manual_seed(0)\n    return _build(**kwargs)\n',
);
const next = seededRandom(7);
for (let i = 0; i < 16; i++) {
  const data = new Float32Array(3 * 128 * 128).map(() => next());
  await writeNpy(path.join(modelDir, 'calib', `${String(i).padStart(3, '0')}.npy`), {
    dtype: 'float32',
    dims: [1, 3, 128, 128],
    data,
  });
}
await writeFile(
  path.join(root, 'recipes', 'wide-cnn.yaml'),
  `name: wide-cnn
version: 1.0.0
license: Apache-2.0
description: TinyCNN widened for runtime benchmarks.
task: image-classification
source:
  pytorch: { factory: "models/wide-cnn/seeded.py:build", kwargs: { width: 64 } }
inputs:
  - { name: input, shape: [1, 3, 128, 128], layout: NCHW, range: [0, 1] }
outputs:
  - { name: logits }
calibration: { samples: models/wide-cnn/calib/*.npy, count: 16 }
validation: { count: 4 }
opset: 18
targets:
  onnx: [fp32]
  tflite: [fp32, int8]
`,
);

console.log(`building the benchmark model in ${root} …`);
const started = Date.now();
const build = spawnSync(process.execPath, [path.join(toolRoot, 'src', 'cli', 'edgezoo.mjs'), 'build', 'wide-cnn'], {
  cwd: root,
  encoding: 'utf8',
});
if (build.status !== 0) {
  console.error(build.stdout, build.stderr);
  throw new Error(`the build failed (exit ${build.status})`);
}
console.log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);

const index = JSON.parse(await readFile(path.join(root, 'artifacts', 'zoo', 'index.json'), 'utf8')) as {
  models: Array<{
    versions: Array<{
      artifacts: Array<{ format: 'onnx' | 'tflite'; precision: string; url: string; size: number; signature: unknown }>;
    }>;
  }>;
};
const artifacts = index.models[0]!.versions[0]!.artifacts;
const inputs: InputSpec[] = [
  { name: 'input', shape: [1, 3, 128, 128], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] },
];
const [sample] = syntheticSamples(inputs, 1, 0);
const log = () => undefined;
const ctx = { signal: new AbortController().signal, log, catalogue: BUILTIN_CATALOGUE };

async function bench(format: 'onnx' | 'tflite', precision: string): Promise<BenchmarkResult & { size: number }> {
  const artifact = artifacts.find((a) => a.format === format && a.precision === precision);
  if (!artifact) throw new Error(`no ${format}/${precision} artifact in the zoo`);
  const file = path.join(root, 'artifacts', 'zoo', artifact.url);
  // TFLite inputs are NHWC: transposed as validation does it (the layout is in the signature).
  const layout = format === 'tflite' ? { inputLayouts: {} as Record<string, string> } : {};
  const result = await benchmarkModel(
    (threads) => artifactRunner(format, ctx, threads),
    file,
    (runner) => {
      if (format === 'tflite')
        for (const info of runner.inputs())
          (layout as { inputLayouts: Record<string, string> }).inputLayouts[info.name] = 'NHWC';
      return prepareFeeds(sample!, inputs, runner.inputs(), layout);
    },
    { warmup: 10, iterations, threads: defaultThreadCounts() },
  );
  return { ...result, size: artifact.size };
}

try {
  const onnxFp32 = await bench('onnx', 'fp32');
  const tfliteFp32 = await bench('tflite', 'fp32');
  const tfliteInt8 = await bench('tflite', 'int8');
  const rows = [
    [
      'artifact',
      'runtime',
      'size',
      ...onnxFp32.runs.flatMap((run) => [`median ${run.threads}t ms`, `p90 ${run.threads}t ms`]),
      'load ms',
    ],
    ...[
      ['onnx/fp32', onnxFp32],
      ['tflite/fp32', tfliteFp32],
      ['tflite/int8', tfliteInt8],
    ].map(([name, result]) => {
      const r = result as BenchmarkResult & { size: number };
      return [
        name as string,
        r.runtime,
        `${(r.size / 1024).toFixed(0)} KiB`,
        ...r.runs.flatMap((run) => [run.medianMs.toFixed(3), run.p90Ms.toFixed(3)]),
        r.runs[0]!.loadMs.toFixed(1),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  console.log('');
  for (const cells of rows)
    console.log(
      cells
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
  console.log('');
  for (const [index, run] of tfliteFp32.runs.entries()) {
    const onnx = onnxFp32.runs[index]!;
    const int8 = tfliteInt8.runs[index]!;
    const vsOnnx = onnx.medianMs / run.medianMs;
    const int8Speedup = run.medianMs / int8.medianMs;
    goal(
      `${run.threads} thread(s): TFLite fp32 on LiteRT, speed against ONNX on onnxruntime-node`,
      vsOnnx,
      '>=',
      1,
      'x',
    );
    goal(`${run.threads} thread(s): TFLite int8, speed against fp32`, int8Speedup, '>=', 1.5, 'x');
  }
  console.log(machineLine());
  summariseGoals();
} finally {
  await stopSharedWorkerPool();
  if (!keep) await rm(root, { recursive: true, force: true });
}
