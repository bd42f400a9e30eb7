/**
 * TFLite int8 and int16-act from the float32 model, one configuration of the quantization search
 * (./search.ts) per call. The float32 .tflite is made once per step (by the backend's own fp32
 * conversion), its rank-2+ biases flattened (src/formats/tflite/bias-shape.ts: TFLite's 16x8
 * quantizer refuses them), then calibrated with the recipe's samples in the interpreter's input
 * order and layout, each input stacked on its own batch axis. onnx2tf's -oiqt is not used: it
 * slices every calibration array on axis 0 and cannot keep a layer float.
 *
 * int8: TFLite's calibrator and MLIR quantizer (int8 inputs and outputs); the output heads and
 * the activations ranked worst (their own SQNR with the full int8 scales, quant.tflite_rank) are
 * kept float by denylisting their producer and consumers (output tensor names). int16-act: the
 * legacy 16x8 quantizer, float I/O; the only float it can keep is the fallback for ops without a
 * 16x8 kernel. The float model, the ranking and each attempt's model are kept in the attempt
 * cache (./attempt-cache.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { flattenBiasShapes, inspectTflite, type TfliteTensorSignature } from '../formats/tflite/index.js';
import type { JsonValue } from '../plan/types.js';
import type { ArtifactSignature } from '../validate/index.js';
import type { ConvertJob, ConvertOutput } from '../toolchain/backends/types.js';
import { ConverterError, runConverterOp, stepLogFile } from '../toolchain/backends/run-tool.js';
import { cachedPiece } from './attempt-cache.js';
import { logRanking, needsRanking } from './onnx.js';
import { quantOptionsOf, shareCount, topLayers, type AppliedQuantization } from './search.js';
import { quantStepState } from './state.js';

type SignatureOf = (
  job: Pick<ConvertJob, 'inputs' | 'prepared' | 'outputs'>,
  inputs: readonly TfliteTensorSignature[],
  outputs: readonly TfliteTensorSignature[],
) => { signature: ArtifactSignature; outputMapping: Record<string, string> };

interface FloatModel {
  file: string;
  calibration: Array<{ npy: string; batchAxis: number | null }>;
  fp32Bytes: number;
  onnx2tfFile?: string;
}

/**
 * Quantises the job's model through its float32 TFLite model (`convertFloat` makes it into the
 * folder it is given) and writes `model.tflite` into job.outDir.
 */
export async function quantizeTflite(
  job: ConvertJob,
  convertFloat: (floatJob: ConvertJob) => Promise<ConvertOutput>,
  signatureOf: SignatureOf,
  tool: string,
): Promise<ConvertOutput> {
  const fail = (how: string) =>
    new ConverterError({
      model: job.model,
      stepId: job.stepId,
      tool,
      how,
      keyLines: [],
      logFile: stepLogFile(job.model, job.stepId),
    });
  if (!job.calibration) throw fail('integer quantization needs calibration samples');
  const state = quantStepState(job.calibration);
  const float =
    (state.extra?.tfliteFloat as FloatModel | undefined) ?? (await makeFloat(job, convertFloat, signatureOf, fail));
  state.extra = { ...state.extra, tfliteFloat: float };
  const options = quantOptionsOf(job.strategy, job.precision);
  let keptFloat = options.keepFloat ?? [];
  if (needsRanking(options)) {
    if (!state.ranking) {
      const ranking = await cachedPiece(job, { kind: 'tflite-ranking' }, 'the layer ranking', [], async () => {
        job.log(
          '[edgezoo] quant: ranking activations by their own quantization error (SQNR with the full int8 scales)',
        );
        return runConverterOp(job, 'TFLite quantization ranking', 'tf', 'quant.tflite_rank', {
          model: float.file,
          calibration: float.calibration,
        });
      });
      logRanking(job, ranking.layers, ranking.heads ?? []);
      state.ranking = ranking;
    }
    const ranking = state.ranking;
    const top =
      options.keepFloatTop ?? (options.keepFloatShare ? shareCount(ranking.layers, options.keepFloatShare) : 0);
    const heads = options.keepHeads ? (ranking.heads ?? []) : [];
    keptFloat = [...new Set([...keptFloat, ...topLayers(ranking.layers, top, heads)])];
    job.log(`[edgezoo] quant: ${keptFloat.length} op output(s) kept float`);
  }
  const output = path.join(job.outDir, 'model.tflite');
  const request = {
    model: float.file,
    output,
    calibration: float.calibration,
    activations: options.activations,
    ...(options.activations === 'int8'
      ? {
          ioType: 'int8' as const,
          denylistedNodes: keptFloat.length > 0 ? keptFloat : null,
          denylistedOps: options.keepFloatOps?.length ? options.keepFloatOps : null,
        }
      : { allowFloat: options.floatFallback ?? true }),
  };
  const { model: _model, output: _output, calibration: _calibration, ...piece } = request;
  await cachedPiece(job, { kind: 'tflite-attempt', piece }, 'the quantised model', [output], () =>
    runConverterOp(
      job,
      `TFLite ${options.activations === 'int16' ? '16x8' : 'int8'} quantizer`,
      'tf',
      'quant.tflite',
      request,
    ).then(() => null),
  );
  const summary = await inspectTflite(output);
  const { signature, outputMapping } = signatureOf(job, summary.inputs, summary.outputs);
  const applied: AppliedQuantization = {
    activations: options.activations,
    keptFloat,
    keptFloatOps: options.keepFloatOps ?? [],
    opTypes: null,
    floatFallback: options.activations === 'int16' ? (options.floatFallback ?? true) : null,
    layers: state.ranking?.layers.length ?? null,
    rankedBy: keptFloat.length > 0 && state.ranking && needsRanking(options) ? state.ranking.metric : null,
  };
  return {
    primary: 'model.tflite',
    files: ['model.tflite'],
    signature,
    outputMapping,
    fp32Bytes: float.fp32Bytes,
    notes: {
      quantization: applied as unknown as JsonValue,
      ...(float.onnx2tfFile ? { floatFrom: float.onnx2tfFile } : {}),
    },
  };
}

async function makeFloat(
  job: ConvertJob,
  convertFloat: (floatJob: ConvertJob) => Promise<ConvertOutput>,
  signatureOf: SignatureOf,
  fail: (how: string) => Error,
): Promise<FloatModel> {
  const file = path.join(job.workDir, 'float32-biases.tflite');
  const convertStrategy = (job.strategy.options as Record<string, unknown>).convertStrategy ?? null;
  const made = await cachedPiece(
    job,
    { kind: 'tflite-float', convertStrategy },
    'the float32 model',
    [file],
    async () => {
      const dir = path.join(job.workDir, 'float32');
      const work = path.join(job.workDir, 'float32-work');
      await mkdir(dir, { recursive: true });
      await mkdir(work, { recursive: true });
      const converted = await convertFloat({ ...job, precision: 'fp32', outDir: dir, workDir: work });
      const original = path.join(dir, converted.primary);
      const { bytes, reshaped, skipped } = flattenBiasShapes(new Uint8Array(await readFile(original)));
      await writeFile(file, bytes);
      if (reshaped.length > 0)
        job.log(
          `[edgezoo] quant: ${reshaped.length} bias tensor(s) flattened to rank 1 for the quantizer: ${reshaped
            .slice(0, 4)
            .map((r) => `${r.op} ${r.name} [${r.from.join(',')}] -> [${r.to.join(',')}]`)
            .join('; ')}${reshaped.length > 4 ? '; ...' : ''}`,
        );
      if (skipped.length > 0)
        job.log(`[edgezoo] quant: ${skipped.length} bias tensor(s) share their shape with other tensors and keep it`);
      return {
        fp32Bytes: bytes.length,
        onnx2tfFile: typeof converted.notes?.onnx2tfFile === 'string' ? converted.notes.onnx2tfFile : null,
      };
    },
  );
  // The interpreter's inputs, in order, paired with the recipe's: each calibrated in its layout.
  const summary = await inspectTflite(file);
  const { signature } = signatureOf(job, summary.inputs, summary.outputs);
  const sourceOf = new Map(Object.entries(signature.inputNames ?? {}).map(([source, tensor]) => [tensor, source]));
  const calibration = summary.inputs.map((tensor) => {
    const source = sourceOf.get(tensor.name) ?? job.inputs.find((i) => i.name === tensor.name)?.name;
    const input = job.inputs.find((i) => i.name === source);
    if (!input) throw fail(`cannot pair the TFLite input ${tensor.name} with a recipe input`);
    const layout = signature.inputLayouts?.[tensor.name] ?? input.layout;
    if (layout === input.layout)
      return { npy: job.calibration!.byInput[input.name]!, batchAxis: job.calibration!.batchAxis?.[input.name] ?? 0 };
    const nhwc = job.calibration!.nhwcByInput[input.name];
    if (layout === 'NHWC' && nhwc) return { npy: nhwc, batchAxis: 0 };
    throw fail(`no calibration samples for input ${input.name} in the layout ${layout} the TFLite model takes`);
  });
  return {
    file,
    calibration,
    fp32Bytes: made.fp32Bytes,
    ...(made.onnx2tfFile ? { onnx2tfFile: made.onnx2tfFile } : {}),
  };
}
