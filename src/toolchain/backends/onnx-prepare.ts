/**
 * ONNX -> prepared ONNX: static shapes from the recipe, parameter replacements (the ONNX part;
 * the rest is kept for onnx2tf), unused initializers dropped (TypeScript, src/formats/onnx),
 * then onnxslim in the tf env. Metadata is the prepare runner's job.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { applyReplacements, dropUnusedInitializers, fixDynamicDims, loadModel, saveModel } from '../../formats/onnx/index.js';
import { runConverterOp } from './run-tool.js';
import type { ConverterBackend, ConvertJob, ConvertOutput } from './types.js';

/** The file prepare leaves for onnx2tf when some replacements only onnx2tf can apply. */
export const ONNX2TF_REPLACEMENTS_FILE = 'onnx2tf-replacements.json';

export const onnxPrepareBackend: ConverterBackend = {
  name: 'onnx-prepare',
  tools: ['onnxslim'],
  from: 'onnx',
  to: 'onnx',
  precisions: ['fp32'],
  env: 'tf',
  async convert(job: ConvertJob): Promise<ConvertOutput> {
    let model = fixDynamicDims(loadModel(job.inputFile!), job.inputs);
    const notes: Record<string, string[]> = { replacementsApplied: [] };
    const files = ['model.onnx'];
    if (job.replacements) {
      const result = applyReplacements(model, job.replacements);
      model = result.model;
      notes.replacementsApplied = result.applied;
      for (const line of result.applied) job.log(`[edgezoo] replacement applied to ONNX: ${line}`);
      if (result.forOnnx2tf.operations.length > 0) {
        await writeFile(path.join(job.outDir, ONNX2TF_REPLACEMENTS_FILE), JSON.stringify(result.forOnnx2tf, null, 2) + '\n');
        files.push(ONNX2TF_REPLACEMENTS_FILE);
        job.log(`[edgezoo] ${result.forOnnx2tf.operations.length} replacement(s) kept for onnx2tf`);
      }
    }
    const patched = path.join(job.workDir, 'patched.onnx');
    saveModel(dropUnusedInitializers(model), patched);
    await runConverterOp(job, 'onnxslim', 'tf', 'onnx.slim', { model: patched, output: path.join(job.outDir, 'model.onnx') });
    return { primary: 'model.onnx', files, signature: {}, notes };
  },
};
