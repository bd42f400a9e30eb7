/**
 * ONNX int8 through onnxruntime quantize_static (QDQ, per-channel), one configuration of the
 * quantization search (./search.ts) per call: layers kept float are nodes excluded by name,
 * ranked by onnxruntime's qdq_loss_debug on the full quantization.
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConvertJob } from '../toolchain/backends/types.js';
import { ConverterError, runConverterOp, stepLogFile } from '../toolchain/backends/run-tool.js';
import { quantOptionsOf, topLayers, type AppliedQuantization } from './search.js';
import { quantStepState } from './state.js';

/** The calibration of an ONNX model: its recipe inputs, each with its batch axis. */
export function onnxCalibration(job: ConvertJob): Array<{ name: string; npy: string; batchAxis: number | null }> {
  const calibration = job.calibration!;
  return job.inputs.map((input) => {
    const npy = calibration.byInput[input.name];
    if (!npy) throw new Error(`no calibration samples for input ${input.name}`);
    return { name: input.name, npy, batchAxis: calibration.batchAxis?.[input.name] ?? 0 };
  });
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
  let keptFloat = options.keepFloat ?? [];
  if (options.keepFloatTop) {
    if (!state.ranking) {
      if (!state.fullQuantized || !state.preprocessed) {
        // A ranking needs the full quantization: make it now (the search ran it first unless pinned).
        const full = path.join(job.workDir, 'full-int8.onnx');
        const pre = path.join(job.workDir, 'pre.onnx');
        await runConverterOp(job, 'onnxruntime quantize_static', 'tf', 'quant.onnx_static', {
          model: job.inputFile!,
          output: full,
          calibration,
          preprocessedOutput: pre,
        });
        state.preprocessed = pre;
        state.fullQuantized = full;
      }
      job.log('[edgezoo] quant: ranking layers by their own quantization error (onnxruntime qdq_loss_debug)');
      state.ranking = await runConverterOp(job, 'onnxruntime qdq_loss_debug', 'tf', 'quant.onnx_rank', {
        floatModel: state.preprocessed,
        qdqModel: state.fullQuantized,
        calibration,
      });
      const worst = state.ranking.layers.slice(0, 5).map((l) => `${l.node} (${l.opType}, ${(-l.score).toFixed(1)} dB)`);
      job.log(`[edgezoo] quant: worst layers: ${worst.join(', ')}`);
    }
    keptFloat = [...new Set([...keptFloat, ...topLayers(state.ranking.layers, options.keepFloatTop)])];
  }
  const first = !state.preprocessed;
  const pre = state.preprocessed ?? path.join(job.workDir, 'pre.onnx');
  const reply = await runConverterOp(job, 'onnxruntime quantize_static', 'tf', 'quant.onnx_static', {
    model: first ? job.inputFile! : pre,
    output,
    calibration,
    ...(first ? { preprocessedOutput: pre } : { preprocess: false }),
    activationType: options.activations === 'int16' ? 'QInt16' : 'QInt8',
    weightType: 'QInt8',
    perChannel: true,
    nodesToExclude: keptFloat.length > 0 ? keptFloat : null,
    opTypes: options.opTypes ?? null,
    excludeOpTypes: options.keepFloatOps?.length ? options.keepFloatOps : null,
  });
  state.preprocessed = pre;
  const isFull = keptFloat.length === 0 && !options.opTypes && !options.keepFloatOps?.length;
  if (isFull && !state.fullQuantized) {
    state.fullQuantized = path.join(job.workDir, 'full-int8.onnx');
    await copyFile(output, state.fullQuantized);
  }
  return {
    activations: options.activations,
    keptFloat,
    keptFloatOps: options.keepFloatOps ?? [],
    opTypes: options.opTypes ?? null,
    floatFallback: null,
    layers: reply.nodes,
    rankedBy: keptFloat.length > 0 && options.keepFloatTop ? 'onnxruntime qdq_loss_debug qdq_err (SQNR)' : null,
  };
}
