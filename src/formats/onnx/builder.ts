import {
  AttributeProto_AttributeType,
  newAttributeProto,
  newGraphProto,
  newModelProto,
  newNodeProto,
  newTensorShapeProto,
  newValueInfoProto,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.generated.js';
import { dtypeFromName, tensorFromArray } from './tensor.js';

/** A dim in a builder signature: a number is fixed, a string is a symbolic (dynamic) dim. */
export type BuilderDim = number | string;

/** A graph input or output for `buildModel`. */
export interface BuilderValue {
  name: string;
  /** Element type name such as "float32", "int64", "uint8" (default float32). */
  dtype?: string;
  /** Omit for an unknown shape. */
  shape?: BuilderDim[];
}

/** Attribute values: numbers (integers become INT), number arrays, strings, a tensor or a graph. */
export type BuilderAttribute =
  | number
  | number[]
  | string
  | string[]
  | TensorProto
  | { float: number }
  | { floats: number[] };

/** A node for `buildModel`. */
export interface BuilderNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Node name (default `<op>_<index>`). */
  name?: string;
  domain?: string;
  attributes?: Record<string, BuilderAttribute>;
}

/** An initializer for `buildModel`: values and dims (float32 for a Float32Array or number[]). */
export interface BuilderInitializer {
  name: string;
  data: Float32Array | Float64Array | Int32Array | Int8Array | Uint8Array | BigInt64Array | number[];
  dims: number[];
  /** Element type name when it differs from the array's (e.g. "int64" from number[]). */
  dtype?: string;
}

/** What `buildModel` makes a model from. */
export interface BuildModelSpec {
  inputs: BuilderValue[];
  outputs: BuilderValue[];
  nodes: BuilderNode[];
  initializers?: BuilderInitializer[];
  /** Default-domain opset (default 17). */
  opset?: number;
  /** Extra opsets, e.g. { 'com.microsoft': 1 }. */
  extraOpsets?: Record<string, number>;
  irVersion?: number;
  graphName?: string;
  producerName?: string;
  metadata?: Record<string, string>;
}

/** A value_info with a tensor type; `shape` undefined leaves the shape unknown. */
export function valueInfo(name: string, dtype = 'float32', shape?: BuilderDim[]): ValueInfoProto {
  const elemType = dtypeFromName(dtype);
  if (elemType === undefined) throw new Error(`unknown dtype "${dtype}"`);
  return newValueInfoProto({
    name,
    type: {
      tensorType: {
        elemType,
        ...(shape
          ? {
              shape: newTensorShapeProto({
                dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
              }),
            }
          : {}),
      },
    },
  });
}

/** An AttributeProto from a plain value; integers become INT/INTS, other numbers FLOAT/FLOATS. */
export function attribute(name: string, value: BuilderAttribute): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? newAttributeProto({ name, type: T.INT, i: value })
      : newAttributeProto({ name, type: T.FLOAT, f: value });
  }
  if (typeof value === 'string') return newAttributeProto({ name, type: T.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) {
      return newAttributeProto({
        name,
        type: T.STRINGS,
        strings: (value as string[]).map((v) => new TextEncoder().encode(v)),
      });
    }
    const numbers = value as number[];
    return numbers.every(Number.isInteger)
      ? newAttributeProto({ name, type: T.INTS, ints: numbers })
      : newAttributeProto({ name, type: T.FLOATS, floats: numbers });
  }
  if ('float' in value) return newAttributeProto({ name, type: T.FLOAT, f: value.float });
  if ('floats' in value) return newAttributeProto({ name, type: T.FLOATS, floats: value.floats });
  return newAttributeProto({ name, type: T.TENSOR, t: value });
}

/** A NodeProto from a `BuilderNode`. */
export function node(spec: BuilderNode, index = 0): NodeProto {
  return newNodeProto({
    name: spec.name ?? `${spec.op}_${index}`,
    opType: spec.op,
    input: [...spec.inputs],
    output: [...spec.outputs],
    ...(spec.domain ? { domain: spec.domain } : {}),
    attribute: Object.entries(spec.attributes ?? {}).map(([name, value]) => attribute(name, value)),
  });
}

/**
 * Builds an ONNX model by code, for tests and fixtures:
 * ```ts
 * buildModel({
 *   inputs: [{ name: 'x', shape: ['batch', 4] }], outputs: [{ name: 'y', shape: ['batch', 2] }],
 *   nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { transB: 1 } }],
 *   initializers: [{ name: 'w', data: new Float32Array(8), dims: [2, 4] }, { name: 'b', data: [0, 0], dims: [2] }],
 * })
 * ```
 */
export function buildModel(spec: BuildModelSpec): ModelProto {
  const opsetImport = [{ domain: '', version: spec.opset ?? 17 }];
  for (const [domain, version] of Object.entries(spec.extraOpsets ?? {})) opsetImport.push({ domain, version });
  return newModelProto({
    irVersion: spec.irVersion ?? 8,
    producerName: spec.producerName ?? 'edgezoo-builder',
    opsetImport,
    graph: newGraphProto({
      name: spec.graphName ?? 'graph',
      input: spec.inputs.map((v) => valueInfo(v.name, v.dtype, v.shape)),
      output: spec.outputs.map((v) => valueInfo(v.name, v.dtype, v.shape)),
      node: spec.nodes.map((n, i) => node(n, i)),
      initializer: (spec.initializers ?? []).map((init) => {
        const dataType = init.dtype === undefined ? undefined : dtypeFromName(init.dtype);
        if (init.dtype !== undefined && dataType === undefined) throw new Error(`unknown dtype "${init.dtype}"`);
        const data =
          Array.isArray(init.data) && init.dtype === 'int64'
            ? new BigInt64Array(init.data.map((v) => BigInt(v)))
            : init.data;
        return tensorFromArray(init.name, data, init.dims, dataType);
      }),
    }),
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}
