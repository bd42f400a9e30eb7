/**
 * ONNX -> ONNX in other precisions: fp32 is the prepared model itself (edgezoo only adds
 * metadata); fp16 through onnxconverter-common (float32 inputs/outputs kept); int8 as static
 * QDQ per-channel with the recipe's calibration samples; dynamic-int8 with quantize_dynamic.
 */
import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConverterError, runConverterOp, stepLogFile } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

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
  strategies: [{ name: 'default', options: {} }],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const output = path.join(job.outDir, 'model.onnx');
    const model = job.inputFile!;
    const notes: Record<string, string[]> = {};
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
      case 'dynamic-int8':
        await runConverterOp(job, 'onnxruntime quantize_dynamic', 'tf', 'onnx.quantize_dynamic', {
          model,
          output,
          weightType: 'QInt8',
        });
        break;
      case 'int8': {
        const calibration = job.calibration;
        if (!calibration) {
          throw new ConverterError({
            model: job.model,
            stepId: job.stepId,
            tool: 'onnxruntime quantize_static',
            how: 'no calibration samples',
            keyLines: [],
            logFile: stepLogFile(job.model, job.stepId),
          });
        }
        // Calibration arrays are keyed by the prepared model's input names, which are the recipe's.
        await runConverterOp(job, 'onnxruntime quantize_static', 'tf', 'onnx.quantize_static', {
          model,
          output,
          calibration: calibration.byInput,
          perChannel: true,
          activationType: 'QInt8',
          weightType: 'QInt8',
          calibrateMethod: 'MinMax',
        });
        break;
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
