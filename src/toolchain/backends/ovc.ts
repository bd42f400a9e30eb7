/**
 * ONNX (or TFLite) -> OpenVINO IR (.xml + .bin) with OpenVINO's converter (`ovc`, called through
 * its Python API openvino.convert_model/save_model in the tf env, telemetry off): fp32 with
 * compress_to_fp16=False (ovc's default would halve the weights silently), fp16 with it on.
 * The edgezoo metadata goes into the IR's rt_info under "edgezoo" (job.metadata).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { loadModel, saveModel } from '../../formats/onnx/index.js';
import {
  applyGraphRewrites,
  expandFunctionOps,
  ONNX_FUNCTION_OPS,
  POOL_OPS,
  resizeAsMatmul,
} from './onnx-graph-steps.js';
import { runConverterOp } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

export const ovcBackend: BackendSpec = {
  name: 'ovc',
  summary: "OpenVINO's converter",
  stage: 'convert',
  from: 'onnx',
  to: 'openvino',
  precisions: ['fp32', 'fp16'],
  env: 'tf',
  tools: ['openvino'],
  cacheKeyTools: ['openvino'],
  requires: [{ env: 'tf', distribution: 'openvino', probes: [{ cli: ['ovc', '--help'], label: 'ovc' }] }],
  memory: 'openvino',
  // 1: the resize-matmul strategy. 2: the expand-functions and pools-as-slices strategies.
  revision: 2,
  strategies: [
    { name: 'default', options: {} },
    {
      name: 'resize-matmul',
      options: { resizeAsMatmul: true },
      description:
        'Resize/Upsample as a MatMul per resized axis by its interpolation matrix (onnxruntime resizing an identity matrix): antialias, cubic coefficients, half_pixel_symmetric, tf_crop_and_resize and keep_aspect_ratio_policy sizes that ovc gets wrong or cannot convert',
      when: (ctx) => ctx.opTypes.has('Resize') || ctx.opTypes.has('Upsample'),
    },
    {
      name: 'expand-functions',
      options: { expandFunctions: [...ONNX_FUNCTION_OPS] },
      description: `replace ${ONNX_FUNCTION_OPS.join(', ')} with their ONNX function bodies (primitive ops) before ovc: forms its frontend cannot convert (NegativeLogLikelihoodLoss with an ignore_index)`,
      when: (ctx) => ONNX_FUNCTION_OPS.some((op) => ctx.opTypes.has(op)),
    },
    {
      name: 'pools-as-slices',
      options: { rewrites: ['pools-as-slices'] },
      description:
        'compute MaxPool, AveragePool and LpPool as Pad, strided Slices and Max/Add (the ONNX graph rewrite onnx2tf uses): ceil_mode windows ovc sizes differently from onnxruntime',
      when: (ctx) => POOL_OPS.some((op) => ctx.opTypes.has(op)),
    },
  ],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const xml = path.join(job.outDir, 'model.xml');
    const { options } = job.strategy;
    const owner = `ovc strategy "${job.strategy.name}"`;
    let model = job.inputFile!;
    if (options.resizeAsMatmul === true) model = (await resizeAsMatmul(job, 'ovc', model, 'resize-matmul.onnx')).model;
    if (options.expandFunctions !== undefined)
      model = (await expandFunctionOps(job, 'ovc', model, stringList(options.expandFunctions, owner), 'expanded.onnx'))
        .model;
    if (options.rewrites !== undefined) {
      const onnx = loadModel(model);
      if (applyGraphRewrites(job, onnx, stringList(options.rewrites, owner), owner) > 0) {
        model = path.join(job.workDir, 'rewritten.onnx');
        saveModel(onnx, model);
      }
    }
    await runConverterOp(job, 'ovc', 'tf', 'openvino.convert', {
      model,
      output: xml,
      compressToFp16: job.precision === 'fp16',
      rtInfo: job.metadata ?? {},
    });
    // OpenVINO keeps the ONNX tensor names and layouts: nothing to record beyond the defaults.
    // The fp16 IR has no fp32 IR beside it to compare with (a different step): its ratio stays unknown.
    const ownBytes = (await stat(path.join(job.outDir, 'model.bin'))).size + (await stat(xml)).size;
    return {
      primary: 'model.xml',
      files: ['model.xml', 'model.bin'],
      signature: {},
      ...(job.precision === 'fp32' ? { fp32Bytes: ownBytes } : {}),
    };
  },
};

/** A strategy option that must be a list of names (a bad catalogue entry is a programming error). */
function stringList(value: unknown, owner: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new Error(`${owner} has an option that is not a list of names: ${JSON.stringify(value)}`);
  return value;
}
