/**
 * Tiny TFLite models made in code, for tests here and in other modules (validate, zoo, CLI):
 * each is a few hundred bytes, deterministic, and those marked "runs" load and run in LiteRT.
 */
import { buildTfliteModel, type TensorSpec, type TfliteModelSpec } from './build-model.js';

function bytesOf(array: Float32Array | Int8Array | Int32Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength).slice();
}

/** The constant the ADD fixture adds to its input. */
export const ADD_CONSTANT = Float32Array.of(1.5, -2, 3.25, 4);

/**
 * Runs: y = x + c for x: float32[1,4] with signature `serving_default` (x -> y) and metadata
 * `min_runtime_version`. With `externalConstant` c is stored past the flatbuffer (offset/size).
 */
export function addModel(
  options: { externalConstant?: boolean; metadata?: Record<string, Uint8Array> } = {},
): Uint8Array {
  const constant = bytesOf(ADD_CONSTANT);
  const extra = Object.entries(options.metadata ?? {});
  return buildTfliteModel({
    description: 'edgezoo test fixture: y = x + c',
    operatorCodes: [{ op: 'ADD' }],
    subgraphs: [
      {
        name: 'main',
        tensors: [
          { name: 'x', dtype: 'FLOAT32', shape: [1, 4] },
          { name: 'c', dtype: 'FLOAT32', shape: [1, 4], buffer: 1 },
          { name: 'y', dtype: 'FLOAT32', shape: [1, 4] },
        ],
        inputs: [0],
        outputs: [2],
        operators: [{ opcodeIndex: 0, inputs: [0, 1], outputs: [2], builtinOptions: { type: 'AddOptions' } }],
      },
    ],
    buffers: [
      {},
      options.externalConstant ? { external: constant } : { data: constant },
      { data: new TextEncoder().encode('1.5.0\0\0\0') },
      ...extra.map(([, data]) => ({ data })),
    ],
    metadata: [{ name: 'min_runtime_version', buffer: 2 }, ...extra.map(([name], i) => ({ name, buffer: 3 + i }))],
    signatureDefs: [
      {
        key: 'serving_default',
        subgraphIndex: 0,
        inputs: [{ name: 'x', tensorIndex: 0 }],
        outputs: [{ name: 'y', tensorIndex: 2 }],
      },
    ],
  });
}

/** Deterministic weights in [-1, 1): a small linear congruential sequence, no randomness. */
function weights(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** float32 -> IEEE half bits (round to nearest even), for fp16 weight fixtures. */
function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent <= 0) return sign; // the fixtures' weights are never this small
  if (exponent >= 31) return sign | 0x7c00;
  const round = mantissa & 0x1fff;
  mantissa >>>= 13;
  let half = sign | (exponent << 10) | mantissa;
  if (round > 0x1000 || (round === 0x1000 && (mantissa & 1) === 1)) half += 1;
  return half;
}

/** Kinds of FULLY_CONNECTED fixture, one per quantisation kind the inspector tells apart. */
export type FullyConnectedKind =
  | 'float32'
  | 'float16-weights'
  | 'dynamic-range-int8'
  | 'full-integer-int8'
  | 'int16-activations';

/**
 * Runs (all kinds but int16-activations, which is only inspected): y = x W^T + b with x: [1,8],
 * W: [4,8], y: [1,4], quantised as `kind` says; full-integer-int8 has int8 input and output.
 */
export function fullyConnectedModel(kind: FullyConnectedKind = 'float32'): Uint8Array {
  const w = weights(32, 7);
  const b = weights(4, 11);
  const wScale = 1 / 127;
  const wInt8 = Int8Array.from(w, (v) => Math.max(-127, Math.min(127, Math.round(v / wScale))));
  const tensors: TensorSpec[] = [];
  const buffers: TfliteModelSpec['buffers'][number][] = [{}];
  const operatorCodes: TfliteModelSpec['operatorCodes'][number][] = [{ op: 'FULLY_CONNECTED' }];
  const operators: TfliteModelSpec['subgraphs'][number]['operators'][number][] = [];
  const addConstant = (tensor: Omit<TensorSpec, 'buffer'>, data: Uint8Array) => {
    buffers.push({ data });
    tensors.push({ ...tensor, buffer: buffers.length - 1 });
    return tensors.length - 1;
  };
  const addActivation = (tensor: TensorSpec) => {
    tensors.push(tensor);
    return tensors.length - 1;
  };

  let x: number;
  let weight: number;
  let bias: number;
  let y: number;
  switch (kind) {
    case 'float32':
    case 'dynamic-range-int8':
      x = addActivation({ name: 'x', dtype: 'FLOAT32', shape: [1, 8] });
      weight =
        kind === 'float32'
          ? addConstant({ name: 'w', dtype: 'FLOAT32', shape: [4, 8] }, bytesOf(w))
          : addConstant(
              { name: 'w', dtype: 'INT8', shape: [4, 8], quantization: { scale: [wScale], zeroPoint: [0] } },
              bytesOf(wInt8),
            );
      bias = addConstant({ name: 'b', dtype: 'FLOAT32', shape: [4] }, bytesOf(b));
      y = addActivation({ name: 'y', dtype: 'FLOAT32', shape: [1, 4] });
      break;
    case 'float16-weights': {
      x = addActivation({ name: 'x', dtype: 'FLOAT32', shape: [1, 8] });
      const half = addConstant(
        { name: 'w_fp16', dtype: 'FLOAT16', shape: [4, 8] },
        bytesOf(Uint16Array.from(w, toHalf)),
      );
      weight = addActivation({ name: 'w', dtype: 'FLOAT32', shape: [4, 8] });
      operatorCodes.push({ op: 'DEQUANTIZE' });
      operators.push({ opcodeIndex: 1, inputs: [half], outputs: [weight] });
      bias = addConstant({ name: 'b', dtype: 'FLOAT32', shape: [4] }, bytesOf(b));
      y = addActivation({ name: 'y', dtype: 'FLOAT32', shape: [1, 4] });
      break;
    }
    case 'full-integer-int8': {
      const xScale = 0.05;
      x = addActivation({
        name: 'x',
        dtype: 'INT8',
        shape: [1, 8],
        quantization: { scale: [xScale], zeroPoint: [-3] },
      });
      weight = addConstant(
        { name: 'w', dtype: 'INT8', shape: [4, 8], quantization: { scale: [wScale], zeroPoint: [0] } },
        bytesOf(wInt8),
      );
      bias = addConstant(
        { name: 'b', dtype: 'INT32', shape: [4], quantization: { scale: [xScale * wScale], zeroPoint: [0] } },
        bytesOf(Int32Array.from(b, (v) => Math.round(v / (xScale * wScale)))),
      );
      y = addActivation({ name: 'y', dtype: 'INT8', shape: [1, 4], quantization: { scale: [0.04], zeroPoint: [2] } });
      break;
    }
    case 'int16-activations': {
      const xScale = 1 / 4096;
      x = addActivation({
        name: 'x',
        dtype: 'INT16',
        shape: [1, 8],
        quantization: { scale: [xScale], zeroPoint: [0] },
      });
      weight = addConstant(
        { name: 'w', dtype: 'INT8', shape: [4, 8], quantization: { scale: [wScale], zeroPoint: [0] } },
        bytesOf(wInt8),
      );
      bias = addConstant(
        { name: 'b', dtype: 'INT64', shape: [4], quantization: { scale: [xScale * wScale], zeroPoint: [0] } },
        bytesOf(BigInt64Array.from(b, (v) => BigInt(Math.round(v / (xScale * wScale))))),
      );
      y = addActivation({
        name: 'y',
        dtype: 'INT16',
        shape: [1, 4],
        quantization: { scale: [1 / 2048], zeroPoint: [0] },
      });
      break;
    }
  }
  operators.push({
    opcodeIndex: 0,
    inputs: [x, weight, bias],
    outputs: [y],
    builtinOptions: { type: 'FullyConnectedOptions' },
  });
  return buildTfliteModel({
    description: `edgezoo test fixture: fully connected, ${kind}`,
    operatorCodes,
    subgraphs: [{ name: 'main', tensors, inputs: [x], outputs: [y], operators }],
    buffers,
    signatureDefs: [
      {
        key: 'serving_default',
        subgraphIndex: 0,
        inputs: [{ name: 'x', tensorIndex: x }],
        outputs: [{ name: 'y', tensorIndex: y }],
      },
    ],
  });
}

/**
 * Does not run (it has a Flex op): every reader feature at once. Operator codes: ADD, an old-style
 * FULLY_CONNECTED stored only in the int8 field, GELU (code 150, above 127) with the 127
 * placeholder, TRANSPOSE, custom `FlexErf` and `MyCustomOp`; a dynamic NHWC image input, a
 * per-axis quantised tensor, an external buffer, large custom options, two subgraphs, two
 * signatures and metadata.
 */
export function kitchenSinkModel(): Uint8Array {
  return buildTfliteModel({
    version: 3,
    description: 'kitchen sink',
    operatorCodes: [
      { op: 'ADD' },
      { deprecatedBuiltinCode: 9, builtinCode: 0 },
      { op: 'GELU', deprecatedBuiltinCode: 127 },
      { op: 'TRANSPOSE' },
      { customCode: 'FlexErf' },
      { customCode: 'MyCustomOp', version: 2 },
    ],
    subgraphs: [
      {
        name: 'main',
        tensors: [
          { name: 'image', dtype: 'FLOAT32', shape: [1, 224, 224, 3], shapeSignature: [-1, 224, 224, 3] },
          {
            name: 'kernel',
            dtype: 'INT8',
            shape: [2, 3],
            buffer: 1,
            quantization: { scale: [0.5, 0.25], zeroPoint: [0, 0], quantizedDimension: 0 },
          },
          { name: 'transposed', dtype: 'FLOAT32', shape: [1, 3, 224, 224], shapeSignature: [-1, 3, 224, 224] },
          { name: 'erf', dtype: 'FLOAT32', shape: [1, 3, 224, 224] },
          { name: 'big', dtype: 'FLOAT32', shape: [4], buffer: 2 },
          { name: 'out', dtype: 'FLOAT32', shape: [1, 1000] },
        ],
        inputs: [0],
        outputs: [5],
        operators: [
          { opcodeIndex: 3, inputs: [0, 1], outputs: [2] },
          { opcodeIndex: 4, inputs: [2], outputs: [3], customOptions: Uint8Array.of(1, 2, 3) },
          { opcodeIndex: 2, inputs: [3], outputs: [3] },
          {
            opcodeIndex: 1,
            inputs: [3, 4, -1],
            outputs: [5],
            builtinOptions: { type: 'FullyConnectedOptions', int8Slots: { 0: 1 } },
          },
          { opcodeIndex: 5, inputs: [5], outputs: [5], largeCustomOptions: Uint8Array.of(9, 8, 7, 6, 5) },
        ],
      },
      {
        name: 'second',
        tensors: [
          { name: 'a', dtype: 'INT32', shape: [2] },
          { name: 'b', dtype: 'INT32', shape: [2] },
        ],
        inputs: [0],
        outputs: [1],
        operators: [{ opcodeIndex: 0, inputs: [0, 0], outputs: [1] }],
      },
    ],
    buffers: [
      {},
      { data: bytesOf(Int8Array.of(1, -2, 3, -4, 5, -6)) },
      { external: bytesOf(Float32Array.of(1, 2, 3, 4)) },
      { data: new TextEncoder().encode('{"model":"sink"}') },
    ],
    metadata: [{ name: 'edgezoo', buffer: 3 }],
    signatureDefs: [
      {
        key: 'serving_default',
        subgraphIndex: 0,
        inputs: [{ name: 'image', tensorIndex: 0 }],
        outputs: [{ name: 'logits', tensorIndex: 5 }],
      },
      {
        key: 'second',
        subgraphIndex: 1,
        inputs: [{ name: 'a', tensorIndex: 0 }],
        outputs: [{ name: 'b', tensorIndex: 1 }],
      },
    ],
  });
}
