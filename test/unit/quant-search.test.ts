/** The quantization search's pure parts: calibration stacking, the ladder, recipe control, pin lines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchAxisOf, concatOnAxis } from '../../src/quant/calibration.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  quantPinLines,
  quantStrategies,
  shareCount,
  topLayers,
  topTensors,
  type QuantOptions,
} from '../../src/quant/search.js';
import { parseRecipeText } from '../../src/recipe/index.js';

describe('calibration stacked on each input batch axis', () => {
  it('takes the batch axis from the layout: DND state on axis 1, NCHW image on axis 0, none on a new axis', () => {
    assert.equal(batchAxisOf('DND'), 1);
    assert.equal(batchAxisOf('NCHW'), 0);
    assert.equal(batchAxisOf('NL'), 0);
    assert.equal(batchAxisOf('CHW'), null);
  });

  it('stacks two [2,1,3] states into [2,2,3] so that slicing axis 1 gives each state back', () => {
    const a = { dtype: 'float32' as const, dims: [2, 1, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) };
    const b = { dtype: 'float32' as const, dims: [2, 1, 3], data: Float32Array.of(7, 8, 9, 10, 11, 12) };
    const stacked = concatOnAxis([a, b], 1);
    assert.deepEqual(stacked.dims, [2, 2, 3]);
    // [layer 0: a0, b0 ; layer 1: a1, b1]
    assert.deepEqual([...stacked.data], [1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12]);
    assert.throws(() => concatOnAxis([a, { ...b, dims: [1, 2, 3] }], 1), /cannot stack/);
  });
});

describe('the search ladder', () => {
  const names = (format: string, precision: 'int8' | 'int16-act', settings = {}) =>
    quantStrategies(format, precision, settings).map((s) => s.name);

  it('starts from the full quantization, keeps the heads and worst activations float, then (ONNX) gives a growing share 16-bit', () => {
    assert.deepEqual(names('tflite', 'int8'), [
      'quant-full',
      'quant-keep-float-5',
      'quant-keep-float-15',
      'quant-keep-float-25pct',
      'quant-keep-float-50pct',
    ]);
    assert.deepEqual(names('onnx', 'int8'), [
      'quant-full',
      'quant-percentile',
      'quant-keep-float-5',
      'quant-keep-float-15',
      'quant-int16-10pct',
      'quant-int16-25pct',
      'quant-int16-50pct',
    ]);
    assert.equal(names('onnx', 'int8').length, DEFAULT_MAX_ATTEMPTS);
    assert.deepEqual(names('tflite', 'int16-act'), ['quant-full', 'quant-int16-float-fallback']);
    const options = (format: string, name: string) =>
      (quantStrategies(format, 'int8').find((s) => s.name === name)!.options as unknown as { quant: QuantOptions })
        .quant;
    assert.deepEqual(options('onnx', 'quant-int16-25pct'), { activations: 'int8', int16Share: 0.25 });
    assert.deepEqual(options('onnx', 'quant-percentile'), { activations: 'int8', calibrationMethod: 'Percentile' });
    assert.deepEqual(options('tflite', 'quant-keep-float-5'), {
      activations: 'int8',
      keepHeads: true,
      keepFloatTop: 5,
    });
  });

  it('is turned off, bounded or pinned by the recipe', () => {
    assert.deepEqual(names('onnx', 'int8', { search: false }), ['quant-full']);
    assert.deepEqual(names('onnx', 'int8', { maxAttempts: 2 }), ['quant-full', 'quant-percentile']);
    const pinned16 = quantStrategies('onnx', 'int8', { int16Tensors: ['t1'], calibrationMethod: 'Percentile' });
    assert.deepEqual(
      pinned16.map((s) => [s.name, (s.options as unknown as { quant: QuantOptions }).quant]),
      [['quant-pinned', { activations: 'int8', int16Tensors: ['t1'], calibrationMethod: 'Percentile' }]],
    );
    const pinned = quantStrategies('tflite', 'int8', { keepFloat: ['a', 'b'] });
    assert.deepEqual(
      pinned.map((s) => [s.name, (s.options as unknown as { quant: QuantOptions }).quant]),
      [['quant-pinned', { activations: 'int8', keepFloat: ['a', 'b'] }]],
    );
  });

  it('prints the winner as recipe lines that pin it', () => {
    const applied = {
      activations: 'int8' as const,
      keptFloat: ['conv_12', 'model/head:0'],
      keptFloatOps: [],
      opTypes: null,
      floatFallback: null,
      layers: 120,
      rankedBy: 'x',
    };
    assert.deepEqual(quantPinLines('tflite/int8', applied, 'int8'), [
      'quantization:',
      '  tflite/int8: { keep_float: [conv_12, model/head:0] }',
    ]);
    assert.deepEqual(
      quantPinLines(
        'tflite/int16-act',
        { ...applied, keptFloat: [], activations: 'int16', floatFallback: true },
        'int16-act',
      ),
      ['quantization:', '  tflite/int16-act: { activations: int16 }'],
    );
    assert.deepEqual(
      quantPinLines(
        'onnx/int8',
        { ...applied, keptFloat: [], int16Tensors: ['conv1_out', 'x:0'], calibrationMethod: 'MinMax' },
        'int8',
      ),
      ['quantization:', '  onnx/int8: { int16_tensors: [conv1_out, x:0] }'],
    );
  });

  it('keeps an activation float with its producer and consumers, never more than half of all the names', () => {
    // Without `keep`, the producer alone; the k worst distinct layers.
    const plain = ['a', 'a', 'b', 'c', 'd', 'e'].map((node, i) => ({
      node,
      tensor: `${node}${i}`,
      opType: 'Conv',
      score: 9 - i,
    }));
    assert.deepEqual(topLayers(plain, 2), ['a', 'b']);
    assert.deepEqual(topLayers(plain, 5), ['a', 'b']);
    // With `keep`: every name of an activation, stopping before half of all names is passed.
    const ranking = [
      { node: 'c1', tensor: 't1', opType: 'Conv', score: 5, keep: ['c1', 'r1', 'c2'] },
      { node: 'c2', tensor: 't2', opType: 'Conv', score: 4, keep: ['c2', 'c3'] },
      { node: 'c3', tensor: 't3', opType: 'Conv', score: 3, keep: ['c3', 'c4', 'c5', 'c6'] },
      { node: 'c7', tensor: 't4', opType: 'Conv', score: 2, keep: ['c7', 'c8', 'c9', 'c10'] },
    ];
    assert.deepEqual(topLayers(ranking, 1), ['c1', 'r1', 'c2']);
    assert.deepEqual(topLayers(ranking, 2), ['c1', 'r1', 'c2', 'c3']);
    // 11 names: at most 5 float, so the third activation (3 more names) stops the list.
    assert.deepEqual(topLayers(ranking, 10), ['c1', 'r1', 'c2', 'c3']);
    // Heads come first and count against the half: 13 names, at most 6 float.
    assert.deepEqual(topLayers(ranking, 10, ['h1', 'h2']), ['h1', 'h2', 'c1', 'r1', 'c2', 'c3']);
    assert.deepEqual(topLayers(ranking, 0, ['h1', 'h2']), ['h1', 'h2']);
    // Heads alone are capped too.
    const heads = Array.from({ length: 20 }, (_, i) => `h${i}`);
    assert.equal(topLayers(ranking, 0, heads).length, Math.floor((11 + 20) / 2));
    // 16-bit shares: at least one tensor, at most half.
    assert.deepEqual(topTensors(ranking, 0.1), ['t1']);
    assert.deepEqual(topTensors(ranking, 0.5), ['t1', 't2']);
    assert.deepEqual(topTensors(ranking, 0.9), ['t1', 't2']);
    assert.equal(shareCount(ranking, 0.25), 1);
  });

  it('recipe keys: only calibrated targets the recipe builds', () => {
    const recipe = (quantization: string) =>
      parseRecipeText(
        `name: tiny
version: 1.0.0
license: MIT
description: A tiny model.
task: image-classification
source:
  onnx: { path: models/tiny/model.onnx, sha256: ${'a'.repeat(64)} }
inputs:
  - { name: x, shape: [1, 3, 8, 8], layout: NCHW, range: [0, 1] }
calibration: { samples: models/tiny/calib/*.npy, count: 4 }
targets:
  onnx: [fp32, int8]
  tflite: [int8]
quantization:
${quantization}
`,
        'recipes/tiny.yaml',
      );
    const ok = recipe(
      '  onnx/int8: { keep_float: [conv1], op_types: [Conv], int16_tensors: [t1], calibration_method: Percentile }\n  tflite/int8: { search: false }',
    );
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.recipe!.quantization, {
      'onnx/int8': { keepFloat: ['conv1'], opTypes: ['Conv'], int16Tensors: ['t1'], calibrationMethod: 'Percentile' },
      'tflite/int8': { search: false },
    });
    assert.deepEqual(
      recipe('  onnx/fp32: { search: false }').problems.map((p) => p.message),
      ['quantization: "onnx/fp32" is not a calibrated target: only int8 and int16-act targets are searched'],
    );
    assert.equal(recipe('  tflite/int8: { keep_floats: [a] }').problems.length, 1);
  });
});
