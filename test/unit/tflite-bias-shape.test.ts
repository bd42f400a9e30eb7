import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildTfliteModel, flattenBiasShapes, readTflite } from '../../src/formats/tflite/index.js';

/** A TRANSPOSE_CONV as the TFLite converter writes it from onnx2tf's ConvTranspose + Add: bias [1,1,1,C]. */
function transposeConvModel(biasShape: number[]): Uint8Array {
  const c = biasShape.reduce((a, b) => a * b, 1);
  const f32 = (n: number) => new Uint8Array(new Float32Array(n).fill(0.5).buffer);
  return buildTfliteModel({
    operatorCodes: [{ op: 'TRANSPOSE_CONV', version: 3 }, { op: 'ADD' }],
    subgraphs: [
      {
        tensors: [
          { name: 'output_shape', dtype: 'INT32', shape: [4], buffer: 1 },
          { name: 'weights', dtype: 'FLOAT32', shape: [c, 2, 2, 3], buffer: 2 },
          { name: 'x', dtype: 'FLOAT32', shape: [1, 4, 4, 3] },
          { name: 'bias', dtype: 'FLOAT32', shape: biasShape, shapeSignature: biasShape, buffer: 3 },
          { name: 'y', dtype: 'FLOAT32', shape: [1, 8, 8, c] },
          // Another tensor of the bias's shape that is not a bias: it must keep its shape.
          { name: 'other', dtype: 'FLOAT32', shape: [1, 1, 1, c], buffer: 4 },
          { name: 'z', dtype: 'FLOAT32', shape: [1, 8, 8, c] },
        ],
        inputs: [2],
        outputs: [6],
        operators: [
          { opcodeIndex: 0, inputs: [0, 1, 2, 3], outputs: [4], builtinOptions: { type: 'TransposeConvOptions' } },
          { opcodeIndex: 1, inputs: [4, 5], outputs: [6], builtinOptions: { type: 'AddOptions' } },
        ],
      },
    ],
    buffers: [
      {},
      { data: new Uint8Array(Int32Array.of(1, 8, 8, c).buffer) },
      { data: f32(c * 12) },
      { data: f32(c) },
      { data: f32(c) },
    ],
  });
}

describe('TFLite bias shapes (int16-activation quantization needs rank-1 biases)', () => {
  it('flattens a TRANSPOSE_CONV bias [1,1,1,C] to [C] in place, shape signature too', () => {
    const bytes = transposeConvModel([1, 1, 1, 24]);
    const { bytes: out, reshaped, skipped } = flattenBiasShapes(bytes);
    assert.equal(out.length, bytes.length);
    assert.deepEqual(skipped, []);
    assert.deepEqual(reshaped, [
      { subgraph: 0, tensor: 3, name: 'bias', op: 'TRANSPOSE_CONV', from: [1, 1, 1, 24], to: [24] },
    ]);
    const model = readTflite(out);
    const bias = model.subgraphs[0]!.tensors[3]!;
    assert.deepEqual(bias.shape, [24]);
    assert.deepEqual(bias.shapeSignature, [24]);
    // Nothing else moved: the Add constant keeps its 4-D shape, the buffers their bytes.
    assert.deepEqual(model.subgraphs[0]!.tensors[5]!.shape, [1, 1, 1, 24]);
    assert.deepEqual(model.buffers, readTflite(bytes).buffers);
    assert.equal(bytes[0], out[0]);
  });

  it('leaves rank-1 biases alone and does not touch the input bytes', () => {
    const bytes = transposeConvModel([5]);
    const copy = bytes.slice();
    const { bytes: out, reshaped } = flattenBiasShapes(bytes);
    assert.deepEqual(reshaped, []);
    assert.deepEqual(out, copy);
    // The 4-D case also leaves its input as it was.
    const four = transposeConvModel([1, 1, 1, 3]);
    const fourCopy = four.slice();
    flattenBiasShapes(four);
    assert.deepEqual(four, fourCopy);
  });
});
