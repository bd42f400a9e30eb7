/**
 * ONNX -> TFLite with onnx2tf 1.29 in the tf env: fp32, fp16, dynamic-range int8, full-integer
 * int8 with int8 inputs and outputs, and int16 activations (float I/O).
 *
 * onnx2tf moves every image tensor to NHWC and may rename tensors; the layouts and the pairing
 * of outputs are read back from the produced .tflite (src/formats/tflite), never assumed.
 * Traps of the tool (download of sample images, in-place simplification of its input) are
 * handled in its Python driver (ops_onnx2tf.py): calibration data is always passed explicitly.
 */
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { allNodes, loadModel, sanitizeNodeNames, saveModel } from '../../formats/onnx/index.js';
import type { JsonValue } from '../../plan/types.js';
import { inspectTflite, type TfliteTensorSignature } from '../../formats/tflite/index.js';
import type { Precision } from '../../recipe/types.js';
import {
  channelsLastPerm,
  fittingPerms,
  permutedLayout,
  plainTensorName,
  type ArtifactSignature,
  type QuantizationParams,
} from '../../validate/index.js';
import { quantizeTflite } from '../../quant/tflite.js';
import { convertedLayout, defaultLayout, layoutFromDims, numericShape } from './layouts.js';
import { ConverterError, runConverterOp, stepLogFile } from './run-tool.js';
import type { BackendSpec, ConversionStrategy } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';
import { applyGraphRewrites, expandFunctionOps, resizeAsMatmul } from './onnx-graph-steps.js';
import {
  ONNX2TF_CORRECTIONS,
  ONNX2TF_STRATEGIES,
  onnx2tfStrategyOptions,
  pseudoOpsIn,
  type Onnx2tfStrategyOptions,
} from './onnx2tf-strategies.js';

/** The parameter-replacement file prepare leaves for onnx2tf (what this backend reads of it; the rest is kept). */
const onnx2tfReplacementsSchema = z.looseObject({
  operations: z.array(z.looseObject({ op_name: z.string().optional() })),
});

/** Which of onnx2tf's outputs (`model_<suffix>.tflite`) is each precision. */
const ONNX2TF_SUFFIX: Partial<Record<Precision, string>> = {
  fp32: 'float32',
  fp16: 'float16',
  'dynamic-int8': 'dynamic_range_quant',
  // int8 in and out (-iqd int8 -oqd int8): what integer-only accelerators need.
  int8: 'full_integer_quant',
  // 16x8 with float I/O: int16 I/O is something few apps can feed.
  'int16-act': 'integer_quant_with_int16_act',
};

export const onnx2tfBackend: BackendSpec = {
  name: 'onnx2tf',
  summary: 'any source, via ONNX',
  stage: 'convert',
  from: 'onnx',
  to: 'tflite',
  precisions: ['fp32', 'fp16', 'dynamic-int8', 'int8', 'int16-act'],
  env: 'tf',
  tools: ['onnx2tf', 'tensorflow'],
  cacheKeyTools: ['onnx2tf'],
  requires: [
    { env: 'tf', distribution: 'onnx2tf', probes: [{ cli: ['onnx2tf', '-h'] }] },
    { env: 'tf', distribution: 'tensorflow', probes: [{ import: 'tensorflow', smoke: 'tensorflow-add' }] },
    { env: 'tf', distribution: 'tf-keras', probes: [] },
  ],
  memory: 'tensorflow',
  strategies: ONNX2TF_STRATEGIES,
  // 1: builtin-math, keep-all-shapes and expand-functions strategies; CastLike, run-time Clip
  // bounds and missing kernel_shape corrected before every run. 2: zero initial states of
  // LSTM/GRU/RNN made explicit before every run. 3: auto_pad SAME_* of Conv and pools spelt out.
  // 4: channels-first-inputs strategy; expand-functions gives rank 3..5 inputs channels-first.
  // 5: resize-matmul strategy. 6: uneven Split by num_outputs given explicit sizes. 7: a missing
  // recurrent bias becomes explicit zeros (onnx2tf: KeyError on the empty input name). 8: the
  // no-strict strategy (a conversion that failed every other one gets it). 9:
  // expand-functions-keep-all-shapes for any rank >= 3 input (was: 4-D images only). 10:
  // GatherElements with constant indices as a flat Gather before every run; function ops
  // expanded again when a body calls one (SoftmaxCrossEntropyLoss -> NegativeLogLikelihoodLoss).
  // 11: the simplify strategy is gone (onnxsim never ran again: a result cached as won by it names
  // a strategy that no longer exists). 12: ScatterND/ScatterElements reductions with constant
  // indices as Gathers and Add/Mul/Max/Min before every run.
  revision: 12,
  quantSearch: true,
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    // int8 / int16-act under the quantization search: this backend's float32 model, quantised by
    // the search's configuration (src/quant/tflite.ts), made with the strategy the search names.
    if ((job.precision === 'int8' || job.precision === 'int16-act') && 'quant' in job.strategy.options)
      return quantizeTflite(
        job,
        (floatJob) => onnx2tfBackend.convert({ ...floatJob, strategy: floatStrategyOf(job.strategy) }),
        tfliteSignature,
        'onnx2tf',
      );
    const made = await runOnnx2tf(job, [job.precision], { [job.precision]: job.outDir });
    const output = made.get(job.precision)!;
    if (output instanceof Error) throw output;
    return output;
  },
  convertMany: runOnnx2tf,
};

/** The onnx2tf strategy of the float model a quantization strategy starts from. */
function floatStrategyOf(strategy: ConversionStrategy): ConversionStrategy {
  const options = strategy.options as Record<string, unknown>;
  if (!('quant' in options)) return strategy;
  const name = typeof options.convertStrategy === 'string' ? options.convertStrategy : undefined;
  return ONNX2TF_STRATEGIES.find((s) => s.name === name) ?? ONNX2TF_STRATEGIES[0];
}

/**
 * One onnx2tf run making every precision of `precisions` (its float run always writes float32
 * and float16; -oiqt adds the integer ones, dynamic-range its own): each precision's .tflite goes
 * into its folder of `outDirs`. A precision the run did not write is an Error for that precision.
 */
async function runOnnx2tf(
  job: ConvertJob,
  precisions: readonly Precision[],
  outDirs: Readonly<Partial<Record<Precision, string>>>,
): Promise<Map<Precision, ConvertOutput | Error>> {
  const options = onnx2tfStrategyOptions(job.strategy);
  const integer = precisions.some((p) => p === 'int8' || p === 'int16-act');
  const fail = (how: string) =>
    new ConverterError({
      model: job.model,
      stepId: job.stepId,
      tool: 'onnx2tf',
      how,
      keyLines: [],
      logFile: stepLogFile(job.model, job.stepId),
    });
  if (integer && !job.calibration) throw fail('integer quantization needs calibration samples');
  const outputDir = path.join(job.workDir, 'onnx2tf');
  const calibration = integer
    ? job.inputs.map((input) => {
        // onnx2tf feeds calibration data to the NHWC model it built.
        const npy = job.calibration!.nhwcByInput[input.name] ?? job.calibration!.byInput[input.name];
        if (!npy) throw fail(`no calibration samples for input ${input.name}`);
        // The samples are preprocessed already; onnx2tf's -oiqt still wants a mean and std.
        return { input: input.name, npy, mean: 0, std: 1 };
      })
    : undefined;
  const handOver = await onnx2tfInput(job, options);
  // -k: onnx2tf keeps these inputs channels-first at the interface and transposes them inside.
  const channelsFirst = options.keepChannelsFirst
    ? job.inputs.filter((input) => input.shape.length >= 3 && input.shape.length <= 5).map((input) => input.name)
    : [];
  const keepShape = keepShapeInputNames(job.inputs, options.keepShape).filter((name) => !channelsFirst.includes(name));
  if (channelsFirst.length > 0) job.log(`[edgezoo] onnx2tf keeps ${channelsFirst.join(', ')} channels-first (-k)`);
  if (keepShape.length > 0)
    job.log(
      `[edgezoo] onnx2tf keeps the shape of ${keepShape.join(', ')} (-kat): ${options.keepShape === 'all-but-images' ? 'not a 4-D image' : 'not channels-first in the recipe'}`,
    );
  if (handOver.pseudoOps.length > 0)
    job.log(`[edgezoo] onnx2tf replaces ${handOver.pseudoOps.join(', ')} with pseudo ops (-rtpo)`);
  if (precisions.length > 1) job.log(`[edgezoo] one onnx2tf run for ${precisions.join(', ')}`);
  const result = await runConverterOp(job, 'onnx2tf', 'tf', 'onnx2tf.convert', {
    model: handOver.model,
    outputDir,
    name: 'model',
    dynamicRangeQuant: precisions.includes('dynamic-int8'),
    integerQuant: integer,
    quantType: 'per-channel',
    inputQuantDtype: 'int8',
    outputQuantDtype: 'int8',
    calibration,
    paramReplacementFile: handOver.replacementFile,
    keepShapeAbsolutelyInputNames: keepShape.length > 0 ? keepShape : null,
    keepNchwInputNames: channelsFirst.length > 0 ? channelsFirst : null,
    // The prepared model is simplified already (onnxslim); onnxsim over it again never made a
    // conversion pass (no node test, no zoo model) and only cost time.
    notUseOnnxsim: true,
    verbosity: 'error',
    options: onnx2tfFlags(options, handOver.pseudoOps),
  });
  const fp32 = result.tflite.float32;
  const fp32Bytes = fp32 ? (await stat(fp32)).size : undefined;
  const made = new Map<Precision, ConvertOutput | Error>();
  for (const precision of precisions) {
    const suffix = ONNX2TF_SUFFIX[precision]!;
    const produced = result.tflite[suffix];
    const outDir = outDirs[precision];
    if (!produced || !outDir) {
      made.set(
        precision,
        fail(`it wrote no model_${suffix}.tflite (wrote: ${Object.keys(result.tflite).join(', ') || 'nothing'})`),
      );
      continue;
    }
    await copyFile(produced, path.join(outDir, 'model.tflite'));
    const summary = await inspectTflite(produced);
    const { signature, outputMapping } = tfliteSignature(job, summary.inputs, summary.outputs, {
      keptInputs: [...keepShape, ...channelsFirst],
    });
    made.set(precision, {
      primary: 'model.tflite',
      files: ['model.tflite'],
      signature,
      outputMapping,
      ...(fp32Bytes !== undefined ? { fp32Bytes } : {}),
      notes: { onnx2tfFile: `model_${suffix}.tflite` },
    });
  }
  return made;
}

/**
 * Inputs onnx2tf must leave as they are (`-kat`): rank >= 3 inputs whose recipe layout is not
 * channels-first (N C ...). onnx2tf assumes every 3-D..5-D input is NCHW-like and moves axis 1
 * last, so an NHWC input (MediaPipe models via tf2onnx) became [1,128,3,128]; the int8 converter
 * then killed the worker with SIGFPE on the face landmark model.
 */
export function keepShapeInputNames(
  inputs: ReadonlyArray<{ name: string; shape: readonly unknown[]; layout: string }>,
  rule: Onnx2tfStrategyOptions['keepShape'] = 'non-channels-first',
): string[] {
  const keep =
    rule === 'all'
      ? () => true
      : rule === 'all-but-images'
        ? (input: (typeof inputs)[number]) => !(input.shape.length === 4 && input.layout === 'NCHW')
        : (input: (typeof inputs)[number]) => !input.layout.startsWith('NC');
  return inputs.filter((input) => input.shape.length >= 3 && keep(input)).map((input) => input.name);
}

/** The onnx2tf keyword arguments of a strategy beyond the ones the op names (-rtpo, raw flags). */
function onnx2tfFlags(options: Onnx2tfStrategyOptions, pseudoOps: readonly string[]): Record<string, JsonValue> | null {
  const flags: Record<string, JsonValue> = { ...(options.flags as Record<string, JsonValue> | undefined) };
  // onnx2tf's command line lower-cases these names and its ops compare lower-case; its Python API does not.
  if (pseudoOps.length > 0) flags.replace_to_pseudo_operators = pseudoOps.map((name) => name.toLowerCase());
  return Object.keys(flags).length > 0 ? flags : null;
}

/**
 * The model (and parameter-replacement file) handed to onnx2tf: with node names that are valid
 * TF scope names (onnx2tf stops on `Softmax@0`), written to the job's work folder only when a
 * name had to change. The replacement file's `op_name`s follow the renames.
 */
async function onnx2tfInput(
  job: ConvertJob,
  options: Onnx2tfStrategyOptions,
): Promise<{ model: string; replacementFile: string | null; pseudoOps: string[] }> {
  let source = job.inputFile!;
  let rewritten = 0;
  if (options.expandFunctions) {
    const result = await expandFunctionOps(job, 'onnx2tf', source, options.expandFunctions, 'onnx2tf-expanded.onnx');
    source = result.model;
    rewritten += result.expanded.length;
  }
  if (options.resizeAsMatmul) {
    const result = await resizeAsMatmul(job, 'onnx2tf', source, 'onnx2tf-resize-matmul.onnx');
    source = result.model;
    rewritten += result.rewritten.length;
  }
  const { model, renamed } = sanitizeNodeNames(loadModel(source));
  rewritten += applyGraphRewrites(
    job,
    model,
    [...ONNX2TF_CORRECTIONS, ...(options.rewrites ?? [])],
    `onnx2tf strategy "${job.strategy.name}"`,
  );
  // After the rewrites: they may bring in ops onnx2tf replaces (builtin-math's Atan).
  const opTypes = new Set([...allNodes(model.graph!)].map((node) => node.opType ?? ''));
  const pseudoOps = options.pseudoOps ? pseudoOpsIn(opTypes).filter((op) => options.pseudoOps!.includes(op)) : [];
  const count = Object.keys(renamed).length;
  if (count === 0 && rewritten === 0)
    return { model: source, replacementFile: job.onnx2tfReplacementFile ?? null, pseudoOps };
  const examples = Object.entries(renamed)
    .slice(0, 3)
    .map(([from, to]) => `${from} -> ${to}`)
    .join(', ');
  if (count > 0)
    job.log(
      `[edgezoo] ${count} node name(s) renamed for onnx2tf (not valid TF scope names): ${examples}${count > 3 ? ', ...' : ''}`,
    );
  const copy = path.join(job.workDir, 'onnx2tf-input.onnx');
  saveModel(model, copy);
  let replacementFile: string | null = job.onnx2tfReplacementFile ?? null;
  if (replacementFile) {
    const replacement = onnx2tfReplacementsSchema.parse(JSON.parse(await readFile(replacementFile, 'utf8')));
    for (const entry of replacement.operations)
      if (entry.op_name && renamed[entry.op_name]) entry.op_name = renamed[entry.op_name];
    replacementFile = path.join(job.workDir, 'onnx2tf-replacements.json');
    await writeFile(replacementFile, `${JSON.stringify(replacement, null, 2)}\n`);
  }
  return { model: copy, replacementFile, pseudoOps };
}

function quantizationOf(tensor: TfliteTensorSignature): QuantizationParams | undefined {
  // The TFLite reader gives schema enum names (INT8).
  const dtype = tensor.dtype.toLowerCase();
  if (dtype !== 'int8' && dtype !== 'uint8' && dtype !== 'int16') return undefined;
  if (!tensor.quantization || tensor.quantization.scale.length === 0) return undefined;
  return { dtype, scale: tensor.quantization.scale, zeroPoint: tensor.quantization.zeroPoint };
}

/**
 * Pairs the .tflite inputs/outputs with the prepared ONNX ones and records, per artifact tensor,
 * its source name, layout, permutation from the source (any rank) and I/O quantisation. Used by
 * every backend that writes TFLite. Pairing: the signature key (onnx2tf keeps the ONNX names
 * there while the tensors become `serving_default_x:0` / `PartitionedCall:2`), the tensor name,
 * then order or unique shape. `movesChannelsLast`: the converter moves axis 1 last in rank 3..5
 * tensors (onnx2tf, except inputs kept with -kat), which is then the most likely permutation even
 * where the shapes cannot tell (a [3,3,3] tensor).
 */
export function tfliteSignature(
  job: Pick<ConvertJob, 'inputs' | 'prepared' | 'outputs'>,
  inputs: readonly TfliteTensorSignature[],
  outputs: readonly TfliteTensorSignature[],
  options: {
    movesChannelsLast?: boolean;
    /** The inputs the converter kept as they are (-kat); default: the default rule's. */
    keptInputs?: readonly string[];
  } = {},
): { signature: ArtifactSignature; outputMapping: Record<string, string> } {
  const movesChannelsLast = options.movesChannelsLast ?? true;
  const signature: Required<
    Pick<
      ArtifactSignature,
      | 'inputLayouts'
      | 'outputLayouts'
      | 'inputNames'
      | 'outputNames'
      | 'inputQuantization'
      | 'outputQuantization'
      | 'inputPerms'
      | 'outputPerms'
    >
  > = {
    inputLayouts: {},
    outputLayouts: {},
    inputNames: {},
    outputNames: {},
    inputQuantization: {},
    outputQuantization: {},
    inputPerms: {},
    outputPerms: {},
  };
  const kept = new Set(options.keptInputs ?? keepShapeInputNames(job.inputs));
  const preferredFor = (rank: number, keep: boolean) =>
    movesChannelsLast && !keep && rank >= 3 && rank <= 5 ? [channelsLastPerm(rank)] : [];
  const sourceInputs = job.inputs.map((input) => ({
    name: input.name,
    shape: numericShape(input.shape),
    layout: input.layout,
  }));
  pair(sourceInputs, inputs, (source, tensor) => {
    const perms = fittingPerms(source.shape, tensor.shape, preferredFor(source.shape.length, kept.has(source.name)));
    const perm = perms[0];
    signature.inputLayouts[tensor.name] = perm
      ? permutedLayout(source.layout, perm) || source.layout
      : layoutOf(source, tensor);
    if (perm) signature.inputPerms[tensor.name] = perm;
    if (source.name !== tensor.name) signature.inputNames[source.name] = tensor.name;
    const q = quantizationOf(tensor);
    if (q) signature.inputQuantization[tensor.name] = q;
  });
  const outputMapping: Record<string, string> = {};
  const recipeLayouts = new Map(job.outputs.map((o) => [o.name, o.layout]));
  const sourceOutputs = (job.prepared?.outputs ?? []).map((output) => {
    const shape = numericShape(output.shape);
    return {
      name: output.name,
      shape,
      layout: output.layout ?? recipeLayouts.get(output.name) ?? defaultLayout(shape.length),
    };
  });
  const outputsByName = pair(sourceOutputs, outputs, (source, tensor) => {
    outputMapping[source.name] = tensor.name;
    const perms = fittingPerms(source.shape, tensor.shape, preferredFor(source.shape.length, false));
    signature.outputLayouts[tensor.name] = perms[0]
      ? permutedLayout(source.layout, perms[0]) || source.layout
      : layoutOf(source, tensor);
    if (perms.length > 0) signature.outputPerms[tensor.name] = perms;
    if (source.name !== tensor.name) signature.outputNames[source.name] = tensor.name;
    const q = quantizationOf(tensor);
    if (q) signature.outputQuantization[tensor.name] = q;
  });
  // Paired by order or shape: validation lets the numbers pair outputs of the same shape.
  const outputPairingUncertain = sourceOutputs.length > 1 && outputsByName < sourceOutputs.length;
  // Tensors nobody paired (no prepared model to pair with: litert-torch) still carry their quantisation.
  for (const tensor of inputs) {
    const q = quantizationOf(tensor);
    if (q && !signature.inputQuantization[tensor.name]) signature.inputQuantization[tensor.name] = q;
  }
  for (const tensor of outputs) {
    const q = quantizationOf(tensor);
    if (q && !signature.outputQuantization[tensor.name]) signature.outputQuantization[tensor.name] = q;
  }
  return { signature: { ...signature, ...(outputPairingUncertain ? { outputPairingUncertain } : {}) }, outputMapping };
}

/**
 * The layout of a produced tensor from its actual dims against the source's: channels moved last,
 * else whatever permutation the dims show (never the source layout when the shapes differ and a
 * permutation explains them); the source layout only when nothing fits, which validation reports.
 */
function layoutOf(source: { shape: number[]; layout: string }, tensor: TfliteTensorSignature): string {
  return (
    convertedLayout(source.shape, source.layout, tensor.shape) ??
    layoutFromDims(source.shape, source.layout, tensor.shape) ??
    source.layout
  );
}

/**
 * Pairs sources with tensors and visits each pair; returns how many were paired by name.
 * Signature keys count only when they are exactly the source names (onnx2tf names the outputs of
 * one multi-output node after one of them: `output_3`, `output_3_1`, `output_3_2` for a Split
 * into output_1..3, and `output_3` is then not the ONNX output_3).
 */
function pair<S extends { name: string; shape: number[]; layout: string }>(
  sources: readonly S[],
  tensors: readonly TfliteTensorSignature[],
  visit: (source: S, tensor: TfliteTensorSignature) => void,
): number {
  const keys = tensors.map((t) => t.signatureKey);
  const trustKeys =
    keys.length === sources.length &&
    keys.every((key) => key !== undefined) &&
    new Set(keys).size === keys.length &&
    sources.every((source) => keys.includes(source.name));
  const fits = (source: S, tensor: TfliteTensorSignature) => fittingPerms(source.shape, tensor.shape).length > 0;
  const used = new Set<TfliteTensorSignature>();
  const paired = new Map<S, TfliteTensorSignature>();
  const claim = (source: S, tensor: TfliteTensorSignature | undefined) => {
    if (!tensor || used.has(tensor) || paired.has(source)) return;
    used.add(tensor);
    paired.set(source, tensor);
  };
  // Names first: the signature key, the tensor name, the name without runtime decorations.
  if (trustKeys)
    for (const source of sources)
      claim(
        source,
        tensors.find((t) => t.signatureKey === source.name),
      );
  for (const source of sources)
    claim(
      source,
      tensors.find((t) => !used.has(t) && t.name === source.name),
    );
  for (const source of sources) {
    if (paired.has(source)) continue;
    const plain = plainTensorName(source.name);
    const same = tensors.filter(
      (t) =>
        !used.has(t) &&
        ((trustKeys && plainTensorName(t.signatureKey ?? '') === plain) || plainTensorName(t.name) === plain),
    );
    if (same.length === 1) claim(source, same[0]);
  }
  const byName = paired.size;
  // Then the order, when every remaining pair fits; else a unique fitting shape; else the order.
  const leftSources = sources.filter((s) => !paired.has(s));
  const leftTensors = tensors.filter((t) => !used.has(t));
  const inOrder = leftSources.length === leftTensors.length && leftSources.every((s, i) => fits(s, leftTensors[i]!));
  leftSources.forEach((source, index) => {
    if (inOrder) return claim(source, leftTensors[index]);
    const candidates = leftTensors.filter((t) => !used.has(t) && fits(source, t));
    claim(source, candidates.length === 1 ? candidates[0] : undefined);
  });
  for (const source of sources.filter((s) => !paired.has(s)))
    claim(
      source,
      tensors.find((t) => !used.has(t)),
    );
  for (const source of sources) {
    const tensor = paired.get(source);
    if (tensor) visit(source, tensor);
  }
  return byName;
}
