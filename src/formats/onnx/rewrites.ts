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
import { elementCount, tensorFromArray, tensorValues } from './tensor.js';

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
 * Fresh names for what a rewrite adds: `collect` takes every name a graph uses (inputs, outputs,
 * value_info, initializers, node outputs and node names; call it for each subgraph visited), and
 * `unique(base)` returns `base`, else `base_2`, `base_3`..., never one taken.
 */
function nameAllocator(): { collect(graph: GraphProto): void; unique(base: string): string } {
  const taken = new Set<string>();
  return {
    collect(graph) {
      for (const value of [...graph.input, ...graph.output, ...graph.valueInfo]) taken.add(value.name ?? '');
      for (const tensor of graph.initializer) taken.add(tensor.name ?? '');
      for (const node of graph.node) {
        for (const output of node.output) taken.add(output);
        if (node.name) taken.add(node.name);
      }
    },
    unique(base) {
      let name = base;
      for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
      taken.add(name);
      return name;
    },
  };
}

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
  const { collect, unique } = nameAllocator();
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

/** Emits the nodes of one decomposition: `op(inputs) -> fresh tensor`, constants by value. */
interface MathBuilder {
  op(opType: string, ...inputs: string[]): string;
  /** A scalar constant of the node's float type. */
  constant(value: number): string;
}

/**
 * Unary float ops with a closed form in ops every converter lowers to builtins (Exp, Log, Sqrt,
 * Sin, Cos, Abs, Sign, Atan and arithmetic): TFLite has no kernel for these, so onnx2tf 1.29
 * leaves Sinh, Cosh, Tan, Softsign as Flex ops and cannot convert Asinh, Acosh, Atanh, Asin,
 * Acos at all.
 * Each decomposition returns the tensor that replaces the node's output.
 */
const BUILTIN_MATH: Readonly<Record<string, (x: string, b: MathBuilder) => string>> = {
  // (e^x - e^-x) / 2 and (e^x + e^-x) / 2
  Sinh: (x, b) => b.op('Mul', b.op('Sub', b.op('Exp', x), b.op('Exp', b.op('Neg', x))), b.constant(0.5)),
  Cosh: (x, b) => b.op('Mul', b.op('Add', b.op('Exp', x), b.op('Exp', b.op('Neg', x))), b.constant(0.5)),
  Tan: (x, b) => b.op('Div', b.op('Sin', x), b.op('Cos', x)),
  // sign(x) * ln(|x| + sqrt(x^2 + 1)): odd, so no cancellation for large negative x.
  Asinh: (x, b) => {
    const a = b.op('Abs', x);
    const root = b.op('Sqrt', b.op('Add', b.op('Mul', a, a), b.constant(1)));
    return b.op('Mul', b.op('Sign', x), b.op('Log', b.op('Add', a, root)));
  },
  // ln(x + sqrt((x - 1)(x + 1))) for x >= 1
  Acosh: (x, b) => {
    const root = b.op('Sqrt', b.op('Mul', b.op('Sub', x, b.constant(1)), b.op('Add', x, b.constant(1))));
    return b.op('Log', b.op('Add', x, root));
  },
  // ln((1 + x) / (1 - x)) / 2
  Atanh: (x, b) =>
    b.op(
      'Mul',
      b.op('Log', b.op('Div', b.op('Add', b.constant(1), x), b.op('Sub', b.constant(1), x))),
      b.constant(0.5),
    ),
  Softsign: (x, b) => b.op('Div', x, b.op('Add', b.op('Abs', x), b.constant(1))),
  // atan(x / sqrt((1 - x)(1 + x))): +-1 divide to +-inf and give +-pi/2. Atan itself has a
  // builtin form (onnx2tf's pseudo Atan is ATAN2(x, 1)); onnx2tf's own pseudo Asin and Acos
  // are polynomial fits that give NaN at 0 (0 / |0|).
  Asin: (x, b) =>
    b.op(
      'Atan',
      b.op('Div', x, b.op('Sqrt', b.op('Mul', b.op('Sub', b.constant(1), x), b.op('Add', b.constant(1), x)))),
    ),
  // 2 atan(sqrt((1 - x) / (1 + x))): exact near 1 (where pi/2 - asin(x) cancels); -1 gives pi.
  Acos: (x, b) =>
    b.op(
      'Mul',
      b.op('Atan', b.op('Sqrt', b.op('Div', b.op('Sub', b.constant(1), x), b.op('Add', b.constant(1), x)))),
      b.constant(2),
    ),
};

/** The op types `decomposeToBuiltinMath` rewrites. */
export const BUILTIN_MATH_OPS: readonly string[] = Object.keys(BUILTIN_MATH);

/**
 * Replaces each Sinh, Cosh, Tan, Asinh, Acosh, Atanh, Softsign, Asin and Acos with the same
 * function in elementary ops and Atan (see BUILTIN_MATH), so a converter targeting a runtime
 * without those kernels (TFLite builtins) needs no Flex op. Constants take the type the graph declares for the op's
 * input, float32 when it declares none; nodes on float16 or double tensors get constants of
 * that type only for float32 and float16 (double is left alone).
 */
export function decomposeToBuiltinMath(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const { collect, unique } = nameAllocator();
  const visit = (graph: GraphProto) => {
    collect(graph);
    const types = declaredTypes(graph);
    const nodes: NodeProto[] = [];
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      const decompose = BUILTIN_MATH[node.opType ?? ''];
      const x = node.input[0];
      const y = node.output[0];
      const type = types.get(x ?? '') ?? types.get(y ?? '') ?? TensorProto_DataType.FLOAT;
      if (
        !decompose ||
        (node.domain ?? '') !== '' ||
        !x ||
        !y ||
        (type !== TensorProto_DataType.FLOAT && type !== TensorProto_DataType.FLOAT16)
      ) {
        nodes.push(node);
        continue;
      }
      const label = node.name || y;
      const emitted: NodeProto[] = [];
      const builder: MathBuilder = {
        op(opType, ...inputs) {
          const output = unique(`${label}/${opType}_out`);
          emitted.push(newNodeProto({ opType, input: inputs, output: [output], name: unique(`${label}/${opType}`) }));
          return output;
        },
        constant(value) {
          const name = unique(`${label}/const`);
          const data =
            type === TensorProto_DataType.FLOAT16 ? Uint16Array.of(float16Bits(value)) : Float32Array.of(value);
          graph.initializer.push(tensorFromArray(name, data, [], type));
          return name;
        },
      };
      const last = decompose(x, builder);
      // The last node writes the op's own output tensor, so consumers and graph outputs keep their names.
      const producer = emitted.find((n) => n.output[0] === last)!;
      producer.output = [y];
      nodes.push(...emitted);
      changes.push(`${label}: ${node.opType} -> ${emitted.map((n) => n.opType).join(', ')}`);
    }
    graph.node = nodes;
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

/** IEEE half-precision bits of a small constant (exact for the constants above: 0.5, 1). */
function float16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = (bits >>> 13) & 0x3ff;
  if (value === 0) return sign;
  return sign | (exponent << 10) | mantissa;
}

/** Ops whose every output is int64 or bool whatever their inputs. */
const INT64_OUTPUT_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);
const BOOL_OUTPUT_OPS = new Set([
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);

/**
 * The element type of each tensor of a graph that its declarations or a forward pass over its
 * nodes tell: declared types first (inputs, outputs, value_info, initializers), else the type an
 * op's schema fixes (Cast's `to`, Shape's int64, Equal's bool, Constant's tensor), else the
 * type of the op's first typed input (elementwise ops, Reshape, Gather...: only output 0).
 * Tensors of the enclosing graphs are visible through `outer`.
 */
export function inferElementTypes(
  graph: GraphProto,
  outer: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const types = new Map(outer);
  for (const [name, type] of declaredTypes(graph)) types.set(name, type);
  const attributeOf = (node: NodeProto, name: string) => node.attribute.find((a) => a.name === name);
  for (const node of graph.node) {
    const opType = node.opType ?? '';
    const inputType = (index: number) => types.get(node.input[index] ?? '');
    let type: number | undefined;
    if ((node.domain ?? '') !== '') type = undefined;
    else if (opType === 'Cast') type = Number(attributeOf(node, 'to')?.i ?? 0) || undefined;
    else if (opType === 'CastLike') type = inputType(1);
    else if (INT64_OUTPUT_OPS.has(opType)) type = TensorProto_DataType.INT64;
    else if (BOOL_OUTPUT_OPS.has(opType)) type = TensorProto_DataType.BOOL;
    else if (opType === 'Constant') {
      const value = node.attribute.find((a) => a.name?.startsWith('value'));
      type = value?.t
        ? value.t.dataType
        : value?.name === 'value_float' || value?.name === 'value_floats'
          ? TensorProto_DataType.FLOAT
          : value?.name === 'value_int' || value?.name === 'value_ints'
            ? TensorProto_DataType.INT64
            : undefined;
    } else if (opType === 'ConstantOfShape')
      type = attributeOf(node, 'value')?.t?.dataType ?? TensorProto_DataType.FLOAT;
    else if (opType === 'Where') type = inputType(1) ?? inputType(2);
    else type = node.input.map((name) => types.get(name)).find((t) => t !== undefined);
    if (type === undefined) continue;
    const outputs = opType === 'Split' ? node.output : node.output.slice(0, 1);
    for (const output of outputs) if (output && !types.has(output)) types.set(output, type);
  }
  return types;
}

/**
 * Replaces each CastLike whose target's element type is known (see `inferElementTypes`) with a
 * Cast to that type. onnx2tf 1.29 has no CastLike at all (opset 15; the function bodies of
 * Gelu, LeakyRelu, HardSwish... expanded by exporters use it); a Cast is the same computation.
 */
export function castLikeToCast(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const visit = (graph: GraphProto, outer: ReadonlyMap<string, number>) => {
    const types = inferElementTypes(graph, outer);
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g, types);
        for (const sub of attribute.graphs) visit(sub, types);
      }
      if (node.opType !== 'CastLike' || (node.domain ?? '') !== '') continue;
      const type = types.get(node.input[1] ?? '');
      if (type === undefined) continue;
      const label = node.name || node.output[0] || 'CastLike';
      node.opType = 'Cast';
      node.input = [node.input[0]!];
      // CastLike's only attribute (saturate, opset 19) is Cast's too.
      node.attribute = [
        ...node.attribute.filter((a) => a.name === 'saturate'),
        newAttributeProto({ name: 'to', type: AttributeProto_AttributeType.INT, i: type }),
      ];
      changes.push(`${label}: CastLike -> Cast(to=${type})`);
    }
  };
  visit(result.graph, new Map());
  return { model: changes.length > 0 ? result : model, changes };
}

/**
 * Replaces each Clip whose min or max is computed at run time (not an initializer or a
 * Constant) with Max(x, min) then Min(., max), the same function. onnx2tf 1.29 wraps a tensor
 * bound in a numpy array and clips by garbage (test_clip: max abs error 1.55). Clips with
 * constant bounds, and the attribute form of opset < 11, are left alone.
 */
export function decomposeDynamicClip(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const { collect, unique } = nameAllocator();
  const visit = (graph: GraphProto) => {
    collect(graph);
    const constants = constantsOf(graph);
    const nodes: NodeProto[] = [];
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      const [x, low, high] = node.input;
      const given = (name: string | undefined): name is string => name !== undefined && name !== '';
      const dynamic = [low, high].some((bound) => given(bound) && !constants.has(bound));
      if (node.opType !== 'Clip' || (node.domain ?? '') !== '' || !x || !dynamic) {
        nodes.push(node);
        continue;
      }
      const label = node.name || node.output[0] || 'Clip';
      let current = x;
      const steps: Array<[string, string]> = [];
      if (given(low)) steps.push(['Max', low]);
      if (given(high)) steps.push(['Min', high]);
      steps.forEach(([opType, bound], index) => {
        const output = index === steps.length - 1 ? node.output[0]! : unique(`${label}/${opType}_out`);
        nodes.push(
          newNodeProto({ opType, input: [current, bound], output: [output], name: unique(`${label}/${opType}`) }),
        );
        current = output;
      });
      changes.push(`${label}: Clip with run-time bounds -> ${steps.map(([opType]) => opType).join(', ')}`);
    }
    graph.node = nodes;
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

/**
 * Gives each Conv and ConvTranspose without a `kernel_shape` attribute the one its constant
 * weight implies (the weight's dims after the first two). The attribute is optional in ONNX,
 * but onnx2tf 1.29 reads the kernel rank from it: without it ConvTranspose stopped with "axes
 * don't match array". Nodes whose weight is not a constant are left alone.
 */
export function explicitKernelShape(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const visit = (graph: GraphProto) => {
    const constants = constantsOf(graph);
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      if ((node.opType !== 'Conv' && node.opType !== 'ConvTranspose') || (node.domain ?? '') !== '') continue;
      if (node.attribute.some((a) => a.name === 'kernel_shape')) continue;
      const weight = constants.get(node.input[1] ?? '');
      if (!weight || weight.dims.length < 3) continue;
      const kernel = weight.dims.slice(2).map(Number);
      node.attribute.push(
        newAttributeProto({ name: 'kernel_shape', type: AttributeProto_AttributeType.INTS, ints: kernel }),
      );
      changes.push(
        `${node.name || node.output[0] || node.opType}: kernel_shape [${kernel.join(', ')}] from its weight`,
      );
    }
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

/** Where each recurrent op takes its initial states (ONNX input indices). */
const RECURRENT_STATES: Readonly<Record<string, readonly number[]>> = { LSTM: [5, 6], GRU: [5], RNN: [5] };

/** Gates per recurrent op: B holds 2 x gates x hidden_size values per direction. */
const RECURRENT_GATES: Readonly<Record<string, number>> = { LSTM: 4, GRU: 3, RNN: 1 };

/**
 * Gives each LSTM, GRU and RNN without initial states (`initial_h`, and `initial_c` of an LSTM)
 * explicit zero ones, which is what ONNX means by leaving them out. onnx2tf 1.29 stops on a
 * recurrent op without them ("An `initial_state` was passed that is not compatible with
 * `cell.state_size`"), whatever its options. Needs the static batch size of the op's input `X`
 * (the op is left alone otherwise). A missing bias `B` becomes explicit zeros too, so no empty
 * input name is left before the states.
 */
export function explicitRecurrentStates(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const graph = result.graph;
  const changes: string[] = [];
  const shapes = declaredShapes(graph);
  const names = nameAllocator();
  names.collect(graph);
  for (const node of graph.node) {
    const slots = RECURRENT_STATES[node.opType ?? ''];
    if (!slots || (node.domain ?? '') !== '') continue;
    const missing = slots.filter((slot: number) => !node.input[slot]);
    if (missing.length === 0) continue;
    const x =
      shapes.get(node.input[0] ?? '') ?? graph.initializer.find((t) => t.name === node.input[0])?.dims.map(Number);
    const hidden = Number(node.attribute.find((a) => a.name === 'hidden_size')?.i ?? 0);
    if (x?.length !== 3 || hidden <= 0) continue;
    const layout = Number(node.attribute.find((a) => a.name === 'layout')?.i ?? 0);
    const direction = new TextDecoder().decode(
      node.attribute.find((a) => a.name === 'direction')?.s ?? new Uint8Array(),
    );
    const directions = direction === 'bidirectional' ? 2 : 1;
    const batch = layout === 1 ? x[0]! : x[1]!;
    const shape = layout === 1 ? [batch, directions, hidden] : [directions, batch, hidden];
    const label = node.name || node.output[0] || node.opType;
    // Earlier optional inputs left out would stay '' before the states, and onnx2tf looks the
    // empty name up (KeyError: ''): a missing bias becomes explicit zeros too.
    if (!node.input[3]) {
      const name = names.unique(`${label}_B`);
      const width = RECURRENT_GATES[node.opType ?? '']! * 2 * hidden;
      graph.initializer.push(tensorFromArray(name, new Float32Array(directions * width), [directions, width]));
      while (node.input.length < 3) node.input.push('');
      node.input[3] = name;
      changes.push(`${label}: zero B [${directions}, ${width}] made explicit`);
    }
    for (const slot of missing) {
      const name = names.unique(`${label}_initial_${slot === 5 ? 'h' : 'c'}`);
      graph.initializer.push(tensorFromArray(name, new Float32Array(batch * directions * hidden), shape));
      while (node.input.length < slot) node.input.push('');
      node.input[slot] = name;
    }
    changes.push(
      `${label}: zero ${missing.map((s: number) => (s === 5 ? 'initial_h' : 'initial_c')).join(' and ')} [${shape.join(', ')}] made explicit`,
    );
  }
  return { model: changes.length > 0 ? result : model, changes };
}

/** Static dims of each tensor a graph declares (inputs, outputs, value_info) with every dim known. */
function declaredShapes(graph: GraphProto): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const value of [...graph.input, ...graph.output, ...graph.valueInfo]) {
    const dims = value.type?.tensorType?.shape?.dim;
    if (!value.name || !dims) continue;
    const numbers = dims.map((d) => (d.dimValue === undefined ? Number.NaN : Number(d.dimValue)));
    if (numbers.every((d) => Number.isInteger(d) && d > 0)) shapes.set(value.name, numbers);
  }
  return shapes;
}

const SAME_PAD_OPS = new Set(['Conv', 'AveragePool', 'MaxPool', 'LpPool']);

/**
 * Spells out `auto_pad` SAME_UPPER / SAME_LOWER of Conv and pooling nodes as explicit `pads`
 * computed from the input's declared static shape (ONNX's rule: output ceil(in / stride), the
 * odd pad at the end for SAME_UPPER, at the start for SAME_LOWER). onnx2tf 1.29 made a
 * SAME_LOWER pool [1, 33, 31, 3] instead of [1, 32, 32, 3]; with explicit pads it is exact.
 * Nodes whose input shape the graph does not declare are left alone.
 */
export function explicitSamePads(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const visit = (graph: GraphProto) => {
    const shapes = declaredShapes(graph);
    const constants = constantsOf(graph);
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      if (!SAME_PAD_OPS.has(node.opType ?? '') || (node.domain ?? '') !== '') continue;
      const autoPad = node.attribute.find((a) => a.name === 'auto_pad');
      const mode = autoPad?.s ? new TextDecoder().decode(autoPad.s) : '';
      if (mode !== 'SAME_UPPER' && mode !== 'SAME_LOWER') continue;
      const shape = shapes.get(node.input[0] ?? '');
      if (!shape || shape.length < 3) continue;
      const spatial = shape.slice(2);
      const ints = (name: string) => node.attribute.find((a) => a.name === name)?.ints.map(Number);
      const weight = node.opType === 'Conv' ? constants.get(node.input[1] ?? '') : undefined;
      const kernel = ints('kernel_shape') ?? weight?.dims.slice(2).map(Number);
      if (!kernel || kernel.length !== spatial.length) continue;
      const strides = ints('strides') ?? spatial.map(() => 1);
      const dilations = ints('dilations') ?? spatial.map(() => 1);
      const begins: number[] = [];
      const ends: number[] = [];
      spatial.forEach((size, i) => {
        const out = Math.ceil(size / strides[i]!);
        const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - size);
        const small = Math.floor(total / 2);
        begins.push(mode === 'SAME_UPPER' ? small : total - small);
        ends.push(mode === 'SAME_UPPER' ? total - small : small);
      });
      const pads = [...begins, ...ends];
      node.attribute = node.attribute.filter((a) => a.name !== 'auto_pad' && a.name !== 'pads');
      node.attribute.push(newAttributeProto({ name: 'pads', type: AttributeProto_AttributeType.INTS, ints: pads }));
      changes.push(`${node.name || node.output[0] || node.opType}: auto_pad ${mode} -> pads [${pads.join(', ')}]`);
    }
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

/**
 * Gives each Split that divides by `num_outputs` (opset 18) explicit `split` sizes, from the
 * input's declared static shape (ONNX's rule: ceil(dim / n) each, the last one smaller). onnx2tf
 * 1.29 splits evenly only ("tf.split" stopped on 7 into 3). Splits whose input shape the graph
 * does not declare are left alone.
 */
export function explicitSplitSizes(model: ModelProto): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const visit = (graph: GraphProto) => {
    const shapes = declaredShapes(graph);
    const names = nameAllocator();
    names.collect(graph);
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      if (node.opType !== 'Split' || (node.domain ?? '') !== '' || (node.input[1] ?? '') !== '') continue;
      const count = node.attribute.find((a) => a.name === 'num_outputs')?.i;
      const shape = shapes.get(node.input[0] ?? '');
      if (count === undefined || !shape) continue;
      const n = Number(count);
      const rawAxis = Number(node.attribute.find((a) => a.name === 'axis')?.i ?? 0);
      const axis = rawAxis < 0 ? rawAxis + shape.length : rawAxis;
      const dim = shape[axis];
      if (dim === undefined || n < 1) continue;
      const part = Math.ceil(dim / n);
      const sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(part, dim - i * part)));
      if (sizes.every((s) => s === part)) continue;
      const name = names.unique(`${node.name || node.output[0] || 'Split'}/split`);
      graph.initializer.push(tensorFromArray(name, BigInt64Array.from(sizes.map(BigInt)), [n]));
      node.input = [node.input[0]!, name];
      node.attribute = node.attribute.filter((a) => a.name !== 'num_outputs');
      changes.push(`${node.name || node.output[0] || 'Split'}: num_outputs ${n} -> split [${sizes.join(', ')}]`);
    }
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

/** Constant indices up to this many elements are flattened (a larger constant is left to the converter). */
const MAX_FLAT_GATHER_INDICES = 1 << 22;

/**
 * Replaces each GatherElements whose indices are a constant and whose data has a declared static
 * shape with a Gather from the flattened data: `Gather(Reshape(data, [-1]), flat, axis=0)`, where
 * `flat` (shaped like the indices) holds the row-major position in `data` of each element the
 * GatherElements picks. Exact, builtin in every runtime. onnx2tf 1.29 stopped on a GatherElements
 * with constant indices (the loss functions' gather of each target class: "Output tensors of a
 * Functional model must be the output of a TensorFlow Layer") or, without its accuracy
 * correction, gathered along the wrong axis of a channels-last tensor. Indices out of range are
 * left to the converter (ONNX makes them an error).
 */
export function gatherElementsAsGather(model: ModelProto): GraphRewriteResult {
  return replaceNodes(model, (node, graph, scope) =>
    node.opType === 'GatherElements' && (node.domain ?? '') === ''
      ? flatGather(node, graph, scope.shapes, scope.constants, scope.names)
      : undefined,
  );
}

/** What a graph offers a node replacement: declared static shapes (initializers too), element types, constants, fresh names. */
interface GraphScope {
  shapes: Map<string, number[]>;
  types: Map<string, number>;
  constants: Map<string, TensorProto>;
  names: ReturnType<typeof nameAllocator>;
}

/**
 * Replaces each node (of the graph and its subgraphs) for which `replace` returns new nodes,
 * in place in the node order; the input model is left unchanged.
 */
function replaceNodes(
  model: ModelProto,
  replace: (
    node: NodeProto,
    graph: GraphProto,
    scope: GraphScope,
  ) => { nodes: NodeProto[]; change: string } | undefined,
): GraphRewriteResult {
  const result = cloneModel(model);
  if (!result.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  const changes: string[] = [];
  const visit = (graph: GraphProto) => {
    const shapes = declaredShapes(graph);
    for (const tensor of graph.initializer) if (tensor.name) shapes.set(tensor.name, tensor.dims.map(Number));
    const names = nameAllocator();
    names.collect(graph);
    const scope: GraphScope = { shapes, types: declaredTypes(graph), constants: constantsOf(graph), names };
    const nodes: NodeProto[] = [];
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
      const replaced = replace(node, graph, scope);
      if (!replaced) {
        nodes.push(node);
        continue;
      }
      nodes.push(...replaced.nodes);
      changes.push(replaced.change);
    }
    graph.node = nodes;
  };
  visit(result.graph);
  return { model: changes.length > 0 ? result : model, changes };
}

function flatGather(
  node: NodeProto,
  graph: GraphProto,
  shapes: Map<string, number[]>,
  constants: Map<string, TensorProto>,
  names: ReturnType<typeof nameAllocator>,
): { nodes: NodeProto[]; change: string } | undefined {
  const [dataName, indicesName] = node.input;
  const data = shapes.get(dataName ?? '');
  const indicesTensor = constants.get(indicesName ?? '');
  const indices = readInts(indicesTensor);
  if (!data || data.length === 0 || !indicesTensor || !indices || node.output.length !== 1) return undefined;
  const indexDims = indicesTensor.dims.map(Number);
  // Positions are int32: a larger data tensor keeps its GatherElements.
  if (indices.length > MAX_FLAT_GATHER_INDICES || elementCount(data) >= 2 ** 31) return undefined;
  const placed = elementPositions(node, data, indexDims, indices);
  if (!placed) return undefined;
  const { positions, axis } = placed;
  const flat = Int32Array.from(positions);
  const label = node.name || node.output[0] || 'GatherElements';
  const shapeName = names.unique(`${label}/flat_shape`);
  const flatName = names.unique(`${label}/flat_indices`);
  const flattened = names.unique(`${label}/flat_data`);
  graph.initializer.push(tensorFromArray(shapeName, BigInt64Array.from([-1n]), [1]));
  graph.initializer.push(tensorFromArray(flatName, flat, indexDims));
  const nodes = [
    newNodeProto({
      name: names.unique(`${label}/flatten`),
      opType: 'Reshape',
      input: [dataName!, shapeName],
      output: [flattened],
    }),
    newNodeProto({
      name: names.unique(`${label}/gather`),
      opType: 'Gather',
      input: [flattened, flatName],
      output: [node.output[0]!],
      attribute: [newAttributeProto({ name: 'axis', type: AttributeProto_AttributeType.INT, i: 0 })],
    }),
  ];
  return {
    nodes,
    change: `${label}: GatherElements on axis ${axis} of [${data.join(', ')}] -> Gather of ${indices.length} flat positions`,
  };
}

/**
 * The row-major position in `data` of each element a GatherElements or ScatterElements with
 * constant `indices` (shaped `indexDims`, on the node's `axis`) addresses: the element's own
 * coordinates, with the axis one taken from the index (negative ones counted from the end).
 * Undefined when the axis or an index is out of range or the ranks differ.
 */
function elementPositions(
  node: NodeProto,
  data: readonly number[],
  indexDims: readonly number[],
  indices: readonly number[],
): { positions: number[]; axis: number } | undefined {
  if (indexDims.length !== data.length) return undefined;
  const rawAxis = Number(node.attribute.find((a) => a.name === 'axis')?.i ?? 0);
  const axis = rawAxis < 0 ? rawAxis + data.length : rawAxis;
  if (axis < 0 || axis >= data.length) return undefined;
  const strides = data.map((_, d) => elementCount(data.slice(d + 1)));
  const indexStrides = indexDims.map((_, d) => elementCount(indexDims.slice(d + 1)));
  const positions: number[] = [];
  for (let i = 0; i < indices.length; i++) {
    let position = 0;
    for (let d = 0; d < data.length; d++) {
      const raw = d === axis ? indices[i]! : Math.floor(i / indexStrides[d]!) % indexDims[d]!;
      const coordinate = raw < 0 ? raw + data[d]! : raw;
      if (coordinate < 0 || coordinate >= data[d]!) return undefined;
      position += coordinate * strides[d]!;
    }
    positions.push(position);
  }
  return { positions, axis };
}

/**
 * What a rewrite uses to build the nodes that replace one node labelled `label`: `add` appends a
 * node (fresh `label/op` name and output) to `made` and returns its output; `constant` adds an
 * initializer to `graph` and returns its name.
 */
function nodeBuilder(
  graph: GraphProto,
  names: ReturnType<typeof nameAllocator>,
  label: string,
): {
  made: NodeProto[];
  add: (opType: string, input: string[], attributes?: ReturnType<typeof newAttributeProto>[]) => string;
  constant: (base: string, data: BigInt64Array | Float32Array, dims: number[]) => string;
} {
  const made: NodeProto[] = [];
  return {
    made,
    add(opType, input, attributes = []) {
      const output = names.unique(`${label}/${opType.toLowerCase()}`);
      made.push(
        newNodeProto({
          name: names.unique(`${label}/${opType}`),
          opType,
          input,
          output: [output],
          attribute: attributes,
        }),
      );
      return output;
    },
    constant(base, data, dims) {
      const name = names.unique(`${label}/${base}`);
      graph.initializer.push(tensorFromArray(name, data, dims));
      return name;
    },
  };
}

const SLICED_POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);

/** Pools with more window positions than this stay pools (the rewrite adds one Slice per position and axis). */
const MAX_SLICED_WINDOW = 16;

/**
 * Replaces each MaxPool, AveragePool and LpPool (float32, declared static input and output
 * shapes, one output) with builtin ops, one spatial axis at a time: Pad the axis (-inf for max,
 * 0 otherwise), take one strided Slice per window position (start j * dilation, step stride),
 * combine them with Max or Add; an AveragePool then divides by the count of each window (a
 * constant: per-axis counts multiply, with or without the padding as `count_include_pad` says),
 * an LpPool sums |x|^p and takes the p-th root. Pooling over a box is separable, so this is the
 * pool itself, for any rank, dilation, padding and ceil_mode. TFLite has no 3-D or dilated pool
 * kernel (onnx2tf made FlexMaxPool3D, FlexAvgPool3D, FlexDilation2D) and onnx2tf got a dilated
 * 2-D average pool's shape wrong. Pools whose output size does not come out as the graph declares
 * are left alone.
 */
export function poolsAsSlices(model: ModelProto): GraphRewriteResult {
  return replaceNodes(model, (node, graph, scope) =>
    SLICED_POOLS.has(node.opType ?? '') &&
    (node.domain ?? '') === '' &&
    scope.types.get(node.input[0] ?? '') === TensorProto_DataType.FLOAT
      ? slicedPool(node, graph, scope.shapes, scope.names)
      : undefined,
  );
}

function slicedPool(
  node: NodeProto,
  graph: GraphProto,
  shapes: Map<string, number[]>,
  names: ReturnType<typeof nameAllocator>,
): { nodes: NodeProto[]; change: string } | undefined {
  if (node.output.filter((o) => o !== '').length !== 1) return undefined;
  const shape = shapes.get(node.input[0] ?? '');
  const declaredOut = shapes.get(node.output[0] ?? '');
  if (!shape || shape.length < 3 || !declaredOut || declaredOut.length !== shape.length) return undefined;
  const spatial = shape.slice(2);
  const n = spatial.length;
  const ints = (name: string) => node.attribute.find((a) => a.name === name)?.ints.map(Number);
  const int = (name: string, fallback: number) => Number(node.attribute.find((a) => a.name === name)?.i ?? fallback);
  const kernel = ints('kernel_shape');
  if (!kernel || kernel.length !== n) return undefined;
  const strides = ints('strides') ?? kernel.map(() => 1);
  const dilations = ints('dilations') ?? kernel.map(() => 1);
  const autoPadAttribute = node.attribute.find((a) => a.name === 'auto_pad');
  const autoPad = autoPadAttribute?.s ? new TextDecoder().decode(autoPadAttribute.s) : 'NOTSET';
  const ceil = int('ceil_mode', 0) === 1;
  const includePad = int('count_include_pad', 0) === 1;
  const p = int('p', 2);
  const kind = node.opType as 'MaxPool' | 'AveragePool' | 'LpPool';
  if (strides.length !== n || dilations.length !== n || p < 1) return undefined;
  if (kernel.reduce((a, b) => a + b, 0) > MAX_SLICED_WINDOW * n) return undefined;
  const begins: number[] = [];
  const ends: number[] = [];
  const outs: number[] = [];
  for (let i = 0; i < n; i++) {
    const size = spatial[i]!;
    const extent = (kernel[i]! - 1) * dilations[i]! + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const out = Math.ceil(size / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + extent - size);
      const small = Math.floor(total / 2);
      begins.push(autoPad === 'SAME_UPPER' ? small : total - small);
      ends.push(autoPad === 'SAME_UPPER' ? total - small : small);
      outs.push(out);
      continue;
    }
    const pads = autoPad === 'VALID' ? undefined : ints('pads');
    const begin = pads?.[i] ?? 0;
    const end = pads?.[i + n] ?? 0;
    const span = size + begin + end - extent;
    if (span < 0) return undefined;
    let out = (ceil ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1;
    // The last window must start inside the input or its leading padding.
    if (ceil && (out - 1) * strides[i]! >= size + begin) out -= 1;
    begins.push(begin);
    ends.push(end);
    outs.push(out);
  }
  if (outs.some((o, i) => o !== declaredOut[i + 2])) return undefined;
  const label = node.name || node.output[0] || kind;
  const { made, add, constant } = nodeBuilder(graph, names, label);
  let current = node.input[0]!;
  if (kind === 'LpPool') current = add('Pow', [add('Abs', [current]), constant('p', Float32Array.of(p), [])]);
  const rank = shape.length;
  for (let i = 0; i < n; i++) {
    const axis = i + 2;
    const size = spatial[i]!;
    const needed = (outs[i]! - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
    const padEnd = Math.max(0, needed - size - begins[i]!);
    if (begins[i]! > 0 || padEnd > 0) {
      const pads = new BigInt64Array(rank * 2);
      pads[axis] = BigInt(begins[i]!);
      pads[axis + rank] = BigInt(padEnd);
      const fill = constant('pad_value', Float32Array.of(kind === 'MaxPool' ? Number.NEGATIVE_INFINITY : 0), []);
      current = add('Pad', [current, constant('pads', pads, [rank * 2]), fill]);
    }
    const axes = constant('axis', BigInt64Array.of(BigInt(axis)), [1]);
    const step = constant('stride', BigInt64Array.of(BigInt(strides[i]!)), [1]);
    const taps: string[] = [];
    for (let j = 0; j < kernel[i]!; j++) {
      const start = j * dilations[i]!;
      taps.push(
        add('Slice', [
          current,
          constant('start', BigInt64Array.of(BigInt(start)), [1]),
          constant('end', BigInt64Array.of(BigInt(start + (outs[i]! - 1) * strides[i]! + 1)), [1]),
          axes,
          step,
        ]),
      );
    }
    current = taps.reduce((a, b) => add(kind === 'MaxPool' ? 'Max' : 'Add', [a, b]));
  }
  if (kind === 'AveragePool') {
    // Per-axis window counts multiply: the valid part of a box window is a box.
    let counts = [1];
    for (let i = 0; i < n; i++) {
      const low = includePad ? -begins[i]! : 0;
      const high = includePad ? spatial[i]! + ends[i]! : spatial[i]!;
      const axisCounts = Array.from({ length: outs[i]! }, (_, o) => {
        let count = 0;
        for (let j = 0; j < kernel[i]!; j++) {
          const position = o * strides[i]! - begins[i]! + j * dilations[i]!;
          if (position >= low && position < high) count++;
        }
        return count;
      });
      if (axisCounts.some((c) => c === 0)) return undefined;
      counts = counts.flatMap((c) => axisCounts.map((a) => c * a));
    }
    current = add('Div', [current, constant('counts', Float32Array.from(counts), [1, 1, ...outs])]);
  }
  if (kind === 'LpPool') current = add('Pow', [current, constant('inverse_p', Float32Array.of(1 / p), [])]);
  // The last node writes the pool's own output.
  made[made.length - 1]!.output = [node.output[0]!];
  return {
    nodes: made,
    change: `${label}: ${kind} ${kernel.join('x')} -> ${made.filter((m) => m.opType === 'Slice').length} Slices combined by ${kind === 'MaxPool' ? 'Max' : 'Add'}`,
  };
}

/** Scatter reductions and how each combines a value with the next update (and its identity). */
const SCATTER_REDUCTIONS: Readonly<Record<string, { op: string; identity: number }>> = {
  add: { op: 'Add', identity: 0 },
  mul: { op: 'Mul', identity: 1 },
  max: { op: 'Max', identity: Number.NEGATIVE_INFINITY },
  min: { op: 'Min', identity: Number.POSITIVE_INFINITY },
};

/** Scatters where one element receives more updates than this are left to the converter (one Gather per update). */
const MAX_SCATTER_UPDATES_PER_ELEMENT = 16;

/**
 * Replaces each ScatterND and ScatterElements with a `reduction` (add, mul, max, min) whose
 * indices are a constant, on float32 data with declared static shapes, with Gathers and binary
 * ops: the data viewed as rows [M, S] (S: the elements one index addresses), the updates as rows
 * [K, S] with one identity row appended (0, 1, -inf or +inf); a constant table gives, for each
 * data row, the update rows that land on it in index order, padded with the identity row; the
 * result is `op(... op(op(data, Gather(updates, t0)), Gather(updates, t1)) ...)`, reshaped back.
 * That is ONNX's definition (updates applied one after another, in index order), duplicates
 * included, so it is exact. onnx2tf 1.29 stops on ScatterElements with a reduction ("currently
 * supports only reduction=['none']") and gets ScatterND's wrong on every strategy (max abs error
 * 8 to 166 on the node tests); onnxruntime's CPU provider has no fp16 kernel for either.
 */
export function scatterReductionsAsGathers(model: ModelProto): GraphRewriteResult {
  return replaceNodes(model, (node, graph, scope) => {
    if ((node.opType !== 'ScatterND' && node.opType !== 'ScatterElements') || (node.domain ?? '') !== '')
      return undefined;
    if (scope.types.get(node.input[0] ?? '') !== TensorProto_DataType.FLOAT) return undefined;
    const reductionAttribute = node.attribute.find((a) => a.name === 'reduction');
    const reduction = reductionAttribute?.s ? new TextDecoder().decode(reductionAttribute.s) : 'none';
    const combine = SCATTER_REDUCTIONS[reduction];
    if (!combine) return undefined;
    return gatheredScatter(node, graph, scope, reduction, combine);
  });
}

/** The data row [0, M) each update row [0, K) lands on, with M, K and S; undefined when it cannot be read. */
function scatterRows(
  node: NodeProto,
  data: number[],
  indexDims: number[],
  indices: number[],
  updates: number[],
): { rows: number[]; m: number; s: number } | undefined {
  const wrap = (index: number, size: number) => (index < 0 ? index + size : index);
  if (node.opType === 'ScatterND') {
    const q = indexDims.at(-1);
    if (q === undefined || q < 1 || q > data.length) return undefined;
    const k = elementCount(indexDims.slice(0, -1));
    // updates: indices.shape[:-1] + data.shape[q:]
    const expected = [...indexDims.slice(0, -1), ...data.slice(q)];
    if (updates.length !== expected.length || updates.some((d, i) => d !== expected[i])) return undefined;
    const strides = data.slice(0, q).map((_, j) => elementCount(data.slice(j + 1, q)));
    const rows: number[] = [];
    for (let r = 0; r < k; r++) {
      let row = 0;
      for (let j = 0; j < q; j++) {
        const index = wrap(indices[r * q + j]!, data[j]!);
        if (index < 0 || index >= data[j]!) return undefined;
        row += index * strides[j]!;
      }
      rows.push(row);
    }
    return { rows, m: elementCount(data.slice(0, q)), s: elementCount(data.slice(q)) };
  }
  // ScatterElements: every update element is a row of one element.
  if (updates.length !== indexDims.length || updates.some((d, i) => d !== indexDims[i])) return undefined;
  const placed = elementPositions(node, data, indexDims, indices);
  return placed ? { rows: placed.positions, m: elementCount(data), s: 1 } : undefined;
}

function gatheredScatter(
  node: NodeProto,
  graph: GraphProto,
  scope: GraphScope,
  reduction: string,
  combine: { op: string; identity: number },
): { nodes: NodeProto[]; change: string } | undefined {
  const [dataName, indicesName, updatesName] = node.input;
  const data = scope.shapes.get(dataName ?? '');
  const updates = scope.shapes.get(updatesName ?? '');
  const indicesTensor = scope.constants.get(indicesName ?? '');
  const indices = readInts(indicesTensor);
  if (!data || data.length === 0 || !updates || !indicesTensor || !indices || node.output.length !== 1)
    return undefined;
  if (elementCount(data) >= 2 ** 31 || indices.length > MAX_FLAT_GATHER_INDICES) return undefined;
  const placed = scatterRows(node, data, indicesTensor.dims.map(Number), indices, updates);
  if (!placed) return undefined;
  const { rows, m, s } = placed;
  const k = rows.length;
  // For each data row, the update rows landing on it, in index order.
  const landing: number[][] = Array.from({ length: m }, () => []);
  rows.forEach((row, update) => landing[row]!.push(update));
  const depth = Math.max(1, ...landing.map((list) => list.length));
  if (depth > MAX_SCATTER_UPDATES_PER_ELEMENT) return undefined;
  const label = node.name || node.output[0] || node.opType!;
  const { made, add, constant } = nodeBuilder(graph, scope.names, label);
  const axis0 = newAttributeProto({ name: 'axis', type: AttributeProto_AttributeType.INT, i: 0 });
  const updateRows = add('Reshape', [
    updatesName!,
    constant('update_rows_shape', BigInt64Array.of(BigInt(k), BigInt(s)), [2]),
  ]);
  const identityRow = constant('identity', new Float32Array(s).fill(combine.identity), [1, s]);
  const table = add('Concat', [updateRows, identityRow], [axis0]);
  let current = add('Reshape', [dataName!, constant('data_rows_shape', BigInt64Array.of(BigInt(m), BigInt(s)), [2])]);
  for (let d = 0; d < depth; d++) {
    const picks = BigInt64Array.from(landing, (list) => BigInt(list[d] ?? k));
    const picked = add('Gather', [table, constant(`updates_${d}`, picks, [m])], [axis0]);
    current = add(combine.op, [current, picked]);
  }
  const back = constant('data_shape', BigInt64Array.from(data.map(BigInt)), [data.length]);
  made.push(
    newNodeProto({
      name: scope.names.unique(`${label}/Reshape_out`),
      opType: 'Reshape',
      input: [current, back],
      output: [node.output[0]!],
    }),
  );
  return {
    nodes: made,
    change: `${label}: ${node.opType} reduction=${reduction} of ${k} update(s) into [${data.join(', ')}] -> ${depth} Gather(s) and ${combine.op}`,
  };
}
