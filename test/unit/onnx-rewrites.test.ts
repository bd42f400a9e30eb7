import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildModel,
  decomposeFloatMod,
  dropNoopSliceAxes,
  encodeModel,
  tensorValues,
} from '../../src/formats/onnx/index.js';
import { noopSliceAxesNet, runOnnx, seededFloats } from './onnx-fixtures.js';

const x = { data: seededFloats(24, 5), dims: [1, 4, 6] };

test('dropNoopSliceAxes keeps only the axes a Slice really cuts, with the same outputs', async () => {
  const model = noopSliceAxesNet();
  const before = Buffer.from(encodeModel(model)).toString('base64');
  const { model: cleaned, changes } = dropNoopSliceAxes(model);
  assert.equal(Buffer.from(encodeModel(model)).toString('base64'), before, 'the input model is unchanged');
  assert.deepEqual(changes, ['fused_slice: axes [0, 1, 2] -> [1]']);
  const slice = cleaned.graph!.node.find((n) => n.opType === 'Slice')!;
  const value = (name: string) => tensorValues(cleaned.graph!.initializer.find((t) => t.name === name)!);
  assert.deepEqual(slice.input.slice(1).map(value), [[0], [2], [1], [1]]);
  // The old constants stay (something else may read them); the Slice reads new ones.
  assert.ok(cleaned.graph!.initializer.some((t) => t.name === 'axes'));
  const [a, b] = await Promise.all([runOnnx(model, { x }), runOnnx(cleaned, { x })]);
  assert.deepEqual(b.outputs.y, a.outputs.y);
});

test('dropNoopSliceAxes turns an all-whole-axes Slice into Identity and leaves real or dynamic slices alone', async () => {
  const whole = buildModel({
    inputs: [
      { name: 'x', shape: [1, 4, 6] },
      { name: 'e', dtype: 'int64', shape: [1] },
    ],
    outputs: [{ name: 'y' }, { name: 'z' }, { name: 'w' }],
    nodes: [
      { op: 'Slice', inputs: ['x', 'zero', 'max'], outputs: ['y'], name: 'whole' },
      { op: 'Slice', inputs: ['x', 'one', 'max', 'two'], outputs: ['z'], name: 'real' },
      { op: 'Slice', inputs: ['x', 'zero', 'e', 'two'], outputs: ['w'], name: 'dynamic' },
    ],
    initializers: [
      { name: 'zero', data: new BigInt64Array([0n]), dims: [1] },
      { name: 'one', data: new BigInt64Array([1n]), dims: [1] },
      { name: 'two', data: new BigInt64Array([2n]), dims: [1] },
      { name: 'max', data: new Int32Array([2 ** 31 - 1]), dims: [1] },
    ],
  });
  const { model, changes } = dropNoopSliceAxes(whole);
  assert.deepEqual(changes, ['whole: every axis selected whole -> Identity']);
  assert.deepEqual(
    model.graph!.node.map((n) => n.opType),
    ['Identity', 'Slice', 'Slice'],
  );
  assert.deepEqual(model.graph!.node[0]!.input, ['x']);
  // A model with nothing to clean comes back as it was.
  const again = dropNoopSliceAxes(model);
  assert.deepEqual(again.changes, []);
  assert.equal(again.model, model);
});

test('decomposeFloatMod computes fmod (the sign of the dividend) with ops every converter lowers the same way', async () => {
  const model = buildModel({
    inputs: [
      { name: 'x', shape: [6] },
      { name: 'y', shape: [6] },
    ],
    outputs: [{ name: 'z', shape: [6] }],
    nodes: [{ op: 'Mod', inputs: ['x', 'y'], outputs: ['z'], name: 'mod', attributes: { fmod: 1 } }],
  });
  const { model: rewritten, changes } = decomposeFloatMod(model);
  assert.deepEqual(changes, ['mod: Mod(fmod=1) -> x - y * trunc(x / y)']);
  assert.deepEqual(
    rewritten.graph!.node.map((n) => n.opType),
    ['Div', 'Abs', 'Floor', 'Sign', 'Mul', 'Mul', 'Sub'],
  );
  const feeds = {
    x: { data: new Float32Array([-4.3, 7.2, 5.0, 4.3, -7.2, 8.0]), dims: [6] },
    y: { data: new Float32Array([2.1, -3.4, 8.0, -2.1, 3.4, -5.0]), dims: [6] },
  };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(rewritten, feeds)]);
  [...a.outputs.z!].forEach((value, i) =>
    assert.ok(Math.abs(value - b.outputs.z![i]!) < 1e-5, `${value} vs ${b.outputs.z![i]}`),
  );
  assert.ok(Math.abs(b.outputs.z![0]! - -0.1) < 1e-5, 'fmod(-4.3, 2.1) = -0.1, not the floor-mod 2.0');
  // Integer Mods (fmod 0 or 1) are left to the converter: the decomposition is for floats.
  const ints = buildModel({
    inputs: [
      { name: 'x', dtype: 'int32', shape: [2] },
      { name: 'y', dtype: 'int32', shape: [2] },
    ],
    outputs: [{ name: 'z', dtype: 'int32', shape: [2] }],
    nodes: [{ op: 'Mod', inputs: ['x', 'y'], outputs: ['z'] }],
  });
  assert.deepEqual(decomposeFloatMod(ints).changes, []);
});
