/**
 * PyTorch -> TFLite with litert-torch 0.9 in the torch env: fp32, and int8 through PT2E
 * (symmetric per-channel, static, calibrated with the recipe's samples; int8 I/O).
 * litert-torch keeps the PyTorch input layout (NCHW stays NCHW): layouts are read back anyway.
 * Its signature's output keys are the source's output names (see ops_litert_torch.py).
 */
import path from 'node:path';
import { staticInputs } from './layouts.js';
import { inspectTflite } from '../../formats/tflite/index.js';
import { tfliteSignature } from './onnx2tf.js';
import { ConverterError, runConverterOp, stepLogFile } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

export const litertTorchBackend: BackendSpec = {
  name: 'litert-torch',
  summary: 'pytorch sources only',
  stage: 'convert',
  from: 'pytorch',
  to: 'tflite',
  precisions: ['fp32', 'int8'],
  env: 'torch',
  tools: ['litert-torch', 'torch'],
  cacheKeyTools: ['litert-torch', 'torch'],
  requires: [
    { env: 'torch', distribution: 'litert-torch', probes: [{ import: 'litert_torch' }] },
    { env: 'torch', distribution: 'torch', probes: [{ import: 'torch', smoke: 'torch-ones' }] },
    { env: 'torch', distribution: 'torchao', probes: [{ import: 'torchao.quantization.pt2e.quantize_pt2e' }] },
    { env: 'torch', distribution: 'ai-edge-litert', probes: [{ import: 'ai_edge_litert.interpreter' }] },
    { env: 'torch', distribution: 'litert-converter', probes: [] },
    { env: 'torch', distribution: 'ai-edge-quantizer', probes: [] },
  ],
  memory: 'torch',
  // 1: signature output keys are the reference's names (the recipe's, not output_0...), and the
  // artifact records which source output each TFLite output is.
  revision: 1,
  strategies: [{ name: 'default', options: {} }],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const fail = (how: string) =>
      new ConverterError({
        model: job.model,
        stepId: job.stepId,
        tool: 'litert-torch',
        how,
        keyLines: [],
        logFile: stepLogFile(job.model, job.stepId),
      });
    if (!job.torchSource) throw fail('no PyTorch source given');
    const calibration = job.precision === 'int8' ? job.calibration : undefined;
    if (job.precision === 'int8' && !calibration) throw fail('PT2E int8 needs calibration samples');
    // PyTorch consumes the recipe's layout (NCHW).
    const calibrationFiles = calibration
      ? job.inputs.map((input) => {
          const file = calibration.byInput[input.name];
          if (!file) throw fail(`no calibration samples for input ${input.name}`);
          return file;
        })
      : null;
    const output = path.join(job.outDir, 'model.tflite');
    const converted = await runConverterOp(job, 'litert-torch', 'torch', 'litert_torch.convert', {
      source: job.torchSource,
      inputs: staticInputs(job.inputs),
      output,
      quantize: job.precision === 'int8' ? 'pt2e_int8' : null,
      calibration: calibrationFiles,
      perChannel: true,
    });
    const summary = await inspectTflite(output);
    // The source's outputs as the torch op named them (the reference's names, which litert-torch
    // keeps as the signature keys): what the TFLite outputs are paired with.
    const { signature, outputMapping } = tfliteSignature(
      { ...job, prepared: { inputs: [], outputs: converted.outputs } },
      summary.inputs,
      summary.outputs,
      { movesChannelsLast: false },
    );
    return {
      primary: 'model.tflite',
      files: ['model.tflite'],
      signature,
      ...(Object.keys(outputMapping).length > 0 ? { outputMapping } : {}),
    };
  },
};
