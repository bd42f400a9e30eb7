/**
 * ONNX -> ONNX in other precisions: fp32 is the prepared model itself (edgezoo only adds
 * metadata); fp16 through onnxconverter-common (float32 inputs/outputs kept); int8 as static
 * QDQ per-channel with the recipe's calibration samples, some layers kept float when the
 * quantization search (src/quant) asks; dynamic-int8 with quantize_dynamic.
 */
import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { JsonValue } from '../../plan/types.js';
import { quantizeOnnx } from '../../quant/onnx.js';
import { runConverterOp } from './run-tool.js';
import type { BackendSpec, StrategyContext } from '../../catalogue/types.js';
import type { AppliedQuantization } from '../../quant/search.js';
import type { ConvertJob, ConvertOutput } from './types.js';

/** The op types dynamic-int8 quantises (onnxruntime quantize_dynamic; Conv with uint8 weights, see ops_onnx.py). */
export const DYNAMIC_OP_TYPES = ['MatMul', 'Gemm', 'Conv', 'LSTM', 'Attention'];

/**
 * dynamic-int8's keep-float rungs: these shares of the weighted layers stay float, worst
 * weights first (lowest SQNR, measured after the per-channel rescale of Conv weights), never
 * more than half of the layers nor half of their weights. Data-free: dynamic quantization has
 * no calibration set.
 */
export const DYNAMIC_KEEP_FLOAT_SHARES = [0.1, 0.25, 0.5] as const;

export const onnxFp32Backend: BackendSpec = {
  name: 'edgezoo',
  summary: 'the prepared model with edgezoo metadata',
  stage: 'convert',
  from: 'onnx',
  to: 'onnx',
  precisions: ['fp32'],
  env: null,
  tools: [],
  cacheKeyTools: [],
  requires: [],
  memory: 'light',
  strategies: [{ name: 'default', options: {} }],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    await copyFile(job.inputFile!, path.join(job.outDir, 'model.onnx'));
    return {
      primary: 'model.onnx',
      files: ['model.onnx'],
      signature: {},
      fp32Bytes: (await stat(job.inputFile!)).size,
    };
  },
};

export const onnxruntimeQuantizeBackend: BackendSpec = {
  name: 'onnxruntime',
  summary: 'onnxconverter-common float16, onnxruntime quantize_dynamic and quantize_static',
  stage: 'convert',
  from: 'onnx',
  to: 'onnx',
  precisions: ['fp16', 'dynamic-int8', 'int8'],
  env: 'tf',
  tools: ['onnxruntime', 'onnxconverter-common'],
  cacheKeyTools: ['onnxruntime'],
  requires: [
    {
      env: 'tf',
      distribution: 'onnxruntime',
      probes: [
        { import: 'onnxruntime', smoke: 'onnxruntime-cpu' },
        { import: 'onnxruntime.quantization', label: 'onnxruntime.quantization' },
      ],
    },
    { env: 'tf', distribution: 'onnxconverter-common', probes: [{ import: 'onnxconverter_common.float16' }] },
  ],
  memory: 'light',
  // 1: dynamic-int8 quantises Conv (uint8 weights) and LSTM too; the dynamic-without-conv strategy.
  // 2: fp16 gives a graph output that nodes also read its own internal tensor (no op kept float32 for it).
  // 3: dynamic-int8 keep-float strategies (the worst-quantising weights stay float).
  // 4: dynamic-int8 Conv weights rescaled per output channel before quantisation.
  revision: 4,
  strategies: [
    { name: 'default', options: {} },
    {
      name: 'dynamic-without-conv',
      options: { dynamicOpTypes: DYNAMIC_OP_TYPES.filter((op) => op !== 'Conv') },
      description:
        'dynamic-int8: leave Conv float (ConvInteger quantises activations per tensor, which is too coarse for some detection heads); MatMul, Gemm, LSTM and Attention keep int8 weights',
      when: (ctx) =>
        ctx.precision === 'dynamic-int8' &&
        ctx.opTypes.has('Conv') &&
        DYNAMIC_OP_TYPES.some((op) => op !== 'Conv' && ctx.opTypes.has(op)),
    },
    ...DYNAMIC_KEEP_FLOAT_SHARES.map((share) => ({
      name: `dynamic-keep-float-${share * 100}pct`,
      options: { keepFloatShare: share },
      description: `dynamic-int8: the ${share * 100} % of Conv, MatMul and Gemm layers whose weights lose most to per-tensor int8 (lowest SQNR) stay float${share === 0.5 ? ' (the most an int8 artifact may keep float)' : ''}`,
      when: (ctx: StrategyContext) =>
        ctx.precision === 'dynamic-int8' && ['Conv', 'MatMul', 'Gemm'].some((op) => ctx.opTypes.has(op)),
    })),
  ],
  quantSearch: true,
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const output = path.join(job.outDir, 'model.onnx');
    const model = job.inputFile!;
    const notes: Record<string, JsonValue> = {};
    switch (job.precision) {
      case 'fp16': {
        const result = await runConverterOp(job, 'onnxconverter-common float16', 'tf', 'onnx.float16', {
          model,
          output,
          keepIoTypes: true,
        });
        if (result.blocked.length > 0) {
          job.log(`[edgezoo] kept in float32 (onnxruntime has no float16 form of): ${result.blocked.join(', ')}`);
          notes.float32Ops = result.blocked;
        }
        break;
      }
      case 'dynamic-int8': {
        const opTypes = job.strategy?.options.dynamicOpTypes as string[] | undefined;
        const keepFloatShare = job.strategy?.options.keepFloatShare as number | undefined;
        const result = await runConverterOp(job, 'onnxruntime quantize_dynamic', 'tf', 'onnx.quantize_dynamic', {
          model,
          output,
          weightType: 'QInt8',
          opTypes: opTypes ?? DYNAMIC_OP_TYPES,
          ...(keepFloatShare ? { keepFloatShare } : {}),
        });
        const quantized = Object.entries(result.quantized).map(([op, n]) => `${op} x${n}`);
        job.log(
          `[edgezoo] int8 weights for: ${quantized.length > 0 ? quantized.join(', ') : 'nothing (no quantisable op)'}`,
        );
        notes.quantizedOps = Object.keys(result.quantized);
        if (keepFloatShare) {
          const kept = result.keptFloat ?? [];
          job.log(
            `[edgezoo] kept float (weights ranked by per-tensor int8 SQNR): ${kept.length} of ${result.ranked ?? 0}: ${kept.join(', ') || 'none'}`,
          );
          // What stayed float, as the card and bench-quant read it for calibrated artifacts.
          const applied: AppliedQuantization = {
            activations: 'int8',
            keptFloat: kept,
            keptFloatOps: [],
            opTypes: null,
            floatFallback: null,
            layers: result.ranked ?? null,
            rankedBy: 'weight SQNR (per-tensor int8)',
          };
          notes.quantization = applied as unknown as JsonValue;
        }
        break;
      }
      case 'int8': {
        // One configuration of the quantization search (src/quant): the strategy says which.
        // Calibration arrays are keyed by the prepared model's input names, which are the recipe's.
        const applied = await quantizeOnnx(job, output);
        return {
          primary: 'model.onnx',
          files: ['model.onnx'],
          signature: {},
          fp32Bytes: (await stat(model)).size,
          notes: { quantization: applied as unknown as JsonValue },
        };
      }
      default:
        throw new Error(`onnxruntime backend asked for ${job.precision} (registry bug)`);
    }
    return {
      primary: 'model.onnx',
      files: ['model.onnx'],
      signature: {},
      fp32Bytes: (await stat(model)).size,
      ...(Object.keys(notes).length > 0 ? { notes } : {}),
    };
  },
};
