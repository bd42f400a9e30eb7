import type { Tolerance } from '../recipe/types.js';
import { TensorError } from './errors.js';
import { checkThresholds, measureOutput, type OutputMetrics } from './metrics.js';
import { formatDims, isFloatDtype, toFloat32, type Tensor } from './tensor.js';
import {
  dequantize,
  layoutPermutation,
  permuteDims,
  transpose,
  transposeLayout,
  type QuantizationParams,
} from './transforms.js';

/** One output of a model run over all samples (stacked along axis 0), as compared. */
export interface ComparedOutput {
  tensor: Tensor;
  /** Axis letters, e.g. 'NCHW'; when both sides give one, the artifact is transposed to the reference's. */
  layout?: string;
  /** The artifact's own quantisation of an integer output; it is dequantised before comparing. */
  quantization?: QuantizationParams;
}

/** Outputs by name, in the model's output order (object key order). */
export type ComparedOutputs = Record<string, ComparedOutput>;

/** Which rule paired a reference output with an artifact output. */
export type MatchRule = 'name' | 'mapping' | 'shape' | 'order' | 'none';

export interface OutputMatch {
  reference: string;
  /** Absent when nothing was left to pair with (`rule` is then 'none'). */
  artifact?: string;
  rule: MatchRule;
}

/**
 * Pairs reference outputs with artifact outputs, as converters rename and reorder them:
 * 1. same name; 2. the recorded `mapping` (reference name -> artifact name);
 * 3. same shape (after the layout transpose), when that shape is unique among the outputs left;
 * 4. the order of the outputs left (same shape first, then any), which a shape check then judges.
 */
export function matchOutputs(
  reference: ComparedOutputs,
  artifact: ComparedOutputs,
  mapping: Readonly<Record<string, string>> = {},
): { matches: OutputMatch[]; unmatchedArtifact: string[] } {
  const referenceNames = Object.keys(reference);
  const free = new Set(Object.keys(artifact));
  const paired = new Map<string, OutputMatch>();
  const take = (ref: string, art: string, rule: MatchRule) => {
    paired.set(ref, { reference: ref, artifact: art, rule });
    free.delete(art);
  };

  for (const name of referenceNames) if (free.has(name)) take(name, name, 'name');
  for (const name of referenceNames) {
    const target = mapping[name];
    if (!paired.has(name) && target !== undefined && free.has(target)) take(name, target, 'mapping');
  }

  const shapeKey = (output: ComparedOutput, towards?: string) => alignedDims(output, towards).join('x');
  const leftRefs = () => referenceNames.filter((name) => !paired.has(name));
  // Unique shapes first, so that an ambiguous pair never steals a uniquely matching output.
  for (const name of leftRefs()) {
    const key = shapeKey(reference[name]!);
    const sameShapeRefs = leftRefs().filter((other) => shapeKey(reference[other]!) === key);
    const candidates = [...free].filter((art) => shapeKey(artifact[art]!, reference[name]!.layout) === key);
    if (sameShapeRefs.length === 1 && candidates.length === 1) take(name, candidates[0]!, 'shape');
  }
  for (const name of leftRefs()) {
    const key = shapeKey(reference[name]!);
    const candidate = [...free].find((art) => shapeKey(artifact[art]!, reference[name]!.layout) === key);
    if (candidate !== undefined) take(name, candidate, 'order');
  }
  for (const name of leftRefs()) {
    const candidate = [...free][0];
    if (candidate !== undefined) take(name, candidate, 'order');
  }

  const matches = referenceNames.map((name) => paired.get(name) ?? { reference: name, rule: 'none' as const });
  return { matches, unmatchedArtifact: [...free] };
}

/** The artifact's dims as they will be after transposing into `towards` (its own dims when either layout is unknown). */
function alignedDims(output: ComparedOutput, towards?: string): number[] {
  const from = output.layout;
  if (
    !from ||
    !towards ||
    from === towards ||
    from.length !== output.tensor.dims.length ||
    towards.length !== from.length
  ) {
    return output.tensor.dims;
  }
  try {
    return permuteDims(output.tensor.dims, layoutPermutation(from, towards));
  } catch {
    return output.tensor.dims;
  }
}

/** Options of `compareOutputs`. */
export interface CompareOptions {
  /** The thresholds to apply (see `resolveThresholds`). */
  thresholds: Tolerance;
  /** Reference output names that hold class scores: top-1/top-k agreement is measured on them. */
  classifierOutputs?: readonly string[];
  /** k of top-k agreement; default 5. */
  topk?: number;
  /** Recorded renames, reference name -> artifact name. */
  mapping?: Readonly<Record<string, string>>;
}

/** The comparison of one reference output. */
export interface OutputComparison {
  /** The reference output's name. */
  name: string;
  /** The artifact output it was paired with. */
  artifactName?: string;
  matchedBy: MatchRule;
  referenceDims: number[];
  /** The artifact output's dims after the layout transpose. */
  artifactDims?: number[];
  /** Absent when the shapes differ or nothing was paired. */
  metrics?: OutputMetrics;
  thresholds: Tolerance;
  /** Human sentences naming each failed metric, its value and its threshold. */
  failures: string[];
  status: 'passed' | 'failed';
}

/** The verdict on one artifact. */
export interface ComparisonResult {
  status: 'passed' | 'failed';
  outputs: OutputComparison[];
  /** Artifact outputs that no reference output was paired with (reported, not a failure). */
  unmatchedArtifactOutputs: string[];
}

/** The class axis of a classifier output: the layout's 'C' when named, else the innermost axis. */
function classAxis(dims: readonly number[], layout?: string): number {
  const index = layout && layout.length === dims.length ? layout.indexOf('C') : -1;
  return index >= 0 ? index : dims.length - 1;
}

/** Float values of an artifact output, dequantised when it carries quantisation parameters. */
function artifactValues(output: ComparedOutput): Tensor {
  if (output.quantization && !isFloatDtype(output.tensor.dtype)) return dequantize(output.tensor, output.quantization);
  return { dtype: 'float32', dims: output.tensor.dims, data: toFloat32(output.tensor) };
}

/**
 * Compares an artifact's outputs with the reference's: pairs them (`matchOutputs`), checks shapes
 * after the layout transpose (a mismatch is a failure, not an exception), dequantises, then
 * measures and judges each output against `thresholds`.
 */
export function compareOutputs(
  reference: ComparedOutputs,
  artifact: ComparedOutputs,
  options: CompareOptions,
): ComparisonResult {
  const { matches, unmatchedArtifact } = matchOutputs(reference, artifact, options.mapping);
  const classifiers = new Set(options.classifierOutputs ?? []);
  const outputs = matches.map((match): OutputComparison => {
    const ref = reference[match.reference]!;
    const base = {
      name: match.reference,
      matchedBy: match.rule,
      referenceDims: ref.tensor.dims,
      thresholds: options.thresholds,
    };
    if (match.artifact === undefined) {
      return { ...base, status: 'failed', failures: ['the artifact has no output left to compare with this one'] };
    }
    const art = artifact[match.artifact]!;
    const artifactDims = alignedDims(art, ref.layout);
    const paired = { ...base, artifactName: match.artifact, artifactDims };
    if (artifactDims.join(',') !== ref.tensor.dims.join(',')) {
      const layouts =
        art.layout && ref.layout && art.layout !== ref.layout
          ? ` (after transposing ${art.layout} to ${ref.layout})`
          : '';
      return {
        ...paired,
        status: 'failed',
        failures: [
          `shape ${formatDims(artifactDims)}${layouts} differs from the reference's ${formatDims(ref.tensor.dims)}`,
        ],
      };
    }
    let values: Tensor;
    try {
      values = artifactValues(art);
      if (art.layout && ref.layout && art.layout !== ref.layout && art.layout.length === art.tensor.dims.length) {
        values = transposeLayout(values, art.layout, ref.layout);
      }
    } catch (error) {
      if (error instanceof TensorError) return { ...paired, status: 'failed', failures: [error.message] };
      throw error;
    }
    const refValues = toFloat32(ref.tensor);
    let classifier: { classes: number; k: number } | undefined;
    if (classifiers.has(match.reference)) {
      const axis = classAxis(ref.tensor.dims, ref.layout);
      // Agreement is counted along the innermost axis; move the class axis there first.
      const perm = ref.tensor.dims.map((_, i) => i).filter((i) => i !== axis);
      perm.push(axis);
      const refRows = transpose({ dtype: 'float32', dims: ref.tensor.dims, data: refValues }, perm);
      const artRows = transpose(values, perm);
      classifier = { classes: ref.tensor.dims[axis] ?? 1, k: options.topk ?? 5 };
      const metrics = measureOutput(refRows.data as Float32Array, artRows.data as Float32Array, { classifier });
      return judged(paired, metrics, options.thresholds);
    }
    return judged(paired, measureOutput(refValues, values.data as Float32Array), options.thresholds);
  });
  return {
    status: outputs.every((output) => output.status === 'passed') ? 'passed' : 'failed',
    outputs,
    unmatchedArtifactOutputs: unmatchedArtifact,
  };
}

function judged(
  paired: Omit<OutputComparison, 'status' | 'failures' | 'metrics'>,
  metrics: OutputMetrics,
  thresholds: Tolerance,
): OutputComparison {
  const failures = checkThresholds(metrics, thresholds);
  return { ...paired, metrics, failures, status: failures.length ? 'failed' : 'passed' };
}
