/**
 * Writes small TFLite models from a plain description. Tests (ours and other modules') use it to
 * make fixtures in code instead of downloading models; it is not a converter.
 */
import { FlatBufferBuilder } from './flatbuffers.js';
import { F } from './reader.js';
import { BuiltinOperatorNames, BuiltinOptionsNames, TensorTypeNames, tables } from './schema.generated.js';

/** An operator code: give `op` (builtin name or code) or `customCode`; raw fields override. */
export interface OperatorCodeSpec {
  readonly op?: string | number;
  readonly customCode?: string;
  /** Writes exactly these raw fields (to make old-style or crafted codes). */
  readonly deprecatedBuiltinCode?: number;
  readonly builtinCode?: number;
  readonly version?: number;
}

export interface TensorSpec {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly shapeSignature?: readonly number[];
  readonly buffer?: number;
  readonly quantization?: {
    readonly scale: readonly number[];
    readonly zeroPoint: readonly number[];
    readonly quantizedDimension?: number;
  };
}

export interface OperatorSpec {
  readonly opcodeIndex: number;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  /** A BuiltinOptions member name (e.g. `AddOptions`); written as a table with the given int8 fields by slot. */
  readonly builtinOptions?: { readonly type: string; readonly int8Slots?: Readonly<Record<number, number>> };
  readonly customOptions?: Uint8Array;
  /** Custom options stored past the flatbuffer (large_custom_options_offset/size, as in models over 2 GB). */
  readonly largeCustomOptions?: Uint8Array;
}

export interface SubgraphSpec {
  readonly name?: string;
  readonly tensors: readonly TensorSpec[];
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  readonly operators: readonly OperatorSpec[];
}

/** A buffer: inline `data`, or `external` bytes appended after the flatbuffer (offset/size form). */
export type BufferSpec =
  | { readonly data?: Uint8Array; readonly external?: undefined }
  | { readonly external: Uint8Array; readonly data?: undefined };

export interface TfliteModelSpec {
  readonly version?: number;
  readonly description?: string;
  readonly operatorCodes: readonly OperatorCodeSpec[];
  readonly subgraphs: readonly SubgraphSpec[];
  readonly buffers: readonly BufferSpec[];
  readonly metadata?: ReadonlyArray<{ readonly name: string; readonly buffer: number }>;
  readonly signatureDefs?: ReadonlyArray<{
    readonly key: string;
    readonly subgraphIndex: number;
    readonly inputs: ReadonlyArray<{ readonly name: string; readonly tensorIndex: number }>;
    readonly outputs: ReadonlyArray<{ readonly name: string; readonly tensorIndex: number }>;
  }>;
  /** Writes a uint32 into this Model slot, beyond the schema's fields, to mimic a newer schema. */
  readonly unknownModelSlot?: number;
}

function codeOf(names: Readonly<Record<number, string>>, name: string | number, what: string): number {
  if (typeof name === 'number') return name;
  for (const [code, candidate] of Object.entries(names)) if (candidate === name) return Number(code);
  throw new Error(`unknown ${what} ${name}`);
}

/** Alignment of external buffer data after the flatbuffer. */
const EXTERNAL_ALIGNMENT = 64;

/** Serialises `spec` to a TFLite flatbuffer (identifier "TFL3"), external data appended after it. */
export function buildTfliteModel(spec: TfliteModelSpec): Uint8Array {
  // Everything stored past the flatbuffer: buffers first, then large custom options, in order.
  const external: Uint8Array[] = [
    ...spec.buffers.flatMap((b) => (b.external === undefined ? [] : [b.external])),
    ...spec.subgraphs.flatMap((s) =>
      s.operators.flatMap((o) => (o.largeCustomOptions === undefined ? [] : [o.largeCustomOptions])),
    ),
  ];
  if (external.length === 0) return serialise(spec, []);
  // External offsets are absolute, so they depend on the flatbuffer's size: build once with
  // placeholders of the same width, then again with the real offsets (the size cannot change).
  const first = serialise(
    spec,
    external.map(() => 2n),
  );
  let end = align(first.length, EXTERNAL_ALIGNMENT);
  const offsets = external.map((bytes) => {
    const offset = end;
    end = align(end + bytes.length, EXTERNAL_ALIGNMENT);
    return BigInt(offset);
  });
  const flat = serialise(spec, offsets);
  if (flat.length !== first.length) throw new Error('external data layout changed size between passes');
  const out = new Uint8Array(end);
  out.set(flat, 0);
  external.forEach((bytes, i) => out.set(bytes, Number(offsets[i])));
  return out;
}

function align(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function serialise(spec: TfliteModelSpec, externalOffsets: readonly bigint[]): Uint8Array {
  const b = new FlatBufferBuilder(1024);
  let nextExternal = 0;
  const int32Vector = (values: readonly number[]) => {
    b.startVector(4, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]!);
    return b.endVector();
  };
  const offsetVector = (offsets: readonly number[]) => {
    b.startVector(4, offsets.length, 4);
    for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
    return b.endVector();
  };

  const buffers = spec.buffers.map((buffer) => {
    let data = 0;
    if (buffer.data !== undefined) {
      // The schema asks for 16-byte aligned buffer data (force_align: 16): align the end of the
      // bytes about to be written, then copy them in one go.
      b.prep(16, buffer.data.length);
      data = b.createByteVector(buffer.data);
    }
    b.startObject(tables.Buffer.fieldCount);
    if (data) b.addFieldOffset(F.buffer.data.slot, data, 0);
    if (buffer.external !== undefined) {
      b.addFieldInt64(F.buffer.offset.slot, externalOffsets[nextExternal++] ?? 2n, 0n);
      b.addFieldInt64(F.buffer.size.slot, BigInt(buffer.external.length), 0n);
    }
    return b.endObject();
  });

  const operatorCodes = spec.operatorCodes.map((code) => {
    const custom = code.customCode === undefined ? 0 : b.createString(code.customCode);
    const real =
      code.customCode !== undefined
        ? 32
        : code.op === undefined
          ? 0
          : codeOf(BuiltinOperatorNames, code.op, 'operator');
    const deprecated = code.deprecatedBuiltinCode ?? Math.min(real, 127);
    const builtin = code.builtinCode ?? real;
    b.startObject(tables.OperatorCode.fieldCount);
    b.addFieldInt8(F.opcode.deprecatedBuiltinCode.slot, deprecated, 0);
    if (custom) b.addFieldOffset(F.opcode.customCode.slot, custom, 0);
    b.addFieldInt32(F.opcode.version.slot, code.version ?? 1, 1);
    b.addFieldInt32(F.opcode.builtinCode.slot, builtin, 0);
    return b.endObject();
  });

  const subgraphs = spec.subgraphs.map((subgraph) => {
    const tensors = subgraph.tensors.map((tensor) => {
      const name = b.createString(tensor.name);
      const shape = int32Vector(tensor.shape);
      const signature = tensor.shapeSignature === undefined ? 0 : int32Vector(tensor.shapeSignature);
      let quantization = 0;
      if (tensor.quantization) {
        b.startVector(4, tensor.quantization.scale.length, 4);
        for (let i = tensor.quantization.scale.length - 1; i >= 0; i--) b.addFloat32(tensor.quantization.scale[i]!);
        const scaleVector = b.endVector();
        b.startVector(8, tensor.quantization.zeroPoint.length, 8);
        for (let i = tensor.quantization.zeroPoint.length - 1; i >= 0; i--)
          b.addInt64(BigInt(tensor.quantization.zeroPoint[i]!));
        const zeroPointVector = b.endVector();
        b.startObject(tables.QuantizationParameters.fieldCount);
        b.addFieldOffset(F.quant.scale.slot, scaleVector, 0);
        b.addFieldOffset(F.quant.zeroPoint.slot, zeroPointVector, 0);
        b.addFieldInt32(F.quant.quantizedDimension.slot, tensor.quantization.quantizedDimension ?? 0, 0);
        quantization = b.endObject();
      }
      b.startObject(tables.Tensor.fieldCount);
      b.addFieldOffset(F.tensor.shape.slot, shape, 0);
      b.addFieldInt8(F.tensor.type.slot, codeOf(TensorTypeNames, tensor.dtype, 'tensor type'), 0);
      b.addFieldInt32(F.tensor.buffer.slot, tensor.buffer ?? 0, 0);
      b.addFieldOffset(F.tensor.name.slot, name, 0);
      if (quantization) b.addFieldOffset(F.tensor.quantization.slot, quantization, 0);
      if (signature) b.addFieldOffset(F.tensor.shapeSignature.slot, signature, 0);
      return b.endObject();
    });
    const operators = subgraph.operators.map((op) => {
      const inputs = int32Vector(op.inputs);
      const outputs = int32Vector(op.outputs);
      let options = 0;
      let optionsType = 0;
      if (op.builtinOptions) {
        optionsType = codeOf(BuiltinOptionsNames, op.builtinOptions.type, 'builtin options');
        const slots = Object.entries(op.builtinOptions.int8Slots ?? {});
        b.startObject(slots.reduce((n, [slot]) => Math.max(n, Number(slot) + 1), 0));
        for (const [slot, value] of slots) b.addFieldInt8(Number(slot), value, 0);
        options = b.endObject();
      }
      let customOptions = 0;
      if (op.customOptions) customOptions = b.createByteVector(op.customOptions);
      b.startObject(tables.Operator.fieldCount);
      b.addFieldInt32(F.op.opcodeIndex.slot, op.opcodeIndex, 0);
      b.addFieldOffset(F.op.inputs.slot, inputs, 0);
      b.addFieldOffset(F.op.outputs.slot, outputs, 0);
      if (optionsType) {
        b.addFieldInt8(F.op.builtinOptionsType.slot, optionsType, 0);
        b.addFieldOffset(F.op.builtinOptions.slot, options, 0);
      }
      if (customOptions) b.addFieldOffset(F.op.customOptions.slot, customOptions, 0);
      if (op.largeCustomOptions) {
        b.addFieldInt64(F.op.largeCustomOptionsOffset.slot, externalOffsets[nextExternal++] ?? 2n, 0n);
        b.addFieldInt64(F.op.largeCustomOptionsSize.slot, BigInt(op.largeCustomOptions.length), 0n);
      }
      return b.endObject();
    });
    const tensorsVector = offsetVector(tensors);
    const operatorsVector = offsetVector(operators);
    const inputs = int32Vector(subgraph.inputs);
    const outputs = int32Vector(subgraph.outputs);
    const name = subgraph.name === undefined ? 0 : b.createString(subgraph.name);
    b.startObject(tables.SubGraph.fieldCount);
    b.addFieldOffset(F.subgraph.tensors.slot, tensorsVector, 0);
    b.addFieldOffset(F.subgraph.inputs.slot, inputs, 0);
    b.addFieldOffset(F.subgraph.outputs.slot, outputs, 0);
    b.addFieldOffset(F.subgraph.operators.slot, operatorsVector, 0);
    if (name) b.addFieldOffset(F.subgraph.name.slot, name, 0);
    return b.endObject();
  });

  const metadata = (spec.metadata ?? []).map((entry) => {
    const name = b.createString(entry.name);
    b.startObject(tables.Metadata.fieldCount);
    b.addFieldOffset(F.metadata.name.slot, name, 0);
    b.addFieldInt32(F.metadata.buffer.slot, entry.buffer, 0);
    return b.endObject();
  });

  const signatureDefs = (spec.signatureDefs ?? []).map((signature) => {
    const maps = (list: ReadonlyArray<{ name: string; tensorIndex: number }>) =>
      offsetVector(
        list.map((item) => {
          const name = b.createString(item.name);
          b.startObject(tables.TensorMap.fieldCount);
          b.addFieldOffset(F.tensorMap.name.slot, name, 0);
          b.addFieldInt32(F.tensorMap.tensorIndex.slot, item.tensorIndex, 0);
          return b.endObject();
        }),
      );
    const inputs = maps(signature.inputs);
    const outputs = maps(signature.outputs);
    const key = b.createString(signature.key);
    b.startObject(tables.SignatureDef.fieldCount);
    b.addFieldOffset(F.signature.inputs.slot, inputs, 0);
    b.addFieldOffset(F.signature.outputs.slot, outputs, 0);
    b.addFieldOffset(F.signature.signatureKey.slot, key, 0);
    b.addFieldInt32(F.signature.subgraphIndex.slot, signature.subgraphIndex, 0);
    return b.endObject();
  });

  const operatorCodesVector = offsetVector(operatorCodes);
  const subgraphsVector = offsetVector(subgraphs);
  const buffersVector = offsetVector(buffers);
  const metadataVector = spec.metadata === undefined ? 0 : offsetVector(metadata);
  const signaturesVector = spec.signatureDefs === undefined ? 0 : offsetVector(signatureDefs);
  const description = spec.description === undefined ? 0 : b.createString(spec.description);
  b.startObject(Math.max(tables.Model.fieldCount, (spec.unknownModelSlot ?? 0) + 1));
  b.addFieldInt32(F.model.version.slot, spec.version ?? 3, 0);
  if (spec.unknownModelSlot !== undefined) b.addFieldInt32(spec.unknownModelSlot, 7, 0);
  b.addFieldOffset(F.model.operatorCodes.slot, operatorCodesVector, 0);
  b.addFieldOffset(F.model.subgraphs.slot, subgraphsVector, 0);
  if (description) b.addFieldOffset(F.model.description.slot, description, 0);
  b.addFieldOffset(F.model.buffers.slot, buffersVector, 0);
  if (metadataVector) b.addFieldOffset(F.model.metadata.slot, metadataVector, 0);
  if (signaturesVector) b.addFieldOffset(F.model.signatureDefs.slot, signaturesVector, 0);
  const model = b.endObject();
  b.finish(model, 'TFL3');
  return b.asUint8Array().slice();
}
