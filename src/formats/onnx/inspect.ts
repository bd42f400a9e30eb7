import { TensorProto_DataType } from './onnx-proto.generated.js';
import type { GraphProto, ModelProto, NodeProto, TypeProto, ValueInfoProto } from './onnx-proto.generated.js';
import { dtypeName, tensorByteLength, tensorElementCount } from './tensor.js';
import { formatBytes } from '../../util/format.js';

/** A graph input or output: dims are numbers, symbolic names, or null when unknown. */
export interface OnnxTensorSignature {
  name: string;
  dtype: string;
  shape: Array<number | string | null> | null;
  /** For 4-D image-like inputs: NCHW or NHWC when the dims make it likely. */
  likelyLayout?: 'NCHW' | 'NHWC';
}

/** How a model's weights and compute are quantised, by the ops and initializer types it has. */
export type OnnxQuantizationKind =
  | 'float32'
  | 'float16'
  | 'dynamic-int8'
  | 'qdq-int8'
  /** QDQ with int8 activations and fewer 16-bit ones (the quantization search's mixed precision). */
  | 'qdq-int8-int16'
  /** QDQ whose 16-bit activations are at least as many as its 8-bit ones (A16W8). */
  | 'qdq-int16'
  | 'qoperator'
  | 'mixed';

/** What `edgezoo inspect` shows about an ONNX model; JSON-serialisable. */
export interface OnnxSummary {
  format: 'onnx';
  irVersion: number | null;
  opsets: Array<{ domain: string; version: number }>;
  producer: { name: string; version: string };
  graphName: string;
  inputs: OnnxTensorSignature[];
  outputs: OnnxTensorSignature[];
  nodeCount: number;
  /** op type (domain-qualified when not the default domain) -> count, most frequent first. */
  ops: Record<string, number>;
  parameters: { count: number; bytes: number };
  /** dtype -> { count of tensors, elements, bytes } of the initializers. */
  initializersByDtype: Record<string, { tensors: number; elements: number; bytes: number }>;
  metadata: Record<string, string>;
  flags: {
    dynamicInputs: string[];
    transposeCount: number;
    customDomains: string[];
    quantization: OnnxQuantizationKind;
    externalData: boolean;
    hasSubgraphs: boolean;
  };
}

function shapeOf(type: TypeProto | undefined): Array<number | string | null> | null {
  const shape = type?.tensorType?.shape ?? type?.sparseTensorType?.shape;
  if (!shape) return null;
  return shape.dim.map((dim) =>
    dim.dimValue !== undefined ? dim.dimValue : dim.dimParam !== undefined && dim.dimParam !== '' ? dim.dimParam : null,
  );
}

/**
 * The likely layout of a 4-D image input: NCHW when dim 1 is 1 or 3 and dims 2 and 3 are over 4,
 * NHWC when the last dim is 1 or 3 (and dim 1 is not). Other shapes give undefined.
 */
export function likelyImageLayout(shape: ReadonlyArray<number | string | null> | null): 'NCHW' | 'NHWC' | undefined {
  if (shape?.length !== 4) return undefined;
  const [, d1, d2, d3] = shape;
  const big = (d: number | string | null | undefined) => typeof d === 'number' && d > 4;
  if ((d1 === 1 || d1 === 3) && big(d2) && big(d3)) return 'NCHW';
  if ((d3 === 1 || d3 === 3) && big(d1) && big(d2)) return 'NHWC';
  return undefined;
}

function signature(value: ValueInfoProto): OnnxTensorSignature {
  const shape = shapeOf(value.type);
  const result: OnnxTensorSignature = {
    name: value.name ?? '',
    dtype: value.type?.tensorType
      ? dtypeName(value.type.tensorType.elemType)
      : value.type?.sequenceType
        ? 'sequence'
        : value.type?.mapType
          ? 'map'
          : 'unknown',
    shape,
  };
  const layout = likelyImageLayout(shape);
  if (layout) result.likelyLayout = layout;
  return result;
}

/** Every node of the graph and its subgraphs (If/Loop/Scan bodies). */
export function* allNodes(graph: GraphProto): Generator<NodeProto> {
  const pending = [graph];
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const n of current.node) {
      yield n;
      for (const a of n.attribute) {
        if (a.g) pending.push(a.g);
        pending.push(...a.graphs);
      }
    }
  }
}

const DYNAMIC_QUANT_OPS = new Set([
  'DynamicQuantizeLinear',
  'MatMulInteger',
  'ConvInteger',
  'DynamicQuantizeMatMul',
  'DynamicQuantizeLSTM',
]);
const QDQ_OPS = new Set(['QuantizeLinear', 'DequantizeLinear']);
const QOPERATOR_PREFIX = 'QLinear';

/**
 * Classifies quantisation from op types and initializer dtypes. `castsToFloat16`: the graph computes
 * in float16 without holding a float16 weight (a weightless op converted with float32 I/O kept:
 * Cast -> op -> Cast), which is float16 all the same.
 */
export function quantizationKind(
  ops: Record<string, number>,
  initializerDtypes: Record<string, unknown>,
  castsToFloat16 = false,
  quantizeBits: { bits8: number; bits16: number } = { bits8: 0, bits16: 0 },
): OnnxQuantizationKind {
  const opNames = Object.keys(ops).map((op) => op.split(':').pop()!);
  const has = (test: (op: string) => boolean) => opNames.some(test);
  const kinds: OnnxQuantizationKind[] = [];
  if (has((op) => op.startsWith(QOPERATOR_PREFIX))) kinds.push('qoperator');
  else if (has((op) => QDQ_OPS.has(op)))
    kinds.push(
      quantizeBits.bits16 === 0
        ? 'qdq-int8'
        : quantizeBits.bits16 < quantizeBits.bits8
          ? 'qdq-int8-int16'
          : 'qdq-int16',
    );
  if (has((op) => DYNAMIC_QUANT_OPS.has(op))) kinds.push('dynamic-int8');
  if (kinds.length > 1) return 'mixed';
  if (kinds.length === 1) return kinds[0]!;
  return 'float16' in initializerDtypes || castsToFloat16 ? 'float16' : 'float32';
}

/** Summarises a decoded ONNX model for people and machines (pure; no I/O). */
export function inspectModel(model: ModelProto): OnnxSummary {
  const graph = model.graph!;
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  // Old exporters list initializers among graph inputs too; they are weights, not inputs.
  const inputs = graph.input.filter((v) => !initializerNames.has(v.name)).map(signature);
  const outputs = graph.output.map(signature);

  const ops: Record<string, number> = {};
  const customDomains = new Set<string>();
  let nodeCount = 0;
  let hasSubgraphs = false;
  let castsToFloat16 = false;
  // The zero points of QuantizeLinear nodes (activations): their type is the activation's width.
  const quantizeZeroPoints: string[] = [];
  for (const n of allNodes(graph)) {
    nodeCount++;
    if (n.opType === 'QuantizeLinear' && n.input[2]) quantizeZeroPoints.push(n.input[2]);
    if (n.opType === 'Cast' && n.attribute.some((a) => a.name === 'to' && Number(a.i) === TensorProto_DataType.FLOAT16))
      castsToFloat16 = true;
    const domain = n.domain ?? '';
    const key = domain === '' || domain === 'ai.onnx' ? (n.opType ?? '') : `${domain}:${n.opType ?? ''}`;
    ops[key] = (ops[key] ?? 0) + 1;
    if (domain !== '' && domain !== 'ai.onnx' && domain !== 'ai.onnx.ml') customDomains.add(domain);
    if (n.attribute.some((a) => a.g !== undefined || a.graphs.length > 0)) hasSubgraphs = true;
  }
  const sortedOps = Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));

  const initializersByDtype: OnnxSummary['initializersByDtype'] = {};
  let parameterCount = 0;
  let parameterBytes = 0;
  let externalData = false;
  for (const tensor of graph.initializer) {
    const dtype = dtypeName(tensor.dataType);
    const elements = tensorElementCount(tensor);
    const bytes = tensorByteLength(tensor) ?? tensor.rawData?.length ?? 0;
    const entry = (initializersByDtype[dtype] ??= { tensors: 0, elements: 0, bytes: 0 });
    entry.tensors++;
    entry.elements += elements;
    entry.bytes += bytes;
    parameterCount += elements;
    parameterBytes += bytes;
    if (tensor.dataLocation === 1) externalData = true;
  }

  const dtypeOf = new Map(graph.initializer.map((t) => [t.name, dtypeName(t.dataType)]));
  const quantizeBits = { bits8: 0, bits16: 0 };
  for (const zeroPoint of quantizeZeroPoints) {
    const dtype = dtypeOf.get(zeroPoint);
    if (dtype === 'int16' || dtype === 'uint16') quantizeBits.bits16 += 1;
    else if (dtype === 'int8' || dtype === 'uint8') quantizeBits.bits8 += 1;
  }

  return {
    format: 'onnx',
    irVersion: model.irVersion ?? null,
    opsets: model.opsetImport.map((o) => ({ domain: o.domain ?? '', version: o.version ?? 0 })),
    producer: { name: model.producerName ?? '', version: model.producerVersion ?? '' },
    graphName: graph.name ?? '',
    inputs,
    outputs,
    nodeCount,
    ops: sortedOps,
    parameters: { count: parameterCount, bytes: parameterBytes },
    initializersByDtype,
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key ?? '', p.value ?? ''])),
    flags: {
      dynamicInputs: inputs
        .filter((i) => i.shape === null || i.shape.some((d) => typeof d !== 'number'))
        .map((i) => i.name),
      transposeCount: ops['Transpose'] ?? 0,
      customDomains: [...customDomains].sort(),
      quantization: quantizationKind(sortedOps, initializersByDtype, castsToFloat16, quantizeBits),
      externalData,
      hasSubgraphs,
    },
  };
}

function formatShape(shape: OnnxTensorSignature['shape']): string {
  if (shape === null) return '(unknown shape)';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** The human summary printed by `edgezoo inspect` (lines, no trailing newline). */
export function describeOnnxSummary(summary: OnnxSummary): string[] {
  const lines: string[] = [];
  const opsets = summary.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  lines.push(`ONNX model, IR version ${summary.irVersion ?? '?'}, opsets: ${opsets || 'none'}`);
  const producer = [summary.producer.name, summary.producer.version].filter(Boolean).join(' ');
  if (producer) lines.push(`producer: ${producer}`);
  lines.push('inputs:');
  for (const i of summary.inputs)
    lines.push(`  ${i.name}: ${i.dtype} ${formatShape(i.shape)}${i.likelyLayout ? ` (likely ${i.likelyLayout})` : ''}`);
  lines.push('outputs:');
  for (const o of summary.outputs) lines.push(`  ${o.name}: ${o.dtype} ${formatShape(o.shape)}`);
  lines.push(`nodes: ${summary.nodeCount}`);
  lines.push(
    `ops: ${
      Object.entries(summary.ops)
        .map(([op, n]) => `${op} ${n}`)
        .join(', ') || 'none'
    }`,
  );
  lines.push(
    `parameters: ${summary.parameters.count.toLocaleString('en-US')} (${formatBytes(summary.parameters.bytes)})`,
  );
  for (const [dtype, entry] of Object.entries(summary.initializersByDtype)) {
    lines.push(
      `  ${dtype}: ${entry.tensors} tensors, ${entry.elements.toLocaleString('en-US')} values, ${formatBytes(entry.bytes)}`,
    );
  }
  const flags = summary.flags;
  lines.push(`quantization: ${flags.quantization}`);
  lines.push(`dynamic inputs: ${flags.dynamicInputs.length ? flags.dynamicInputs.join(', ') : 'none'}`);
  lines.push(`Transpose ops: ${flags.transposeCount}`);
  if (flags.customDomains.length) lines.push(`custom op domains: ${flags.customDomains.join(', ')}`);
  if (flags.externalData) lines.push('weights: stored in external data');
  if (flags.hasSubgraphs) lines.push('control flow: has subgraphs (If/Loop/Scan)');
  const metadata = Object.entries(summary.metadata);
  if (metadata.length) {
    lines.push('metadata:');
    for (const [key, value] of metadata) lines.push(`  ${key}: ${value}`);
  }
  return lines;
}
