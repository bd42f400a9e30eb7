/**
 * Graph clean-ups that keep a model's meaning but spare a converter a construct it gets wrong.
 * Pure like ./patch.ts: each takes a model and returns a new one (plus what it changed), never
 * changing its input. Converter backends apply them by name from a strategy's options.
 */
import { OnnxPatchError } from './errors.js';
import {
  AttributeProto_AttributeType,
  TensorProto_DataType,
  newAttributeProto,
  newNodeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.generated.js';
import { cloneModel } from './patch.js';
import { tensorFromArray, tensorValues } from './tensor.js';

/** What a rewrite did: the model after it and one line per node it changed (empty: nothing to do). */
export interface GraphRewriteResult {
  model: ModelProto;
  changes: string[];
}

/**
 * Ends at or above this are "to the end of the axis" whatever the axis' size: exporters write
 * INT64_MAX (PyTorch, onnxsim's fusions) or INT32_MAX (tf2onnx, older exporters).
 */
const OPEN_END = 2 ** 31 - 1;

/**
 * Drops the axes of each Slice that select a whole axis (start 0, open end, step 1), and turns a
 * Slice left with no axis into an Identity. Such axes change nothing, but converters that move
 * axes (onnx2tf's channels-last transposes) may re-target them: onnx2tf 1.29 applied Silero VAD's
 * fused STFT slices (`axes` [0,1,2], two of them no-op) to the wrong axis and got a zero-length
 * tensor. Slices whose starts/ends/axes/steps are not constants are left alone.
 */
export function dropNoopSliceAxes(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const taken = new Set<string>();
  const visit = (graph: GraphProto) => {
    for (const name of graph.initializer.map((t) => t.name ?? '')) taken.add(name);
    for (const node of graph.node) for (const output of node.output) taken.add(output);
    const constants = constantsOf(graph);
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      if (node.opType === 'Slice' && (node.domain ?? '') === '') {
        const change = cleanSlice(node, graph, constants, taken);
        if (change) changes.push(change);
      }
    }
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

/** Constant tensors of a graph by name: initializers and Constant nodes' `value`. */
function constantsOf(graph: GraphProto): Map<string, TensorProto> {
  const constants = new Map<string, TensorProto>();
  for (const tensor of graph.initializer) if (tensor.name) constants.set(tensor.name, tensor);
  for (const node of graph.node) {
    if (node.opType !== 'Constant' || node.output.length !== 1) continue;
    const value = node.attribute.find((a) => a.name === 'value' && a.t);
    if (value?.t) constants.set(node.output[0]!, value.t);
  }
  return constants;
}

function readInts(tensor: TensorProto | undefined): number[] | undefined {
  if (!tensor) return undefined;
  const type = tensor.dataType;
  if (type !== TensorProto_DataType.INT64 && type !== TensorProto_DataType.INT32) return undefined;
  return tensorValues(tensor);
}

function isNoop(start: number, end: number, step: number): boolean {
  return start === 0 && end >= OPEN_END && step === 1;
}

/** Rewrites one Slice in place (opset >= 10 inputs or opset-1 attributes); the change line or undefined. */
function cleanSlice(
  node: NodeProto,
  graph: GraphProto,
  constants: Map<string, TensorProto>,
  taken: Set<string>,
): string | undefined {
  const label = node.name || node.output[0] || 'Slice';
  // Opset 1-9: starts, ends and axes are attributes.
  if (node.input.length === 1) {
    const ints = (name: string) => node.attribute.find((a) => a.name === name)?.ints.map(Number);
    const starts = ints('starts');
    const ends = ints('ends');
    if (!starts || !ends || starts.length !== ends.length) return undefined;
    const axes = ints('axes') ?? starts.map((_, i) => i);
    const keep = starts.map((_, i) => i).filter((i) => !isNoop(starts[i]!, ends[i]!, 1));
    if (keep.length === starts.length) return undefined;
    if (keep.length === 0) return toIdentity(node, label);
    node.attribute = node.attribute.filter((a) => !['starts', 'ends', 'axes'].includes(a.name ?? ''));
    for (const [name, values] of [
      ['starts', keep.map((i) => starts[i]!)],
      ['ends', keep.map((i) => ends[i]!)],
      ['axes', keep.map((i) => axes[i]!)],
    ] as const)
      node.attribute.push(newAttributeProto({ name, type: AttributeProto_AttributeType.INTS, ints: [...values] }));
    return `${label}: axes [${axes.join(', ')}] -> [${keep.map((i) => axes[i]).join(', ')}]`;
  }
  const [, startsName, endsName, axesName, stepsName] = node.input;
  const starts = readInts(constants.get(startsName ?? ''));
  const ends = readInts(constants.get(endsName ?? ''));
  if (!starts || !ends || starts.length !== ends.length) return undefined;
  const axesGiven = axesName !== undefined && axesName !== '';
  const stepsGiven = stepsName !== undefined && stepsName !== '';
  const axes = axesGiven ? readInts(constants.get(axesName)) : starts.map((_, i) => i);
  const steps = stepsGiven ? readInts(constants.get(stepsName)) : starts.map(() => 1);
  if (!axes || !steps || axes.length !== starts.length || steps.length !== starts.length) return undefined;
  const keep = starts.map((_, i) => i).filter((i) => !isNoop(starts[i]!, ends[i]!, steps[i]!));
  if (keep.length === starts.length) return undefined;
  if (keep.length === 0) return toIdentity(node, label);
  // New constants: the old ones may feed other nodes.
  const addConstant = (base: string, values: number[], like: TensorProto) => {
    let name = `${base}_kept`;
    for (let i = 2; taken.has(name); i++) name = `${base}_kept_${i}`;
    taken.add(name);
    const int64 = like.dataType === TensorProto_DataType.INT64;
    const data = int64 ? BigInt64Array.from(values.map((v) => BigInt(clampInt64(v)))) : Int32Array.from(values);
    graph.initializer.push(tensorFromArray(name, data, [values.length]));
    return name;
  };
  const like = constants.get(startsName!)!;
  node.input = [
    node.input[0]!,
    addConstant(
      startsName!,
      keep.map((i) => starts[i]!),
      like,
    ),
    addConstant(
      endsName!,
      keep.map((i) => ends[i]!),
      constants.get(endsName!)!,
    ),
    addConstant(
      axesGiven ? axesName : `${label}_axes`,
      keep.map((i) => axes[i]!),
      like,
    ),
    addConstant(
      stepsGiven ? stepsName : `${label}_steps`,
      keep.map((i) => steps[i]!),
      like,
    ),
  ];
  return `${label}: axes [${axes.join(', ')}] -> [${keep.map((i) => axes[i]).join(', ')}]`;
}

/** A value read as a JS number may be INT64_MAX rounded up past the int64 range: bring it back in. */
function clampInt64(value: number): bigint {
  const max = 2n ** 63n - 1n;
  const min = -(2n ** 63n);
  const big = BigInt(Math.trunc(value));
  return big > max ? max : big < min ? min : big;
}

function toIdentity(node: NodeProto, label: string): string {
  node.opType = 'Identity';
  node.input = [node.input[0]!];
  node.attribute = [];
  return `${label}: every axis selected whole -> Identity`;
}

/** The element type of each tensor a graph declares (inputs, outputs, value_info, initializers). */
function declaredTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const value of [...graph.input, ...graph.output, ...graph.valueInfo]) {
    const elemType = value.type?.tensorType?.elemType;
    if (value.name && elemType !== undefined) types.set(value.name, elemType);
  }
  for (const tensor of graph.initializer)
    if (tensor.name && tensor.dataType !== undefined) types.set(tensor.name, tensor.dataType);
  return types;
}

const FLOAT_TYPES = new Set<number>([
  TensorProto_DataType.FLOAT,
  TensorProto_DataType.FLOAT16,
  TensorProto_DataType.DOUBLE,
  TensorProto_DataType.BFLOAT16,
]);

/**
 * Replaces each float `Mod` (which ONNX requires to be `fmod=1`: the remainder takes the sign of
 * the dividend, as C's fmod) with `x - y * trunc(x / y)`, trunc(q) = Sign(q) * Floor(Abs(q)).
 * onnx2tf 1.29 lowers every Mod to TensorFlow's floor-mod (the sign of the divisor), so mixed
 * signs came out wrong (fmod(-4.3, 2.1) = -0.1 became 2.0). Mods whose input type the graph
 * does not declare are left alone.
 */
export function decomposeFloatMod(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const taken = new Set<string>();
  const collect = (graph: GraphProto) => {
    for (const name of [...graph.input, ...graph.valueInfo].map((v) => v.name ?? '')) taken.add(name);
    for (const name of graph.initializer.map((t) => t.name ?? '')) taken.add(name);
    for (const node of graph.node) {
      for (const output of node.output) taken.add(output);
      if (node.name) taken.add(node.name);
    }
  };
  const unique = (base: string) => {
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const visit = (graph: GraphProto) => {
    collect(graph);
    const types = declaredTypes(graph);
    const nodes: NodeProto[] = [];
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      const [x, y] = node.input;
      const type = types.get(x ?? '') ?? types.get(node.output[0] ?? '');
      if (
        node.opType !== 'Mod' ||
        (node.domain ?? '') !== '' ||
        !x ||
        !y ||
        type === undefined ||
        !FLOAT_TYPES.has(type)
      ) {
        nodes.push(node);
        continue;
      }
      const label = node.name || node.output[0] || 'Mod';
      const t = (what: string) => unique(`${label}/${what}`);
      const [q, a, f, s, tr, p] = ['quotient', 'abs', 'floor', 'sign', 'trunc', 'product'].map(t);
      const make = (opType: string, input: string[], output: string) =>
        newNodeProto({ opType, input, output: [output], name: unique(`${label}/${opType}`) });
      nodes.push(
        make('Div', [x, y], q!),
        make('Abs', [q!], a!),
        make('Floor', [a!], f!),
        make('Sign', [q!], s!),
        make('Mul', [s!, f!], tr!),
        make('Mul', [tr!, y], p!),
        make('Sub', [x, p!], node.output[0]!),
      );
      changes.push(`${label}: Mod(fmod=1) -> x - y * trunc(x / y)`);
    }
    graph.node = nodes;
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}
