/**
 * ONNX -> prepared ONNX: the default-domain opset raised to the recipe's (onnx.version_converter),
 * static shapes from the recipe, constant inputs (`value:`) folded in as initializers, parameter replacements (the ONNX part;
 * the rest is kept for onnx2tf), unused initializers dropped (TypeScript, src/formats/onnx),
 * then onnxslim in the tf env. Metadata is the prepare runner's job.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  applyReplacements,
  dropUnusedInitializers,
  fixDynamicDims,
  foldConstantInputs,
  loadModel,
  saveModel,
} from '../../formats/onnx/index.js';
import { ConverterError, runConverterOp } from './run-tool.js';
import type { BackendSpec } from '../../catalogue/types.js';
import type { ConvertJob, ConvertOutput } from './types.js';

/** The file prepare leaves for onnx2tf when some replacements only onnx2tf can apply. */
export const ONNX2TF_REPLACEMENTS_FILE = 'onnx2tf-replacements.json';

export const onnxPrepareBackend: BackendSpec = {
  name: 'onnx-prepare',
  summary: 'static shapes, replacements, opset upgrade and onnxslim',
  stage: 'prepare',
  from: 'onnx',
  to: 'onnx',
  precisions: ['fp32'],
  env: 'tf',
  tools: ['onnxslim'],
  cacheKeyTools: ['onnxslim'],
  requires: [
    { env: 'tf', distribution: 'onnxslim', probes: [{ cli: ['onnxslim', '-h'] }] },
    { env: 'tf', distribution: 'onnx', probes: [{ import: 'onnx', smoke: 'onnx-checker' }] },
  ],
  // onnxslim runs in a worker that is up anyway; the step is not admitted against the memory budget.
  memory: 'light',
  strategies: [{ name: 'default', options: {} }],
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    const source = await upgradeOpset(job);
    let model = foldConstantInputs(fixDynamicDims(loadModel(source), job.inputs), job.inputs);
    for (const input of job.inputs.filter((i) => i.value !== undefined))
      job.log(`[edgezoo] input ${input.name} folded into the graph as the constant ${JSON.stringify(input.value)}`);
    const notes: Record<string, string[]> = { replacementsApplied: [] };
    const files = ['model.onnx'];
    if (job.replacements) {
      const result = applyReplacements(model, job.replacements);
      model = result.model;
      notes.replacementsApplied = result.applied;
      for (const line of result.applied) job.log(`[edgezoo] replacement applied to ONNX: ${line}`);
      if (result.forOnnx2tf.operations.length > 0) {
        await writeFile(
          path.join(job.outDir, ONNX2TF_REPLACEMENTS_FILE),
          `${JSON.stringify(result.forOnnx2tf, null, 2)}\n`,
        );
        files.push(ONNX2TF_REPLACEMENTS_FILE);
        job.log(`[edgezoo] ${result.forOnnx2tf.operations.length} replacement(s) kept for onnx2tf`);
      }
    }
    let patched = path.join(job.workDir, 'patched.onnx');
    saveModel(dropUnusedInitializers(model), patched);
    if (job.dequantize) {
      const dequantized = path.join(job.workDir, 'dequantized.onnx');
      const result = await runConverterOp(job, 'onnx dequantize', 'tf', 'onnx.dequantize', {
        model: patched,
        output: dequantized,
      });
      job.log(
        `[edgezoo] dequantize: ${result.rewritten} integer block(s) made float${result.left.length > 0 ? `; left as they are (not quantize_dynamic's form): ${result.left.join(', ')}` : ''}`,
      );
      patched = dequantized;
    }
    const slimmed = path.join(job.outDir, 'model.onnx');
    try {
      await runConverterOp(job, 'onnxslim', 'tf', 'onnx.slim', { model: patched, output: slimmed });
    } catch (error) {
      if (!(error instanceof ConverterError)) throw error;
      // onnxslim 0.1.98's shape update stops on some valid graphs (a Resize with `axes`:
      // IndexError in update_dim); without its shape inference it still folds and cleans.
      job.log(`[edgezoo] onnxslim failed (${error.keyLines[0] ?? error.message}); again without its shape inference`);
      await runConverterOp(job, 'onnxslim', 'tf', 'onnx.slim', {
        model: patched,
        output: slimmed,
        options: { no_shape_infer: true },
      });
      notes.slim = ['without shape inference (onnxslim failed with it)'];
    }
    return { primary: 'model.onnx', files, signature: {}, notes };
  },
};

/** The default-domain (ai.onnx) opset a model imports, or undefined when it imports none. */
export function defaultDomainOpset(model: {
  opsetImport: ReadonlyArray<{ domain?: string; version?: number }>;
}): number | undefined {
  const entry = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return entry?.version === undefined ? undefined : Number(entry.version);
}

/**
 * The job's input at the recipe's opset when it is older (a path to an upgraded copy), else the
 * input itself. Why: opset 11/12 models (paddle2onnx) break later steps: onnxruntime's fp16
 * conversion writes a Resize cast onnxruntime refuses, and static int8 writes DequantizeLinear
 * with `axis`, which is INVALID_GRAPH at those opsets. When the converter fails, the original
 * is kept and the log says why.
 */
async function upgradeOpset(job: ConvertJob): Promise<string> {
  const current = defaultDomainOpset(loadModel(job.inputFile!, { loadExternalData: false }));
  if (current === undefined || current >= job.opset) return job.inputFile!;
  const output = path.join(job.workDir, 'upgraded.onnx');
  const result = await runConverterOp(job, 'onnx', 'tf', 'onnx.upgrade_opset', {
    model: job.inputFile!,
    output,
    opset: job.opset,
  });
  if (result.upgraded) {
    job.log(`[edgezoo] opset upgraded from ${current} to ${job.opset} (onnx.version_converter)`);
    return output;
  }
  job.log(
    `[edgezoo] warning: keeping opset ${current}: onnx.version_converter to ${job.opset} failed (${result.reason ?? 'no reason given'})`,
  );
  return job.inputFile!;
}
