/** Small ONNX models built by code for the ONNX tests (no files downloaded). */
import * as ort from 'onnxruntime-node';
import { buildModel, encodeModel, type ModelProto } from '../../src/formats/onnx/index.js';

/** Deterministic pseudo-random floats in [-1, 1). */
export function seededFloats(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = (state / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** x[batch,3,8,8] -> Conv(4) -> Relu -> Add(bias) -> GlobalAveragePool -> Flatten -> Gemm -> y[batch,2]. */
export function convNet(): ModelProto {
  return buildModel({
    inputs: [{ name: 'x', shape: ['batch', 3, 8, 8] }],
    outputs: [{ name: 'y', shape: ['batch', 2] }],
    nodes: [
      {
        op: 'Conv',
        name: 'conv',
        inputs: ['x', 'conv_w', 'conv_b'],
        outputs: ['c'],
        attributes: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] },
      },
      { op: 'Relu', name: 'relu', inputs: ['c'], outputs: ['r'] },
      { op: 'Add', name: 'add', inputs: ['r', 'offset'], outputs: ['a'] },
      { op: 'GlobalAveragePool', name: 'pool', inputs: ['a'], outputs: ['p'] },
      { op: 'Flatten', name: 'flatten', inputs: ['p'], outputs: ['f'], attributes: { axis: 1 } },
      { op: 'Gemm', name: 'fc', inputs: ['f', 'fc_w', 'fc_b'], outputs: ['y'], attributes: { transB: 1 } },
    ],
    initializers: [
      { name: 'conv_w', data: seededFloats(4 * 3 * 3 * 3, 1), dims: [4, 3, 3, 3] },
      { name: 'conv_b', data: seededFloats(4, 2), dims: [4] },
      { name: 'offset', data: [0.25], dims: [1] },
      { name: 'fc_w', data: seededFloats(2 * 4, 3), dims: [2, 4] },
      { name: 'fc_b', data: [0.1, -0.1], dims: [2] },
    ],
    metadata: { author: 'edgezoo tests' },
  });
}

/** Runs a model (or its bytes) in onnxruntime-node with float32 feeds; returns output name -> values. */
export async function runOnnx(
  model: ModelProto | Uint8Array,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
) {
  const session = await ort.InferenceSession.create(model instanceof Uint8Array ? model : encodeModel(model));
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, { data, dims }] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', data, dims);
  const results = await session.run(inputs);
  const out: Record<string, Float32Array> = {};
  const dims: Record<string, number[]> = {};
  for (const [name, tensor] of Object.entries(results)) {
    out[name] = tensor.data as Float32Array;
    dims[name] = [...tensor.dims];
  }
  return { outputs: out, dims, session };
}

/** INT64_MAX, as exporters write "to the end" of a Slice axis. */
const OPEN_END = 2n ** 63n - 1n;

/**
 * x[1,4,6] -> Slice(axes [0,1,2], starts [0,0,0], ends [MAX,2,MAX]) -> Relu -> y[1,2,6]: a fused
 * Slice with two whole-axis entries, as onnxsim leaves Silero VAD's STFT slices. onnx2tf 1.29
 * applies it to the wrong axis of its channels-last tensor (y comes out [1,2,4]).
 */
export function noopSliceAxesNet(): ModelProto {
  return buildModel({
    inputs: [{ name: 'x', shape: [1, 4, 6] }],
    outputs: [{ name: 'y', shape: [1, 2, 6] }],
    nodes: [
      { op: 'Slice', inputs: ['x', 'starts', 'ends', 'axes', 'steps'], outputs: ['s'], name: 'fused_slice' },
      { op: 'Relu', inputs: ['s'], outputs: ['y'] },
    ],
    initializers: [
      { name: 'starts', data: new BigInt64Array([0n, 0n, 0n]), dims: [3] },
      { name: 'ends', data: new BigInt64Array([OPEN_END, 2n, OPEN_END]), dims: [3] },
      { name: 'axes', data: new BigInt64Array([0n, 1n, 2n]), dims: [3] },
      { name: 'steps', data: new BigInt64Array([1n, 1n, 1n]), dims: [3] },
    ],
  });
}
