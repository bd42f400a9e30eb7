/** TFLite -> ONNX with tf2onnx in the tf env (prepare road of TFLite sources). */
import path from 'node:path';
import { runConverterOp } from './run-tool.js';
import type { ConverterBackend, ConvertJob, ConvertOutput } from './types.js';

export const tf2onnxBackend: ConverterBackend = {
  name: 'tf2onnx',
  tools: ['tf2onnx', 'tensorflow'],
  from: 'tflite',
  to: 'onnx',
  precisions: ['fp32'],
  env: 'tf',
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const output = path.join(job.outDir, 'model.onnx');
    await runConverterOp(job, 'tf2onnx', 'tf', 'tf2onnx.from_tflite', {
      model: job.inputFile!,
      output,
      opset: job.opset,
    });
    return { primary: 'model.onnx', files: ['model.onnx'], signature: {} };
  },
};
