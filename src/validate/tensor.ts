import { TensorError } from './errors.js';
import { float16ToFloat32 } from './half.js';

/**
 * Element types the validator handles: the recipe's `TensorDtype`s plus int16 (int16-activation
 * TFLite models). float16 data is held as Uint16Array bit patterns, bool as Uint8Array (0/1).
 */
export type Dtype = 'float32' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The typed array that holds each dtype. */
export interface DtypeArrays {
  float32: Float32Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type TensorData = DtypeArrays[Dtype];

/** A dense, C-ordered tensor. `data.length` always equals the product of `dims`. */
export interface Tensor<D extends Dtype = Dtype> {
  dtype: D;
  dims: number[];
  data: DtypeArrays[D];
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = {
  float32: 4,
  float16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Number of elements of a shape; throws on a negative or fractional dim. */
export function elementCount(dims: readonly number[]): number {
  let count = 1;
  for (const dim of dims) {
    if (!Number.isInteger(dim) || dim < 0)
      throw new TensorError(`invalid dimension ${dim} in shape [${dims.join(', ')}]`);
    count *= dim;
  }
  return count;
}

/** A zero-filled typed array of `length` elements for `dtype`. */
export function allocate<D extends Dtype>(dtype: D, length: number): DtypeArrays[D] {
  const arrays: { [K in Dtype]: (n: number) => DtypeArrays[K] } = {
    float32: (n) => new Float32Array(n),
    float16: (n) => new Uint16Array(n),
    int64: (n) => new BigInt64Array(n),
    int32: (n) => new Int32Array(n),
    int16: (n) => new Int16Array(n),
    int8: (n) => new Int8Array(n),
    uint8: (n) => new Uint8Array(n),
    bool: (n) => new Uint8Array(n),
  };
  return arrays[dtype](length);
}

/** Builds a tensor after checking that the data length fits the shape. */
export function makeTensor<D extends Dtype>(dtype: D, dims: readonly number[], data: DtypeArrays[D]): Tensor<D> {
  const count = elementCount(dims);
  if (data.length !== count) {
    throw new TensorError(
      `a ${dtype} tensor of shape [${dims.join(', ')}] needs ${count} elements, got ${data.length}`,
    );
  }
  return { dtype, dims: [...dims], data };
}

export function isFloatDtype(dtype: Dtype): dtype is 'float32' | 'float16' {
  return dtype === 'float32' || dtype === 'float16';
}

/**
 * The values of any tensor as float32 (float16 decoded, integers converted). Quantised integers
 * are *not* dequantised here; see `dequantize` in transforms.ts.
 */
export function toFloat32(tensor: Tensor): Float32Array {
  switch (tensor.dtype) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return float16ToFloat32(tensor.data as Uint16Array);
    case 'int64': {
      const source = tensor.data as BigInt64Array;
      const out = new Float32Array(source.length);
      for (let i = 0; i < source.length; i++) out[i] = Number(source[i]!);
      return out;
    }
    default:
      return Float32Array.from(tensor.data as Exclude<TensorData, BigInt64Array>);
  }
}

/** Stacks per-sample tensors of one shape along axis 0 (their batch dims add up). */
export function concatBatch(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0];
  if (first === undefined) throw new TensorError('cannot stack an empty list of tensors');
  const rest = first.dims.slice(1).join(',');
  let batch = 0;
  let length = 0;
  for (const tensor of tensors) {
    if (tensor.dtype !== first.dtype || tensor.dims.length === 0 || tensor.dims.slice(1).join(',') !== rest) {
      throw new TensorError(
        `cannot stack a ${tensor.dtype} [${tensor.dims.join(', ')}] tensor onto ${first.dtype} [${first.dims.join(', ')}]`,
      );
    }
    batch += tensor.dims[0]!;
    length += tensor.data.length;
  }
  const data = allocate(first.dtype, length);
  let offset = 0;
  for (const tensor of tensors) {
    (data as { set(array: ArrayLike<number | bigint>, offset: number): void }).set(tensor.data, offset);
    offset += tensor.data.length;
  }
  return { dtype: first.dtype, dims: [batch, ...first.dims.slice(1)], data };
}

/** `[1, 3, 224, 224]` for messages. */
export function formatDims(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}
