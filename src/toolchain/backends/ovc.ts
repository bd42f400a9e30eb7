/**
 * ONNX (or TFLite) -> OpenVINO IR (.xml + .bin) with OpenVINO's converter (`ovc`, called through
 * its Python API openvino.convert_model/save_model in the tf env, telemetry off): fp32 with
 * compress_to_fp16=False (ovc's default would halve the weights silently), fp16 with it on.
 * The edgezoo metadata goes into the IR's rt_info under "edgezoo" (job.metadata).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
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
  // 1: the resize-matmul strategy.
  revision: 1,
  strategies: [
    { name: 'default', options: {} },
    {
      name: 'resize-matmul',
      options: { resizeAsMatmul: true },
      description:
        'Resize/Upsample as a MatMul per resized axis by its interpolation matrix (onnxruntime resizing an identity matrix): antialias, cubic coefficients, half_pixel_symmetric, tf_crop_and_resize and keep_aspect_ratio_policy sizes that ovc gets wrong or cannot convert',
      when: (ctx) => ctx.opTypes.has('Resize') || ctx.opTypes.has('Upsample'),
    },
  ],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const xml = path.join(job.outDir, 'model.xml');
    let model = job.inputFile!;
    if (job.strategy.options.resizeAsMatmul === true) {
      const result = await runConverterOp(job, 'ovc', 'tf', 'onnx.resize_to_matmul', {
        model,
        output: path.join(job.workDir, 'resize-matmul.onnx'),
      });
      if (result.output) {
        job.log(`[edgezoo] Resize as MatMul by its interpolation matrix: ${result.rewritten.join(', ')}`);
        model = result.output;
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
