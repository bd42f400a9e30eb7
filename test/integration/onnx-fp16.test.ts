/**
 * ONNX fp16 (onnxconverter-common, float32 inputs and outputs kept) of a model whose graph output
 * is also read inside the graph (Attention's qk_matmul_output): the converter cast that output
 * back to float32 for its readers too, onnxruntime refused the model ("Type parameter (T) of
 * Optype (MatMul) bound to different types"), and only keeping every MatMul float32 made it load.
 * The output now gets an internal tensor of its own: everything computes in float16.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARTIFACT_FILE, readStepFile } from '../../src/build/step-files.js';
import { buildModel } from '../../src/formats/onnx/index.js';
import { buildCollectingFailures, withProject, writeOnnxModelRecipe } from './convert-project.js';

test('onnx fp16: an output read by other nodes keeps every op in float16 and validates', async () => {
  await withProject('edgezoo-onnx-fp16-', async (root) => {
    writeOnnxModelRecipe(
      root,
      'chain',
      buildModel({
        opset: 17,
        inputs: [{ name: 'x', shape: [2, 4] }],
        outputs: [
          { name: 't', shape: [2, 3] },
          { name: 'y', shape: [2, 3] },
        ],
        nodes: [
          { op: 'MatMul', inputs: ['x', 'w'], outputs: ['t'], name: 'first' },
          { op: 'MatMul', inputs: ['t', 'w2'], outputs: ['y'], name: 'second' },
        ],
        initializers: [
          { name: 'w', data: [0.5, -1, 0.25, 1, 0.75, -0.5, 0.1, 0.2, 0.3, -0.4, 0.6, 0.9], dims: [4, 3] },
          { name: 'w2', data: [1, 0, 0.5, -0.5, 1, 0, 0.25, 0.25, 1], dims: [3, 3] },
        ],
      }),
      {
        description: 'an output also read inside the graph',
        inputs: '[{ name: x, shape: [2, 4], range: [-1, 1] }]',
        targets: '{ onnx: [fp16] }',
      },
    );
    const { summary, outputs, failures } = await buildCollectingFailures(root, ['chain']);
    assert.deepEqual(failures, []);
    assert.equal(summary.ok, true);
    const made = await readStepFile(outputs['chain/convert/onnx/fp16']!, ARTIFACT_FILE);
    // Before: MatMul kept float32 so that onnxruntime would load the model.
    assert.equal(made.notes?.float32Ops, undefined);
  });
});
