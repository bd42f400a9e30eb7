/**
 * OpenVINO IR artifacts: a `.xml` graph and its `.bin` weights. The edgezoo metadata goes into
 * the IR's rt_info while the backend writes it (job.metadata); sealing only checks it is there.
 * Run in the OpenVINO runtime (tf env).
 */
import {
  formatOpenvinoSummary,
  inspectOpenvinoIr,
  looksLikeOpenvinoIr,
  OpenvinoFormatError,
  type OpenvinoSummary,
} from '../../formats/openvino/index.js';
import { z } from 'zod';
import { WorkerModelRunner } from '../../validate/runners/worker.js';
import type { FormatSpec } from '../types.js';

export const openvinoFormat: FormatSpec<OpenvinoSummary> = {
  name: 'openvino',
  extensions: ['.xml'],
  match: looksLikeOpenvinoIr,
  inspect: inspectOpenvinoIr,
  formatSummary: formatOpenvinoSummary,
  title: 'OpenVINO IR',
  defaultPrecisions: ['fp32', 'fp16'],
  companionExtensions: ['.bin'],
  metadataLocation: 'openvino-rt_info',
  quantizationKinds: {
    fp32: ['float32'],
    fp16: ['float16-weights'],
    int8: ['fake-quantize'],
  },
  async finishArtifact(ctx) {
    const summary = await inspectOpenvinoIr(ctx.primaryPath);
    if (!summary.edgezoo['edgezoo.name'])
      throw new Error(`${ctx.output.primary} lost its rt_info edgezoo entries (${ctx.converter} backend bug)`);
    let layouts: Record<string, string>;
    try {
      layouts = z.record(z.string(), z.string()).parse(JSON.parse(summary.edgezoo['edgezoo.layouts'] ?? '{}'));
    } catch (error) {
      throw new OpenvinoFormatError(`${ctx.output.primary}: rt_info edgezoo.layouts is not a JSON object of layouts`, {
        cause: error,
      });
    }
    return {
      layouts,
      inspection: {
        transposeCount: summary.flags.transposeCount,
        flexOps: [],
        customOps: [],
        quantizationKind: summary.flags.quantization,
        opCount: summary.opCount,
      },
    };
  },
  runtime: {
    name: 'openvino',
    tool: 'openvino',
    env: 'tf',
    requires: [{ env: 'tf', distribution: 'openvino', probes: [{ import: 'openvino', smoke: 'openvino-cpu' }] }],
    open: (ctx, threads) => new WorkerModelRunner('openvino', ctx.worker('tf'), { threads }),
  },
};
