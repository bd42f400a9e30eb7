import type { InputSpec, Precision, Recipe, TargetFormat } from '../recipe/types.js';
import { compareOutputs, type ComparedOutputs, type ComparisonResult } from './compare.js';
import { TensorError } from './errors.js';
import type { ModelRunner, TensorInfo } from './runners/runner.js';
import type { LoadedSamples, Sample } from './samples.js';
import { concatBatch, formatDims, isFloatDtype, type Tensor } from './tensor.js';
import { castTensor, dequantize, quantize, transposeLayout, type QuantizationParams } from './transforms.js';
import { bestOutputPermutation, permutedLayout, toArtifactOrder, toSourceOrderStacked } from './binding.js';
import { resolveThresholds } from './thresholds.js';
import { artifactOutputsAsSource, feedBack, startsStream, type StreamRun } from './stream.js';

/**
 * How an artifact's signature differs from the recipe's, as recorded when it was converted
 * (onnx2tf makes image inputs NHWC and may rename tensors).
 */
export interface ArtifactSignature {
  /** Layout of artifact inputs by artifact input name; absent ones keep the recipe input's layout. */
  inputLayouts?: Record<string, string>;
  /** Layout of artifact outputs by artifact output name; absent ones are taken as the reference's. */
  outputLayouts?: Record<string, string>;
  /** Recipe input name -> artifact input name, where the converter renamed inputs. */
  inputNames?: Record<string, string>;
  /** Reference output name -> artifact output name, where the converter renamed outputs. */
  outputNames?: Record<string, string>;
  /**
   * Quantisation of integer inputs/outputs by artifact tensor name, for runtimes that do not
   * report it (onnxruntime); what a runner reports (LiteRT) wins.
   */
  inputQuantization?: Record<string, QuantizationParams>;
  outputQuantization?: Record<string, QuantizationParams>;
  /**
   * Artifact input name -> the permutation from its recipe input (artifact axis i = recipe axis
   * perm[i]), at any rank; wins over `inputLayouts`.
   */
  inputPerms?: Record<string, number[]>;
  /**
   * Artifact output name -> the permutations from its source output that its shape allows, most
   * likely first; validation keeps the one under which the numbers agree. Wins over `outputLayouts`.
   */
  outputPerms?: Record<string, number[][]>;
  /**
   * The converter's names did not pair every output (they were paired by order or shape, or its
   * names are not the source's): validation pairs outputs of fitting shapes by their numbers.
   */
  outputPairingUncertain?: boolean;
}

/** The binding validation used: which artifact tensor each source tensor is, and its permutation. */
export interface TensorBinding {
  /** The recipe input / source output name. */
  source: string;
  /** The artifact's tensor name. */
  name: string;
  /** Artifact axis i = source axis perm[i]. */
  perm: number[];
}

/** `serving_default_x_1:0` and `x.1` are the same tensor: compare names without what runtimes add. */
export function plainTensorName(name: string): string {
  return name
    .replace(/^serving_default_/, '')
    .replace(/:\d+$/, '')
    .replace(/[^A-Za-z0-9]/g, '')
    .toLowerCase();
}

/**
 * Pairs each recipe input with a runner input: same name, then the recorded rename, then the
 * same name without runtime decorations (when unique), then the order of those left.
 */
function pairInputs(
  recipeInputs: readonly InputSpec[],
  runnerInputs: readonly TensorInfo[],
  renames: Record<string, string>,
) {
  const byName = new Map(runnerInputs.map((info) => [info.name, info]));
  const used = new Set<string>();
  const pairs = recipeInputs.map((input) => {
    const info = byName.get(input.name) ?? byName.get(renames[input.name] ?? '');
    if (info) used.add(info.name);
    return { input, info };
  });
  for (const pair of pairs) {
    if (pair.info) continue;
    const plain = plainTensorName(pair.input.name);
    const same = runnerInputs.filter((info) => !used.has(info.name) && plainTensorName(info.name) === plain);
    if (same.length === 1) {
      pair.info = same[0];
      used.add(same[0]!.name);
    }
  }
  const left = runnerInputs.filter((info) => !used.has(info.name));
  for (const pair of pairs) if (!pair.info) pair.info = left.shift();
  return pairs;
}

/**
 * Turns one sample (recipe input names, recipe layouts, float32 after preprocessing) into the
 * feeds an artifact takes: its input names, its layouts (transposed), its dtypes (float16 cast,
 * integer inputs quantised with the artifact's own scale and zero point). A sample that does not
 * fit the artifact's fixed dims is an error naming both shapes.
 * A runner that reports no inputs (PyTorch) gets the sample as it is, in recipe order.
 */
export function prepareFeeds(
  sample: Sample,
  recipeInputs: readonly InputSpec[],
  runnerInputs: readonly TensorInfo[],
  signature: ArtifactSignature = {},
): Record<string, Tensor> {
  if (runnerInputs.length === 0) {
    return Object.fromEntries(recipeInputs.map((input) => [input.name, sampleInput(sample, input.name)]));
  }
  const feeds: Record<string, Tensor> = {};
  // A constant input (`value:`) was folded into an artifact's graph: fed only where the model still takes it (the source).
  const names = new Set(runnerInputs.map((info) => info.name));
  const taken = recipeInputs.filter(
    (input) =>
      input.value === undefined || names.has(input.name) || names.has(signature.inputNames?.[input.name] ?? ''),
  );
  for (const { input, info } of pairInputs(taken, runnerInputs, signature.inputNames ?? {})) {
    if (!info) throw new TensorError(`the artifact has no input left for recipe input '${input.name}'`);
    const perm = signature.inputPerms?.[info.name];
    const layout = perm
      ? permutedLayout(input.layout, perm) || input.layout
      : (signature.inputLayouts?.[info.name] ?? input.layout);
    let tensor = sampleInput(sample, input.name);
    if (perm) tensor = toArtifactOrder(tensor, perm);
    else if (layout !== input.layout) tensor = transposeLayout(tensor, input.layout, layout);
    // A scalar that the converter made a one-element vector (onnx2tf: shape [] -> [1]) is the same element.
    if (tensor.dims.length === 0 && info.dims.length === 1 && (info.dims[0] === 1 || typeof info.dims[0] !== 'number'))
      tensor = { ...tensor, dims: [1] };
    const fits =
      tensor.dims.length === info.dims.length &&
      info.dims.every((dim, i) => typeof dim !== 'number' || dim === tensor.dims[i]);
    if (!fits) {
      throw new TensorError(
        `input '${input.name}': the sample's shape ${formatDims(tensor.dims)} (layout ${layout}) does not fit the artifact's input '${info.name}' ${formatDims(info.dims)}`,
      );
    }
    const quantization = info.quantization ?? signature.inputQuantization?.[info.name];
    if (quantization && isFloatDtype(tensor.dtype) && !isFloatDtype(info.dtype))
      tensor = quantize(tensor, quantization);
    feeds[info.name] = castTensor(tensor, info.dtype);
  }
  return feeds;
}

function sampleInput(sample: Sample, name: string): Tensor {
  const tensor = sample.inputs[name];
  if (!tensor) throw new TensorError(`sample ${sample.id} has no tensor for input '${name}'`);
  return tensor;
}

/**
 * Runs every sample through a loaded runner and stacks each output along axis 0 (scalars become
 * [1]), keyed by the runner's output names in its output order. With `stream`, the samples are
 * chained: each step after the first of a stream takes the fed-back outputs of the step before.
 */
export async function runSamples(
  runner: ModelRunner,
  samples: readonly Sample[],
  recipeInputs: readonly InputSpec[],
  signature: ArtifactSignature = {},
  stream?: StreamRun,
): Promise<Record<string, Tensor>> {
  const runnerInputs = runner.inputs();
  const perOutput = new Map<string, Tensor[]>();
  let previous: Record<string, Tensor> | undefined;
  for (const [index, own] of samples.entries()) {
    const sample =
      stream && previous && !startsStream(index, stream.spec)
        ? feedBack(own, previous, stream.spec, recipeInputs)
        : own;
    const results = await runner.run(prepareFeeds(sample, recipeInputs, runnerInputs, signature));
    if (stream) previous = stream.asSource ? stream.asSource(results) : results;
    for (const [name, tensor] of Object.entries(results)) {
      const list = perOutput.get(name) ?? [];
      list.push(tensor.dims.length === 0 ? { ...tensor, dims: [1] } : tensor);
      perOutput.set(name, list);
    }
  }
  const declared = runner.outputs().map((info) => info.name);
  const names = [
    ...declared.filter((name) => perOutput.has(name)),
    ...[...perOutput.keys()].filter((name) => !declared.includes(name)),
  ];
  return Object.fromEntries(names.map((name) => [name, concatBatch(perOutput.get(name)!)]));
}

/** The reference's outputs over the samples, with the layouts the recipe gives its outputs. */
export async function runReference(
  runner: ModelRunner,
  samples: LoadedSamples,
  recipe: Recipe,
  signature: ArtifactSignature = {},
): Promise<ComparedOutputs> {
  const stream = recipe.validation.stream;
  const stacked = await runSamples(
    runner,
    samples.samples,
    recipe.inputs,
    signature,
    stream ? { spec: stream } : undefined,
  );
  const layouts = new Map(recipe.outputs.map((output) => [output.name, output.layout]));
  const outputs: ComparedOutputs = {};
  for (const [name, tensor] of Object.entries(stacked)) {
    const layout = layouts.get(name);
    outputs[name] = layout ? { tensor, layout } : { tensor };
  }
  return outputs;
}

function floatValues(tensor: Tensor, q: QuantizationParams | undefined): Tensor<'float32'> {
  return q && !isFloatDtype(tensor.dtype) ? dequantize(tensor, q) : castTensor(tensor, 'float32');
}

/**
 * Reference output -> artifact output, for artifacts whose names do not tell their outputs apart
 * (onnx2tf names the three outputs of one Split `output_3`, `output_3_1`, `output_3_2`, whatever
 * the ONNX names): each pair of a shape that fits (through a candidate permutation) is scored by
 * its error, and the closest pairs are taken first. Outputs the numbers cannot place keep the
 * recorded pairing.
 */
function pairOutputsByNumbers(
  stacked: Record<string, Tensor>,
  reference: ComparedOutputs,
  signature: ArtifactSignature,
  quantization: Map<string, QuantizationParams | undefined>,
  samples: number,
): Record<string, string> {
  const scored: Array<{ ref: string; art: string; error: number }> = [];
  for (const [art, raw] of Object.entries(stacked)) {
    const values = floatValues(raw, quantization.get(art) ?? signature.outputQuantization?.[art]);
    const candidates = signature.outputPerms?.[art] ?? [values.dims.map((_, i) => i)];
    for (const [ref, output] of Object.entries(reference)) {
      const best = bestOutputPermutation(castTensor(output.tensor, 'float32'), values, candidates, samples);
      if (best) scored.push({ ref, art, error: best.error });
    }
  }
  scored.sort((a, b) => a.error - b.error);
  const pairs: Record<string, string> = {};
  const taken = new Set<string>();
  for (const { ref, art } of scored) {
    if (pairs[ref] !== undefined || taken.has(art)) continue;
    pairs[ref] = art;
    taken.add(art);
  }
  for (const [ref, art] of Object.entries(signature.outputNames ?? {}))
    if (pairs[ref] === undefined && !taken.has(art)) pairs[ref] = art;
  return pairs;
}

/** What `validateArtifact` needs. */
export interface ValidateArtifactOptions {
  recipe: Recipe;
  samples: LoadedSamples;
  /** The reference outputs over the same samples (see `runReference`). */
  reference: ComparedOutputs;
  /** The artifact, loaded. */
  runner: ModelRunner;
  format: TargetFormat;
  precision: Precision;
  signature?: ArtifactSignature;
}

/** The verdict on one artifact, with what the model card needs to say about it. */
export interface ArtifactValidation extends ComparisonResult {
  format: TargetFormat;
  precision: Precision;
  runtime: ModelRunner['runtime'];
  /** Number of samples compared. */
  samples: number;
  /** The samples were seeded random inputs: the card must say so. */
  synthetic: boolean;
  /**
   * How each output was bound, where the artifact permutes its axes: the permutation the numbers
   * settled on among those its shape allowed (the manifest's contract records it).
   */
  outputBindings?: TensorBinding[];
}

/**
 * Runs the artifact on the samples and compares with the reference: layouts transposed,
 * quantised outputs dequantised with the artifact's own parameters, thresholds of its
 * precision overridden by the recipe's `tolerances`, classifier outputs judged on agreement.
 */
export async function validateArtifact(options: ValidateArtifactOptions): Promise<ArtifactValidation> {
  const { recipe, samples, runner, signature = {} } = options;
  const quantization = new Map(runner.outputs().map((info) => [info.name, info.quantization]));
  const referenceLayouts = new Map(Object.entries(options.reference).map(([name, output]) => [name, output.layout]));
  const spec = recipe.validation.stream;
  const stream: StreamRun | undefined = spec && {
    spec,
    asSource: artifactOutputsAsSource({
      renames: signature.outputNames ?? {},
      quantization: new Map(
        runner.outputs().map((info) => [info.name, info.quantization ?? signature.outputQuantization?.[info.name]]),
      ),
      outputLayouts: signature.outputLayouts ?? {},
      referenceLayouts,
    }),
  };
  const stacked = await runSamples(runner, samples.samples, recipe.inputs, signature, stream);
  const count = samples.samples.length;
  const outputNames = signature.outputPairingUncertain
    ? pairOutputsByNumbers(stacked, options.reference, signature, quantization, count)
    : (signature.outputNames ?? {});
  const renamedFrom = new Map(Object.entries(outputNames).map(([ref, art]) => [art, ref]));
  const artifact: ComparedOutputs = {};
  const outputBindings: TensorBinding[] = [];
  for (const [name, stackedTensor] of Object.entries(stacked)) {
    const source = renamedFrom.get(name) ?? name;
    let q = quantization.get(name) ?? signature.outputQuantization?.[name];
    const candidates = signature.outputPerms?.[name];
    const reference = options.reference[source];
    const best =
      candidates && candidates.length > 0 && reference
        ? bestOutputPermutation(
            castTensor(reference.tensor, 'float32'),
            floatValues(stackedTensor, q),
            candidates,
            count,
          )
        : undefined;
    if (best && reference) {
      // Bound by its permutation: moved back into the source's axis order, compared as the reference.
      const perm = best.perm;
      if (q?.axis !== undefined) q = { ...q, axis: perm[q.axis < 0 ? q.axis + perm.length : q.axis]! };
      outputBindings.push({ source, name, perm });
      artifact[name] = {
        tensor: toSourceOrderStacked(stackedTensor, perm, count),
        ...(reference.layout ? { layout: reference.layout } : {}),
        ...(q ? { quantization: q } : {}),
      };
      continue;
    }
    const unitMoved = unitAxesMoved(stackedTensor, reference?.tensor, count);
    const tensor = unitMoved ?? stackedTensor;
    // An output without a recorded layout is taken to be in its reference's layout; one whose
    // only change is where its size-1 axes are is in the reference's layout once reshaped.
    const layout = unitMoved
      ? referenceLayouts.get(source)
      : (signature.outputLayouts?.[name] ?? referenceLayouts.get(source));
    artifact[name] = { tensor, ...(layout ? { layout } : {}), ...(q ? { quantization: q } : {}) };
  }
  const result = compareOutputs(options.reference, artifact, {
    thresholds: resolveThresholds(options.precision, options.format, recipe.tolerances),
    classifierOutputs: recipe.outputs.filter((output) => output.classifier).map((output) => output.name),
    topk: recipe.validation.topk,
    mapping: outputNames,
  });
  return {
    ...result,
    format: options.format,
    precision: options.precision,
    runtime: runner.runtime,
    samples: samples.samples.length,
    synthetic: samples.synthetic,
    ...(outputBindings.length > 0 ? { outputBindings } : {}),
  };
}

/**
 * An artifact output whose dims per sample are the reference's but for where its axes of size 1
 * are (onnx2tf makes an LSTM state [2,1,128] into [1,2,128]) holds its elements in the same order:
 * it is the reference's shape, reshaped. Outputs are stacked along axis 0, so transposing the
 * stacked tensor would mix samples when that axis moved; undefined when the rule does not apply.
 */
function unitAxesMoved(artifact: Tensor, reference: Tensor | undefined, samples: number): Tensor | undefined {
  if (!reference || samples === 0) return undefined;
  const perSample = (dims: readonly number[]) =>
    dims.length > 0 && dims[0]! % samples === 0 ? [dims[0]! / samples, ...dims.slice(1)] : undefined;
  const a = perSample(artifact.dims);
  const r = perSample(reference.dims);
  if (!a || !r || a.join(',') === r.join(',')) return undefined;
  const squeeze = (dims: number[]) => dims.filter((dim) => dim !== 1).join(',');
  if (squeeze(a) !== squeeze(r)) return undefined;
  return { ...artifact, dims: [...reference.dims] } as Tensor;
}
