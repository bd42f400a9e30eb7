import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildModel,
  castLikeToCast,
  decomposeDynamicClip,
  decomposeFloatMod,
  decomposeToBuiltinMath,
  dropNoopSliceAxes,
  explicitKernelShape,
  explicitSamePads,
  explicitSplitSizes,
  explicitRecurrentStates,
  encodeModel,
  gatherElementsAsGather,
  poolsAsSlices,
  scatterReductionsAsGathers,
  tensorFromArray,
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

test('decomposeToBuiltinMath computes Sinh, Cosh, Tan, Asinh, Acosh, Atanh, Softsign, Asin and Acos with elementary ops', async () => {
  // One model with each op on its own input; Acosh needs x >= 1, Atanh, Asin and Acos |x| <= 1.
  const ops = ['Sinh', 'Cosh', 'Tan', 'Asinh', 'Acosh', 'Atanh', 'Softsign', 'Asin', 'Acos'];
  const model = buildModel({
    inputs: ops.map((op) => ({ name: `x_${op}`, shape: [8] })),
    outputs: ops.map((op) => ({ name: `y_${op}`, shape: [8] })),
    nodes: [
      ...ops.map((op) => ({
        op,
        inputs: [`x_${op}`],
        outputs: [op === 'Tan' ? 't' : `y_${op}`],
        name: op.toLowerCase(),
      })),
      // A consumer of a rewritten output keeps reading it by name.
      { op: 'Identity', inputs: ['t'], outputs: ['y_Tan'] },
    ],
  });
  const { model: rewritten, changes } = decomposeToBuiltinMath(model);
  assert.equal(changes.length, ops.length);
  assert.match(changes[0]!, /^sinh: Sinh -> Exp, Neg, Exp, Sub, Mul$/);
  const left = rewritten.graph!.node.map((n) => n.opType ?? '').filter((op) => ops.includes(op));
  assert.deepEqual(left, []);
  // Asin and Acos go through Atan, which onnx2tf replaces with a builtin (-rtpo Atan).
  assert.ok(rewritten.graph!.node.some((n) => n.opType === 'Atan'));
  const values = new Float32Array([-3.5, -1.2, -0.4, -1e-3, 0, 2e-3, 0.7, 2.9]);
  const feeds = Object.fromEntries(
    ops.map((op) => {
      const data =
        op === 'Acosh'
          ? values.map((v) => 1 + Math.abs(v) * 3)
          : op === 'Atanh'
            ? values.map((v) => Math.tanh(v))
            : op === 'Asin' || op === 'Acos'
              ? new Float32Array([-1, -0.999, -0.5, -1e-3, 0, 0.3, 0.9999, 1])
              : op === 'Tan'
                ? values.map((v) => v * 0.4)
                : values;
      return [`x_${op}`, { data, dims: [8] }];
    }),
  );
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(rewritten, feeds)]);
  for (const op of ops) {
    const want = a.outputs[`y_${op}`]!;
    const got = b.outputs[`y_${op}`]!;
    want.forEach((value, i) =>
      assert.ok(
        Math.abs(value - got[i]!) <= 1e-5 * Math.max(1, Math.abs(value)),
        `${op}: ${got[i]} instead of ${value}`,
      ),
    );
  }
  // A model without those ops comes back as it was.
  const plain = decomposeToBuiltinMath(rewritten);
  assert.deepEqual(plain.changes, []);
  assert.equal(plain.model, rewritten);
});

test('castLikeToCast turns CastLike into a Cast to the type its target has (declared, or inferred forward)', async () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [4] }],
    outputs: [{ name: 'y', shape: [4] }],
    nodes: [
      // An int64 constant cast like x (declared float32), as expanded function bodies do.
      {
        op: 'Constant',
        inputs: [],
        outputs: ['two'],
        attributes: { value: tensorFromArray('v', new BigInt64Array([2n]), []) },
      },
      { op: 'CastLike', inputs: ['two', 'x'], outputs: ['two_f'], name: 'like_x' },
      { op: 'Mul', inputs: ['x', 'two_f'], outputs: ['m'] },
      // m's type is not declared: it follows Mul's inputs; n is int64 (Shape).
      { op: 'Shape', inputs: ['m'], outputs: ['n'] },
      { op: 'CastLike', inputs: ['n', 'm'], outputs: ['n_f'], name: 'like_m' },
      { op: 'Add', inputs: ['m', 'n_f'], outputs: ['y'] },
    ],
  });
  const { model: rewritten, changes } = castLikeToCast(model);
  assert.deepEqual(changes, ['like_x: CastLike -> Cast(to=1)', 'like_m: CastLike -> Cast(to=1)']);
  assert.deepEqual(
    rewritten.graph!.node.map((n) => n.opType),
    ['Constant', 'Cast', 'Mul', 'Shape', 'Cast', 'Add'],
  );
  const feeds = { x: { data: new Float32Array([1, -2, 3.5, 0]), dims: [4] } };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(rewritten, feeds)]);
  assert.deepEqual([...b.outputs.y!], [...a.outputs.y!]);
  // A target of unknown type is left alone.
  const unknown = buildModel({
    inputs: [{ name: 'x', shape: [4] }],
    outputs: [{ name: 'y', shape: [4] }],
    nodes: [
      { op: 'Custom', domain: 'org.example', inputs: ['x'], outputs: ['u'] },
      { op: 'CastLike', inputs: ['x', 'u'], outputs: ['y'] },
    ],
    extraOpsets: { 'org.example': 1 },
  });
  assert.deepEqual(castLikeToCast(unknown).changes, []);
});

test('decomposeDynamicClip turns a Clip with run-time bounds into Max and Min, and leaves constant bounds alone', async () => {
  const model = buildModel({
    opset: 13,
    inputs: [
      { name: 'x', shape: [6] },
      { name: 'lo', shape: [] },
      { name: 'hi', shape: [] },
    ],
    outputs: [
      { name: 'y', shape: [6] },
      { name: 'z', shape: [6] },
      { name: 'w', shape: [6] },
    ],
    nodes: [
      { op: 'Clip', inputs: ['x', 'lo', 'hi'], outputs: ['y'], name: 'both' },
      { op: 'Clip', inputs: ['x', '', 'hi'], outputs: ['z'], name: 'high_only' },
      { op: 'Clip', inputs: ['x', 'c_lo', 'c_hi'], outputs: ['w'], name: 'constant' },
    ],
    initializers: [
      { name: 'c_lo', data: [-0.5], dims: [] },
      { name: 'c_hi', data: [0.5], dims: [] },
    ],
  });
  const { model: rewritten, changes } = decomposeDynamicClip(model);
  assert.deepEqual(changes, [
    'both: Clip with run-time bounds -> Max, Min',
    'high_only: Clip with run-time bounds -> Min',
  ]);
  assert.deepEqual(
    rewritten.graph!.node.map((n) => n.opType),
    ['Max', 'Min', 'Min', 'Clip'],
  );
  const feeds = {
    x: { data: new Float32Array([-3, -0.7, -0.1, 0.2, 0.9, 4]), dims: [6] },
    lo: { data: new Float32Array([-0.8]), dims: [] },
    hi: { data: new Float32Array([0.3]), dims: [] },
  };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(rewritten, feeds)]);
  for (const name of ['y', 'z', 'w']) assert.deepEqual([...b.outputs[name]!], [...a.outputs[name]!], name);
});

test('explicitKernelShape gives a ConvTranspose without kernel_shape the one of its weight', async () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [1, 1, 3, 3] }],
    outputs: [{ name: 'y', shape: [1, 2, 5, 5] }],
    nodes: [{ op: 'ConvTranspose', inputs: ['x', 'w'], outputs: ['y'], name: 'up' }],
    initializers: [{ name: 'w', data: seededFloats(2 * 3 * 3, 3), dims: [1, 2, 3, 3] }],
  });
  const { model: explicit, changes } = explicitKernelShape(model);
  assert.deepEqual(changes, ['up: kernel_shape [3, 3] from its weight']);
  const attribute = explicit.graph!.node[0]!.attribute.find((a) => a.name === 'kernel_shape');
  assert.deepEqual(attribute?.ints.map(Number), [3, 3]);
  const feeds = { x: { data: seededFloats(9, 4), dims: [1, 1, 3, 3] } };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(explicit, feeds)]);
  assert.deepEqual([...b.outputs.y!], [...a.outputs.y!]);
  // A node that has one already is left as it is.
  assert.deepEqual(explicitKernelShape(explicit).changes, []);
});

test('explicitRecurrentStates gives recurrent ops without initial states zero ones, with the same outputs', async () => {
  const hidden = 3;
  const model = buildModel({
    opset: 17,
    inputs: [{ name: 'x', shape: [5, 2, 4] }],
    outputs: [{ name: 'y' }, { name: 'g' }],
    nodes: [
      // Bidirectional, no B, no sequence_lens, no states.
      {
        op: 'LSTM',
        inputs: ['x', 'W', 'R'],
        outputs: ['y'],
        name: 'lstm',
        attributes: { hidden_size: hidden, direction: 'bidirectional' },
      },
      { op: 'GRU', inputs: ['x', 'GW', 'GR', 'GB'], outputs: ['g'], name: 'gru', attributes: { hidden_size: hidden } },
    ],
    initializers: [
      { name: 'W', data: seededFloats(2 * 4 * hidden * 4, 1), dims: [2, 4 * hidden, 4] },
      { name: 'R', data: seededFloats(2 * 4 * hidden * hidden, 2), dims: [2, 4 * hidden, hidden] },
      { name: 'GW', data: seededFloats(3 * hidden * 4, 3), dims: [1, 3 * hidden, 4] },
      { name: 'GR', data: seededFloats(3 * hidden * hidden, 4), dims: [1, 3 * hidden, hidden] },
      { name: 'GB', data: seededFloats(6 * hidden, 5), dims: [1, 6 * hidden] },
    ],
  });
  const { model: explicit, changes } = explicitRecurrentStates(model);
  assert.deepEqual(changes, [
    'lstm: zero B [2, 24] made explicit',
    'lstm: zero initial_h and initial_c [2, 2, 3] made explicit',
    'gru: zero initial_h [1, 2, 3] made explicit',
  ]);
  const lstm = explicit.graph!.node.find((n) => n.opType === 'LSTM')!;
  assert.deepEqual(lstm.input, ['x', 'W', 'R', 'lstm_B', '', 'lstm_initial_h', 'lstm_initial_c']);
  const feeds = { x: { data: seededFloats(40, 9), dims: [5, 2, 4] } };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(explicit, feeds)]);
  assert.deepEqual([...b.outputs.y!], [...a.outputs.y!]);
  assert.deepEqual([...b.outputs.g!], [...a.outputs.g!]);
  // Ops that have their states, or whose batch size is not known, are left alone.
  assert.deepEqual(explicitRecurrentStates(explicit).changes, []);
});

test('explicitSamePads spells SAME_LOWER and SAME_UPPER out as the pads onnxruntime applies', async () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [1, 2, 7, 6] }],
    outputs: [
      { name: 'lower', shape: [1, 2, 7, 6] },
      { name: 'upper', shape: [1, 2, 7, 6] },
    ],
    nodes: [
      {
        op: 'AveragePool',
        inputs: ['x'],
        outputs: ['lower'],
        name: 'avg',
        attributes: { auto_pad: 'SAME_LOWER', kernel_shape: [2, 3] },
      },
      {
        op: 'MaxPool',
        inputs: ['x'],
        outputs: ['upper'],
        name: 'max',
        attributes: { auto_pad: 'SAME_UPPER', kernel_shape: [2, 2] },
      },
    ],
  });
  const { model: explicit, changes } = explicitSamePads(model);
  assert.deepEqual(changes, [
    'avg: auto_pad SAME_LOWER -> pads [1, 1, 0, 1]',
    'max: auto_pad SAME_UPPER -> pads [0, 0, 1, 1]',
  ]);
  const feeds = { x: { data: seededFloats(84, 9), dims: [1, 2, 7, 6] } };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(explicit, feeds)]);
  for (const name of ['lower', 'upper']) assert.deepEqual([...b.outputs[name]!], [...a.outputs[name]!], name);
});

test('explicitSplitSizes gives an uneven Split by num_outputs its sizes, and leaves even ones alone', async () => {
  const model = buildModel({
    opset: 18,
    inputs: [{ name: 'x', shape: [2, 7] }],
    outputs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }, { name: 'e' }],
    nodes: [
      {
        op: 'Split',
        inputs: ['x'],
        outputs: ['a', 'b', 'c'],
        name: 'uneven',
        attributes: { axis: -1, num_outputs: 3 },
      },
      { op: 'Split', inputs: ['x'], outputs: ['d', 'e'], name: 'even', attributes: { axis: 0, num_outputs: 2 } },
    ],
  });
  const { model: explicit, changes } = explicitSplitSizes(model);
  assert.deepEqual(changes, ['uneven: num_outputs 3 -> split [3, 3, 1]']);
  const feeds = { x: { data: seededFloats(14, 2), dims: [2, 7] } };
  const [a, b] = await Promise.all([runOnnx(model, feeds), runOnnx(explicit, feeds)]);
  for (const name of ['a', 'b', 'c', 'd', 'e']) assert.deepEqual([...b.outputs[name]!], [...a.outputs[name]!], name);
});

test('gatherElementsAsGather picks the same elements by flat position, on any axis, with negative indices', async () => {
  // [2, 3, 4] data; indices [2, 2, 4] on axis 1 (some negative), [2, 3, 1] on the last axis.
  const onAxis1 = [0, 2, -1, 1, 1, 0, -3, 2, 2, 2, 0, 0, -2, 1, 1, 0];
  const onLast = [3, 0, -1, 2, 1, 0];
  const model = buildModel({
    inputs: [
      { name: 'x', shape: [2, 3, 4] },
      { name: 'd', shape: [2, 3, 4] },
    ],
    outputs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    nodes: [
      { op: 'GatherElements', inputs: ['x', 'i1'], outputs: ['a'], name: 'axis1', attributes: { axis: 1 } },
      { op: 'GatherElements', inputs: ['x', 'i2'], outputs: ['b'], name: 'last', attributes: { axis: -1 } },
      // Indices computed at run time: left alone.
      { op: 'Cast', inputs: ['d'], outputs: ['di'], attributes: { to: 7 } },
      { op: 'GatherElements', inputs: ['x', 'di'], outputs: ['c'], name: 'dynamic', attributes: { axis: 0 } },
    ],
    initializers: [
      { name: 'i1', data: BigInt64Array.from(onAxis1.map(BigInt)), dims: [2, 2, 4] },
      { name: 'i2', data: BigInt64Array.from(onLast.map(BigInt)), dims: [2, 3, 1] },
    ],
  });
  const { model: flat, changes } = gatherElementsAsGather(model);
  assert.deepEqual(changes, [
    'axis1: GatherElements on axis 1 of [2, 3, 4] -> Gather of 16 flat positions',
    'last: GatherElements on axis 2 of [2, 3, 4] -> Gather of 6 flat positions',
  ]);
  const ops = flat.graph!.node.map((n) => n.opType);
  assert.equal(ops.filter((op) => op === 'GatherElements').length, 1, 'only the dynamic one is left');
  const feeds = {
    x: { data: seededFloats(24, 3), dims: [2, 3, 4] },
    d: { data: Float32Array.from({ length: 24 }, (_, i) => i % 2), dims: [2, 3, 4] },
  };
  const [before, after] = await Promise.all([runOnnx(model, feeds), runOnnx(flat, feeds)]);
  for (const name of ['a', 'b', 'c']) assert.deepEqual([...after.outputs[name]!], [...before.outputs[name]!], name);
});

test('gatherElementsAsGather leaves indices out of range and undeclared data shapes to the converter', () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [2, 3] }, { name: 'u' }],
    outputs: [{ name: 'a' }, { name: 'b' }],
    nodes: [
      { op: 'GatherElements', inputs: ['x', 'bad'], outputs: ['a'], attributes: { axis: 1 } },
      { op: 'GatherElements', inputs: ['u', 'ok'], outputs: ['b'], attributes: { axis: 0 } },
    ],
    initializers: [
      { name: 'bad', data: BigInt64Array.from([0n, 3n]), dims: [1, 2] },
      { name: 'ok', data: BigInt64Array.from([0n, 1n]), dims: [1, 2] },
    ],
  });
  const { model: same, changes } = gatherElementsAsGather(model);
  assert.deepEqual(changes, []);
  assert.equal(same, model);
});

test('poolsAsSlices computes every pool as Pad, strided Slices and Max/Add, equal to the pool itself', async () => {
  const x3 = { data: seededFloats(2 * 2 * 5 * 6 * 7, 4), dims: [2, 2, 5, 6, 7] };
  const x2 = { data: seededFloats(1 * 2 * 7 * 8, 6), dims: [1, 2, 7, 8] };
  const cases: Array<{ op: string; input: 'x3' | 'x2'; attributes: Record<string, number | number[] | string> }> = [
    { op: 'MaxPool', input: 'x3', attributes: { kernel_shape: [2, 2, 2] } },
    {
      op: 'MaxPool',
      input: 'x3',
      attributes: { kernel_shape: [3, 2, 3], dilations: [2, 1, 2], pads: [1, 0, 1, 1, 1, 0] },
    },
    {
      op: 'AveragePool',
      input: 'x3',
      attributes: { kernel_shape: [3, 3, 2], strides: [2, 2, 1], pads: [1, 1, 0, 1, 1, 1] },
    },
    {
      op: 'AveragePool',
      input: 'x2',
      attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1, ceil_mode: 1 },
    },
    { op: 'AveragePool', input: 'x2', attributes: { kernel_shape: [2, 2], dilations: [2, 2], ceil_mode: 1 } },
    { op: 'AveragePool', input: 'x2', attributes: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_LOWER' } },
    { op: 'LpPool', input: 'x3', attributes: { kernel_shape: [2, 3, 2], p: 3, strides: [1, 2, 2] } },
    { op: 'LpPool', input: 'x2', attributes: { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER' } },
  ];
  for (const [index, { op, input, attributes }] of cases.entries()) {
    const feeds = { x: input === 'x3' ? x3 : x2 };
    const spec = {
      opset: 19,
      inputs: [{ name: 'x', shape: feeds.x.dims }],
      outputs: [{ name: 'y' }],
      nodes: [{ op, inputs: ['x'], outputs: ['y'], name: 'pool', attributes }],
    };
    const original = buildModel(spec);
    const reference = await runOnnx(original, feeds);
    const dims = reference.dims.y!;
    // The rewrite needs the output shape declared, as prepare's shape inference leaves it.
    const declared = buildModel({ ...spec, outputs: [{ name: 'y', shape: dims }] });
    const { model: sliced, changes } = poolsAsSlices(declared);
    assert.equal(changes.length, 1, `case ${index} (${op}) rewritten`);
    assert.ok(!sliced.graph!.node.some((n) => n.opType === op), `case ${index}: no ${op} left`);
    const got = await runOnnx(sliced, feeds);
    assert.deepEqual(got.dims.y, dims, `case ${index} shape`);
    const want = reference.outputs.y!;
    const have = got.outputs.y!;
    for (let i = 0; i < want.length; i++)
      assert.ok(
        Math.abs(have[i]! - want[i]!) <= 1e-5 + 1e-5 * Math.abs(want[i]!),
        `case ${index} (${op}) element ${i}: ${have[i]} vs ${want[i]}`,
      );
  }
});

test('poolsAsSlices leaves a pool alone when its declared output shape disagrees or is unknown', () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [1, 1, 4, 4] }],
    outputs: [{ name: 'y', shape: [1, 1, 3, 3] }, { name: 'z' }],
    nodes: [
      { op: 'MaxPool', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op: 'MaxPool', inputs: ['x'], outputs: ['z'], attributes: { kernel_shape: [2, 2] } },
    ],
  });
  const { model: same, changes } = poolsAsSlices(model);
  assert.deepEqual(changes, []);
  assert.equal(same, model);
});

test('scatterReductionsAsGathers applies every reduction as onnxruntime does, duplicates and negative indices included', async () => {
  const big = (values: number[]) => BigInt64Array.from(values.map(BigInt));
  const cases: Array<{
    op: 'ScatterND' | 'ScatterElements';
    reduction: string;
    data: number[];
    indices: { values: number[]; dims: number[] };
    updates: number[];
    axis?: number;
  }> = [
    // Whole [4, 4] slices of a [4, 4, 4] tensor, row 0 updated twice.
    {
      op: 'ScatterND',
      reduction: 'add',
      data: [4, 4, 4],
      indices: { values: [0, 0, 2], dims: [3, 1] },
      updates: [3, 4, 4],
    },
    {
      op: 'ScatterND',
      reduction: 'mul',
      data: [4, 4, 4],
      indices: { values: [1, -1, 1], dims: [3, 1] },
      updates: [3, 4, 4],
    },
    // Rows of [3, 5, 2] addressed by two indices, one of them repeated three times.
    {
      op: 'ScatterND',
      reduction: 'max',
      data: [3, 5, 2],
      indices: { values: [0, 1, 2, -1, 0, 1, 0, 1], dims: [2, 2, 2] },
      updates: [2, 2, 2],
    },
    {
      op: 'ScatterND',
      reduction: 'min',
      data: [3, 5],
      indices: { values: [1, 2, 1, 2, 0, 0], dims: [3, 2] },
      updates: [3],
    },
    {
      op: 'ScatterElements',
      reduction: 'add',
      data: [2, 5],
      indices: { values: [1, 1, 0, 4, 4, -1], dims: [2, 3] },
      updates: [2, 3],
      axis: 1,
    },
    {
      op: 'ScatterElements',
      reduction: 'mul',
      data: [3, 4],
      indices: { values: [0, 2, 2, 1], dims: [1, 4] },
      updates: [1, 4],
      axis: 0,
    },
    {
      op: 'ScatterElements',
      reduction: 'max',
      data: [1, 5],
      indices: { values: [1, 1], dims: [1, 2] },
      updates: [1, 2],
      axis: -1,
    },
    {
      op: 'ScatterElements',
      reduction: 'min',
      data: [2, 3, 2],
      indices: { values: [2, 2, 0, 2], dims: [1, 2, 2] },
      updates: [1, 2, 2],
      axis: 1,
    },
  ];
  for (const [index, c] of cases.entries()) {
    const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
    const feeds = {
      data: { data: seededFloats(size(c.data), 10 + index), dims: c.data },
      updates: { data: seededFloats(size(c.updates), 20 + index), dims: c.updates },
    };
    const model = buildModel({
      opset: 18,
      inputs: [
        { name: 'data', shape: c.data },
        { name: 'updates', shape: c.updates },
      ],
      outputs: [{ name: 'y', shape: c.data }],
      nodes: [
        {
          op: c.op,
          inputs: ['data', 'indices', 'updates'],
          outputs: ['y'],
          name: 'scatter',
          attributes: { reduction: c.reduction, ...(c.axis !== undefined ? { axis: c.axis } : {}) },
        },
      ],
      initializers: [{ name: 'indices', data: big(c.indices.values), dims: c.indices.dims }],
    });
    const { model: gathered, changes } = scatterReductionsAsGathers(model);
    assert.equal(changes.length, 1, `case ${index} (${c.op} ${c.reduction}) rewritten`);
    assert.ok(!gathered.graph!.node.some((n) => n.opType === c.op), `case ${index}: no ${c.op} left`);
    const [want, have] = await Promise.all([runOnnx(model, feeds), runOnnx(gathered, feeds)]);
    assert.deepEqual(have.dims.y, c.data, `case ${index} shape`);
    assert.deepEqual([...have.outputs.y!], [...want.outputs.y!], `case ${index} (${c.op} ${c.reduction})`);
  }
});

test('scatterReductionsAsGathers leaves reduction none, run-time indices and indices out of range to the converter', () => {
  const model = buildModel({
    opset: 18,
    inputs: [
      { name: 'data', shape: [2, 3] },
      { name: 'updates', shape: [1, 2] },
      { name: 'i', dtype: 'int64', shape: [1, 2] },
    ],
    outputs: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    nodes: [
      { op: 'ScatterElements', inputs: ['data', 'ok', 'updates'], outputs: ['a'], attributes: { axis: 1 } },
      { op: 'ScatterElements', inputs: ['data', 'i', 'updates'], outputs: ['b'], attributes: { reduction: 'add' } },
      {
        op: 'ScatterElements',
        inputs: ['data', 'bad', 'updates'],
        outputs: ['c'],
        attributes: { reduction: 'add', axis: 1 },
      },
    ],
    initializers: [
      { name: 'ok', data: BigInt64Array.from([0n, 1n]), dims: [1, 2] },
      { name: 'bad', data: BigInt64Array.from([0n, 3n]), dims: [1, 2] },
    ],
  });
  const { model: same, changes } = scatterReductionsAsGathers(model);
  assert.deepEqual(changes, []);
  assert.equal(same, model);
});
