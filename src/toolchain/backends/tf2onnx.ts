/** TFLite -> ONNX with tf2onnx in the tf env (prepare road of TFLite sources). */
import path from 'node:path';
import { runConverterOp } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

export const tf2onnxBackend: BackendSpec = {
  name: 'tf2onnx',
  summary: 'TFLite -> ONNX with tf2onnx',
  stage: 'import',
  from: 'tflite',
  to: 'onnx',
  precisions: ['fp32'],
  env: 'tf',
  tools: ['tf2onnx', 'tensorflow'],
  cacheKeyTools: ['tf2onnx'],
  requires: [
    { env: 'tf', distribution: 'tf2onnx', probes: [{ cli: ['-m', 'tf2onnx.convert', '--help'], label: 'tf2onnx' }] },
    { env: 'tf', distribution: 'tensorflow', probes: [{ import: 'tensorflow', smoke: 'tensorflow-add' }] },
  ],
  memory: 'tensorflow',
  strategies: [{ name: 'default', options: {} }],
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
