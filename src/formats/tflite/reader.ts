import { TfliteFormatError } from './errors.js';
import { CheckedFlatBuffer, type CheckedTable, type ReadLimits } from './flatbuffers.js';
import {
  type FieldSchema,
  BuiltinOperatorNames,
  BuiltinOptions2Names,
  BuiltinOptionsNames,
  TensorTypeNames,
  tables,
} from './schema.generated.js';

/** The TFLite file identifier stored at bytes 4..8. */
export const TFLITE_FILE_IDENTIFIER = 'TFL3';
/** BuiltinOperator.CUSTOM: the op is named by `customCode`. */
export const CUSTOM_OPERATOR_CODE = 32;

/** An entry of the model's operator_codes. */
export interface TfliteOperatorCode {
  /** The real builtin code: max(deprecated_builtin_code, builtin_code), as LiteRT computes it. */
  readonly builtinCode: number;
  /** The builtin's schema name (`ADD`, `STABLEHLO_ADD`...), or the custom code for custom ops. */
  readonly name: string;
  readonly customCode: string | undefined;
  readonly isCustom: boolean;
  /** A TensorFlow op run by the Flex delegate (custom code starting with "Flex"). */
  readonly isFlex: boolean;
  readonly version: number;
}

/** Per-tensor or per-axis affine quantization: real = scale * (q - zero_point). */
export interface TfliteQuantization {
  readonly scale: number[];
  readonly zeroPoint: number[];
  readonly quantizedDimension: number;
  readonly min: number[] | undefined;
  readonly max: number[] | undefined;
}

export interface TfliteTensor {
  readonly index: number;
  readonly name: string;
  /** TensorType name: FLOAT32, INT8, ... (`TYPE_<n>` for codes newer than this schema). */
  readonly dtype: string;
  readonly shape: number[];
  /** Like shape, with -1 for dynamic dimensions; absent when the converter wrote none. */
  readonly shapeSignature: number[] | undefined;
  /** Index into the model's buffers; 0 is the empty buffer (no constant data). */
  readonly buffer: number;
  readonly isVariable: boolean;
  readonly sparse: boolean;
  /** Present only when scale or zero_point is non-empty. */
  readonly quantization: TfliteQuantization | undefined;
}

export interface TfliteOperator {
  readonly opcodeIndex: number;
  /** Name from the operator code (builtin name or custom code). */
  readonly opName: string;
  /** Tensor indices; -1 marks an omitted optional input. */
  readonly inputs: number[];
  readonly outputs: number[];
  /** BuiltinOptions union member name, when the op has options. */
  readonly builtinOptions: string | undefined;
  readonly builtinOptions2: string | undefined;
  /** Where the custom options bytes are (absolute file offset), when the op has any. */
  readonly customOptions: { readonly offset: number; readonly size: number } | undefined;
}

export interface TfliteSubgraph {
  readonly name: string;
  readonly tensors: TfliteTensor[];
  readonly inputs: number[];
  readonly outputs: number[];
  readonly operators: TfliteOperator[];
}

/** Where a buffer's bytes are: none, inside the flatbuffer, or past it (models over 2 GB). */
export interface TfliteBuffer {
  readonly index: number;
  readonly location: 'empty' | 'inline' | 'external';
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly size: number;
}

export interface TfliteMetadataEntry {
  readonly name: string;
  readonly buffer: number;
}

export interface TfliteTensorMap {
  readonly name: string;
  readonly tensorIndex: number;
}

export interface TfliteSignatureDef {
  readonly key: string;
  readonly subgraphIndex: number;
  readonly inputs: TfliteTensorMap[];
  readonly outputs: TfliteTensorMap[];
}

/** A TFLite model as read: every index checked against what it indexes. */
export interface TfliteModel {
  readonly version: number;
  readonly description: string;
  /** "TFL3" for files written by the converters; older files may have none. */
  readonly fileIdentifier: string;
  readonly operatorCodes: TfliteOperatorCode[];
  readonly subgraphs: TfliteSubgraph[];
  readonly buffers: TfliteBuffer[];
  readonly metadata: TfliteMetadataEntry[];
  readonly signatureDefs: TfliteSignatureDef[];
}

/** Options for {@link readTflite}. */
export interface ReadTfliteOptions extends ReadLimits {
  /**
   * Size of the whole file when `bytes` holds only its start (external buffers of a >2 GB model
   * lie past the flatbuffer); external buffers are checked against it. Default: bytes.length.
   */
  readonly fileSize?: number;
}

/** Field slots of the tables edgezoo reads and writes, by short name (shared with the fixture builder). */
export const F = {
  model: tables.Model.fields,
  opcode: tables.OperatorCode.fields,
  subgraph: tables.SubGraph.fields,
  tensor: tables.Tensor.fields,
  quant: tables.QuantizationParameters.fields,
  op: tables.Operator.fields,
  buffer: tables.Buffer.fields,
  metadata: tables.Metadata.fields,
  signature: tables.SignatureDef.fields,
  tensorMap: tables.TensorMap.fields,
};

/** True when the bytes look like a TFLite flatbuffer (identifier "TFL3" at bytes 4..8). */
export function looksLikeTflite(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33;
}

/**
 * Reads a TFLite model. Every offset, length and index is checked; a malformed file throws
 * TfliteFormatError. Buffer contents are located, not copied (see {@link bufferBytes}).
 */
export function readTflite(bytes: Uint8Array, options: ReadTfliteOptions = {}): TfliteModel {
  const fb = new CheckedFlatBuffer(bytes, options);
  const root = fb.root();
  const fileSize = options.fileSize ?? bytes.length;

  const operatorCodes = root.tables(F.model.operatorCodes, 'operator_codes').map(readOperatorCode);
  const buffers = root.tables(F.model.buffers, 'buffers').map((table, index) => readBuffer(table, index, fileSize));
  const subgraphs = root
    .tables(F.model.subgraphs, 'subgraphs')
    .map((table, index) => readSubgraph(table, index, operatorCodes, buffers.length, fileSize));
  const metadata = root.tables(F.model.metadata, 'metadata').map((table, index) => {
    const entry = {
      name: table.string(F.metadata.name, `metadata[${index}].name`) ?? '',
      buffer: table.number(F.metadata.buffer),
    };
    checkIndex(entry.buffer, buffers.length, `metadata "${entry.name}" buffer`, table.position);
    return entry;
  });
  const signatureDefs = root.tables(F.model.signatureDefs, 'signature_defs').map((table, index) => {
    const subgraphIndex = table.number(F.signature.subgraphIndex);
    checkIndex(subgraphIndex, subgraphs.length, `signature_defs[${index}] subgraph`, table.position);
    const tensorCount = subgraphs[subgraphIndex]!.tensors.length;
    const readMaps = (field: FieldSchema, what: string) =>
      table.tables(field, what).map((map, i) => {
        const tensorIndex = map.number(F.tensorMap.tensorIndex);
        checkIndex(tensorIndex, tensorCount, `${what}[${i}] tensor`, map.position);
        return { name: map.string(F.tensorMap.name, `${what}[${i}].name`) ?? '', tensorIndex };
      });
    return {
      key: table.string(F.signature.signatureKey, `signature_defs[${index}].signature_key`) ?? '',
      subgraphIndex,
      inputs: readMaps(F.signature.inputs, `signature_defs[${index}].inputs`),
      outputs: readMaps(F.signature.outputs, `signature_defs[${index}].outputs`),
    };
  });

  return {
    version: root.number(F.model.version),
    description: root.string(F.model.description, 'description') ?? '',
    fileIdentifier: fb.fileIdentifier(),
    operatorCodes,
    subgraphs,
    buffers,
    metadata,
    signatureDefs,
  };
}

/**
 * The bytes of buffer `index` as a view into `bytes` (no copy); undefined when they lie past
 * the part of the file that `bytes` holds.
 */
export function bufferBytes(bytes: Uint8Array, model: TfliteModel, index: number): Uint8Array | undefined {
  const buffer = model.buffers[index];
  if (!buffer || buffer.offset + buffer.size > bytes.length) return undefined;
  return bytes.subarray(buffer.offset, buffer.offset + buffer.size);
}

/** The bytes of the metadata entry `name`, or undefined when the model has none by that name. */
export function metadataBytes(bytes: Uint8Array, model: TfliteModel, name: string): Uint8Array | undefined {
  const entry = model.metadata.find((m) => m.name === name);
  return entry === undefined ? undefined : bufferBytes(bytes, model, entry.buffer);
}

function checkIndex(index: number, count: number, what: string, position: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new TfliteFormatError(`invalid TFLite model: ${what} index ${index} is out of range (0..${count - 1})`, {
      byteOffset: position,
    });
  }
}

function readOperatorCode(table: CheckedTable, index: number): TfliteOperatorCode {
  // Codes above 127 do not fit the old int8 field: converters store 127 (a placeholder) there
  // and the real code in builtin_code; old files have only the int8 field. LiteRT takes the max.
  const deprecated = table.number(F.opcode.deprecatedBuiltinCode);
  const builtinCode = Math.max(deprecated, table.number(F.opcode.builtinCode));
  const customCode = table.string(F.opcode.customCode, `operator_codes[${index}].custom_code`);
  const isCustom = builtinCode === CUSTOM_OPERATOR_CODE;
  const name = isCustom ? (customCode ?? 'CUSTOM') : (BuiltinOperatorNames[builtinCode] ?? `BUILTIN_${builtinCode}`);
  return {
    builtinCode,
    name,
    customCode,
    isCustom,
    isFlex: isCustom && (customCode ?? '').startsWith('Flex'),
    version: table.number(F.opcode.version),
  };
}

function readBuffer(table: CheckedTable, index: number, fileSize: number): TfliteBuffer {
  const offset = table.number(F.buffer.offset);
  // offset 0 and 1 are not positions: 1 is the converters' marker for "no data" in large models.
  if (offset > 1) {
    const size = table.number(F.buffer.size);
    if (offset + size > fileSize) {
      throw new TfliteFormatError(
        `invalid TFLite model: buffers[${index}] stored at bytes ${offset}..${offset + size} lies past the end of the file (${fileSize} bytes)`,
        { byteOffset: table.position },
      );
    }
    return { index, location: 'external', offset, size };
  }
  const range = table.byteRange(F.buffer.data, `buffers[${index}].data`);
  if (range === undefined || range.length === 0) return { index, location: 'empty', offset: 0, size: 0 };
  return { index, location: 'inline', offset: range.offset, size: range.length };
}

function readCustomOptions(op: CheckedTable, what: string, fileSize: number): TfliteOperator['customOptions'] {
  const offset = op.number(F.op.largeCustomOptionsOffset);
  if (offset > 1) {
    const size = op.number(F.op.largeCustomOptionsSize);
    if (offset + size > fileSize) {
      throw new TfliteFormatError(
        `invalid TFLite model: ${what} custom options stored at bytes ${offset}..${offset + size} lie past the end of the file (${fileSize} bytes)`,
        { byteOffset: op.position },
      );
    }
    return { offset, size };
  }
  const range = op.byteRange(F.op.customOptions, `${what}.custom_options`);
  return range === undefined || range.length === 0 ? undefined : { offset: range.offset, size: range.length };
}

function readSubgraph(
  table: CheckedTable,
  index: number,
  operatorCodes: TfliteOperatorCode[],
  bufferCount: number,
  fileSize: number,
): TfliteSubgraph {
  const where = `subgraphs[${index}]`;
  const tensors = table
    .tables(F.subgraph.tensors, `${where}.tensors`)
    .map((tensor, i) => readTensor(tensor, i, where, bufferCount));
  const checkTensors = (indices: number[], what: string, position: number, optional: boolean) => {
    for (const t of indices) {
      if (optional && t === -1) continue;
      checkIndex(t, tensors.length, what, position);
    }
    return indices;
  };
  const operators = table.tables(F.subgraph.operators, `${where}.operators`).map((op, i): TfliteOperator => {
    const what = `${where}.operators[${i}]`;
    const opcodeIndex = op.number(F.op.opcodeIndex);
    checkIndex(opcodeIndex, operatorCodes.length, `${what} opcode`, op.position);
    const optionsType = op.number(F.op.builtinOptionsType);
    const options2Type = op.number(F.op.builtinOptions2Type);
    const customOptions = readCustomOptions(op, what, fileSize);
    return {
      opcodeIndex,
      opName: operatorCodes[opcodeIndex]!.name,
      inputs: checkTensors(
        op.numbers(F.op.inputs, 'int32', `${what}.inputs`) ?? [],
        `${what} input tensor`,
        op.position,
        true,
      ),
      outputs: checkTensors(
        op.numbers(F.op.outputs, 'int32', `${what}.outputs`) ?? [],
        `${what} output tensor`,
        op.position,
        true,
      ),
      builtinOptions: optionsType === 0 ? undefined : (BuiltinOptionsNames[optionsType] ?? `OPTIONS_${optionsType}`),
      builtinOptions2:
        options2Type === 0 ? undefined : (BuiltinOptions2Names[options2Type] ?? `OPTIONS2_${options2Type}`),
      customOptions,
    };
  });
  return {
    name: table.string(F.subgraph.name, `${where}.name`) ?? '',
    tensors,
    inputs: checkTensors(
      table.numbers(F.subgraph.inputs, 'int32', `${where}.inputs`) ?? [],
      `${where} input tensor`,
      table.position,
      false,
    ),
    outputs: checkTensors(
      table.numbers(F.subgraph.outputs, 'int32', `${where}.outputs`) ?? [],
      `${where} output tensor`,
      table.position,
      false,
    ),
    operators,
  };
}

function readTensor(table: CheckedTable, index: number, where: string, bufferCount: number): TfliteTensor {
  const what = `${where}.tensors[${index}]`;
  const typeCode = table.number(F.tensor.type);
  const buffer = table.number(F.tensor.buffer);
  // Buffer 0 is "no data"; a file with no buffers vector at all still uses it that way.
  if (buffer !== 0 || bufferCount > 0) checkIndex(buffer, bufferCount, `${what} buffer`, table.position);
  const quant = table.table(F.tensor.quantization, `${what}.quantization`);
  let quantization: TfliteQuantization | undefined;
  if (quant) {
    const scale = quant.numbers(F.quant.scale, 'float32', `${what}.quantization.scale`) ?? [];
    const zeroPoint = quant.numbers(F.quant.zeroPoint, 'int64', `${what}.quantization.zero_point`) ?? [];
    if (scale.length > 0 || zeroPoint.length > 0) {
      quantization = {
        scale,
        zeroPoint,
        quantizedDimension: quant.number(F.quant.quantizedDimension),
        min: quant.numbers(F.quant.min, 'float32', `${what}.quantization.min`),
        max: quant.numbers(F.quant.max, 'float32', `${what}.quantization.max`),
      };
    }
  }
  return {
    index,
    name: table.string(F.tensor.name, `${what}.name`) ?? '',
    dtype: TensorTypeNames[typeCode] ?? `TYPE_${typeCode}`,
    shape: table.numbers(F.tensor.shape, 'int32', `${what}.shape`) ?? [],
    shapeSignature: table.numbers(F.tensor.shapeSignature, 'int32', `${what}.shape_signature`),
    buffer,
    isVariable: table.number(F.tensor.isVariable) !== 0,
    sparse: table.fieldPosition(F.tensor.sparsity) !== undefined,
    quantization,
  };
}
