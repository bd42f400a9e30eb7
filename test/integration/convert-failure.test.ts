/**
 * A converter that cannot convert a model fails the step with a message a person can act on:
 * model, step, tool, the error, the lines of the tool's output that name the op, the ONNX node
 * of that op, and where the full log is (which holds the traceback). Needs the tf venv.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildModel } from '../../src/formats/onnx/index.js';
import { buildUpToConvert, withProject, writeOnnxModelRecipe } from './convert-project.js';

test('an op no converter knows: onnx2tf and ovc failures name it and its node', async () => {
  await withProject('edgezoo-convert-fail-', async (root) => {
    writeOnnxModelRecipe(
      root,
      'bad',
      buildModel({
        opset: 17,
        inputs: [{ name: 'x', shape: [1, 3, 8, 8] }],
        outputs: [{ name: 'y', shape: [1, 3, 8, 8] }],
        nodes: [
          { op: 'Relu', inputs: ['x'], outputs: ['r'], name: 'relu' },
          { op: 'Mystery', domain: 'com.example', inputs: ['r'], outputs: ['y'], name: 'mystery_node' },
        ],
        extraOpsets: { 'com.example': 1 },
      }),
      {
        description: 'an unknown op',
        inputs: '[{ name: x, shape: [1, 3, 8, 8], layout: NCHW, range: [0, 1] }]',
        targets: '{ onnx: [fp32], tflite: [fp32], openvino: [fp32] }',
      },
    );
    const failures = new Map<string, { reason: string; deterministic: boolean }>();
    const { summary } = await buildUpToConvert(root, ['bad'], (event) => {
      if (event.type === 'step-failed')
        failures.set(event.step, { reason: event.reason, deterministic: event.deterministic });
    });
    assert.equal(summary.ok, false);
    // prepare and the ONNX copy do not run the op: they succeed. onnxruntime cannot run the
    // source for the reference either; the conversions still run (judged on their ops only).
    assert.deepEqual([...failures.keys()].sort(), [
      'bad/convert/openvino/fp32',
      'bad/convert/tflite/fp32',
      'bad/reference',
    ]);
    assert.equal(
      failures.get('bad/convert/tflite/fp32')!.reason,
      [
        "bad: step bad/convert/tflite/fp32: onnx2tf failed (ModuleNotFoundError: No module named 'onnx2tf.ops.Mystery')",
        '  | ERROR: Mystery OP is not yet implemented.',
        '  | unsupported op Mystery at node mystery_node',
        '  full log: artifacts/logs/bad/convert-tflite-fp32.log',
        // The cascade tried the strategies that apply to this model before giving up.
        ...['keep-all-shapes', 'channels-first-inputs', 'no-strict'].map(
          (strategy) =>
            `  also tried onnx2tf ${strategy}: onnx2tf failed (ModuleNotFoundError: No module named 'onnx2tf.ops.Mystery'); unsupported op Mystery at node mystery_node`,
        ),
      ].join('\n'),
    );
    assert.equal(
      failures.get('bad/convert/openvino/fp32')!.reason,
      [
        'bad: step bad/convert/openvino/fp32: ovc failed (OpConversionFailure: No conversion rule found for operations: com.example.Mystery)',
        '  | unsupported op Mystery at node mystery_node',
        '  full log: artifacts/logs/bad/convert-openvino-fp32.log',
      ].join('\n'),
    );
    // A tool error is not a deterministic result: not cached, retried next build.
    assert.equal(failures.get('bad/convert/tflite/fp32')!.deterministic, false);
    const log = readFileSync(path.join(root, 'artifacts', 'logs', 'bad', 'convert-tflite-fp32.log'), 'utf8');
    assert.match(log, /Traceback \(most recent call last\)/);
    assert.ok(existsSync(path.join(root, 'artifacts', 'logs', 'bad', 'convert-openvino-fp32.log')));
  });
});
