/**
 * Pure model patches: each takes a model and returns a new one, never changing its input.
 * Tensor bytes are shared between the old and the new model (they are treated as immutable).
 */
import type { InputSpec, InputValue, ParameterReplacement } from '../../recipe/types.js';
import { float32ToFloat16 } from '../../validate/half.js';
import { OnnxPatchError } from './errors.js';
import { attribute as makeAttribute } from './builder.js';
import {
  TensorProto_DataType,
  AttributeProto_AttributeType,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.generated.js';
import { tensorFromArray, tensorWithValues } from './tensor.js';

/** A structural copy of a model that shares byte arrays (raw_data, strings) with the original. */
export function cloneModel<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneModel(item)) as T;
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = cloneModel(item);
  return copy as T;
}

function graphOf(model: ModelProto): GraphProto {
  if (!model.graph) throw new OnnxPatchError('ONNX_NO_GRAPH', 'the ONNX model has no graph');
  return model.graph;
}

function describeNames(names: string[]): string {
  return names.length ? names.map((n) => `"${n}"`).join(', ') : '(none)';
}

/** The dim_param exporters write for "unknown", not a named symbol. */
const ANONYMOUS_DIM = '?';

/** ONNX element types of the recipe dtypes a constant input may have. */
const CONSTANT_TYPES: Record<InputSpec['dtype'], number> = {
  float32: TensorProto_DataType.FLOAT,
  float16: TensorProto_DataType.FLOAT16,
  int64: TensorProto_DataType.INT64,
  int32: TensorProto_DataType.INT32,
  int8: TensorProto_DataType.INT8,
  uint8: TensorProto_DataType.UINT8,
  bool: TensorProto_DataType.BOOL,
};

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * A YAML number as int64, saturating: INT64_MAX (Slice's "to the end") reads as 2^63 in a
 * double and would wrap to INT64_MIN.
 */
export function int64Of(value: number): bigint {
  const whole = BigInt(Math.trunc(value));
  return whole > INT64_MAX ? INT64_MAX : whole < INT64_MIN ? INT64_MIN : whole;
}

function flatValues(value: InputValue): number[] {
  if (Array.isArray(value)) return value.flatMap(flatValues);
  return [typeof value === 'boolean' ? (value ? 1 : 0) : value];
}

/**
 * Folds the recipe's constant inputs (`value:`) into the graph: each becomes an initializer of
 * its dtype and shape and stops being a graph input, so a simplifier can fold what depends on it
 * (and drop the branches of an `If` it decides). Inputs without a value are left alone.
 */
export function foldConstantInputs(model: ModelProto, inputs: readonly InputSpec[]): ModelProto {
  const constants = inputs.filter((spec) => spec.value !== undefined);
  if (constants.length === 0) return model;
  const result = cloneModel(model);
  const graph = graphOf(result);
  for (const spec of constants) {
    const index = graph.input.findIndex((v) => v.name === spec.name);
    if (index < 0)
      throw new OnnxPatchError(
        'ONNX_INPUT_NOT_FOUND',
        `recipe input "${spec.name}" is not an input of the model (its inputs: ${describeNames(graph.input.map((v) => v.name ?? ''))})`,
      );
    const dims = spec.shape.map((d) => (typeof d === 'number' ? d : 1));
    const values = flatValues(spec.value!);
    const type = CONSTANT_TYPES[spec.dtype];
    const data =
      spec.dtype === 'int64'
        ? BigInt64Array.from(values, int64Of)
        : spec.dtype === 'int32'
          ? Int32Array.from(values)
          : spec.dtype === 'int8'
            ? Int8Array.from(values)
            : spec.dtype === 'uint8' || spec.dtype === 'bool'
              ? Uint8Array.from(values)
              : spec.dtype === 'float16'
                ? float32ToFloat16(Float32Array.from(values))
                : Float32Array.from(values);
    graph.initializer = [
      ...graph.initializer.filter((t) => t.name !== spec.name),
      tensorFromArray(spec.name, data, dims, type),
    ];
    // IR 3 and older list initializers among the inputs; later IRs keep inputs to what callers feed.
    if ((result.irVersion ?? 4) >= 4) graph.input.splice(index, 1);
  }
  return result;
}

/**
 * Sets fixed dims from the recipe's inputs: a number becomes dim_value, a name the recipe lists
 * in `dynamic` stays (or becomes) a symbolic dim. A symbolic dim fixed on an input is fixed with
 * the same value wherever else that name appears (outputs, value_info), so shapes stay consistent.
 * The anonymous dim "?" is fixed where the recipe fixes it and ties nothing else.
 */
export function fixDynamicDims(model: ModelProto, inputs: readonly InputSpec[]): ModelProto {
  const result = cloneModel(model);
  const graph = graphOf(result);
  const fixedParams = new Map<string, number>();
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  for (const spec of inputs) {
    const input = graph.input.find((v) => v.name === spec.name);
    if (!input) {
      const names = graph.input.filter((v) => !initializerNames.has(v.name)).map((v) => v.name ?? '');
      throw new OnnxPatchError(
        'ONNX_INPUT_NOT_FOUND',
        `recipe input "${spec.name}" is not an input of the model (its inputs: ${describeNames(names)})`,
      );
    }
    const tensorType = input.type?.tensorType;
    if (!tensorType) throw new OnnxPatchError('ONNX_INPUT_NOT_TENSOR', `model input "${spec.name}" is not a tensor`);
    const dims = tensorType.shape?.dim ?? [];
    if (tensorType.shape && dims.length !== spec.shape.length) {
      throw new OnnxPatchError(
        'ONNX_INPUT_RANK',
        `recipe input "${spec.name}" has ${spec.shape.length} dims [${spec.shape.join(', ')}] but the model's has ${dims.length}`,
      );
    }
    tensorType.shape = {
      dim: spec.shape.map((want, axis) => {
        const have = dims[axis] ?? {};
        const denotation = have.denotation === undefined ? {} : { denotation: have.denotation };
        if (typeof want === 'string') return { dimParam: want, ...denotation };
        // Some exporters (paddle2onnx) write dim_value -1 or 0 for "unknown": that is a dynamic
        // dim, not a fixed one, so the recipe may fix it.
        if (have.dimValue !== undefined && have.dimValue > 0 && have.dimValue !== want) {
          throw new OnnxPatchError(
            'ONNX_INPUT_DIM_CONFLICT',
            `recipe input "${spec.name}" dim ${axis} is ${want} but the model fixes it to ${have.dimValue}`,
          );
        }
        // paddle2onnx writes "?" for every unknown dim: a placeholder, not one shared symbol
        // (H and W of one input are both "?"), so it ties no dims together.
        if (have.dimParam && have.dimParam !== ANONYMOUS_DIM) {
          const earlier = fixedParams.get(have.dimParam);
          if (earlier !== undefined && earlier !== want) {
            throw new OnnxPatchError(
              'ONNX_INPUT_DIM_CONFLICT',
              `symbolic dim "${have.dimParam}" is fixed to ${earlier} by one input and to ${want} by input "${spec.name}" dim ${axis}`,
            );
          }
          if (!spec.dynamic.includes(have.dimParam)) fixedParams.set(have.dimParam, want);
        }
        return { dimValue: want, ...denotation };
      }),
    };
  }
  const substitute = (values: GraphProto['output']) => {
    for (const value of values) {
      for (const dim of value.type?.tensorType?.shape?.dim ?? []) {
        const fixed = dim.dimParam === undefined ? undefined : fixedParams.get(dim.dimParam);
        if (fixed !== undefined) {
          delete dim.dimParam;
          dim.dimValue = fixed;
        }
      }
    }
  };
  substitute(graph.input);
  substitute(graph.output);
  substitute(graph.valueInfo);
  return result;
}

/** Renames the given graph inputs and outputs everywhere they are referenced, subgraphs included. */
export function renameTensors(model: ModelProto, mapping: Readonly<Record<string, string>>): ModelProto {
  const result = cloneModel(model);
  const graph = graphOf(result);
  const ioNames = new Set([...graph.input, ...graph.output].map((v) => v.name ?? ''));
  const allNames = new Set<string>(ioNames);
  for (const n of graph.node) for (const name of [...n.input, ...n.output]) allNames.add(name);
  for (const t of graph.initializer) allNames.add(t.name ?? '');
  for (const [from, to] of Object.entries(mapping)) {
    if (!ioNames.has(from)) {
      throw new OnnxPatchError(
        'ONNX_TENSOR_NOT_FOUND',
        `cannot rename "${from}": it is not a graph input or output (inputs: ${describeNames(graph.input.map((v) => v.name ?? ''))}; outputs: ${describeNames(graph.output.map((v) => v.name ?? ''))})`,
      );
    }
    if (to === '' || (allNames.has(to) && mapping[to] === undefined)) {
      throw new OnnxPatchError(
        'ONNX_TENSOR_NAME_TAKEN',
        `cannot rename "${from}" to "${to}": ${to === '' ? 'the name is empty' : 'that name is already used in the graph'}`,
      );
    }
  }
  const rename = (name: string) => mapping[name] ?? name;
  const renameGraph = (g: GraphProto) => {
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) if (v.name !== undefined) v.name = rename(v.name);
    for (const t of g.initializer) if (t.name !== undefined) t.name = rename(t.name);
    for (const n of g.node) {
      n.input = n.input.map(rename);
      n.output = n.output.map(rename);
      for (const a of n.attribute) {
        if (a.g) renameGraph(a.g);
        a.graphs.forEach(renameGraph);
      }
    }
  };
  renameGraph(graph);
  return result;
}

/** Sets metadata_props entries (replacing same keys, keeping the others in order). */
export function setMetadata(model: ModelProto, props: Readonly<Record<string, string>>): ModelProto {
  const result = cloneModel(model);
  const kept = result.metadataProps.filter((entry) => !(entry.key !== undefined && entry.key in props));
  result.metadataProps = [...kept, ...Object.entries(props).map(([key, value]) => ({ key, value }))];
  return result;
}

/** What edgezoo records in every ONNX artifact it writes. */
export interface EdgezooModelInfo {
  name: string;
  version: string;
  license: string;
  sourceSha256: string;
  recipeFingerprint: string;
  toolVersions: Record<string, string>;
  /** Layout per input/output name, e.g. { input: 'NCHW' }. */
  layouts: Record<string, string>;
}

/** The metadata_props edgezoo writes (keys prefixed `edgezoo.`, objects as JSON). */
export function edgezooMetadata(info: EdgezooModelInfo): Record<string, string> {
  return {
    'edgezoo.name': info.name,
    'edgezoo.version': info.version,
    'edgezoo.license': info.license,
    'edgezoo.source_sha256': info.sourceSha256,
    'edgezoo.recipe_fingerprint': info.recipeFingerprint,
    'edgezoo.tool_versions': JSON.stringify(info.toolVersions),
    'edgezoo.layouts': JSON.stringify(info.layouts),
  };
}

/** Removes initializers no node (in any subgraph) and no graph output uses. */
export function dropUnusedInitializers(model: ModelProto): ModelProto {
  const result = cloneModel(model);
  const graph = graphOf(result);
  const used = new Set<string>(graph.output.map((v) => v.name ?? ''));
  const pending: GraphProto[] = [graph];
  while (pending.length) {
    const g = pending.pop()!;
    for (const n of g.node) {
      for (const name of n.input) used.add(name);
      for (const a of n.attribute) {
        if (a.g) pending.push(a.g);
        pending.push(...a.graphs);
      }
    }
  }
  const dropped = new Set(graph.initializer.filter((t) => !used.has(t.name ?? '')).map((t) => t.name ?? ''));
  graph.initializer = graph.initializer.filter((t) => !dropped.has(t.name ?? ''));
  // An unused initializer that old exporters also listed as a graph input goes with it.
  graph.input = graph.input.filter((v) => !dropped.has(v.name ?? ''));
  return result;
}

/** One replacement entry, or one of its fields, that only onnx2tf can apply. */
export interface Onnx2tfOnlyReplacement {
  /** Position of the entry in `operations`. */
  index: number;
  op_name: string;
  param_target: string;
  param_name: string;
  /** Which fields this applies to (e.g. pre_process_transpose_perm). */
  fields: string[];
  reason: string;
}

/** What `applyReplacements` did. */
export interface ReplacementResult {
  model: ModelProto;
  /** Entries applied to the ONNX graph, e.g. `Transpose_3 attributes perm`. */
  applied: string[];
  /** Fields not applicable to ONNX: keep them for onnx2tf, which applies them while converting. */
  notApplicable: Onnx2tfOnlyReplacement[];
  /** The replacement file to hand to onnx2tf: only the entries (and fields) not applied here. */
  forOnnx2tf: ParameterReplacement;
}

const ONNX2TF_ONLY_FIELDS = ['pre_process_transpose_perm', 'post_process_transpose_perm'];
const ENTRY_FIELDS = new Set(['op_name', 'param_target', 'param_name', 'values']);

/** Shape of a nested number array: [[1,2],[3,4]] -> [2,2]; a bare number -> []. */
function nestedShape(values: unknown, where: string): { flat: number[]; dims: number[] } {
  if (typeof values === 'number') return { flat: [values], dims: [] };
  if (!Array.isArray(values))
    throw new OnnxPatchError(
      'REPLACEMENT_VALUES_INVALID',
      `${where}: values must be a number or a (nested) array of numbers, got ${JSON.stringify(values)}`,
    );
  if (values.length === 0) return { flat: [], dims: [0] };
  const parts = values.map((v) => nestedShape(v, where));
  const inner = parts[0]!.dims;
  if (parts.some((p) => p.dims.join(',') !== inner.join(','))) {
    throw new OnnxPatchError('REPLACEMENT_VALUES_INVALID', `${where}: values is a ragged array`);
  }
  return { flat: parts.flatMap((p) => p.flat), dims: [values.length, ...inner] };
}

function replaceAttribute(node: NodeProto, name: string, values: unknown, where: string): void {
  const T = AttributeProto_AttributeType;
  const index = node.attribute.findIndex((a) => a.name === name);
  const existing = node.attribute[index];
  let replacement: AttributeProto;
  if (existing === undefined) {
    // Absent attributes take their default; setting one adds it (e.g. Softmax axis).
    if (typeof values !== 'number' && typeof values !== 'string' && !Array.isArray(values)) {
      throw new OnnxPatchError('REPLACEMENT_VALUES_INVALID', `${where}: values must be a number, string or array`);
    }
    replacement = makeAttribute(name, values as number | string | number[]);
    node.attribute = [...node.attribute, replacement];
    return;
  }
  const type = existing.type;
  const scalarTypes: number[] = [T.INT, T.FLOAT, T.STRING];
  if (scalarTypes.includes(type ?? 0) && Array.isArray(values) && values.length === 1) values = values[0];
  switch (type) {
    case T.INT:
      if (typeof values !== 'number' || !Number.isInteger(values))
        throw new OnnxPatchError(
          'REPLACEMENT_VALUES_INVALID',
          `${where}: attribute "${name}" is an int, got ${JSON.stringify(values)}`,
        );
      replacement = { ...existing, i: values };
      break;
    case T.FLOAT:
      if (typeof values !== 'number')
        throw new OnnxPatchError(
          'REPLACEMENT_VALUES_INVALID',
          `${where}: attribute "${name}" is a float, got ${JSON.stringify(values)}`,
        );
      replacement = { ...existing, f: values };
      break;
    case T.STRING:
      if (typeof values !== 'string')
        throw new OnnxPatchError(
          'REPLACEMENT_VALUES_INVALID',
          `${where}: attribute "${name}" is a string, got ${JSON.stringify(values)}`,
        );
      replacement = { ...existing, s: new TextEncoder().encode(values) };
      break;
    case T.INTS:
    case T.FLOATS: {
      const list = typeof values === 'number' ? [values] : values;
      if (
        !Array.isArray(list) ||
        list.some((v) => typeof v !== 'number' || (type === T.INTS && !Number.isInteger(v)))
      ) {
        throw new OnnxPatchError(
          'REPLACEMENT_VALUES_INVALID',
          `${where}: attribute "${name}" is a list of ${type === T.INTS ? 'ints' : 'floats'}, got ${JSON.stringify(values)}`,
        );
      }
      replacement =
        type === T.INTS ? { ...existing, ints: list as number[] } : { ...existing, floats: list as number[] };
      break;
    }
    case T.TENSOR: {
      const { flat, dims } = nestedShape(values, where);
      replacement = { ...existing, t: tensorWithValues(existing.t!, flat, dims) };
      break;
    }
    default:
      throw new OnnxPatchError(
        'REPLACEMENT_UNSUPPORTED',
        `${where}: attribute "${name}" has a type edgezoo cannot replace (${type})`,
      );
  }
  node.attribute = node.attribute.map((a, i) => (i === index ? replacement : a));
}

function replaceInput(graph: GraphProto, node: NodeProto, inputName: string, values: unknown, where: string): void {
  const { flat, dims } = nestedShape(values, where);
  const users = graph.node.filter((n) => n.input.includes(inputName));
  const initializerIndex = graph.initializer.findIndex((t) => t.name === inputName);
  const constant = graph.node.find((n) => n.opType === 'Constant' && n.output.includes(inputName));
  let source: TensorProto | undefined;
  if (initializerIndex >= 0) source = graph.initializer[initializerIndex];
  else if (constant) source = constant.attribute.find((a) => a.name === 'value')?.t;
  if (!source) {
    throw new OnnxPatchError(
      'REPLACEMENT_NOT_CONSTANT',
      `${where}: input "${inputName}" is computed at run time, not an initializer or Constant, so it has no values to replace`,
    );
  }
  if (users.length > 1) {
    // Shared constant: give this op its own copy so the other users keep the old values.
    const newName = `${inputName}__edgezoo_${node.name ?? 'node'}`;
    graph.initializer = [...graph.initializer, tensorWithValues({ ...source, name: newName }, flat, dims)];
    node.input = node.input.map((name) => (name === inputName ? newName : name));
    return;
  }
  if (initializerIndex >= 0) {
    graph.initializer = graph.initializer.map((t, i) =>
      i === initializerIndex ? tensorWithValues(source, flat, dims) : t,
    );
  } else {
    const tensor = tensorWithValues(source, flat, dims);
    constant!.attribute = constant!.attribute.map((a) => (a.name === 'value' ? { ...a, t: tensor } : a));
  }
}

/**
 * Applies onnx2tf parameter replacements (format_version 1) to the ONNX graph: `op_name` is a node
 * name; `param_target: attributes` sets attribute `param_name` to `values`; `param_target: inputs`
 * replaces the constant (initializer or Constant output) feeding input `param_name` with `values`,
 * keeping its element type. `pre_process_transpose_perm`, `post_process_transpose_perm`,
 * `param_target: op` and other onnx2tf-only fields are not applicable to ONNX: they are returned
 * in `notApplicable` and kept in `forOnnx2tf`. Throws OnnxPatchError naming the op and param
 * that did not match.
 */
export function applyReplacements(model: ModelProto, replacement: ParameterReplacement): ReplacementResult {
  if (replacement.format_version !== 1) {
    throw new OnnxPatchError(
      'REPLACEMENT_VERSION',
      `parameter replacement format_version ${String(replacement.format_version)} is not supported (expected 1)`,
    );
  }
  const result = cloneModel(model);
  const graph = graphOf(result);
  const applied: string[] = [];
  const notApplicable: Onnx2tfOnlyReplacement[] = [];
  const forOnnx2tf: ParameterReplacement = { format_version: 1, operations: [] };

  replacement.operations.forEach((entry, index) => {
    const where = `replacement #${index + 1} (op "${entry.op_name}", ${entry.param_target} "${entry.param_name ?? ''}")`;
    const node = graph.node.find((n) => n.name === entry.op_name);
    if (!node) {
      throw new OnnxPatchError('REPLACEMENT_OP_NOT_FOUND', `${where}: the graph has no node named "${entry.op_name}"`);
    }
    const onlyForOnnx2tf = Object.keys(entry).filter((key) => !ENTRY_FIELDS.has(key));
    const hasValues = entry.values !== undefined;
    if (entry.param_target === 'op' || (!hasValues && onlyForOnnx2tf.length > 0) || entry.param_target === 'outputs') {
      notApplicable.push({
        index,
        op_name: entry.op_name,
        param_target: entry.param_target,
        param_name: entry.param_name ?? '',
        fields:
          entry.param_target === 'op'
            ? Object.keys(entry).filter((k) => !['op_name', 'param_target'].includes(k))
            : onlyForOnnx2tf.length
              ? onlyForOnnx2tf
              : ['values'],
        reason:
          entry.param_target === 'op'
            ? 'param_target "op" sets TensorFlow-side op parameters; only onnx2tf applies it'
            : 'transpositions and output replacements are applied by onnx2tf while converting',
      });
      forOnnx2tf.operations.push(entry);
      return;
    }
    if (!hasValues) throw new OnnxPatchError('REPLACEMENT_VALUES_INVALID', `${where}: has no values`);
    if (entry.param_target === 'attributes') {
      replaceAttribute(node, entry.param_name, entry.values, where);
    } else if (entry.param_target === 'inputs') {
      if (!node.input.includes(entry.param_name)) {
        throw new OnnxPatchError(
          'REPLACEMENT_PARAM_NOT_FOUND',
          `${where}: "${entry.param_name}" is not an input of ${node.opType} "${entry.op_name}" (its inputs: ${describeNames(node.input)})`,
        );
      }
      replaceInput(graph, node, entry.param_name, entry.values, where);
    } else {
      throw new OnnxPatchError(
        'REPLACEMENT_VALUES_INVALID',
        `${where}: param_target must be inputs, attributes, outputs or op`,
      );
    }
    applied.push(`${entry.op_name} ${entry.param_target} ${entry.param_name}`);
    const perms = ONNX2TF_ONLY_FIELDS.filter((key) => key in entry);
    if (perms.length > 0) {
      notApplicable.push({
        index,
        op_name: entry.op_name,
        param_target: entry.param_target,
        param_name: entry.param_name,
        fields: perms,
        reason: 'transpositions are applied by onnx2tf while converting',
      });
      const kept: ParameterReplacement['operations'][number] = {
        op_name: entry.op_name,
        param_target: entry.param_target,
        param_name: entry.param_name,
      };
      for (const key of perms) kept[key] = entry[key];
      forOnnx2tf.operations.push(kept);
    }
  });
  return { model: result, applied, notApplicable, forOnnx2tf };
}

/** What `sanitizeNodeNames` did. */
export interface SanitizedNodeNames {
  model: ModelProto;
  /** Old node name -> new name, only for the nodes that changed. */
  renamed: Record<string, string>;
}

/** Characters TensorFlow accepts in a name scope after the first (`[A-Za-z0-9_.\-/>]`). */
const SCOPE_CHAR = /[A-Za-z0-9_.\-/>]/;

/**
 * Node names made valid TensorFlow scope names: every character outside `[A-Za-z0-9_.\-/>]`
 * becomes `_` (a first character that had to be replaced gets an `n` before it), an empty name
 * stays empty, and a clash with another node's name gets a `_2`, `_3` ... suffix.
 *
 * Why: onnx2tf turns node names into TF name scopes and stops on names such as `Softmax@0`
 * (paddle2onnx and onnxslim write them). Tensor names are left alone: they are the model's I/O
 * contract and onnx2tf does not scope them. Subgraphs (If/Loop bodies) are renamed too.
 */
export function sanitizeNodeNames(model: ModelProto): SanitizedNodeNames {
  const result = cloneModel(model);
  const nodes: NodeProto[] = [];
  const collect = (g: GraphProto) => {
    for (const n of g.node) {
      nodes.push(n);
      for (const a of n.attribute) {
        if (a.g) collect(a.g);
        a.graphs.forEach(collect);
      }
    }
  };
  collect(graphOf(result));
  const clean = (name: string) => {
    const out = [...name].map((c) => (SCOPE_CHAR.test(c) ? c : '_')).join('');
    // A scope name may not start with '_': prefix one that would (names starting '/' or '_' stay).
    return SCOPE_CHAR.test(name[0] ?? '') ? out : `n${out}`;
  };
  // Names already valid are kept as they are, so they win any clash with a renamed one.
  const taken = new Set(nodes.map((n) => n.name ?? '').filter((name) => name !== '' && clean(name) === name));
  const renamed: Record<string, string> = {};
  for (const node of nodes) {
    const name = node.name ?? '';
    if (name === '' || clean(name) === name) continue;
    const base = clean(name);
    let candidate = base;
    for (let i = 2; taken.has(candidate); i++) candidate = `${base}_${i}`;
    taken.add(candidate);
    renamed[name] = candidate;
    node.name = candidate;
  }
  return { model: result, renamed };
}
