/**
 * ONNX -> OpenVINO IR int8 with NNCF post-training quantization (nncf.quantize) in the tf env:
 * the prepared model is read by OpenVINO (openvino.convert_model), quantised with the recipe's
 * calibration samples (each input on its own batch axis), and saved with fp32 weights where they
 * stay float. The IR holds FakeQuantize ops; the CPU plugin runs them as int8 kernels.
 * The edgezoo metadata goes into the IR's rt_info under "edgezoo" (job.metadata), like ovc's.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { onnxCalibration } from '../../quant/onnx.js';
import { ConverterError, runConverterOp, stepLogFile } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

export const nncfBackend: BackendSpec = {
  name: 'nncf',
  summary: 'NNCF post-training int8 quantization of the OpenVINO model',
  stage: 'convert',
  from: 'onnx',
  to: 'openvino',
  precisions: ['int8'],
  env: 'tf',
  tools: ['nncf', 'openvino'],
  cacheKeyTools: ['nncf'],
  requires: [{ env: 'tf', distribution: 'nncf', probes: [{ import: 'nncf' }] }],
  memory: 'openvino',
  strategies: [{ name: 'default', options: {} }],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    if (!job.calibration)
      throw new ConverterError({
        model: job.model,
        stepId: job.stepId,
        tool: 'nncf',
        how: 'int8 quantization needs calibration samples',
        keyLines: [],
        logFile: stepLogFile(job.model, job.stepId),
      });
    const xml = path.join(job.outDir, 'model.xml');
    const reply = await runConverterOp(job, 'nncf', 'tf', 'nncf.quantize', {
      model: job.inputFile!,
      output: xml,
      calibration: onnxCalibration(job),
      subsetSize: job.calibration.count,
      rtInfo: job.metadata ?? {},
    });
    job.log(`[edgezoo] nncf: ${reply.fakeQuantize} FakeQuantize ops inserted`);
    return {
      primary: 'model.xml',
      files: ['model.xml', 'model.bin'],
      signature: {},
      fp32Bytes: (await stat(job.inputFile!)).size,
      notes: {
        quantization: {
          activations: 'int8',
          keptFloat: [],
          keptFloatOps: [],
          opTypes: null,
          floatFallback: null,
          layers: reply.fakeQuantize,
          rankedBy: null,
        },
      },
    };
  },
};
