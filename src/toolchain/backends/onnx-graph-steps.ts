/**
 * Converter-neutral ONNX graph work that strategies of more than one converter do before their
 * converter runs (onnx2tf and ovc): the named graph rewrites, the ops ONNX defines as functions
 * (expanded into their bodies), Resize as MatMul. Each step is a no-op for a model without the
 * ops it touches; the converters decide when to run them (their strategies' options).
 */
import path from 'node:path';
import {
  castLikeToCast,
  decomposeDynamicClip,
  decomposeFloatMod,
  decomposeToBuiltinMath,
  dropNoopSliceAxes,
  dropUnusedInitializers,
  explicitKernelShape,
  explicitSamePads,
  explicitSplitSizes,
  explicitRecurrentStates,
  gatherElementsAsGather,
  loadModel,
  poolsAsSlices,
  scatterReductionsAsGathers,
  allNodes,
  type GraphRewriteResult,
  type ModelProto,
} from '../../formats/onnx/index.js';
import { runConverterOp } from './run-tool.js';
import type { ConvertJob } from './types.js';

/**
 * A rewrite of the ONNX model handed to a converter: changes `model` in place and returns one
 * line per change for the step log (none: nothing to do for this model).
 */
export type GraphRewrite = (model: ModelProto) => string[];

/** A pure rewrite of src/formats/onnx made a GraphRewrite (the model takes the result's graph). */
function inPlace(rewrite: (model: ModelProto) => GraphRewriteResult): GraphRewrite {
  return (model) => {
    const { model: result, changes } = rewrite(model);
    if (changes.length > 0) model.graph = dropUnusedInitializers(result).graph;
    return changes;
  };
}

/** Graph rewrites strategies may name in `options.rewrites` (and onnx2tf's corrections). */
export const ONNX_GRAPH_REWRITES: Readonly<Record<string, GraphRewrite>> = {
  'slice-noop-axes': inPlace(dropNoopSliceAxes),
  'float-mod': inPlace(decomposeFloatMod),
  'builtin-math': inPlace(decomposeToBuiltinMath),
  'cast-like': inPlace(castLikeToCast),
  'clip-bounds': inPlace(decomposeDynamicClip),
  'kernel-shape': inPlace(explicitKernelShape),
  'recurrent-states': inPlace(explicitRecurrentStates),
  'same-pads': inPlace(explicitSamePads),
  'split-sizes': inPlace(explicitSplitSizes),
  'gather-elements-flat': inPlace(gatherElementsAsGather),
  'pools-as-slices': inPlace(poolsAsSlices),
  'scatter-reductions': inPlace(scatterReductionsAsGathers),
};

/**
 * ONNX ops defined as functions of primitive ops whose conversion fails in some forms (onnx2tf
 * 1.29 on LayerNormalization's Mean output, ovc on NegativeLogLikelihoodLoss with an
 * ignore_index), while their expansion (what the onnx node tests call `_expanded`) converts.
 */
export const ONNX_FUNCTION_OPS = [
  'LayerNormalization',
  'RMSNormalization',
  'GroupNormalization',
  'MeanVarianceNormalization',
  'Attention',
  'RotaryEmbedding',
  'CenterCropPad',
  'AffineGrid',
  'SoftmaxCrossEntropyLoss',
  'NegativeLogLikelihoodLoss',
  'Gelu',
  'Mish',
  'Celu',
  'Swish',
  'Shrink',
  'ThresholdedRelu',
  'HardSwish',
  'HardSigmoid',
  'Selu',
  'Elu',
  'LeakyRelu',
  'PRelu',
  'Softplus',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
] as const;

/** ONNX pooling ops pools-as-slices computes from slices. */
export const POOL_OPS = ['MaxPool', 'AveragePool', 'LpPool'];

/** Whether `file`'s graph (functions' bodies included) has a node of one of `opTypes`. */
function hasOp(file: string, opTypes: ReadonlySet<string>): boolean {
  return [...allNodes(loadModel(file).graph!)].some((node) => opTypes.has(node.opType ?? ''));
}

/**
 * `file` with every node of `opTypes` replaced by its ONNX function body (the python op expands
 * bodies that call other function ops too), written into the job's work folder as `outName`;
 * `file` itself when it has none. `tool` names the converter in errors and logs.
 */
export async function expandFunctionOps(
  job: ConvertJob,
  tool: string,
  file: string,
  opTypes: readonly string[],
  outName: string,
): Promise<{ model: string; expanded: string[] }> {
  if (opTypes.length === 0 || !hasOp(file, new Set(opTypes))) return { model: file, expanded: [] };
  const result = await runConverterOp(job, tool, 'tf', 'onnx.expand_functions', {
    model: file,
    output: path.join(job.workDir, outName),
    opTypes: [...opTypes],
  });
  if (!result.output) return { model: file, expanded: [] };
  job.log(`[edgezoo] expanded into their ONNX function bodies: ${result.expanded.join(', ')}`);
  return { model: result.output, expanded: result.expanded };
}

/**
 * `file` with each Resize/Upsample (constant scales or sizes, static shape) as one MatMul per
 * resized axis by its interpolation matrix, written as `outName`; `file` when nothing changed.
 */
export async function resizeAsMatmul(
  job: ConvertJob,
  tool: string,
  file: string,
  outName: string,
): Promise<{ model: string; rewritten: string[] }> {
  if (!hasOp(file, new Set(['Resize', 'Upsample']))) return { model: file, rewritten: [] };
  const result = await runConverterOp(job, tool, 'tf', 'onnx.resize_to_matmul', {
    model: file,
    output: path.join(job.workDir, outName),
  });
  if (!result.output) return { model: file, rewritten: [] };
  job.log(`[edgezoo] Resize as MatMul by its interpolation matrix: ${result.rewritten.join(', ')}`);
  return { model: result.output, rewritten: result.rewritten };
}

/**
 * Applies the named rewrites of ONNX_GRAPH_REWRITES to `model` in place, in order, logging each
 * change; returns how many changes there were. An unknown name is a programming error of the
 * catalogue entry `owner` names.
 */
export function applyGraphRewrites(
  job: Pick<ConvertJob, 'log'>,
  model: ModelProto,
  names: readonly string[],
  owner: string,
): number {
  let changed = 0;
  for (const name of names) {
    const rewrite = ONNX_GRAPH_REWRITES[name];
    if (!rewrite) throw new Error(`${owner} names an unknown graph rewrite "${name}"`);
    for (const change of rewrite(model)) {
      job.log(`[edgezoo] rewrite ${name}: ${change}`);
      changed++;
    }
  }
  return changed;
}
