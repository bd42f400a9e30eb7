/** TFLite (LiteRT) artifacts: edgezoo metadata in the `edgezoo` metadata entry, run in LiteRT (tf env). */
import { rename } from 'node:fs/promises';
import {
  EDGEZOO_METADATA_NAME,
  inspectTflite,
  type TfliteSummary,
  tfliteFormat as tfliteModelFormat,
  writeTfliteMetadata,
} from '../../formats/tflite/index.js';
import { defaultLayout } from '../../toolchain/backends/layouts.js';
import { provenanceJson } from '../../toolchain/backends/provenance.js';
import { WorkerModelRunner } from '../../validate/runners/worker.js';
import type { FormatSpec } from '../types.js';

export const tfliteFormat: FormatSpec<TfliteSummary> = {
  ...tfliteModelFormat,
  title: 'TFLite',
  defaultPrecisions: ['fp32', 'fp16', 'dynamic-int8'],
  defaultConverter: 'onnx2tf',
  builtinOpsOnly: true,
  companionExtensions: [],
  metadataLocation: 'tflite-metadata-edgezoo',
  async finishArtifact(ctx) {
    const before = await inspectTflite(ctx.primaryPath);
    // TFLite converters rename and move tensors: the backend recorded each one's layout.
    const recorded = (tensors: typeof before.inputs, layouts: Record<string, string> | undefined) =>
      tensors.map((t) => [t.name, layouts?.[t.name] ?? t.likelyLayout ?? defaultLayout(t.shape.length)] as const);
    const layouts = Object.fromEntries([
      ...recorded(before.inputs, ctx.output.signature.inputLayouts),
      ...recorded(before.outputs, ctx.output.signature.outputLayouts),
    ]);
    const withMeta = `${ctx.primaryPath}.meta`;
    await writeTfliteMetadata(
      ctx.primaryPath,
      withMeta,
      EDGEZOO_METADATA_NAME,
      provenanceJson(ctx.provenance(layouts), { format: 'tflite', precision: ctx.precision, converter: ctx.converter }),
    );
    await rename(withMeta, ctx.primaryPath);
    const summary = await inspectTflite(ctx.primaryPath);
    if (summary.flags.flexOps.length > 0)
      ctx.log(
        `[edgezoo] warning: ${ctx.output.primary} needs Flex ops (${summary.flags.flexOps.join(', ')}), which most edge runtimes lack`,
      );
    return {
      layouts,
      inspection: {
        transposeCount: summary.flags.transposeCount,
        flexOps: summary.flags.flexOps,
        customOps: summary.flags.customOps,
        quantizationKind: summary.flags.quantization,
        opCount: summary.operatorCount,
      },
    };
  },
  runtime: {
    name: 'litert',
    tool: 'ai-edge-litert',
    env: 'tf',
    requires: [{ env: 'tf', distribution: 'ai-edge-litert', probes: [{ import: 'ai_edge_litert.interpreter' }] }],
    open: (ctx, threads) => new WorkerModelRunner('litert', ctx.worker('tf'), { threads }),
  },
};
