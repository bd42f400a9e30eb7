/**
 * Runners module of validate-pipeline.test.ts for test/support/edgezoo-with-runners.mjs (not a test file): the real step
 * runners, with the convert runner wrapped so chosen artifacts come out wrong in one known way
 * after a real conversion. Which artifact is spoiled how is chosen by model name:
 * - `tiny-weights`: onnx/fp32 gets the first conv's weights scaled by 1.5 (an artifact built
 *   from other weights than the source);
 * - `tiny-layout`: tflite/fp32 records NCHW (and the identity permutation) for its NHWC input;
 * - `two-out-swap`: onnx/fp32 has the names of its two outputs swapped.
 * Other models and targets pass through untouched.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runBenchmarkStep } from '../../src/build/runners/benchmark.js';
import { runConvertRunStep, runConvertStep } from '../../src/build/runners/convert.js';
import { runFetchStep } from '../../src/build/runners/fetch.js';
import { runPackageStep } from '../../src/build/runners/package.js';
import { runPrepareStep } from '../../src/build/runners/prepare.js';
import { runReferenceStep } from '../../src/build/runners/reference.js';
import { runValidateStep } from '../../src/build/runners/validate.js';
import type { StepRunner, StepRunners } from '../../src/build/types.js';
import { loadModel, saveModel, tensorFromArray, tensorValues } from '../../src/formats/onnx/index.js';

async function rewriteArtifactJson(dir: string, change: (record: Record<string, any>) => void): Promise<void> {
  const file = path.join(dir, 'artifact.json');
  const record = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
  change(record);
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
}

/** Scales the first 4-d float initializer (a conv kernel) by 1.5. */
async function perturbWeights(dir: string): Promise<void> {
  const file = path.join(dir, 'model.onnx');
  const model = loadModel(file);
  const initializers = model.graph!.initializer;
  const index = initializers.findIndex((tensor) => tensor.dims.length === 4 && tensor.dataType === 1);
  if (index < 0) throw new Error('no conv kernel to perturb');
  const kernel = initializers[index]!;
  const dims = kernel.dims.map(Number);
  initializers[index] = tensorFromArray(
    kernel.name ?? '',
    new Float32Array(tensorValues(kernel).map((value) => value * 1.5)),
    dims,
  );
  saveModel(model, file);
  const bytes = (await stat(file)).size;
  await rewriteArtifactJson(dir, (record) => (record.bytes = bytes));
}

/** Swaps the names of the first two graph outputs (and of the node outputs producing them). */
async function swapOutputNames(dir: string): Promise<void> {
  const file = path.join(dir, 'model.onnx');
  const model = loadModel(file);
  const graph = model.graph!;
  const [first, second] = graph.output;
  if (!first || !second) throw new Error('the model has fewer than two outputs');
  const a = first.name!;
  const b = second.name!;
  const rename = (name: string) => (name === a ? b : name === b ? a : name);
  for (const node of graph.node) node.output = node.output.map(rename);
  for (const node of graph.node) node.input = node.input.map(rename);
  first.name = b;
  second.name = a;
  // Keep the declared order [a, b] by name, so only the values moved.
  graph.output = [second, first];
  saveModel(model, file);
}

const spoilingConvert: StepRunner<'convert'> = async (step, ctx) => {
  const result = await runConvertStep(step, ctx);
  const target = step.target ? `${step.target.format}/${step.target.precision}` : '';
  if (step.model === 'tiny-weights' && target === 'onnx/fp32') await perturbWeights(ctx.outDir);
  if (step.model === 'two-out-swap' && target === 'onnx/fp32') await swapOutputNames(ctx.outDir);
  if (step.model === 'tiny-layout' && target === 'tflite/fp32') {
    await rewriteArtifactJson(ctx.outDir, (record) => {
      const layouts: Record<string, string> = record.signature.inputLayouts ?? {};
      for (const name of Object.keys(layouts)) layouts[name] = 'NCHW';
      if (Object.keys(layouts).length === 0) layouts['serving_default_input:0'] = 'NCHW';
      record.signature.inputLayouts = layouts;
      // The I/O contract's permutation wins over layout letters: spoil it the same way (same axes).
      record.signature.inputPerms = Object.fromEntries(Object.keys(layouts).map((name) => [name, [0, 1, 2, 3]]));
    });
  }
  return result;
};

export const runners: StepRunners = {
  fetch: runFetchStep,
  prepare: runPrepareStep,
  'convert-run': runConvertRunStep,
  convert: spoilingConvert,
  reference: runReferenceStep,
  validate: runValidateStep,
  benchmark: runBenchmarkStep,
  package: runPackageStep,
};
