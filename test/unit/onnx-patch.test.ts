import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyReplacements,
  buildModel,
  decodeModel,
  dropUnusedInitializers,
  edgezooMetadata,
  encodeModel,
  fixDynamicDims,
  renameTensors,
  setMetadata,
  type ModelProto,
} from '../../src/formats/onnx/index.js';
import type { InputSpec } from '../../src/recipe/types.js';
import { convNet, runOnnx, seededFloats } from './onnx-fixtures.js';

const x1 = { data: seededFloats(3 * 8 * 8, 11), dims: [1, 3, 8, 8] };
const spec = (shape: Array<number | string>, dynamic: string[] = []): InputSpec => ({
  name: 'x',
  shape,
  dynamic,
  layout: 'NCHW',
  dtype: 'float32',
  range: [0, 1],
});

/** A deep snapshot of a model for "the input was not changed" checks. */
const snapshot = (model: ModelProto) => Buffer.from(encodeModel(model)).toString('base64');

test('fixDynamicDims sets recipe dims, shows them in session metadata and keeps the input unchanged', async () => {
  const model = convNet();
  const before = snapshot(model);
  const fixed = fixDynamicDims(model, [spec([1, 3, 8, 8])]);
  assert.equal(snapshot(model), before);
  const { session, outputs } = await runOnnx(fixed, { x: x1 });
  const meta = session.inputMetadata[0] as unknown as { shape: unknown[] };
  assert.deepEqual(meta.shape, [1, 3, 8, 8]);
  // The same symbolic name on the output is fixed too.
  assert.deepEqual(fixed.graph!.output[0]!.type!.tensorType!.shape!.dim, [{ dimValue: 1 }, { dimValue: 2 }]);
  assert.equal(outputs['y']!.length, 2);
  await assert.rejects(
    runOnnx(fixed, { x: { data: new Float32Array(2 * 192), dims: [2, 3, 8, 8] } }),
    /Got: 2 Expected: 1/,
  );
});

test('fixDynamicDims keeps dims the recipe declares dynamic and names mismatches', async () => {
  const kept = fixDynamicDims(convNet(), [spec(['batch', 3, 8, 8], ['batch'])]);
  assert.deepEqual(kept.graph!.input[0]!.type!.tensorType!.shape!.dim[0], { dimParam: 'batch' });
  assert.throws(() => fixDynamicDims(convNet(), [{ ...spec([1, 3, 8, 8]), name: 'image' }]), {
    name: 'OnnxPatchError',
    code: 'ONNX_INPUT_NOT_FOUND',
    message: 'recipe input "image" is not an input of the model (its inputs: "x")',
  });
  assert.throws(() => fixDynamicDims(convNet(), [spec([1, 3, 8])]), {
    code: 'ONNX_INPUT_RANK',
    message: 'recipe input "x" has 3 dims [1, 3, 8] but the model\'s has 4',
  });
  assert.throws(() => fixDynamicDims(convNet(), [spec([1, 1, 8, 8])]), {
    code: 'ONNX_INPUT_DIM_CONFLICT',
    message: 'recipe input "x" dim 1 is 1 but the model fixes it to 3',
  });
});

test('fixDynamicDims treats dim_value -1 (paddle2onnx\'s "unknown") as dynamic and fixes it', async () => {
  const model = convNet();
  model.graph!.input[0]!.type!.tensorType!.shape!.dim[0] = { dimValue: -1 };
  const fixed = fixDynamicDims(model, [spec([1, 3, 8, 8])]);
  assert.deepEqual(fixed.graph!.input[0]!.type!.tensorType!.shape!.dim[0], { dimValue: 1 });
  const { outputs } = await runOnnx(fixed, { x: x1 });
  assert.equal(outputs['y']!.length, 2);
});

test('renameTensors renames inputs and outputs everywhere and the model still runs', async () => {
  const model = convNet();
  const before = snapshot(model);
  const renamed = renameTensors(model, { x: 'image', y: 'logits' });
  assert.equal(snapshot(model), before);
  assert.deepEqual(renamed.graph!.node[0]!.input[0], 'image');
  const original = await runOnnx(model, { x: x1 });
  const { outputs, session } = await runOnnx(renamed, { image: x1 });
  assert.deepEqual(session.outputNames, ['logits']);
  assert.deepEqual(outputs['logits'], original.outputs['y']);
  assert.throws(() => renameTensors(model, { r: 'z' }), { code: 'ONNX_TENSOR_NOT_FOUND' });
  assert.throws(() => renameTensors(model, { x: 'c' }), {
    code: 'ONNX_TENSOR_NAME_TAKEN',
    message: 'cannot rename "x" to "c": that name is already used in the graph',
  });
});

test('setMetadata writes edgezoo metadata, replaces keys and keeps the others', () => {
  const model = convNet();
  const props = edgezooMetadata({
    name: 'tiny',
    version: '1.0.0',
    license: 'MIT',
    sourceSha256: 'ab'.repeat(32),
    recipeFingerprint: 'fp',
    toolVersions: { onnx2tf: '1.26.0' },
    layouts: { x: 'NCHW' },
  });
  const patched = setMetadata(setMetadata(model, { author: 'someone else' }), props);
  const decoded = decodeModel(encodeModel(patched));
  const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
  assert.equal(meta['author'], 'someone else');
  assert.equal(meta['edgezoo.layouts'], '{"x":"NCHW"}');
  assert.equal(meta['edgezoo.tool_versions'], '{"onnx2tf":"1.26.0"}');
  assert.equal(decoded.metadataProps.filter((p) => p.key === 'author').length, 1);
  assert.deepEqual(model.metadataProps, [{ key: 'author', value: 'edgezoo tests' }]);
});

test('dropUnusedInitializers removes only what no node uses', async () => {
  const model = convNet();
  model.graph!.initializer.push({ ...model.graph!.initializer[0]!, name: 'unused' });
  const slim = dropUnusedInitializers(model);
  assert.equal(model.graph!.initializer.length, 6);
  assert.deepEqual(
    slim.graph!.initializer.map((t) => t.name),
    ['conv_w', 'conv_b', 'offset', 'fc_w', 'fc_b'],
  );
  await runOnnx(slim, { x: x1 });
});

/** y = Transpose(x, perm) + c, and a Reshape whose target shape is a Constant. */
function replaceable(): ModelProto {
  return buildModel({
    inputs: [{ name: 'x', shape: [2, 3] }],
    outputs: [{ name: 'y' }, { name: 'z' }],
    nodes: [
      { op: 'Transpose', name: 'transpose', inputs: ['x'], outputs: ['t'], attributes: { perm: [1, 0] } },
      { op: 'Add', name: 'add', inputs: ['t', 'c'], outputs: ['y'] },
      {
        op: 'Constant',
        name: 'shape_const',
        inputs: [],
        outputs: ['shape'],
        attributes: {
          value: buildModel({
            inputs: [],
            outputs: [],
            nodes: [],
            initializers: [{ name: 's', data: [3, 2], dims: [2], dtype: 'int64' }],
          }).graph!.initializer[0]!,
        },
      },
      { op: 'Reshape', name: 'reshape', inputs: ['x', 'shape'], outputs: ['z'] },
    ],
    initializers: [{ name: 'c', data: [1, 1, 1, 1, 1, 1], dims: [3, 2] }],
  });
}

test('applyReplacements changes a constant, an attribute and a Constant node, and outputs follow', async () => {
  const model = replaceable();
  const before = snapshot(model);
  const x = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), dims: [2, 3] };
  const base = await runOnnx(model, { x });
  assert.deepEqual([...base.outputs['y']!], [2, 5, 3, 6, 4, 7]);

  const result = applyReplacements(model, {
    format_version: 1,
    operations: [
      {
        op_name: 'add',
        param_target: 'inputs',
        param_name: 'c',
        values: [
          [10, 10],
          [10, 10],
          [10, 10],
        ],
      },
      {
        op_name: 'reshape',
        param_target: 'inputs',
        param_name: 'shape',
        values: [1, 6],
        pre_process_transpose_perm: [1, 0],
      },
      { op_name: 'transpose', param_target: 'attributes', param_name: 'perm', values: [1, 0] },
      { op_name: 'reshape', param_target: 'outputs', param_name: 'z', post_process_transpose_perm: [1, 0] },
      { op_name: 'reshape', param_target: 'op', param_name: '', new_shape: [6] },
    ],
  });
  assert.equal(snapshot(model), before);
  assert.deepEqual(result.applied, ['add inputs c', 'reshape inputs shape', 'transpose attributes perm']);
  assert.deepEqual(
    result.notApplicable.map((n) => [n.index, n.fields]),
    [
      [1, ['pre_process_transpose_perm']],
      [3, ['post_process_transpose_perm']],
      [4, ['param_name', 'new_shape']],
    ],
  );
  assert.deepEqual(result.forOnnx2tf.operations, [
    { op_name: 'reshape', param_target: 'inputs', param_name: 'shape', pre_process_transpose_perm: [1, 0] },
    { op_name: 'reshape', param_target: 'outputs', param_name: 'z', post_process_transpose_perm: [1, 0] },
    { op_name: 'reshape', param_target: 'op', param_name: '', new_shape: [6] },
  ]);
  const { outputs } = await runOnnx(result.model, { x });
  assert.deepEqual([...outputs['y']!], [11, 14, 12, 15, 13, 16]);
  assert.equal(outputs['z']!.length, 6);
  // The attribute replacement is visible too: perm [0,1] is invalid for Add with c [3,2], so use a 2x2 model.
  const square = buildModel({
    inputs: [{ name: 'x', shape: [2, 2] }],
    outputs: [{ name: 'y' }],
    nodes: [{ op: 'Transpose', name: 'transpose', inputs: ['x'], outputs: ['y'], attributes: { perm: [1, 0] } }],
  });
  const identity = applyReplacements(square, {
    format_version: 1,
    operations: [{ op_name: 'transpose', param_target: 'attributes', param_name: 'perm', values: [0, 1] }],
  });
  const run = await runOnnx(identity.model, { x: { data: Float32Array.from([1, 2, 3, 4]), dims: [2, 2] } });
  assert.deepEqual([...run.outputs['y']!], [1, 2, 3, 4]);
});

test('applyReplacements names the op and param that did not match', () => {
  const model = replaceable();
  assert.throws(
    () =>
      applyReplacements(model, {
        format_version: 1,
        operations: [{ op_name: 'nope', param_target: 'attributes', param_name: 'perm', values: [0, 1] }],
      }),
    {
      name: 'OnnxPatchError',
      code: 'REPLACEMENT_OP_NOT_FOUND',
      message: 'replacement #1 (op "nope", attributes "perm"): the graph has no node named "nope"',
    },
  );
  assert.throws(
    () =>
      applyReplacements(model, {
        format_version: 1,
        operations: [{ op_name: 'add', param_target: 'inputs', param_name: 'q', values: [1] }],
      }),
    {
      code: 'REPLACEMENT_PARAM_NOT_FOUND',
      message: 'replacement #1 (op "add", inputs "q"): "q" is not an input of Add "add" (its inputs: "t", "c")',
    },
  );
  assert.throws(
    () =>
      applyReplacements(model, {
        format_version: 1,
        operations: [{ op_name: 'add', param_target: 'inputs', param_name: 't', values: [1] }],
      }),
    {
      code: 'REPLACEMENT_NOT_CONSTANT',
    },
  );
  assert.throws(
    () =>
      applyReplacements(model, {
        format_version: 1,
        operations: [{ op_name: 'transpose', param_target: 'attributes', param_name: 'perm', values: [0.5, 1] }],
      }),
    {
      code: 'REPLACEMENT_VALUES_INVALID',
      message: 'replacement #1 (op "transpose", attributes "perm"): attribute "perm" is a list of ints, got [0.5,1]',
    },
  );
  assert.throws(
    () =>
      applyReplacements(model, {
        format_version: 1,
        operations: [{ op_name: 'reshape', param_target: 'inputs', param_name: 'shape', values: [1.5, 4] }],
      }),
    {
      code: 'ONNX_TENSOR_TYPE',
    },
  );
});

test('a replaced constant shared by two ops changes only for the named op', async () => {
  const model = buildModel({
    inputs: [{ name: 'x', shape: [2] }],
    outputs: [{ name: 'a' }, { name: 'b' }],
    nodes: [
      { op: 'Add', name: 'first', inputs: ['x', 'k'], outputs: ['a'] },
      { op: 'Mul', name: 'second', inputs: ['x', 'k'], outputs: ['b'] },
    ],
    initializers: [{ name: 'k', data: [2, 2], dims: [2] }],
  });
  const result = applyReplacements(model, {
    format_version: 1,
    operations: [{ op_name: 'first', param_target: 'inputs', param_name: 'k', values: [5, 5] }],
  });
  const { outputs } = await runOnnx(result.model, { x: { data: Float32Array.from([1, 3]), dims: [2] } });
  assert.deepEqual([...outputs['a']!], [6, 8]);
  assert.deepEqual([...outputs['b']!], [2, 6]);
});
