import { OnnxFormatError } from './errors.js';
import { TensorProto_DataType, newTensorProto, type TensorProto } from './onnx-proto.generated.js';

/** ONNX element type names by TensorProto.DataType number (lower case, numpy-like). */
export const DTYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(TensorProto_DataType).map(([name, value]) => [
    value,
    name.toLowerCase() === 'float' ? 'float32' : name.toLowerCase(),
  ]),
);

/** Bits per element of each fixed-size ONNX element type (strings have none). */
const BITS_PER_ELEMENT: Readonly<Record<number, number>> = {
  1: 32,
  2: 8,
  3: 8,
  4: 16,
  5: 16,
  6: 32,
  7: 64,
  9: 8,
  10: 16,
  11: 64,
  12: 32,
  13: 64,
  14: 64,
  15: 128,
  16: 16,
  17: 8,
  18: 8,
  19: 8,
  20: 8,
  21: 4,
  22: 4,
  23: 4,
  24: 8,
  25: 2,
  26: 2,
  27: 6,
  28: 6,
};

/** The name of an ONNX element type, e.g. 1 -> "float32"; unknown numbers read `dtype(99)`. */
export function dtypeName(dataType: number | undefined): string {
  return DTYPE_NAMES[dataType ?? 0] ?? `dtype(${dataType})`;
}

/** The element type number of a name such as "float32" or "int64". */
export function dtypeFromName(name: string): number | undefined {
  const entry = Object.entries(DTYPE_NAMES).find(([, n]) => n === name);
  return entry ? Number(entry[0]) : undefined;
}

/** Number of elements of a shape (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((count, dim) => count * dim, 1);
}

/** Bytes the tensor's data takes packed (sub-byte types rounded up); undefined for strings. */
export function tensorByteLength(tensor: TensorProto): number | undefined {
  const bits = BITS_PER_ELEMENT[tensor.dataType ?? 0];
  if (bits === undefined) return undefined;
  return Math.ceil((elementCount(tensor.dims) * bits) / 8);
}

/** Number of elements stored in a tensor, from its dims. */
export function tensorElementCount(tensor: TensorProto): number {
  return elementCount(tensor.dims);
}

type NumericArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | BigInt64Array;

/** Builds a tensor whose raw_data holds a copy of `data`'s bytes (little-endian, as ONNX stores it). */
export function tensorFromArray(
  name: string,
  data: NumericArray | number[],
  dims: number[],
  dataType?: number,
): TensorProto {
  const array = Array.isArray(data) ? new Float32Array(data) : data;
  const type = dataType ?? defaultDataType(array);
  const expected = elementCount(dims);
  if (array.length !== expected) {
    throw new OnnxFormatError(
      'ONNX_TENSOR_SHAPE',
      `tensor "${name}" has ${array.length} values but dims [${dims.join(', ')}] need ${expected}`,
    );
  }
  const raw = new Uint8Array(array.byteLength);
  raw.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return newTensorProto({ name, dims: [...dims], dataType: type, rawData: raw });
}

function defaultDataType(array: NumericArray): number {
  if (array instanceof Float32Array) return TensorProto_DataType.FLOAT;
  if (array instanceof Float64Array) return TensorProto_DataType.DOUBLE;
  if (array instanceof Int32Array) return TensorProto_DataType.INT32;
  if (array instanceof Int8Array) return TensorProto_DataType.INT8;
  if (array instanceof Int16Array) return TensorProto_DataType.INT16;
  if (array instanceof Uint16Array) return TensorProto_DataType.FLOAT16;
  if (array instanceof BigInt64Array) return TensorProto_DataType.INT64;
  return TensorProto_DataType.UINT8;
}

/**
 * The values of a numeric tensor as numbers, from raw_data or the typed *_data fields.
 * For reading constants (shapes, perms, scales); not meant for large weights.
 */
export function tensorValues(tensor: TensorProto): number[] {
  const type = tensor.dataType ?? 0;
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = tensor.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const count = tensorElementCount(tensor);
    const values: number[] = [];
    const read = rawReader(type, view);
    if (!read)
      throw new OnnxFormatError(
        'ONNX_TENSOR_TYPE',
        `tensor "${tensor.name ?? ''}" has element type ${dtypeName(type)}, which edgezoo cannot read as numbers`,
      );
    const size = (BITS_PER_ELEMENT[type] ?? 8) / 8;
    if (count * size > raw.byteLength) {
      throw new OnnxFormatError(
        'ONNX_TENSOR_SHAPE',
        `tensor "${tensor.name ?? ''}" has ${raw.byteLength} bytes of data but dims [${tensor.dims.join(', ')}] need ${count * size}`,
      );
    }
    for (let i = 0; i < count; i++) values.push(read(i * size));
    return values;
  }
  if (tensor.floatData.length) return [...tensor.floatData];
  if (tensor.doubleData.length) return [...tensor.doubleData];
  if (tensor.int32Data.length) return [...tensor.int32Data];
  if (tensor.int64Data.length) return tensor.int64Data.map(Number);
  if (tensor.uint64Data.length) return tensor.uint64Data.map(Number);
  return [];
}

function rawReader(type: number, view: DataView): ((offset: number) => number) | undefined {
  switch (type) {
    case TensorProto_DataType.FLOAT:
      return (o) => view.getFloat32(o, true);
    case TensorProto_DataType.DOUBLE:
      return (o) => view.getFloat64(o, true);
    case TensorProto_DataType.INT32:
      return (o) => view.getInt32(o, true);
    case TensorProto_DataType.UINT32:
      return (o) => view.getUint32(o, true);
    case TensorProto_DataType.INT64:
      return (o) => Number(view.getBigInt64(o, true));
    case TensorProto_DataType.UINT64:
      return (o) => Number(view.getBigUint64(o, true));
    case TensorProto_DataType.INT16:
      return (o) => view.getInt16(o, true);
    case TensorProto_DataType.UINT16:
      return (o) => view.getUint16(o, true);
    case TensorProto_DataType.INT8:
      return (o) => view.getInt8(o);
    case TensorProto_DataType.UINT8:
    case TensorProto_DataType.BOOL:
      return (o) => view.getUint8(o);
    default:
      return undefined;
  }
}

/**
 * A tensor of the same element type as `like`, holding `values` with `dims`. Integer types reject
 * non-integer values; used by parameter replacement, where the new values keep the old dtype.
 */
export function tensorWithValues(like: TensorProto, values: number[], dims: number[]): TensorProto {
  const type = like.dataType ?? TensorProto_DataType.FLOAT;
  const name = like.name ?? '';
  const isInteger =
    type !== TensorProto_DataType.FLOAT &&
    type !== TensorProto_DataType.DOUBLE &&
    type !== TensorProto_DataType.FLOAT16;
  if (isInteger && values.some((v) => !Number.isInteger(v))) {
    throw new OnnxFormatError(
      'ONNX_TENSOR_TYPE',
      `tensor "${name}" holds ${dtypeName(type)}, so its new values must be integers (got ${JSON.stringify(values)})`,
    );
  }
  let array: NumericArray;
  switch (type) {
    case TensorProto_DataType.FLOAT:
      array = new Float32Array(values);
      break;
    case TensorProto_DataType.DOUBLE:
      array = new Float64Array(values);
      break;
    case TensorProto_DataType.INT32:
      array = new Int32Array(values);
      break;
    case TensorProto_DataType.INT64:
      array = new BigInt64Array(values.map((v) => BigInt(v)));
      break;
    case TensorProto_DataType.INT8:
      array = new Int8Array(values);
      break;
    case TensorProto_DataType.UINT8:
    case TensorProto_DataType.BOOL:
      array = new Uint8Array(values);
      break;
    case TensorProto_DataType.INT16:
      array = new Int16Array(values);
      break;
    default:
      throw new OnnxFormatError(
        'ONNX_TENSOR_TYPE',
        `tensor "${name}" has element type ${dtypeName(type)}, which edgezoo cannot write from numbers`,
      );
  }
  const tensor = tensorFromArray(name, array, dims, type);
  if (like.docString !== undefined) tensor.docString = like.docString;
  return tensor;
}
