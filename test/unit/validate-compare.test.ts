import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  castTensor,
  checkThresholds,
  compareOutputs,
  DEFAULT_THRESHOLDS,
  dequantize,
  layoutPermutation,
  matchOutputs,
  measureOutput,
  quantize,
  resolveThresholds,
  TensorError,
  transpose,
  transposeLayout,
  type ComparedOutputs,
  type Tensor,
} from '../../src/validate/index.js';
import { seededRandom } from '../../src/validate/random.js';

function f32(dims: number[], values: number[] | Float32Array): Tensor<'float32'> {
  return { dtype: 'float32', dims, data: Float32Array.from(values) };
}

function randomTensor(dims: number[], seed: number, scale = 1): Tensor<'float32'> {
  const random = seededRandom(seed);
  const length = dims.reduce((a, b) => a * b, 1);
  return f32(
    dims,
    Array.from({ length }, () => (random() * 2 - 1) * scale),
  );
}

describe('layout transforms', () => {
  test('NCHW -> NHWC is the permutation [0, 2, 3, 1] and back is [0, 3, 1, 2]', () => {
    assert.deepEqual(layoutPermutation('NCHW', 'NHWC'), [0, 2, 3, 1]);
    assert.deepEqual(layoutPermutation('NHWC', 'NCHW'), [0, 3, 1, 2]);
  });

  test('transposes values, not only dims', () => {
    // [1, 2, 2, 3] NHWC: pixel (h, w) has channels [10h+w, 100+10h+w, 200+10h+w]
    const nhwc = f32([1, 2, 2, 3], [0, 100, 200, 1, 101, 201, 10, 110, 210, 11, 111, 211]);
    const nchw = transposeLayout(nhwc, 'NHWC', 'NCHW');
    assert.deepEqual(nchw.dims, [1, 3, 2, 2]);
    assert.deepEqual([...nchw.data], [0, 1, 10, 11, 100, 101, 110, 111, 200, 201, 210, 211]);
    assert.deepEqual([...transposeLayout(nchw, 'NCHW', 'NHWC').data], [...nhwc.data]);
  });

  test('a general permutation round-trips a rank-5 tensor', () => {
    const tensor = randomTensor([2, 3, 4, 5, 6], 7);
    const perm = [4, 2, 0, 3, 1];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const there = transpose(tensor, perm);
    assert.deepEqual(there.dims, [6, 4, 2, 5, 3]);
    assert.deepEqual([...transpose(there, inverse).data], [...tensor.data]);
  });

  test('refuses layouts that do not fit', () => {
    assert.throws(() => layoutPermutation('NCHW', 'NHW'), {
      message: 'cannot transpose layout NCHW into NHW: different ranks',
    });
    assert.throws(() => layoutPermutation('NCHW', 'NHWD'), {
      message: "cannot transpose layout NCHW into NHWD: NCHW has no axis 'D' left",
    });
    assert.throws(() => transposeLayout(f32([2, 2], [1, 2, 3, 4]), 'NCHW', 'NHWC'), TensorError);
  });
});

describe('quantisation', () => {
  test('per-tensor int8 quantise/dequantise rounds half to even and saturates', () => {
    const params = { dtype: 'int8' as const, scale: [0.5], zeroPoint: [-10] };
    const q = quantize(f32([6], [0, 0.25, 0.75, 1, 100, -100]), params);
    assert.equal(q.dtype, 'int8');
    assert.deepEqual([...q.data], [-10, -10, -8, -8, 127, -128]);
    assert.deepEqual([...dequantize(q, params).data], [0, 0, 1, 1, 68.5, -59]);
  });

  test('per-axis uint8 and int16 use one scale and zero point per channel', () => {
    const params = { dtype: 'uint8' as const, scale: [1, 0.1], zeroPoint: [128, 0], axis: 1 };
    const q = quantize(f32([2, 2], [1, 0.5, -1, 0.3]), params);
    assert.deepEqual([...q.data], [129, 5, 127, 3]);
    const back = dequantize(q, params);
    assert.deepEqual(
      [...back.data].map((v) => Math.round(v * 1000) / 1000),
      [1, 0.5, -1, 0.3],
    );
    const int16 = quantize(f32([2], [1, -1]), { dtype: 'int16', scale: [1 / 32768], zeroPoint: [0] });
    assert.deepEqual([...int16.data], [32767, -32768]);
  });

  test('refuses parameters that do not fit the tensor', () => {
    assert.throws(
      () => quantize(f32([2, 3], [0, 0, 0, 0, 0, 0]), { dtype: 'int8', scale: [1, 1], zeroPoint: [0, 0], axis: 1 }),
      {
        message: 'per-axis quantisation with 2 scales on axis 1 does not fit a tensor of shape [2, 3]',
      },
    );
    assert.throws(
      () =>
        dequantize({ dtype: 'int8', dims: [1], data: new Int8Array(1) }, { dtype: 'int8', scale: [0], zeroPoint: [0] }),
      {
        message: 'quantisation scales must be finite and positive, got [0]',
      },
    );
  });

  test('casts saturate instead of wrapping, and float16 goes through the half codec', () => {
    assert.deepEqual([...castTensor(f32([3], [300, -300, 2.5]), 'int8').data], [127, -128, 2]);
    const half = castTensor(f32([2], [1, 65504]), 'float16');
    assert.deepEqual([...half.data], [0x3c00, 0x7bff]);
    assert.deepEqual([...castTensor(half, 'float32').data], [1, 65504]);
    assert.deepEqual(
      [...castTensor({ dtype: 'int64', dims: [1], data: new BigInt64Array([9007199254740993n]) }, 'int64').data],
      [9007199254740993n],
    );
  });
});

describe('metrics and thresholds', () => {
  test('measures max/mean abs error, RMSE and cosine', () => {
    const metrics = measureOutput(Float32Array.from([1, 2, 3, 4]), Float32Array.from([1, 2, 3, 5]));
    assert.equal(metrics.maxAbsError, 1);
    assert.equal(metrics.meanAbsError, 0.25);
    assert.equal(metrics.rmse, 0.5);
    assert.ok(Math.abs(metrics.cosine - 34 / Math.sqrt(30 * 39)) < 1e-12);
    assert.equal(metrics.referenceMaxAbs, 4);
  });

  test('NaN in the artifact where the reference is finite fails; NaN on both sides agrees', () => {
    const metrics = measureOutput(Float32Array.from([1, NaN, 3]), Float32Array.from([1, NaN, NaN]));
    assert.equal(metrics.nonFiniteMismatches, 1);
    assert.equal(metrics.maxAbsError, 0);
    assert.deepEqual(checkThresholds(metrics, DEFAULT_THRESHOLDS.fp32), [
      '1 of 3 elements are NaN or infinite on one side only (first at index 2: reference 3, artifact NaN)',
    ]);
  });

  test('failure sentences name the metric, the value and the threshold', () => {
    const metrics = measureOutput(Float32Array.from([1, 0, 0, 0]), Float32Array.from([0.5, 0.5, 0, 0]));
    assert.deepEqual(checkThresholds(metrics, { atol: 1e-4, rtol: 1e-3, cosine: 0.98 }), [
      'max abs error 0.5 exceeds the allowed 0.0011 (atol 0.0001 + rtol 0.001 × max|reference| 1)',
      'cosine similarity 0.707107 is below the minimum 0.98',
    ]);
  });

  test('top-1 and top-k agreement count rows of a classifier output', () => {
    const reference = Float32Array.from([0.9, 0.05, 0.03, 0.02, /**/ 0.1, 0.6, 0.2, 0.1]);
    const artifact = Float32Array.from([0.9, 0.03, 0.05, 0.02, /**/ 0.1, 0.2, 0.6, 0.1]);
    const metrics = measureOutput(reference, artifact, { classifier: { classes: 4, k: 2 } });
    assert.equal(metrics.rows, 2);
    assert.equal(metrics.top1, 0.5);
    assert.equal(metrics.topk, 0.75); // row 0 shares {0} of {0,1}/{0,2}; row 1 shares {1,2}
    assert.deepEqual(checkThresholds(metrics, { top1: 0.9, topk: 0.8 }), [
      'top-1 agreement 0.5 (1 of 2 rows) is below the minimum 0.9',
      'top-2 agreement 0.75 is below the minimum 0.8',
    ]);
  });

  test('recipe tolerances override the defaults by precision, then by format/precision', () => {
    assert.deepEqual(
      resolveThresholds('fp16', 'tflite', {
        fp16: { atol: 0.01 },
        'tflite/fp16': { cosine: 0.99 },
        'onnx/fp16': { cosine: 0.5 },
      }),
      {
        atol: 0.01,
        rtol: 2e-2,
        cosine: 0.99,
        top1: 0.95,
        topk: 0.9,
      },
    );
    assert.deepEqual(resolveThresholds('int8', undefined), DEFAULT_THRESHOLDS.int8);
    assert.equal(DEFAULT_THRESHOLDS.int8.atol, undefined, 'quantised outputs are not held to element-wise bounds');
  });
});

describe('output matching', () => {
  const out = (dims: number[], layout?: string) => ({
    tensor: f32(dims, new Float32Array(dims.reduce((a, b) => a * b, 1))),
    ...(layout ? { layout } : {}),
  });

  test('by name, then the recorded mapping, then a unique shape, then order', () => {
    const reference: ComparedOutputs = {
      boxes: out([1, 4]),
      scores: out([1, 10]),
      a: out([1, 2]),
      b: out([1, 2]),
      mapped: out([1, 7]),
    };
    const artifact: ComparedOutputs = {
      'StatefulPartitionedCall:0': out([1, 10]),
      renamed: out([1, 7]),
      boxes: out([1, 4]),
      x1: out([1, 2]),
      x2: out([1, 2]),
      extra: out([3]),
    };
    const { matches, unmatchedArtifact } = matchOutputs(reference, artifact, { mapped: 'renamed' });
    assert.deepEqual(matches, [
      { reference: 'boxes', artifact: 'boxes', rule: 'name' },
      { reference: 'scores', artifact: 'StatefulPartitionedCall:0', rule: 'shape' },
      { reference: 'a', artifact: 'x1', rule: 'order' },
      { reference: 'b', artifact: 'x2', rule: 'order' },
      { reference: 'mapped', artifact: 'renamed', rule: 'mapping' },
    ]);
    assert.deepEqual(unmatchedArtifact, ['extra']);
  });

  test('shapes are compared after the layout transpose', () => {
    const { matches } = matchOutputs(
      { features: out([1, 8, 4, 4], 'NCHW'), logits: out([1, 8]) },
      { t0: out([1, 8]), t1: out([1, 4, 4, 8], 'NHWC') },
    );
    assert.deepEqual(
      matches.map((m) => [m.reference, m.artifact, m.rule]),
      [
        ['features', 't1', 'shape'],
        ['logits', 't0', 'shape'],
      ],
    );
  });
});

describe('compareOutputs', () => {
  const reference = {
    logits: { tensor: randomTensor([8, 10], 1, 5) },
    features: { tensor: randomTensor([8, 4, 3, 3], 2), layout: 'NCHW' },
  };
  const classifierOptions = { thresholds: DEFAULT_THRESHOLDS.fp32, classifierOutputs: ['logits'], topk: 3 };

  test('an identical artifact in another layout passes every check', () => {
    const artifact = {
      logits: { tensor: reference.logits.tensor },
      features: { tensor: transposeLayout(reference.features.tensor, 'NCHW', 'NHWC'), layout: 'NHWC' },
    };
    const result = compareOutputs(reference, artifact, classifierOptions);
    assert.equal(result.status, 'passed', JSON.stringify(result.outputs.map((o) => o.failures)));
    assert.equal(result.outputs[0]!.metrics!.top1, 1);
    assert.equal(result.outputs[0]!.metrics!.rows, 8);
    assert.equal(result.outputs[1]!.metrics!.maxAbsError, 0);
  });

  test('perturbed values fail on max abs error and cosine', () => {
    const noisy = f32(
      [8, 10],
      reference.logits.tensor.data.map((v, i) => v + (i % 2 ? 0.5 : -0.5)),
    );
    const result = compareOutputs(
      { logits: reference.logits },
      { logits: { tensor: noisy } },
      { thresholds: DEFAULT_THRESHOLDS.fp32 },
    );
    assert.equal(result.status, 'failed');
    const failures = result.outputs[0]!.failures;
    assert.match(
      failures[0]!,
      /^max abs error 0\.5 exceeds the allowed 0\.00\d+ \(atol 0\.0001 \+ rtol 0\.001 × max\|reference\| [\d.]+\)$/,
    );
    assert.match(failures[1]!, /^cosine similarity 0\.9\d+ is below the minimum 0\.9999$/);
  });

  test('a layout recorded wrongly is a shape failure with a clear message, not a crash', () => {
    const artifact = {
      logits: { tensor: reference.logits.tensor },
      features: { tensor: transposeLayout(reference.features.tensor, 'NCHW', 'NHWC'), layout: 'NCHW' },
    };
    const result = compareOutputs(reference, artifact, classifierOptions);
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.outputs[1]!.failures, ["shape [8, 3, 3, 4] differs from the reference's [8, 4, 3, 3]"]);
    assert.equal(result.outputs[0]!.status, 'passed');
  });

  test('outputs swapped under the same names fail on values; matching by shape pairs renamed ones right', () => {
    const a = randomTensor([2, 6], 3);
    const b = randomTensor([2, 6], 4);
    const swapped = compareOutputs(
      { a: { tensor: a }, b: { tensor: b } },
      { a: { tensor: b }, b: { tensor: a } },
      { thresholds: DEFAULT_THRESHOLDS.fp32 },
    );
    assert.equal(swapped.status, 'failed');
    assert.deepEqual(
      swapped.outputs.map((o) => o.matchedBy),
      ['name', 'name'],
    );
    assert.ok(swapped.outputs.every((o) => o.failures.some((f) => f.startsWith('cosine similarity'))));

    const c = randomTensor([2, 3], 5);
    const renamed = compareOutputs(
      { a: { tensor: a }, c: { tensor: c } },
      { out0: { tensor: c }, out1: { tensor: a } },
      { thresholds: DEFAULT_THRESHOLDS.fp32 },
    );
    assert.equal(renamed.status, 'passed');
    assert.deepEqual(
      renamed.outputs.map((o) => [o.name, o.artifactName, o.matchedBy]),
      [
        ['a', 'out1', 'shape'],
        ['c', 'out0', 'shape'],
      ],
    );
  });

  test('an int8 output is dequantised with its own parameters; a wrong scale/zero point fails cosine', () => {
    const probabilities = f32(
      [4, 10],
      Array.from({ length: 40 }, (_, i) => ((i * 7) % 10) / 10),
    );
    const params = { dtype: 'int8' as const, scale: [1 / 256], zeroPoint: [-128] };
    const q = quantize(probabilities, params);
    const good = compareOutputs(
      { p: { tensor: probabilities } },
      { p: { tensor: q, quantization: params } },
      {
        thresholds: DEFAULT_THRESHOLDS.int8,
        classifierOutputs: ['p'],
      },
    );
    assert.equal(good.status, 'passed', JSON.stringify(good.outputs[0]!.failures));
    assert.ok(good.outputs[0]!.metrics!.cosine > 0.9999);

    const bad = compareOutputs(
      { p: { tensor: probabilities } },
      { p: { tensor: q, quantization: { ...params, zeroPoint: [0] } } },
      {
        thresholds: DEFAULT_THRESHOLDS.int8,
      },
    );
    assert.equal(bad.status, 'failed');
    assert.match(bad.outputs[0]!.failures[0]!, /^cosine similarity -?0\.\d+ is below the minimum 0\.98$/);
  });

  test('a reference output with nothing left to pair fails by name', () => {
    const result = compareOutputs(
      { a: { tensor: f32([1], [1]) }, b: { tensor: f32([1], [2]) } },
      { a: { tensor: f32([1], [1]) } },
      { thresholds: {} },
    );
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.outputs[1], {
      name: 'b',
      matchedBy: 'none',
      referenceDims: [1],
      thresholds: {},
      status: 'failed',
      failures: ['the artifact has no output left to compare with this one'],
    });
  });
});
