import { TensorError } from './errors.js';
import { float32ToFloat16 } from './half.js';
import {
  allocate,
  elementCount,
  formatDims,
  isFloatDtype,
  toFloat32,
  type Dtype,
  type Tensor,
  type TensorData,
} from './tensor.js';

/**
 * Tensor transforms the comparison needs between a reference and an artifact: layout
 * transposes, (de)quantisation with the artifact's own parameters, and dtype casts.
 */

/**
 * The permutation that turns a tensor of layout `from` into layout `to`: output axis i is
 * input axis perm[i]. Layouts are letter strings such as 'NCHW'; a letter used twice (e.g. the
 * wildcard 'D') maps to its occurrences in order.
 */
export function layoutPermutation(from: string, to: string): number[] {
  if (from.length !== to.length) throw new TensorError(`cannot transpose layout ${from} into ${to}: different ranks`);
  const used = new Array<boolean>(from.length).fill(false);
  return [...to].map((letter) => {
    let index = -1;
    for (let i = 0; i < from.length; i++) {
      if (!used[i] && from[i] === letter) {
        index = i;
        break;
      }
    }
    if (index < 0)
      throw new TensorError(`cannot transpose layout ${from} into ${to}: ${from} has no axis '${letter}' left`);
    used[index] = true;
    return index;
  });
}

/** Dims after applying `perm` (output axis i = input axis perm[i]). */
export function permuteDims(dims: readonly number[], perm: readonly number[]): number[] {
  return perm.map((axis) => dims[axis]!);
}

function checkPermutation(perm: readonly number[], rank: number): void {
  const seen = new Set(perm);
  if (
    perm.length !== rank ||
    seen.size !== rank ||
    perm.some((axis) => !Number.isInteger(axis) || axis < 0 || axis >= rank)
  ) {
    throw new TensorError(`permutation [${perm.join(', ')}] is not a permutation of ${rank} axes`);
  }
}

/** A C-ordered copy of `tensor` with its axes permuted: output axis i = input axis perm[i]. */
export function transpose<T extends Tensor>(tensor: T, perm: readonly number[]): T {
  const rank = tensor.dims.length;
  checkPermutation(perm, rank);
  if (perm.every((axis, i) => axis === i)) return tensor;
  const outDims = permuteDims(tensor.dims, perm);
  const inStrides = new Array<number>(rank);
  let stride = 1;
  for (let axis = rank - 1; axis >= 0; axis--) {
    inStrides[axis] = stride;
    stride *= tensor.dims[axis]!;
  }
  // Stride in the input of a step along each output axis.
  const stepStrides = perm.map((axis) => inStrides[axis]!);
  const source: ArrayLike<number | bigint> = tensor.data;
  const out = allocate(tensor.dtype, source.length);
  // Same dtype in and out: every element read from `source` fits `out`.
  const target: { [index: number]: number | bigint } = out;
  const index = new Array<number>(rank).fill(0);
  let inOffset = 0;
  for (let outOffset = 0; outOffset < source.length; outOffset++) {
    target[outOffset] = source[inOffset]!;
    // Odometer increment of the output index, moving the input offset along.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]! += 1;
      inOffset += stepStrides[axis]!;
      if (index[axis]! < outDims[axis]!) break;
      inOffset -= stepStrides[axis]! * outDims[axis]!;
      index[axis] = 0;
    }
  }
  return { ...tensor, dims: outDims, data: out } as T;
}

/** Transposes `tensor` from layout `from` to layout `to` (a no-op when they are equal). */
export function transposeLayout<T extends Tensor>(tensor: T, from: string, to: string): T {
  if (from === to) return tensor;
  if (from.length !== tensor.dims.length) {
    throw new TensorError(`layout ${from} does not fit a tensor of shape ${formatDims(tensor.dims)}`);
  }
  return transpose(tensor, layoutPermutation(from, to));
}

/** Integer types quantised tensors use. */
export type QuantizedDtype = 'int8' | 'uint8' | 'int16';

/**
 * Affine quantisation, real = (q - zeroPoint) * scale. Per-tensor when `scale` has one entry,
 * else per-axis along `axis` with one scale and zero point per index of that axis.
 */
export interface QuantizationParams {
  dtype: QuantizedDtype;
  scale: number[];
  zeroPoint: number[];
  /** The quantised axis for per-axis parameters. */
  axis?: number;
}

const QUANTIZED_RANGE: Readonly<Record<QuantizedDtype, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
};

/** Value ranges of the integer dtypes a cast saturates to (typed arrays would wrap instead). */
const INTEGER_RANGE = {
  int32: [-2147483648, 2147483647],
  int16: [-32768, 32767],
  int8: [-128, 127],
  uint8: [0, 255],
} as const;

/** Round half to even, as ONNX QuantizeLinear and numpy.round do. */
function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** For each flat index, which scale/zero-point entry applies. */
function paramIndexer(dims: readonly number[], params: QuantizationParams): (flatIndex: number) => number {
  const entries = params.scale.length;
  if (entries === 0 || params.zeroPoint.length !== entries) {
    throw new TensorError(
      `quantisation needs as many zero points as scales, got ${params.scale.length} and ${params.zeroPoint.length}`,
    );
  }
  if (params.scale.some((scale) => !(scale > 0) || !Number.isFinite(scale))) {
    throw new TensorError(`quantisation scales must be finite and positive, got [${params.scale.join(', ')}]`);
  }
  if (entries === 1 && params.axis === undefined) return () => 0;
  const axis = params.axis ?? -1;
  const normalisedAxis = axis < 0 ? axis + dims.length : axis;
  if (normalisedAxis < 0 || normalisedAxis >= dims.length || dims[normalisedAxis] !== entries) {
    throw new TensorError(
      `per-axis quantisation with ${entries} scales on axis ${axis} does not fit a tensor of shape ${formatDims(dims)}`,
    );
  }
  const inner = elementCount(dims.slice(normalisedAxis + 1));
  return (flatIndex) => Math.floor(flatIndex / inner) % entries;
}

/** Quantises float values into `params.dtype` (rounding half to even, saturating). */
export function quantize(tensor: Tensor, params: QuantizationParams): Tensor {
  const values = toFloat32(tensor);
  const [low, high] = QUANTIZED_RANGE[params.dtype];
  const indexOf = paramIndexer(tensor.dims, params);
  const out = allocate(params.dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const entry = indexOf(i);
    const q = roundHalfToEven(values[i]! / params.scale[entry]!) + params.zeroPoint[entry]!;
    out[i] = Math.min(high, Math.max(low, Number.isNaN(q) ? 0 : q));
  }
  return { dtype: params.dtype, dims: [...tensor.dims], data: out };
}

/** Dequantises integer values to float32 with `params`. */
export function dequantize(tensor: Tensor, params: QuantizationParams): Tensor<'float32'> {
  if (isFloatDtype(tensor.dtype)) throw new TensorError(`cannot dequantise a ${tensor.dtype} tensor`);
  const values = toFloat32(tensor);
  const indexOf = paramIndexer(tensor.dims, params);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const entry = indexOf(i);
    out[i] = (values[i]! - params.zeroPoint[entry]!) * params.scale[entry]!;
  }
  return { dtype: 'float32', dims: [...tensor.dims], data: out };
}

/**
 * Converts a tensor to another dtype: float32 <-> float16 through the half codec, floats to
 * integers by rounding half to even (saturating), anything to int64 as BigInt.
 */
export function castTensor<D extends Dtype>(tensor: Tensor, dtype: D): Tensor<D> {
  if (tensor.dtype === dtype) return tensor as Tensor<D>;
  const values = toFloat32(tensor);
  let data: TensorData;
  if (dtype === 'float32') data = values;
  else if (dtype === 'float16') data = float32ToFloat16(values);
  else if (dtype === 'int64') {
    const out = new BigInt64Array(values.length);
    // Read int64 sources directly so large ids do not lose precision through float32.
    const source = tensor.dtype === 'int64' ? (tensor.data as BigInt64Array) : undefined;
    for (let i = 0; i < values.length; i++) out[i] = source ? source[i]! : BigInt(roundHalfToEven(values[i]!) || 0);
    data = out;
  } else if (dtype === 'bool') {
    data = Uint8Array.from(values, (value) => (value !== 0 ? 1 : 0));
  } else {
    const [low, high] = INTEGER_RANGE[dtype as keyof typeof INTEGER_RANGE];
    const out = allocate(dtype, values.length) as Exclude<TensorData, BigInt64Array>;
    for (let i = 0; i < values.length; i++) {
      out[i] = Number.isNaN(values[i]!) ? 0 : Math.min(high, Math.max(low, roundHalfToEven(values[i]!)));
    }
    data = out;
  }
  return { dtype, dims: [...tensor.dims], data } as Tensor<D>;
}
