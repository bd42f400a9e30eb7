/** Converter failures read well: which lines of a tool's log are shown, and the exact message. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUILTIN_CATALOGUE as catalogue, NoBackendError } from '../../src/catalogue/index.js';
import { ConverterError, keyLogLines, stepLogFile } from '../../src/toolchain/backends/index.js';
import { channelsLast, convertedLayout } from '../../src/toolchain/backends/layouts.js';

// What onnx2tf 1.29 prints when an op cannot be converted (colours included), among progress noise.
const ONNX2TF_LOG = [
  '\x1b[32mINFO:\x1b[0m input_op_name: input shape: [1, 3, 32, 32] dtype: float32',
  '\x1b[32mINFO:\x1b[0m 2 / 9',
  '\x1b[31mERROR:\x1b[0m The trace log is below.',
  '  File "/venv/lib/python3.11/site-packages/onnx2tf/utils/common_functions.py", line 310, in print_wrapper_func',
  '\x1b[31mERROR:\x1b[0m onnx_op_type: GridSample onnx_op_name: /grid/GridSample',
  '\x1b[31mERROR:\x1b[0m Read this and deal with it. https://github.com/PINTO0309/onnx2tf#parameter-replacement',
  'NotImplementedError: GridSample mode=bicubic is not supported',
];

test('keyLogLines keeps the lines naming the op, the node and the error, without colours or frames', () => {
  assert.deepEqual(keyLogLines(ONNX2TF_LOG), [
    'ERROR: The trace log is below.',
    'ERROR: onnx_op_type: GridSample onnx_op_name: /grid/GridSample',
    'ERROR: Read this and deal with it. https://github.com/PINTO0309/onnx2tf#parameter-replacement',
    'NotImplementedError: GridSample mode=bicubic is not supported',
  ]);
});

test('keyLogLines falls back to the last lines when nothing matches', () => {
  const lines = Array.from({ length: 20 }, (_, i) => `step ${i}`);
  assert.deepEqual(keyLogLines(lines, 3), ['step 17', 'step 18', 'step 19']);
});

test('ConverterError names model, step, tool, how it ended, the key lines and the full log', () => {
  const error = new ConverterError({
    model: 'face-mesh',
    stepId: 'face-mesh/convert/tflite/int8',
    tool: 'onnx2tf',
    how: 'NotImplementedError: GridSample mode=bicubic is not supported',
    keyLines: keyLogLines(ONNX2TF_LOG).slice(1, 2),
    logFile: stepLogFile('face-mesh', 'face-mesh/convert/tflite/int8'),
  });
  assert.equal(error.code, 'CONVERTER_FAILED');
  assert.equal(
    error.message,
    'face-mesh: step face-mesh/convert/tflite/int8: onnx2tf failed (NotImplementedError: GridSample mode=bicubic is not supported)\n' +
      '  | ERROR: onnx_op_type: GridSample onnx_op_name: /grid/GridSample\n' +
      '  full log: artifacts/logs/face-mesh/convert-tflite-int8.log',
  );
  assert.match(error.hint!, /replacements:/);
});

test('the catalogue picks the planned converter and refuses a precision it lacks', () => {
  assert.equal(catalogue.requireConverter('onnx2tf', 'int16-act').name, 'onnx2tf');
  assert.equal(catalogue.requireConverter('edgezoo', 'fp32').to, 'onnx');
  assert.equal(catalogue.requireConverter('onnxruntime', 'int8').env, 'tf');
  assert.equal(catalogue.requireConverter('litert-torch', 'int8').env, 'torch');
  assert.throws(
    () => catalogue.requireConverter('ovc', 'int8'),
    (e: unknown) =>
      e instanceof NoBackendError &&
      /^no converter backend for converter "ovc" at int8; known: torch-onnx \(pytorch -> onnx: fp32\)/.test(e.message),
  );
  assert.deepEqual(
    catalogue.prepareChain('tflite').map((b) => b.name),
    ['tf2onnx', 'onnx-prepare'],
  );
  assert.deepEqual(
    catalogue.prepareChain('pytorch').map((b) => b.name),
    ['torch-onnx', 'onnx-prepare'],
  );
});

test('layouts: channels-last moves are recognised from shapes, anything else is not guessed', () => {
  assert.equal(channelsLast('NCHW'), 'NHWC');
  assert.equal(channelsLast('NCW'), 'NWC');
  assert.equal(channelsLast('ND'), 'ND');
  assert.equal(convertedLayout([1, 3, 32, 32], 'NCHW', [1, 32, 32, 3]), 'NHWC');
  assert.equal(convertedLayout([1, 3, 32, 32], 'NCHW', [1, 3, 32, 32]), 'NCHW');
  assert.equal(convertedLayout([1, 4], 'ND', [1, 4]), 'ND');
  assert.equal(convertedLayout([1, 3, 32, 32], 'NCHW', [1, 32, 3, 32]), undefined);
});
