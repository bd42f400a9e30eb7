/**
 * The conformance benchmark's pure parts: recipe names within the schema's limit, which cases a
 * recipe cannot express, and the failure taxonomy on reasons the real build gave.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  caseRecipe,
  categorize,
  constantInputNames,
  constantProblem,
  inexpressibleReason,
  valueText,
  isOtherInput,
  isPermutedShape,
  recipeName,
  strategiesTried,
} from '../../scripts/conformance.js';
import { parseRecipeText } from '../../src/recipe/index.js';

test('recipe names: test_ prefix dropped, dashes, and long names cut to 64 with a hash', () => {
  assert.equal(recipeName('test_layer_normalization_2d_axis0'), 'layer-normalization-2d-axis0');
  const long = 'test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_false';
  const other = 'test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_true';
  assert.ok(recipeName(long).length <= 64);
  assert.match(recipeName(long), /^[a-z0-9]+(-[a-z0-9]+)*$/);
  assert.notEqual(recipeName(long), recipeName(other));
});

test('cases a recipe cannot express: other dtypes, empty dims, nothing to feed; scalars and int/bool constants are fine', () => {
  const f = (shape: number[], dtype = 'float32', name = 'x') => ({ name, dtype, shape });
  assert.equal(inexpressibleReason([f([1, 3, 4, 4])]), undefined);
  assert.equal(inexpressibleReason([f([3, 4]), f([], 'float32', 'min')]), undefined);
  const record = {
    inputs: [f([3, 4]), f([2], 'int64', 'axes'), f([1, 3, 3, 3], 'float32', 'W')],
    parameterInputs: ['W'],
  };
  const constants = constantInputNames(record);
  assert.deepEqual([...constants].sort(), ['W', 'axes']);
  assert.equal(inexpressibleReason(record.inputs, constants), undefined);
  assert.equal(inexpressibleReason([f([2], 'float64')]), 'float64 input (no recipe dtype)');
  assert.equal(inexpressibleReason([f([0, 2])]), 'zero-size or symbolic input dim');
  assert.equal(inexpressibleReason([f([2], 'int64')], new Set(['x'])), 'every input is a constant (nothing to feed)');
  assert.match(constantProblem(new Float32Array([1, Number.NaN])) ?? '', /NaN or infinity/);
  assert.match(constantProblem(new Float32Array(20_001)) ?? '', /more than 20000/);
  assert.equal(valueText([], BigInt64Array.from([16000n]), 'int64'), '16000');
  assert.equal(valueText([2, 2], Uint8Array.from([1, 0, 0, 1]), 'bool'), '[[true, false], [false, true]]');
  assert.equal(
    valueText([3], BigInt64Array.from([9223372036854775807n, -1n, 0n]), 'int64'),
    '[9223372036854775807, -1, 0]',
  );
});

test('failure taxonomy on reasons the real build gave', () => {
  assert.equal(categorize('needs Flex ops: FlexSinh'), 'tflite: needs Flex ops');
  assert.equal(
    categorize(
      'conversion failed: ops FlexSinh; 3 strategies tried: onnx2tf default: rejected (ops): needs Flex ops FlexSinh (the Select-TF-ops delegate); allow them with allow_ops',
    ),
    'tflite: needs Flex ops',
  );
  assert.equal(
    categorize(
      "conversion failed: asin: step asin/convert/tflite/fp32: onnx2tf failed (ConverterError: Could not translate MLIR to FlatBuffer. error: 'tf.Asin' op is neither a custom op nor a flex op)",
    ),
    'tflite: op has no builtin or Flex kernel',
  );
  const otherInput =
    "the artifact cannot take the validation samples: input 'K': the sample's shape [2, 6, 24] (layout DDD) does not fit the artifact's input 'serving_default_Q:0' [2, 4, 24]";
  assert.ok(isOtherInput(otherInput));
  assert.equal(categorize(otherInput), 'validation: inputs paired by position (artifact reorders them)');
  const sameInput =
    "the artifact cannot take the validation samples: input 'x': the sample's shape [1, 3, 4, 4] (layout NCHW) does not fit the artifact's input 'serving_default_x:0' [1, 4, 3, 4]";
  assert.equal(isOtherInput(sameInput), false);
  assert.equal(categorize(sameInput), 'validation: input layout not applied (artifact input serving_default_<name>:0)');
  assert.equal(
    categorize('the artifact cannot take the validation samples: cannot transpose layout NCHW into D: different ranks'),
    'validation: inputs paired by position (artifact reorders them)',
  );
  const permuted =
    "output 'present_key': shape [2, 18, 8, 3] differs from the reference's [2, 3, 18, 8]; output 'present_value': shape [2, 18, 10, 3] differs from the reference's [2, 3, 18, 10]";
  assert.ok(isPermutedShape(permuted));
  assert.equal(categorize(permuted), 'validation: output permuted (same dims, other order)');
  assert.equal(
    categorize("output 'y': shape [1, 2, 3] differs from the reference's [1, 2, 4]"),
    'validation: output shape differs',
  );
  assert.equal(
    categorize(
      "output 'output_1': max abs error 4 exceeds the allowed 0.0021 (atol 0.0001 + rtol 0.001 × max|reference| 2)",
    ),
    'validation: wrong numbers',
  );
  assert.equal(categorize('prepare: onnx prepare failed (Scan)'), 'prepare failed');
  assert.equal(categorize('something new'), 'other');
});

test('a case recipe passes the recipe schema and rules', () => {
  const name = recipeName('test_add_bcast');
  const text = caseRecipe(
    {
      case: 'test_add_bcast',
      op: 'Add',
      status: 'ok',
      inputs: [
        { name: 'x', dtype: 'float32', shape: [3, 4, 5] },
        { name: 'y', dtype: 'float32', shape: [5] },
      ],
    },
    name,
    'a'.repeat(64),
    ['tflite/fp32', 'openvino/fp32', 'onnx/fp16'],
  );
  const parsed = parseRecipeText(text, `recipes/${name}.yaml`);
  assert.deepEqual(parsed.problems, []);
  assert.equal(parsed.recipe?.name, 'add-bcast');
  assert.deepEqual(parsed.recipe?.targets, { tflite: ['fp32'], openvino: ['fp32'], onnx: ['fp16'] });
  assert.deepEqual(
    parsed.recipe?.inputs.map((i) => i.shape),
    [[3, 4, 5], [5]],
  );
  assert.equal(parsed.recipe?.validation.samples, 'models/test_add_bcast/val/*.npy');
});

test('strategies tried: read from both forms of a failure reason, in order', () => {
  assert.deepEqual(
    strategiesTried(
      'conversion failed: ops FlexMatrixDeterminant; 3 strategies tried: onnx2tf default: rejected (ops): needs Flex ops FlexMatrixDeterminant; onnx2tf simplify: rejected (ops): needs Flex ops X; onnx2tf no-strict: failed: onnx2tf failed (ValueError)',
    ),
    ['onnx2tf default', 'onnx2tf simplify', 'onnx2tf no-strict'],
  );
  assert.deepEqual(
    strategiesTried(
      [
        'conversion failed: m: step m/convert/tflite/fp32: onnx2tf failed (AttributeError: x)',
        '  full log: artifacts/logs/m/convert-tflite-fp32.log',
        '  also tried onnx2tf simplify: onnx2tf failed (AttributeError: x)',
        '  also tried onnx2tf no-strict: onnx2tf failed (AttributeError: x)',
      ].join('\n'),
    ),
    ['onnx2tf default', 'onnx2tf simplify', 'onnx2tf no-strict'],
  );
  // One strategy applied: the converter's error alone.
  assert.deepEqual(strategiesTried('m: step m/convert/openvino/fp32: ovc failed (OpConversionFailure: Det)'), [
    'ovc default',
  ]);
  assert.deepEqual(strategiesTried('litert failed to run the model: Invalid tensor size.'), []);
});
