/**
 * ONNX int8 through onnxruntime quantize_static (QDQ, per-channel), one configuration of the
 * quantization search (./search.ts) per call: activations kept float are excluded with their
 * producer and consumers by node name, 16-bit ones get TensorQuantOverrides, all ranked by
 * their own quantization error under the full quantization (quant.onnx_rank). The pre-processed
 * model, the ranking and each attempt's model are kept in the attempt cache (./attempt-cache.ts).
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConvertJob } from '../toolchain/backends/types.js';
import { ConverterError, runConverterOp, stepLogFile } from '../toolchain/backends/run-tool.js';
import { cachedPiece } from './attempt-cache.js';
import {
  quantOptionsOf,
  shareCount,
  topLayers,
  topTensors,
  type AppliedQuantization,
  type QuantOptions,
  type RankedLayer,
} from './search.js';
import { quantStepState, type QuantStepState } from './state.js';

/** The calibration of an ONNX model: its recipe inputs, each with its batch axis. */
export function onnxCalibration(job: ConvertJob): Array<{ name: string; npy: string; batchAxis: number | null }> {
  const calibration = job.calibration!;
  return job.inputs.map((input) => {
    const npy = calibration.byInput[input.name];
    if (!npy) throw new Error(`no calibration samples for input ${input.name}`);
    return { name: input.name, npy, batchAxis: calibration.batchAxis?.[input.name] ?? 0 };
  });
}

/** True when a configuration needs the ranking (any of its choices is "the worst k"). */
export function needsRanking(options: QuantOptions): boolean {
  return Boolean(options.keepFloatTop || options.keepFloatShare || options.int16Share || options.keepHeads);
}

/** Writes `output`: the prepared model quantised with the job's strategy; returns what was applied. */
export async function quantizeOnnx(job: ConvertJob, output: string): Promise<AppliedQuantization> {
  if (!job.calibration)
    throw new ConverterError({
      model: job.model,
      stepId: job.stepId,
      tool: 'onnxruntime quantize_static',
      how: 'no calibration samples',
      keyLines: [],
      logFile: stepLogFile(job.model, job.stepId),
    });
  const state = quantStepState(job.calibration);
  const options = quantOptionsOf(job.strategy, job.precision);
  const calibration = onnxCalibration(job);
  const pre = await preprocessed(job, state, calibration);
  const ranking = needsRanking(options) ? await rankOnnx(job, state, calibration) : undefined;
  let keptFloat = options.keepFloat ?? [];
  let int16Tensors = options.int16Tensors ?? [];
  if (ranking) {
    const top =
      options.keepFloatTop ?? (options.keepFloatShare ? shareCount(ranking.layers, options.keepFloatShare) : 0);
    const heads = options.keepHeads ? (ranking.heads ?? []) : [];
    keptFloat = [...new Set([...keptFloat, ...topLayers(ranking.layers, top, heads)])];
    if (options.int16Share)
      int16Tensors = [...new Set([...int16Tensors, ...topTensors(ranking.layers, options.int16Share)])];
  }
  const request = {
    model: pre,
    output,
    calibration,
    preprocess: false,
    activationType: options.activations === 'int16' ? ('QInt16' as const) : ('QInt8' as const),
    weightType: 'QInt8' as const,
    perChannel: true,
    calibrateMethod: options.calibrationMethod ?? 'MinMax',
    nodesToExclude: keptFloat.length > 0 ? keptFloat : null,
    opTypes: options.opTypes ?? null,
    excludeOpTypes: options.keepFloatOps?.length ? options.keepFloatOps : null,
    tensorTypes: int16Tensors.length > 0 ? Object.fromEntries(int16Tensors.map((t) => [t, 'QUInt16' as const])) : null,
  };
  if (keptFloat.length > 0 || int16Tensors.length > 0)
    job.log(
      `[edgezoo] quant: ${keptFloat.length} node(s) float${int16Tensors.length > 0 ? `, ${int16Tensors.length} activation(s) 16-bit` : ''}${options.calibrationMethod ? `, ${options.calibrationMethod} calibration` : ''}`,
    );
  const isFull =
    keptFloat.length === 0 &&
    int16Tensors.length === 0 &&
    !options.opTypes &&
    !options.keepFloatOps?.length &&
    !options.calibrationMethod &&
    options.activations === 'int8';
  let nodes: number;
  if (isFull) {
    // The full quantization was made with the pre-processed model.
    await copyFile(state.fullQuantized!, output);
    nodes = state.nodes!;
  } else {
    const { model: _model, output: _output, calibration: _calibration, ...piece } = request;
    nodes = await cachedPiece(job, { kind: 'onnx-attempt', piece }, 'the quantised model', [output], async () => {
      const reply = await runConverterOp(job, 'onnxruntime quantize_static', 'tf', 'quant.onnx_static', request);
      return reply.nodes;
    });
  }
  const ranked = keptFloat.length > 0 || int16Tensors.length > 0;
  return {
    activations: options.activations,
    keptFloat,
    keptFloatOps: options.keepFloatOps ?? [],
    opTypes: options.opTypes ?? null,
    ...(int16Tensors.length > 0 ? { int16Tensors } : {}),
    ...(options.calibrationMethod ? { calibrationMethod: options.calibrationMethod } : {}),
    floatFallback: null,
    layers: nodes,
    rankedBy: ranked && ranking ? ranking.metric : null,
  };
}

/** quant_pre_process's model (the node names later attempts exclude are its names), made once per step. */
async function preprocessed(
  job: ConvertJob,
  state: QuantStepState,
  calibration: ReturnType<typeof onnxCalibration>,
): Promise<string> {
  if (state.preprocessed) return state.preprocessed;
  const pre = path.join(job.workDir, 'pre.onnx');
  const full = path.join(job.workDir, 'full-int8.onnx');
  // quant_pre_process runs inside quantize_static; the full quantization comes with it.
  state.nodes = await cachedPiece(
    job,
    { kind: 'onnx-preprocess-and-full' },
    'the pre-processed model and the full quantization',
    [pre, full],
    async () => {
      const reply = await runConverterOp(job, 'onnxruntime quantize_static', 'tf', 'quant.onnx_static', {
        model: job.inputFile!,
        output: full,
        calibration,
        preprocessedOutput: pre,
      });
      return reply.nodes;
    },
  );
  state.preprocessed = pre;
  state.fullQuantized = full;
  return pre;
}

/** The activations of the full quantization ranked worst first (made once per step, cached). */
async function rankOnnx(
  job: ConvertJob,
  state: QuantStepState,
  calibration: ReturnType<typeof onnxCalibration>,
): Promise<NonNullable<QuantStepState['ranking']>> {
  if (state.ranking) return state.ranking;
  const ranking = await cachedPiece(job, { kind: 'onnx-ranking' }, 'the layer ranking', [], async () => {
    job.log('[edgezoo] quant: ranking activations by their own quantization error (SQNR with the full int8 scales)');
    return runConverterOp(job, 'onnxruntime quantization ranking', 'tf', 'quant.onnx_rank', {
      floatModel: state.preprocessed!,
      qdqModel: state.fullQuantized!,
      calibration,
    });
  });
  logRanking(job, ranking.layers, ranking.heads ?? []);
  state.ranking = ranking;
  return ranking;
}

/** The worst layers and the heads, in the step log. */
export function logRanking(
  job: Pick<ConvertJob, 'log'>,
  layers: readonly RankedLayer[],
  heads: readonly string[],
): void {
  const worst = layers
    .slice(0, 8)
    .map((l) => `${l.tensor} (${l.opType}, ${(-l.score).toFixed(1)} dB)`)
    .join(', ');
  job.log(`[edgezoo] quant: ${layers.length} activations ranked; worst: ${worst}`);
  if (heads.length > 0) job.log(`[edgezoo] quant: output heads: ${heads.join(', ')}`);
}
