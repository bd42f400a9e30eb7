/**
 * Fixes found by building the real zoo: inputs onnx2tf must keep as they are, layouts read from
 * the produced dims, node names onnx2tf accepts and the default-domain opset (the validate runner
 * that survives its worker losing the loaded model: worker-session.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildModel, sanitizeNodeNames } from '../../src/formats/onnx/index.js';
import { tfliteSignature } from '../../src/toolchain/backends/index.js';
import { layoutFromDims } from '../../src/toolchain/backends/layouts.js';
import { defaultDomainOpset } from '../../src/toolchain/backends/onnx-prepare.js';
import { keepShapeInputNames } from '../../src/toolchain/backends/onnx2tf.js';
import type { InputSpec } from '../../src/recipe/types.js';

test('keepShapeInputNames: -kat for rank >= 3 inputs that are not channels-first', () => {
  const inputs = [
    { name: 'image', shape: [1, 128, 128, 3], layout: 'NHWC' },
    { name: 'nchw', shape: [1, 3, 48, 192], layout: 'NCHW' },
    { name: 'ncw', shape: [1, 2, 16], layout: 'NCW' },
    { name: 'state', shape: [2, 1, 128], layout: 'DND' },
    { name: 'audio', shape: [1, 576], layout: 'NL' },
  ];
  assert.deepEqual(keepShapeInputNames(inputs), ['image', 'state']);
});

test('layoutFromDims names the permutation the dims show, equal sizes in source order', () => {
  assert.equal(layoutFromDims([1, 128, 128, 3], 'NHWC', [1, 128, 3, 128]), 'NHCW');
  assert.equal(layoutFromDims([1, 3, 48, 192], 'NCHW', [1, 192, 48, 3]), 'NWHC');
  assert.equal(layoutFromDims([1, 128, 128, 3], 'NHWC', [1, 128, 128, 3]), 'NHWC');
  assert.equal(layoutFromDims([1, 128, 128, 3], 'NHWC', [1, 128, 4, 128]), undefined);
  assert.equal(
    layoutFromDims([2, 1, 128], 'DND', [2, 128, 1]),
    undefined,
    'repeated letters cannot name a permutation',
  );
});

const job = (layout: string, shape: number[]) => ({
  inputs: [{ name: 'input', shape, layout, range: [0, 1], dynamic: [] } as unknown as InputSpec],
  outputs: [],
  prepared: { inputs: [], outputs: [] },
});
const tensor = (name: string, shape: number[]) => ({ name, shape, dtype: 'FLOAT32' }) as never;

test('tfliteSignature records the layout of the produced dims, not the recipe layout', () => {
  // What onnx2tf wrote for an NHWC input before -kat: [1,128,3,128].
  const moved = tfliteSignature(job('NHWC', [1, 128, 128, 3]), [tensor('input', [1, 128, 3, 128])], []);
  assert.equal(moved.signature.inputLayouts!.input, 'NHCW');
  const kept = tfliteSignature(job('NHWC', [1, 128, 128, 3]), [tensor('input', [1, 128, 128, 3])], []);
  assert.equal(kept.signature.inputLayouts!.input, 'NHWC');
  const nchw = tfliteSignature(job('NCHW', [1, 3, 48, 192]), [tensor('input', [1, 48, 192, 3])], []);
  assert.equal(nchw.signature.inputLayouts!.input, 'NHWC');
});

function namedModel(names: string[]) {
  return buildModel({
    inputs: [{ name: 'x', shape: [1, 4] }],
    outputs: [{ name: `t${names.length}`, shape: [1, 4] }],
    nodes: names.map((name, i) => ({ op: 'Relu', name, inputs: [i === 0 ? 'x' : `t${i}`], outputs: [`t${i + 1}`] })),
  });
}

test('sanitizeNodeNames makes TF scope names, keeps valid ones and tensor names, stays unique', () => {
  const model = namedModel(['Softmax@0', 'Softmax_0', 'a b', '@x', '/conv/Conv_1>2', '']);
  const { model: out, renamed } = sanitizeNodeNames(model);
  const names = out.graph!.node.map((n) => n.name);
  assert.deepEqual(names, ['Softmax_0_2', 'Softmax_0', 'a_b', 'n_x', '/conv/Conv_1>2', '']);
  assert.deepEqual(renamed, { 'Softmax@0': 'Softmax_0_2', 'a b': 'a_b', '@x': 'n_x' });
  assert.deepEqual(
    out.graph!.node.map((n) => [...n.input, ...n.output]),
    model.graph!.node.map((n) => [...n.input, ...n.output]),
    'tensor names unchanged',
  );
  assert.equal(model.graph!.node[0]!.name, 'Softmax@0', 'the input model is not changed');
});

test('sanitizeNodeNames leaves a model with valid names as it is', () => {
  assert.deepEqual(sanitizeNodeNames(namedModel(['relu_1', '/a/b.c'])).renamed, {});
});

test('defaultDomainOpset reads the ai.onnx entry only', () => {
  assert.equal(
    defaultDomainOpset({
      opsetImport: [
        { domain: 'com.microsoft', version: 1 },
        { domain: '', version: 11 },
      ],
    }),
    11,
  );
  assert.equal(defaultDomainOpset({ opsetImport: [{ domain: 'ai.onnx', version: 17 }] }), 17);
  assert.equal(defaultDomainOpset({ opsetImport: [{ domain: 'com.microsoft', version: 1 }] }), undefined);
});

test('fixDynamicDims: the anonymous dim "?" (paddle2onnx) may be fixed to different sizes on one input', async () => {
  const { fixDynamicDims } = await import('../../src/formats/onnx/index.js');
  const model = buildModel({
    inputs: [{ name: 'x', shape: ['?', 3, '?', '?'] }],
    outputs: [{ name: 'y', shape: ['?', 3, '?', '?'] }],
    nodes: [{ op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }],
  });
  const fixed = fixDynamicDims(model, [
    { name: 'x', shape: [1, 3, 48, 192], layout: 'NCHW', dynamic: [] } as unknown as InputSpec,
  ]);
  assert.deepEqual(
    fixed.graph!.input[0]!.type!.tensorType!.shape!.dim.map((d) => d.dimValue),
    [1, 3, 48, 192],
  );
  assert.deepEqual(
    fixed.graph!.output[0]!.type!.tensorType!.shape!.dim.map((d) => d.dimParam),
    ['?', undefined, '?', '?'],
  );
});
