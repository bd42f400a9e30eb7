import { readTfliteFile } from './file.js';
import { bufferBytes, metadataBytes, type TfliteModel, type TfliteTensor } from './reader.js';

/** Name of the metadata entry that carries edgezoo's JSON manifest inside a .tflite file. */
export const EDGEZOO_METADATA_NAME = 'edgezoo';

/**
 * How a model is quantised, judged from its tensors:
 * - `float32`: float weights and activations;
 * - `float16-weights`: fp16 constant tensors expanded by DEQUANTIZE, float activations;
 * - `dynamic-range-int8`: int8 weights, float activations (quantised on the fly);
 * - `full-integer-int8`: int8/uint8 activations (see the I/O dtypes for int8 vs float I/O);
 * - `int16-activations`: int16 activations with int8 weights (16x8);
 * - `mixed`: none of the above clearly.
 */
export type TfliteQuantizationKind =
  | 'float32'
  | 'float16-weights'
  | 'dynamic-range-int8'
  | 'full-integer-int8'
  | 'int16-activations'
  | 'mixed';

/** A subgraph input or output. */
export interface TfliteTensorSignature {
  name: string;
  /** Index of the tensor in its subgraph (what LiteRT's get_input_details() calls `index`). */
  tensorIndex: number;
  dtype: string;
  shape: number[];
  /** Present when the model has dynamic dims: -1 marks each. */
  shapeSignature?: number[];
  /** For 4-D image-like tensors: NHWC or NCHW when the dims make it likely. */
  likelyLayout?: 'NCHW' | 'NHWC';
  /**
   * Its name in the model's first signature of the main subgraph (`serving_default`): converters
   * from TensorFlow keep the source names there (onnx2tf: the ONNX input/output names) while the
   * tensor itself is `serving_default_x:0` or `PartitionedCall:2`.
   */
  signatureKey?: string;
  quantization?: { scale: number[]; zeroPoint: number[]; quantizedDimension: number };
}

/** What `edgezoo inspect` shows about a TFLite model; JSON-serialisable. */
export interface TfliteSummary {
  format: 'tflite';
  fileSize: number;
  schemaVersion: number;
  description: string;
  subgraphs: Array<{ name: string; tensors: number; operators: number }>;
  /** Inputs and outputs of the main subgraph (index 0). */
  inputs: TfliteTensorSignature[];
  outputs: TfliteTensorSignature[];
  signatures: Array<{ key: string; subgraphIndex: number; inputs: string[]; outputs: string[] }>;
  operatorCount: number;
  /** op name -> count over all subgraphs, most frequent first. */
  ops: Record<string, number>;
  /** Bytes of constant data (weights), inline and external. */
  constantBytes: number;
  metadata: Array<{ name: string; bytes: number }>;
  /** The runtime version the converter recorded (metadata `min_runtime_version`). */
  minRuntimeVersion?: string;
  /** The parsed `edgezoo` metadata entry, when present and valid JSON. */
  manifest?: unknown;
  /** Why the `edgezoo` entry could not be read, when it is present but is not JSON. */
  manifestError?: string;
  flags: {
    /** Custom codes of Flex ops (need the TensorFlow select-ops runtime most edge devices lack). */
    flexOps: string[];
    /** Custom codes of other custom ops (need a registered kernel). */
    customOps: string[];
    transposeCount: number;
    /** Tensors whose shape_signature has -1, by name (inputs first). */
    dynamicTensors: string[];
    quantization: TfliteQuantizationKind;
    /** Buffers stored past the flatbuffer (offset/size form, models over 2 GB). */
    externalBuffers: number;
  };
}

/**
 * The likely layout of a 4-D image tensor: NHWC when the last dim is 1 or 3 and dims 1 and 2 are
 * over 4, NCHW when dim 1 is 1 or 3 and dims 2 and 3 are over 4. Other shapes give undefined.
 */
export function likelyImageLayout(shape: readonly number[]): 'NCHW' | 'NHWC' | undefined {
  if (shape.length !== 4) return undefined;
  const [, d1, d2, d3] = shape as [number, number, number, number];
  if ((d3 === 1 || d3 === 3) && d1 > 4 && d2 > 4) return 'NHWC';
  if ((d1 === 1 || d1 === 3) && d2 > 4 && d3 > 4) return 'NCHW';
  return undefined;
}

function signatureOf(tensor: TfliteTensor): TfliteTensorSignature {
  const result: TfliteTensorSignature = {
    name: tensor.name,
    tensorIndex: tensor.index,
    dtype: tensor.dtype,
    shape: tensor.shape,
  };
  if (tensor.shapeSignature?.includes(-1)) result.shapeSignature = tensor.shapeSignature;
  const layout = likelyImageLayout(tensor.shapeSignature ?? tensor.shape);
  if (layout) result.likelyLayout = layout;
  if (tensor.quantization) {
    result.quantization = {
      scale: tensor.quantization.scale,
      zeroPoint: tensor.quantization.zeroPoint,
      quantizedDimension: tensor.quantization.quantizedDimension,
    };
  }
  return result;
}

/** Judges the quantisation kind from constant and activation tensor types (see TfliteQuantizationKind). */
export function quantizationKind(model: TfliteModel): TfliteQuantizationKind {
  const constants = new Map<string, number>();
  const activations = new Map<string, number>();
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  for (const subgraph of model.subgraphs) {
    for (const tensor of subgraph.tensors) {
      const isConstant = (model.buffers[tensor.buffer]?.size ?? 0) > 0;
      if (isConstant) count(constants, tensor.dtype);
      else if (!tensor.isVariable) count(activations, tensor.quantization ? `q${tensor.dtype}` : tensor.dtype);
    }
  }
  const ops = new Set(model.subgraphs.flatMap((s) => s.operators.map((o) => o.opName)));
  const floatActivations = activations.get('FLOAT32') ?? 0;
  const int8Activations = (activations.get('qINT8') ?? 0) + (activations.get('qUINT8') ?? 0);
  const int8Weights = (constants.get('INT8') ?? 0) + (constants.get('UINT8') ?? 0) + (constants.get('INT4') ?? 0);
  if ((activations.get('qINT16') ?? 0) > 0 && int8Weights > 0) return 'int16-activations';
  if (int8Activations > 0) return int8Activations >= floatActivations ? 'full-integer-int8' : 'mixed';
  if (int8Weights > 0) return 'dynamic-range-int8';
  if ((constants.get('FLOAT16') ?? 0) > 0 && ops.has('DEQUANTIZE')) return 'float16-weights';
  const nonFloat = [...constants.keys()].filter(
    (t) => t !== 'FLOAT32' && t !== 'INT32' && t !== 'INT64' && t !== 'BOOL',
  );
  return nonFloat.length === 0 ? 'float32' : 'mixed';
}

function withSignatureKey(
  tensor: TfliteTensorSignature,
  map: ReadonlyArray<{ name: string; tensorIndex: number }> | undefined,
): TfliteTensorSignature {
  const key = map?.find((entry) => entry.tensorIndex === tensor.tensorIndex)?.name;
  return key === undefined ? tensor : { ...tensor, signatureKey: key };
}

/**
 * Summarises a model already read. `bytes` is the file (or its first 2 GiB) for reading metadata
 * contents; `fileSize` the whole file's size.
 */
export function summarizeTflite(model: TfliteModel, bytes: Uint8Array, fileSize: number = bytes.length): TfliteSummary {
  const main = model.subgraphs[0];
  const histogram = new Map<string, number>();
  const flexOps = new Set<string>();
  const customOps = new Set<string>();
  const dynamicTensors: string[] = [];
  for (const subgraph of model.subgraphs) {
    for (const op of subgraph.operators) {
      histogram.set(op.opName, (histogram.get(op.opName) ?? 0) + 1);
      const code = model.operatorCodes[op.opcodeIndex]!;
      if (code.isFlex) flexOps.add(code.name);
      else if (code.isCustom) customOps.add(code.name);
    }
  }
  if (main) {
    const ioFirst = [...main.inputs, ...main.outputs, ...main.tensors.map((t) => t.index)];
    for (const index of new Set(ioFirst)) {
      const tensor = main.tensors[index]!;
      if (tensor.shapeSignature?.includes(-1)) dynamicTensors.push(tensor.name);
    }
  }
  const mainSignature = model.signatureDefs.find((s) => s.subgraphIndex === 0);
  const constantBuffers = new Set(model.subgraphs.flatMap((s) => s.tensors.map((t) => t.buffer)));
  let constantBytes = 0;
  for (const index of constantBuffers) constantBytes += model.buffers[index]?.size ?? 0;

  const summary: TfliteSummary = {
    format: 'tflite',
    fileSize,
    schemaVersion: model.version,
    description: model.description,
    subgraphs: model.subgraphs.map((s) => ({ name: s.name, tensors: s.tensors.length, operators: s.operators.length })),
    inputs: main ? main.inputs.map((i) => withSignatureKey(signatureOf(main.tensors[i]!), mainSignature?.inputs)) : [],
    outputs: main
      ? main.outputs.map((i) => withSignatureKey(signatureOf(main.tensors[i]!), mainSignature?.outputs))
      : [],
    signatures: model.signatureDefs.map((s) => ({
      key: s.key,
      subgraphIndex: s.subgraphIndex,
      inputs: s.inputs.map((m) => m.name),
      outputs: s.outputs.map((m) => m.name),
    })),
    operatorCount: model.subgraphs.reduce((n, s) => n + s.operators.length, 0),
    ops: Object.fromEntries([...histogram].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    constantBytes,
    metadata: model.metadata.map((m) => ({ name: m.name, bytes: model.buffers[m.buffer]?.size ?? 0 })),
    flags: {
      flexOps: [...flexOps].sort(),
      customOps: [...customOps].sort(),
      transposeCount: histogram.get('TRANSPOSE') ?? 0,
      dynamicTensors,
      quantization: quantizationKind(model),
      externalBuffers: model.buffers.filter((b) => b.location === 'external').length,
    },
  };
  const runtime = metadataBytes(bytes, model, 'min_runtime_version');
  if (runtime) summary.minRuntimeVersion = new TextDecoder().decode(runtime).replace(/\0+$/, '');
  const manifest = model.metadata.find((m) => m.name === EDGEZOO_METADATA_NAME);
  if (manifest) {
    const content = bufferBytes(bytes, model, manifest.buffer);
    try {
      if (!content) throw new Error('its buffer lies past the part of the file that was read');
      summary.manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(content)) as unknown;
    } catch (error) {
      summary.manifestError = `metadata "${EDGEZOO_METADATA_NAME}" is not a JSON manifest: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  return summary;
}

/** Reads and summarises the TFLite model at `path`; a malformed file gives TfliteFormatError naming it. */
export async function inspectTflite(path: string): Promise<TfliteSummary> {
  const { bytes, fileSize, model } = await readTfliteFile(path);
  return summarizeTflite(model, bytes, fileSize);
}

function formatShape(signature: TfliteTensorSignature): string {
  return `[${(signature.shapeSignature ?? signature.shape).map((d) => (d === -1 ? '?' : String(d))).join(', ')}]`;
}

function formatTensor(signature: TfliteTensorSignature): string {
  let line = `  ${signature.name} ${signature.dtype} ${formatShape(signature)}`;
  if (signature.likelyLayout) line += ` ${signature.likelyLayout}`;
  const q = signature.quantization;
  if (q) {
    const perAxis = q.scale.length > 1 ? ` per-axis(dim ${q.quantizedDimension}, ${q.scale.length} scales)` : '';
    line += ` scale=${q.scale[0] ?? '?'} zero_point=${q.zeroPoint[0] ?? '?'}${perAxis}`;
  }
  return line;
}

/** Human-readable lines for `edgezoo inspect` (the CLI prints them). */
export function formatTfliteSummary(summary: TfliteSummary): string[] {
  const lines: string[] = [];
  const ioTypes = [...new Set([...summary.inputs, ...summary.outputs].map((t) => t.dtype))].join('/');
  lines.push(
    `format: TFLite (schema ${summary.schemaVersion}), ${summary.fileSize} bytes, ${summary.constantBytes} bytes of constants`,
  );
  if (summary.description) lines.push(`description: ${summary.description}`);
  if (summary.minRuntimeVersion) lines.push(`min runtime version: ${summary.minRuntimeVersion}`);
  lines.push(`quantization: ${summary.flags.quantization} (I/O ${ioTypes || 'none'})`);
  lines.push(`inputs:`);
  for (const input of summary.inputs) lines.push(formatTensor(input));
  lines.push(`outputs:`);
  for (const output of summary.outputs) lines.push(formatTensor(output));
  if (summary.subgraphs.length > 1) {
    lines.push(
      `subgraphs: ${summary.subgraphs.map((s) => `${s.name || '(unnamed)'} (${s.operators} ops)`).join(', ')}`,
    );
  }
  for (const signature of summary.signatures) {
    lines.push(`signature ${signature.key}: (${signature.inputs.join(', ')}) -> (${signature.outputs.join(', ')})`);
  }
  lines.push(
    `operators: ${summary.operatorCount} (${Object.entries(summary.ops)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')})`,
  );
  if (summary.flags.flexOps.length > 0)
    lines.push(`warning: Flex ops (need the TensorFlow select-ops runtime): ${summary.flags.flexOps.join(', ')}`);
  if (summary.flags.customOps.length > 0)
    lines.push(`warning: custom ops (need registered kernels): ${summary.flags.customOps.join(', ')}`);
  if (summary.flags.transposeCount > 0) lines.push(`transposes: ${summary.flags.transposeCount}`);
  if (summary.flags.dynamicTensors.length > 0) {
    const shown = summary.flags.dynamicTensors.slice(0, 5).join(', ');
    const more = summary.flags.dynamicTensors.length > 5 ? ` and ${summary.flags.dynamicTensors.length - 5} more` : '';
    lines.push(`dynamic dims in: ${shown}${more}`);
  }
  if (summary.flags.externalBuffers > 0)
    lines.push(`buffers stored past the flatbuffer: ${summary.flags.externalBuffers}`);
  if (summary.metadata.length > 0)
    lines.push(`metadata: ${summary.metadata.map((m) => `${m.name} (${m.bytes} bytes)`).join(', ')}`);
  if (summary.manifest !== undefined) lines.push(`edgezoo manifest: ${JSON.stringify(summary.manifest)}`);
  if (summary.manifestError) lines.push(`warning: ${summary.manifestError}`);
  return lines;
}
