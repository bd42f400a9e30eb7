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
import { channelsLastPerm, fittingPerms, toSourceOrder } from './binding.js';

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

/** One intermediate tensor of a converted artifact (TFLite, OpenVINO), as its runtime kept it. */
export interface ArtifactIntermediate {
  name: string;
  /** The artifact op that produced it. */
  op: string;
  tensor: Tensor;
}

/** Options of `diagnoseConverted`. */
export interface ConvertedDiagnoseOptions {
  /** The prepared ONNX model the artifact was converted from. */
  referencePath: string;
  recipeInputs: readonly InputSpec[];
  sample: Sample;
  thresholds: Tolerance;
  /** The artifact's intermediate tensors on the same sample, in execution order. */
  artifact: readonly ArtifactIntermediate[];
  threads?: number;
}

/**
 * Finds where a converted artifact (TFLite, OpenVINO IR) starts to differ from the prepared ONNX
 * model it came from. Converters rename, fuse and transpose tensors, so tensors are paired by
 * their numbers: a reference tensor agrees when some artifact tensor of its element count (the
 * same name first) matches it within the thresholds through a permutation its shape allows
 * (channels-last first). The first diverging op is the first reference tensor that agrees with
 * nothing and after which nothing computed from it agrees again (a tensor fused away inside an
 * op is unmatched, but what the fused op outputs agrees again).
 */
export async function diagnoseConverted(options: ConvertedDiagnoseOptions): Promise<OnnxDiagnosis> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-diagnose-'));
  try {
    const model = loadModel(options.referencePath);
    const reference = await runExposed(options.referencePath, folder, 'reference', options.threads ?? 1, (runner) =>
      prepareFeeds(options.sample, options.recipeInputs, runner.inputs()),
    );
    const consumers = new Map<string, string[]>();
    for (const node of model.graph?.node ?? [])
      for (const input of node.input) consumers.set(input, [...(consumers.get(input) ?? []), ...node.output]);
    return matchIntermediates(reference.producers, reference.outputs, options.artifact, options.thresholds, consumers);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * The pairing and verdict of `diagnoseConverted`, on tensors already computed. `consumers` maps a
 * tensor to the tensors computed directly from it.
 */
export function matchIntermediates(
  producers: ReadonlyArray<{ tensor: string; node: string; op: string }>,
  referenceOutputs: Readonly<Record<string, Tensor>>,
  artifact: readonly ArtifactIntermediate[],
  thresholds: Tolerance,
  consumers: ReadonlyMap<string, readonly string[]>,
): OnnxDiagnosis {
  const limits = pick(thresholds, ['atol', 'rtol', 'cosine']);
  const bySize = new Map<number, ArtifactIntermediate[]>();
  for (const entry of artifact) {
    const size = entry.tensor.data.length;
    bySize.set(size, [...(bySize.get(size) ?? []), entry]);
  }
  const compared: TensorDivergence[] = [];
  const agrees = new Set<string>();
  let unmatched = 0;
  for (const producer of producers) {
    const ref = referenceOutputs[producer.tensor];
    if (!ref || !isFloatDtype(ref.dtype)) continue;
    const candidates = [...(bySize.get(ref.data.length) ?? [])].sort(
      (a, b) => Number(b.name === producer.tensor) - Number(a.name === producer.tensor),
    );
    if (candidates.length === 0) {
      // Nothing of its size: fused away (then what is computed from it agrees again), or the op
      // made another shape (OpenVINO keeps ONNX names: the same name says which).
      unmatched++;
      const named = artifact.find((entry) => entry.name === producer.tensor);
      compared.push({
        tensor: producer.tensor,
        node: producer.node,
        op: producer.op,
        dims: ref.dims,
        failures: [
          named
            ? `shape ${formatDims(named.tensor.dims)} of the artifact's '${named.name}' differs from the reference's ${formatDims(ref.dims)}`
            : `no tensor of the artifact has its ${ref.data.length} element(s)`,
        ],
      });
      continue;
    }
    const refValues = toFloat32(ref);
    let best: { metrics: OutputMetrics; failures: string[] } | undefined;
    for (const candidate of candidates) {
      const values: Tensor<'float32'> = {
        dtype: 'float32',
        dims: candidate.tensor.dims,
        data: toFloat32(candidate.tensor),
      };
      const perms = fittingPerms(ref.dims, values.dims, [channelsLastPerm(ref.dims.length)]);
      const orders =
        perms.length > 0 ? perms.map((perm) => toSourceOrder(values, perm)) : [{ ...values, dims: ref.dims }];
      for (const moved of orders) {
        const metrics = measureOutput(refValues, moved.data as Float32Array);
        const failures = checkThresholds(metrics, limits);
        if (!best || failures.length < best.failures.length || metrics.maxAbsError < best.metrics.maxAbsError)
          best = { metrics, failures };
        if (failures.length === 0) break;
      }
      if (best?.failures.length === 0) break;
    }
    const entry: TensorDivergence = {
      tensor: producer.tensor,
      node: producer.node,
      op: producer.op,
      dims: ref.dims,
      ...(best ? { metrics: best.metrics } : {}),
      failures: best?.failures.length
        ? [
            `no tensor of the artifact agrees with it (${candidates.length} of its size compared; closest: ${best.failures.join('; ')})`,
          ]
        : [],
    };
    if (entry.failures.length === 0) agrees.add(producer.tensor);
    compared.push(entry);
  }
  const agreesLater = (tensor: string): boolean => {
    const seen = new Set<string>();
    const pending = [...(consumers.get(tensor) ?? [])];
    while (pending.length > 0) {
      const next = pending.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      if (agrees.has(next)) return true;
      pending.push(...(consumers.get(next) ?? []));
    }
    return false;
  };
  const firstDivergence = compared.find((entry) => entry.failures.length > 0 && !agreesLater(entry.tensor));
  return firstDivergence ? { compared, firstDivergence, unmatched } : { compared, unmatched };
}
