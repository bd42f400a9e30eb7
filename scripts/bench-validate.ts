/**
 * Measures the validate module's own costs, so the build's validate step stays cheap next to the
 * runtimes it drives: comparison throughput, transposes, the .npy codec, image decoding, and
 * onnxruntime-node latency on a small generated CNN. Goals (regression guards, about 4x the
 * figures of a loaded 2-core machine): comparing 1 M classifier values under 250 ms, a JPEG
 * sample loaded in under 50 ms.
 *
 *   node --import tsx scripts/bench-validate.ts [--json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { buildModel, encodeModel } from '../src/formats/onnx/index.js';
import type { Recipe } from '../src/recipe/types.js';
import {
  benchmarkModel,
  compareOutputs,
  decodeNpy,
  DEFAULT_THRESHOLDS,
  encodeNpy,
  loadSamples,
  OnnxRuntimeRunner,
  prepareFeeds,
  seededRandom,
  transposeLayout,
  type Tensor,
} from '../src/validate/index.js';
import { benchOptions, goal, machineLine, median, printGoalsOnStderr, summariseGoals, timeRuns } from './lib/bench.js';

const options = benchOptions('node --import tsx scripts/bench-validate.ts [--json]', { json: { type: 'boolean' } });

function random(dims: number[], seed: number): Tensor<'float32'> {
  const next = seededRandom(seed);
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = next() * 2 - 1;
  return { dtype: 'float32', dims, data };
}

/** Median of 3 runs after a warm-up, recorded under `label`. */
async function time(label: string, fn: () => unknown): Promise<number> {
  const ms = median(await timeRuns(3, fn, 1));
  results[label] = Math.round(ms * 100) / 100;
  return ms;
}

const results: Record<string, number> = {};
const goals: Array<() => void> = [];
const folder = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-bench-validate-'));
try {
  const logits = random([1000, 1000], 1);
  const noisy = { ...logits, data: logits.data.map((v, i) => v + (i % 7) * 1e-6) };
  const compareMs = await time('compare 1000x1000 classifier (ms)', () =>
    compareOutputs(
      { l: { tensor: logits } },
      { l: { tensor: noisy } },
      { thresholds: DEFAULT_THRESHOLDS.fp32, classifierOutputs: ['l'], topk: 5 },
    ),
  );
  const features = random([16, 64, 56, 56], 2);
  const featuresNhwc = transposeLayout(features, 'NCHW', 'NHWC');
  await time('compare 16x64x56x56 feature map, NHWC vs NCHW (ms)', () =>
    compareOutputs(
      { f: { tensor: features, layout: 'NCHW' } },
      { f: { tensor: featuresNhwc, layout: 'NHWC' } },
      { thresholds: DEFAULT_THRESHOLDS.fp32 },
    ),
  );
  const images = random([16, 3, 224, 224], 3);
  await time('transpose 16x3x224x224 NCHW->NHWC (ms)', () => transposeLayout(images, 'NCHW', 'NHWC'));
  const encoded = encodeNpy(images);
  await time(`encode .npy ${(encoded.length / 2 ** 20).toFixed(1)} MiB (ms)`, () => encodeNpy(images));
  await time(`decode .npy ${(encoded.length / 2 ** 20).toFixed(1)} MiB (ms)`, () => decodeNpy(encoded));

  // 32 generated 640x480 JPEGs, decoded, resized to 224x224 and normalised.
  mkdirSync(path.join(folder, 'models/bench/val'), { recursive: true });
  const pixels = Buffer.from(random([480, 640, 3], 4).data.map((v) => (v + 1) * 127));
  for (let i = 0; i < 32; i++) {
    await sharp(pixels, { raw: { width: 640, height: 480, channels: 3 } })
      .jpeg()
      .toFile(path.join(folder, `models/bench/val/${String(i).padStart(2, '0')}.jpg`));
  }
  const recipe: Recipe = {
    name: 'bench',
    version: '1.0.0',
    license: 'MIT',
    description: '',
    task: 'image-classification',
    tags: [],
    source: { kind: 'onnx', file: { location: { kind: 'path', path: 'm.onnx' }, sha256: '0'.repeat(64) } },
    inputs: [{ name: 'x', shape: [1, 3, 224, 224], dynamic: [], layout: 'NCHW', dtype: 'float32', range: [0, 1] }],
    outputs: [],
    preprocess: {
      resize: true,
      channelOrder: 'rgb',
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
    validation: { samples: 'models/bench/val/*.jpg', count: 32, topk: 5, seed: 0 },
    targets: {},
    skip: {},
    converters: {},
    opset: 17,
    tolerances: {},
  };
  const loadMs = await time('load 32 JPEG samples 640x480 -> 1x3x224x224 (ms)', () =>
    loadSamples(recipe, folder, 'validation'),
  );
  goals.push(() => goal('comparing 1 M classifier values', compareMs, '<', 250, 'ms'));
  goals.push(() => goal('loading one JPEG sample', loadMs / 32, '<', 50, 'ms'));

  // A small CNN: two strided 3x3 convs, pooling and a 1000-way classifier.
  const modelPath = path.join(folder, 'cnn.onnx');
  writeFileSync(
    modelPath,
    encodeModel(
      buildModel({
        inputs: [{ name: 'x', shape: [1, 3, 224, 224] }],
        outputs: [{ name: 'logits', shape: [1, 1000] }],
        nodes: [
          { op: 'Conv', inputs: ['x', 'w1'], outputs: ['c1'], attributes: { strides: [2, 2], pads: [1, 1, 1, 1] } },
          { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
          { op: 'Conv', inputs: ['r1', 'w2'], outputs: ['c2'], attributes: { strides: [2, 2], pads: [1, 1, 1, 1] } },
          { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
          { op: 'GlobalAveragePool', inputs: ['r2'], outputs: ['p'] },
          { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
          { op: 'Gemm', inputs: ['f', 'w3'], outputs: ['logits'], attributes: { transB: 1 } },
        ],
        initializers: [
          { name: 'w1', data: random([32, 3, 3, 3], 5).data, dims: [32, 3, 3, 3] },
          { name: 'w2', data: random([64, 32, 3, 3], 6).data, dims: [64, 32, 3, 3] },
          { name: 'w3', data: random([1000, 64], 7).data, dims: [1000, 64] },
        ],
      }),
    ),
  );
  const sample = (await loadSamples(recipe, folder, 'validation')).samples[0]!;
  const bench = await benchmarkModel(
    (threads) => new OnnxRuntimeRunner({ threads }),
    modelPath,
    (runner) => prepareFeeds(sample, recipe.inputs, runner.inputs()),
    {
      warmup: 5,
      iterations: 50,
    },
  );
  for (const run of bench.runs) {
    results[`onnxruntime small CNN, ${run.threads} thread(s): load (ms)`] = Math.round(run.loadMs * 10) / 10;
    results[`onnxruntime small CNN, ${run.threads} thread(s): median (ms)`] = Math.round(run.medianMs * 100) / 100;
    results[`onnxruntime small CNN, ${run.threads} thread(s): p90 (ms)`] = Math.round(run.p90Ms * 100) / 100;
    results[`onnxruntime small CNN, ${run.threads} thread(s): peak RSS delta (MiB)`] =
      Math.round((run.peakRssDeltaBytes / 2 ** 20) * 10) / 10;
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}

if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else for (const [label, value] of Object.entries(results)) process.stdout.write(`${label.padEnd(62)} ${value}\n`);
if (options.json) printGoalsOnStderr();
for (const check of goals) check();
console.error(machineLine());
summariseGoals();
