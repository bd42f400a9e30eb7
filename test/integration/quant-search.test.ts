/**
 * The quantization search with the real onnxruntime (tf venv), on a small conv net built here
 * whose input carries one bright pixel per sample (200 against a body in [-1, 1]): full int8
 * gives the input one scale for both, the body rounds to a few levels and the output misses the
 * 0.98 cosine; so does Percentile calibration (the spike is 1 in 1024 values). The ranking puts
 * the input worst (its own SQNR), the keep-float rung keeps its consumer float with the output
 * head, and that passes: recorded attempts (each with its cosine), the layers kept float and the
 * recipe lines that pin them. A recipe pinning the input to 16-bit Q/DQ builds once and inspects
 * as int8 with some 16-bit activations. A re-run after the step's cache entry is gone takes every
 * earlier quantization from the attempt cache.
 *
 * TFLite (onnx2tf's float model, TFLite's quantizer): a net that multiplies one activation by a
 * constant with one element at 300 (a hot pixel inside the model; the input is plain, since a
 * TFLite int8 model's input is int8 whatever is kept float) then clips it: full int8 misses,
 * the search keeps the multiply and its neighbours float and passes.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ARTIFACT_FILE, readStepFile } from '../../src/build/step-files.js';
import { buildModel, type ModelProto } from '../../src/formats/onnx/index.js';
import { writeNpy } from '../../src/validate/npy.js';
import { buildCollectingFailures, buildUpToConvert, writeOnnxModelRecipe } from './convert-project.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-quant-search-'));
after(() => rmSync(root, { recursive: true, force: true }));

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function normal(n: number, sigma: number, seed: number): Float32Array {
  const next = random(seed);
  return Float32Array.from({ length: n }, () => {
    const u = Math.max(next(), 1e-9);
    return sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  });
}

/** One [1,4,16,16] sample: uniform in [-1, 1], one pixel of channel 0 at 200. */
function spikySample(seed: number): Float32Array {
  const next = random(seed);
  const data = Float32Array.from({ length: 4 * 16 * 16 }, () => next() * 2 - 1);
  data[Math.floor(next() * 256)] = 200;
  return data;
}

/** The spiky model as models/<name>/model.onnx, and its recipe (samples from models/spiky) with `extra` lines. */
function writeSpiky(name: string, model: ModelProto, extra: string[]): void {
  writeOnnxModelRecipe(root, name, model, {
    description: 'a conv net whose input has one bright pixel per sample',
    inputs: '[{ name: x, shape: [1, 4, 16, 16], layout: NCHW, range: [-1, 200] }]',
    targets: '{ onnx: [int8] }',
    extra: [
      'calibration: { samples: models/spiky/calib/*.npy, count: 16 }',
      'validation: { samples: models/spiky/val/*.npy, count: 8 }',
      ...extra,
    ],
  });
}

test('ONNX int8: full and Percentile fail, the search keeps the spiky input float and passes; a 16-bit pin; the attempt cache', async () => {
  const dir = path.join(root, 'models', 'spiky');
  mkdirSync(path.join(dir, 'calib'), { recursive: true });
  mkdirSync(path.join(dir, 'val'), { recursive: true });
  const model = buildModel({
    opset: 17,
    irVersion: 8,
    inputs: [{ name: 'x', shape: [1, 4, 16, 16] }],
    outputs: [{ name: 'y', shape: [1, 4, 16, 16] }],
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1'], outputs: ['t1'], name: 'conv1', attributes: { pads: [1, 1, 1, 1] } },
      // The spike stops here: what follows sees only the body.
      { op: 'Clip', inputs: ['t1', 'lo', 'hi'], outputs: ['t2'], name: 'clip' },
      { op: 'Conv', inputs: ['t2', 'w2'], outputs: ['t3'], name: 'conv2', attributes: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['t3'], outputs: ['t4'], name: 'relu' },
      { op: 'Conv', inputs: ['t4', 'w3'], outputs: ['y'], name: 'conv3' },
    ],
    initializers: [
      { name: 'w1', data: normal(8 * 4 * 9, 0.3, 1), dims: [8, 4, 3, 3] },
      { name: 'w2', data: normal(8 * 8 * 9, 0.2, 2), dims: [8, 8, 3, 3] },
      { name: 'w3', data: normal(4 * 8, 0.5, 3), dims: [4, 8, 1, 1] },
      { name: 'lo', data: [-3], dims: [] },
      { name: 'hi', data: [3], dims: [] },
    ],
  });
  for (let i = 0; i < 16; i++)
    await writeNpy(path.join(dir, 'calib', `${String(i).padStart(2, '0')}.npy`), {
      dtype: 'float32',
      dims: [1, 4, 16, 16],
      data: spikySample(100 + i),
    });
  for (let i = 0; i < 8; i++)
    await writeNpy(path.join(dir, 'val', `${i}.npy`), {
      dtype: 'float32',
      dims: [1, 4, 16, 16],
      data: spikySample(900 + i),
    });
  writeSpiky('spiky', model, []);
  writeSpiky('spiky-16', model, ['quantization: { onnx/int8: { int16_tensors: [x] } }']);

  const { summary, outputs, failures } = await buildCollectingFailures(root, ['spiky', 'spiky-16']);
  assert.deepEqual(failures, []);
  assert.equal(summary.ok, true);

  const searched = await readStepFile(outputs['spiky/convert/onnx/int8']!, ARTIFACT_FILE);
  assert.deepEqual(
    searched.attempts?.map((a) => [a.strategy, a.outcome, a.stage]),
    [
      ['quant-full', 'failed', 'numbers'],
      ['quant-percentile', 'failed', 'numbers'],
      ['quant-keep-float-5', 'passed', undefined],
    ],
  );
  const [full, percentile, kept] = searched.attempts!;
  assert.ok(full!.cosines!.y! < 0.98, JSON.stringify(full));
  assert.ok(percentile!.cosines!.y! < 0.98, JSON.stringify(percentile));
  assert.ok(kept!.cosines!.y! >= 0.98, JSON.stringify(kept));
  const applied = (searched.notes as { quantization: { keptFloat: string[]; int16Tensors?: string[] } }).quantization;
  // The output head (conv3) and the input's only consumer (conv1): x is not quantised at all.
  assert.deepEqual([...applied.keptFloat].sort(), ['conv1', 'conv3']);
  assert.equal(searched.inspect.quantizationKind, 'qdq-int8');
  assert.deepEqual(searched.pin, ['quantization:', '  onnx/int8: { keep_float: [conv3, conv1] }']);
  const log = readFileSync(path.join(root, 'artifacts', 'logs', 'spiky', 'convert-onnx-int8.log'), 'utf8');
  assert.match(log, /activations ranked; worst: x \(input, /);
  assert.match(log, /attempt 1 \(onnxruntime quant-full\) rejected \(numbers\) \(cosine y 0\.9/);
  assert.match(log, /pin it with:\n.*quantization:\n.*onnx\/int8: \{ keep_float: \[conv3, conv1\] \}/);

  const pinned = await readStepFile(outputs['spiky-16/convert/onnx/int8']!, ARTIFACT_FILE);
  assert.deepEqual(
    pinned.attempts?.map((a) => [a.strategy, a.outcome]),
    [['quant-pinned', 'passed']],
  );
  assert.equal(pinned.inspect.quantizationKind, 'qdq-int8-int16');
  assert.deepEqual((pinned.notes as { quantization: { int16Tensors?: string[] } }).quantization.int16Tensors, ['x']);

  // The step's entry gone (as after a build that failed at a later attempt): the re-run takes
  // the pre-processed model, the ranking and each attempt's model from the attempt cache.
  rmSync(path.dirname(outputs['spiky/convert/onnx/int8']!), { recursive: true, force: true });
  const again = await buildUpToConvert(root, ['spiky']);
  assert.equal(again.summary.ok, true);
  const rerun = readFileSync(path.join(root, 'artifacts', 'logs', 'spiky', 'convert-onnx-int8.log'), 'utf8');
  const fromCache = rerun.split('\n').filter((line) => line.includes('from the attempt cache'));
  assert.equal(fromCache.length, 4, rerun);
  assert.doesNotMatch(rerun, /quant\.onnx_static|quant\.onnx_rank/);
  const second = await readStepFile(again.outputs['spiky/convert/onnx/int8']!, ARTIFACT_FILE);
  assert.deepEqual(second.pin, searched.pin);
});

test('TFLite int8: full int8 fails on a hot activation, keep-float-5 keeps it float and passes', async () => {
  const dir = path.join(root, 'models', 'hot');
  mkdirSync(path.join(dir, 'calib'), { recursive: true });
  mkdirSync(path.join(dir, 'val'), { recursive: true });
  const mask = new Float32Array(8 * 16 * 16).fill(1);
  mask[5 * 16 + 7] = 300;
  const conv = (name: string, input: string, weights: string, output: string) => ({
    op: 'Conv',
    inputs: [input, weights],
    outputs: [output],
    name,
    attributes: { pads: [1, 1, 1, 1] },
  });
  const model = buildModel({
    opset: 17,
    irVersion: 8,
    inputs: [{ name: 'x', shape: [1, 4, 16, 16] }],
    outputs: [{ name: 'y', shape: [1, 4, 16, 16] }],
    nodes: [
      conv('conv1', 'x', 'w1', 't1'),
      { op: 'Mul', inputs: ['t1', 'mask'], outputs: ['hot'], name: 'hot' },
      { op: 'Clip', inputs: ['hot', 'lo', 'hi'], outputs: ['t2'], name: 'clip' },
      conv('conv2', 't2', 'w2', 't3'),
      { op: 'Relu', inputs: ['t3'], outputs: ['t4'], name: 'relu2' },
      conv('conv4', 't4', 'w4', 't5'),
      { op: 'Relu', inputs: ['t5'], outputs: ['t6'], name: 'relu4' },
      conv('conv5', 't6', 'w5', 't7'),
      { op: 'Relu', inputs: ['t7'], outputs: ['t8'], name: 'relu5' },
      // More plain layers: the search keeps at most half of the ops float, heads included.
      ...[6, 7, 8, 9].flatMap((i) => [
        conv(`conv${i}`, i === 6 ? 't8' : `r${i - 1}`, `w${i}`, `c${i}`),
        { op: 'Relu', inputs: [`c${i}`], outputs: [`r${i}`], name: `relu${i}` },
      ]),
      { op: 'Conv', inputs: ['r9', 'w3'], outputs: ['y'], name: 'conv3' },
    ],
    initializers: [
      { name: 'w1', data: normal(8 * 4 * 9, 0.3, 11), dims: [8, 4, 3, 3] },
      { name: 'w2', data: normal(8 * 8 * 9, 0.2, 12), dims: [8, 8, 3, 3] },
      { name: 'w4', data: normal(8 * 8 * 9, 0.2, 14), dims: [8, 8, 3, 3] },
      { name: 'w5', data: normal(8 * 8 * 9, 0.2, 15), dims: [8, 8, 3, 3] },
      { name: 'w3', data: normal(4 * 8, 0.5, 13), dims: [4, 8, 1, 1] },
      ...[6, 7, 8, 9].map((i) => ({ name: `w${i}`, data: normal(8 * 8 * 9, 0.2, 10 + i * 7), dims: [8, 8, 3, 3] })),
      { name: 'mask', data: mask, dims: [1, 8, 16, 16] },
      { name: 'lo', data: [-3], dims: [] },
      { name: 'hi', data: [3], dims: [] },
    ],
  });
  const plain = (seed: number) => {
    const next = random(seed);
    return Float32Array.from({ length: 4 * 16 * 16 }, () => next() * 2 - 1);
  };
  for (let i = 0; i < 16; i++)
    await writeNpy(path.join(dir, 'calib', `${String(i).padStart(2, '0')}.npy`), {
      dtype: 'float32',
      dims: [1, 4, 16, 16],
      data: plain(300 + i),
    });
  for (let i = 0; i < 8; i++)
    await writeNpy(path.join(dir, 'val', `${i}.npy`), { dtype: 'float32', dims: [1, 4, 16, 16], data: plain(700 + i) });
  writeOnnxModelRecipe(root, 'hot', model, {
    description: 'a conv net with one hot activation',
    inputs: '[{ name: x, shape: [1, 4, 16, 16], layout: NCHW, range: [-1, 1] }]',
    targets: '{ tflite: [int8] }',
    extra: [
      'calibration: { samples: models/hot/calib/*.npy, count: 16 }',
      'validation: { samples: models/hot/val/*.npy, count: 8 }',
    ],
  });
  const { summary, outputs, failures } = await buildCollectingFailures(root, ['hot']);
  assert.deepEqual(failures, []);
  assert.equal(summary.ok, true);
  const artifact = await readStepFile(outputs['hot/convert/tflite/int8']!, ARTIFACT_FILE);
  assert.deepEqual(
    artifact.attempts?.map((a) => [a.strategy, a.outcome, a.stage]),
    [
      ['quant-full', 'failed', 'numbers'],
      ['quant-keep-float-5', 'passed', undefined],
    ],
  );
  assert.ok(artifact.attempts![0]!.cosines!.y! < 0.98, JSON.stringify(artifact.attempts));
  assert.ok(artifact.attempts![1]!.cosines!.y! >= 0.98, JSON.stringify(artifact.attempts));
  const kept = (artifact.notes as { quantization: { keptFloat: string[] } }).quantization.keptFloat;
  // The multiply by the mask (onnx2tf names it after tf.math.multiply) is among the ops kept float.
  assert.ok(
    kept.some((name) => /multiply/.test(name)),
    kept.join(', '),
  );
  assert.ok(
    ['full-integer-int8', 'mixed'].includes(artifact.inspect.quantizationKind),
    artifact.inspect.quantizationKind,
  );
  assert.equal(artifact.pin?.[0], 'quantization:');
  assert.match(artifact.pin?.[1] ?? '', /^ {2}tflite\/int8: \{ keep_float: \[.*multiply.*\] \}$/);
});
