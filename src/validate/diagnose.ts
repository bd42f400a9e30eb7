import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadModel, saveModel, type ModelProto, type ValueInfoProto } from '../formats/onnx/index.js';
import type { InputSpec, Tolerance } from '../recipe/types.js';
import { checkThresholds, measureOutput, type OutputMetrics } from './metrics.js';
import { prepareFeeds, type ArtifactSignature } from './run.js';
import { OnnxRuntimeRunner } from './runners/onnxruntime.js';
import type { Sample } from './samples.js';
import { formatDims, isFloatDtype, toFloat32, type Tensor } from './tensor.js';

/** One intermediate tensor both models compute, as compared. */
export interface TensorDivergence {
  /** The tensor name, shared by both graphs. */
  tensor: string;
  /** The reference node that produces it, and its op type. */
  node: string;
  op: string;
  dims: number[];
  metrics?: OutputMetrics;
  /** Empty when the tensor agrees within the thresholds. */
  failures: string[];
}

/** What `diagnoseOnnx` found. */
export interface OnnxDiagnosis {
  /** Tensors compared, in the reference graph's topological order. */
  compared: TensorDivergence[];
  /** The first of them that diverges beyond the thresholds; absent when all agree. */
  firstDivergence?: TensorDivergence;
  /** Intermediate tensors of the reference with no counterpart of the same name and size in the artifact. */
  unmatched: number;
}

/** Options of `diagnoseOnnx`. */
export interface DiagnoseOptions {
  referencePath: string;
  artifactPath: string;
  recipeInputs: readonly InputSpec[];
  /** One sample to run (the first validation sample is a good choice). */
  sample: Sample;
  /** Per-tensor thresholds; the artifact precision's (`resolveThresholds`) fit. Only atol/rtol and cosine apply. */
  thresholds: Tolerance;
  /** The artifact's input renames/layouts, as for validation. */
  signature?: ArtifactSignature;
  threads?: number;
}

/** Every node output of the main graph becomes a graph output, so a run returns all of them. */
function exposeIntermediates(model: ModelProto): {
  model: ModelProto;
  producers: Array<{ tensor: string; node: string; op: string }>;
} {
  const graph = model.graph!;
  const existing = new Set(graph.output.map((output) => output.name));
  const producers: Array<{ tensor: string; node: string; op: string }> = [];
  const added: ValueInfoProto[] = [];
  graph.node.forEach((node, index) => {
    for (const output of node.output) {
      if (!output) continue;
      producers.push({ tensor: output, node: node.name || `${node.opType}_${index}`, op: node.opType ?? '?' });
      // Name-only value infos: onnxruntime infers their type; declaring one could contradict it.
      if (!existing.has(output)) added.push({ name: output, metadataProps: [] });
      existing.add(output);
    }
  });
  return { model: { ...model, graph: { ...graph, output: [...graph.output, ...added] } }, producers };
}

async function runExposed(
  modelPath: string,
  folder: string,
  label: string,
  threads: number,
  feedsFor: (runner: OnnxRuntimeRunner) => Record<string, Tensor>,
) {
  const exposed = exposeIntermediates(loadModel(modelPath));
  const file = path.join(folder, `${label}.onnx`);
  saveModel(exposed.model, file);
  const runner = new OnnxRuntimeRunner({ threads });
  await runner.load(file);
  try {
    return { producers: exposed.producers, outputs: await runner.run(feedsFor(runner)) };
  } finally {
    await runner.dispose();
  }
}

/**
 * Finds where a failed ONNX artifact starts to differ from its reference: both graphs are
 * rewritten to output every intermediate tensor, run on one sample, and the tensors whose names
 * both graphs share (converters that keep names: fp16, QDQ int8) are compared in the
 * reference's topological order. The first whose error breaks the thresholds names the op.
 * Tensors of different sizes (a layout change, a fused op) are skipped and counted.
 */
export async function diagnoseOnnx(options: DiagnoseOptions): Promise<OnnxDiagnosis> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-diagnose-'));
  const threads = options.threads ?? 1;
  try {
    const reference = await runExposed(options.referencePath, folder, 'reference', threads, (runner) =>
      prepareFeeds(options.sample, options.recipeInputs, runner.inputs()),
    );
    const artifact = await runExposed(options.artifactPath, folder, 'artifact', threads, (runner) =>
      prepareFeeds(options.sample, options.recipeInputs, runner.inputs(), options.signature),
    );
    const compared: TensorDivergence[] = [];
    let unmatched = 0;
    for (const producer of reference.producers) {
      const ref = reference.outputs[producer.tensor];
      const art = artifact.outputs[producer.tensor];
      if (!ref || !isFloatDtype(ref.dtype)) continue; // shapes, indices and masks are not where accuracy is lost
      if (!art || !isFloatDtype(art.dtype) || art.data.length !== ref.data.length) {
        unmatched++;
        continue;
      }
      const entry: TensorDivergence = {
        tensor: producer.tensor,
        node: producer.node,
        op: producer.op,
        dims: ref.dims,
        failures: [],
      };
      if (ref.dims.join(',') !== art.dims.join(',')) {
        entry.failures.push(`shape ${formatDims(art.dims)} differs from the reference's ${formatDims(ref.dims)}`);
      } else {
        entry.metrics = measureOutput(toFloat32(ref), toFloat32(art));
        entry.failures = checkThresholds(entry.metrics, { ...pick(options.thresholds, ['atol', 'rtol', 'cosine']) });
      }
      compared.push(entry);
    }
    const firstDivergence = compared.find((entry) => entry.failures.length > 0);
    return firstDivergence ? { compared, firstDivergence, unmatched } : { compared, unmatched };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

function pick(tolerance: Tolerance, keys: Array<keyof Tolerance>): Tolerance {
  const result: Tolerance = {};
  for (const key of keys) if (tolerance[key] !== undefined) result[key] = tolerance[key];
  return result;
}
