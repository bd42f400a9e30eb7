/** The quantization search's pure parts: calibration stacking, the ladder, recipe control, pin lines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchAxisOf, concatOnAxis } from '../../src/quant/calibration.js';
import { quantPinLines, quantStrategies, topLayers, type QuantOptions } from '../../src/quant/search.js';
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

  it('starts from the full quantization, then keeps the worst-ranked layers float (ONNX also tries conv-only)', () => {
    assert.deepEqual(names('tflite', 'int8'), [
      'quant-full',
      'quant-keep-float-5',
      'quant-keep-float-15',
      'quant-keep-float-40',
    ]);
    assert.deepEqual(names('onnx', 'int8'), [
      'quant-full',
      'quant-keep-float-5',
      'quant-keep-float-15',
      'quant-conv-only',
      'quant-keep-float-40',
    ]);
    assert.deepEqual(names('tflite', 'int16-act'), ['quant-full', 'quant-int16-float-fallback']);
  });

  it('is turned off, bounded or pinned by the recipe', () => {
    assert.deepEqual(names('onnx', 'int8', { search: false }), ['quant-full']);
    assert.deepEqual(names('onnx', 'int8', { maxAttempts: 2 }), ['quant-full', 'quant-keep-float-5']);
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
    // The k worst distinct layers, never more than half of them (a model kept mostly float is not int8).
    const ranking = ['a', 'a', 'b', 'c', 'd', 'e'].map((node, i) => ({
      node,
      tensor: `${node}${i}`,
      opType: 'Conv',
      score: 9 - i,
    }));
    assert.deepEqual(topLayers(ranking, 2), ['a', 'b']);
    assert.deepEqual(topLayers(ranking, 5), ['a', 'b']);
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
    const ok = recipe('  onnx/int8: { keep_float: [conv1], op_types: [Conv] }\n  tflite/int8: { search: false }');
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.recipe!.quantization, {
      'onnx/int8': { keepFloat: ['conv1'], opTypes: ['Conv'] },
      'tflite/int8': { search: false },
    });
    assert.deepEqual(
      recipe('  onnx/fp32: { search: false }').problems.map((p) => p.message),
      ['quantization: "onnx/fp32" is not a calibrated target: only int8 and int16-act targets are searched'],
    );
    assert.equal(recipe('  tflite/int8: { keep_floats: [a] }').problems.length, 1);
  });
});
