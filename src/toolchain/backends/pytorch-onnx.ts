/** PyTorch -> ONNX with torch.onnx.export in the torch env (prepare road of PyTorch sources). */
import path from 'node:path';
import { staticInputs } from './layouts.js';
import { ConverterError, runConverterOp, stepLogFile } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

/** Opsets the dynamo exporter of torch 2.13 writes; below it the TorchScript exporter is used. */
const DYNAMO_MIN_OPSET = 18;

export const torchOnnxBackend: BackendSpec = {
  name: 'torch-onnx',
  summary: 'PyTorch -> ONNX with torch.onnx.export',
  stage: 'import',
  from: 'pytorch',
  to: 'onnx',
  precisions: ['fp32'],
  env: 'torch',
  tools: ['torch'],
  cacheKeyTools: ['torch'],
  requires: [
    { env: 'torch', distribution: 'torch', probes: [{ import: 'torch', smoke: 'torch-ones' }] },
    { env: 'torch', distribution: 'onnx', probes: [{ import: 'onnx' }] },
    { env: 'torch', distribution: 'onnxscript', probes: [{ import: 'onnxscript' }] },
  ],
  memory: 'torch',
  // 1: outputs named as the reference names them (output_0... or the recipe's), not "4".
  revision: 1,
  strategies: [{ name: 'default', options: {} }],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    if (!job.torchSource) {
      throw new ConverterError({
        model: job.model,
        stepId: job.stepId,
        tool: 'torch.onnx.export',
        how: 'no PyTorch source given',
        keyLines: [],
        logFile: stepLogFile(job.model, job.stepId),
      });
    }
    const output = path.join(job.outDir, 'model.onnx');
    await runConverterOp(job, 'torch.onnx.export', 'torch', 'torch.onnx_export', {
      source: job.torchSource,
      // Static shapes: the recipe fixes every dim (dynamic dims stay out of the export).
      inputs: staticInputs(job.inputs),
      output,
      opset: job.opset,
      // torch 2.13's dynamo exporter cannot write opsets below 18; the TorchScript one still can.
      dynamo: job.opset >= DYNAMO_MIN_OPSET,
      inputNames: job.inputs.map((input) => input.name),
      // The output names come with the source (torchSource.outputNames): the reference's.
    });
    return { primary: 'model.onnx', files: ['model.onnx'], signature: {} };
  },
};
