/** ONNX artifacts: edgezoo metadata in metadata_props, run in onnxruntime-node (in process). */
import {
  inspectModel,
  loadModel,
  onnxFormat as onnxModelFormat,
  saveModel,
  setMetadata,
} from '../../formats/onnx/index.js';
import type { OnnxSummary } from '../../formats/onnx/index.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { provenanceProps } from '../../toolchain/backends/provenance.js';
import { LazyRunner } from '../lazy-runner.js';
import type { FormatSpec } from '../types.js';

export const onnxFormat: FormatSpec<OnnxSummary> = {
  ...onnxModelFormat,
  title: 'ONNX',
  defaultPrecisions: ['fp32', 'fp16'],
  companionExtensions: [],
  metadataLocation: 'onnx-metadata_props',
  quantizationKinds: {
    fp32: ['float32'],
    fp16: ['float16'],
    'dynamic-int8': ['dynamic-int8'],
    // `qdq-int8-int16`: int8 activations with fewer 16-bit ones the quantization search chose.
    int8: ['qdq-int8', 'qoperator', 'qdq-int8-int16'],
  },
  async finishArtifact(ctx) {
    const model = loadModel(ctx.primaryPath);
    const summary = inspectModel(model);
    // ONNX converters keep tensor names: the source layouts apply as they are.
    const layouts = Object.fromEntries(
      [...summary.inputs, ...summary.outputs].map((t) => [
        t.name,
        ctx.sourceLayouts[t.name] ?? t.likelyLayout ?? defaultLayout(t.shape?.length ?? 0),
      ]),
    );
    saveModel(setMetadata(model, provenanceProps(ctx.provenance(layouts))), ctx.primaryPath);
    return {
      layouts,
      inspection: {
        transposeCount: summary.flags.transposeCount,
        flexOps: [],
        customOps: summary.flags.customDomains,
        quantizationKind: summary.flags.quantization,
        opCount: summary.nodeCount,
      },
    };
  },
  runtime: {
    name: 'onnxruntime',
    tool: 'onnxruntime-node',
    env: null,
    requires: [],
    open: (_ctx, threads) =>
      new LazyRunner('onnxruntime', async () => {
        const { OnnxRuntimeRunner } = await import('../../validate/runners/onnxruntime.js');
        return new OnnxRuntimeRunner({ threads });
      }),
  },
};
