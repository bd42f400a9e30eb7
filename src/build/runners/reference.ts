/**
 * The reference step: the source model run by its own runtime (onnxruntime-node or LiteRT for
 * file sources, PyTorch through the torch worker) on the recipe's validation samples, once per
 * model. Its outputs (`index.json` + one `.npy` per output, see saveOutputs) are what every
 * validate step of the model compares its artifact with. Being a step, the outputs live in the
 * build cache under a fingerprint that covers the source, the samples, the preprocessing and
 * the reference runtime's version.
 */
import path from 'node:path';
import { EdgezooError } from '../../errors.js';
import type { PlannedStepOf, ReferenceParams } from '../../plan/index.js';
import type { Recipe } from '../../recipe/types.js';
import { loadSamples, runReference, saveOutputs, WorkerModelRunner, type ModelRunner } from '../../validate/index.js';
import type { StepContext, StepResult } from '../types.js';
import { FETCHED_FILE_NAMES } from './fetch.js';
import { torchSourceOf } from './prepare.js';
import { stepWorker } from './validate.js';

/**
 * The recipe as a reference or validate step's params describe it: only what is in the
 * fingerprint reaches the sample loader and the runners.
 */
export function referenceRecipe(recipe: Recipe, params: ReferenceParams): Recipe {
  return {
    ...recipe,
    inputs: params.inputs,
    outputs: params.outputs,
    preprocess: params.preprocess,
    validation: { ...recipe.validation, ...params.samples },
  };
}

/** The reference step runner (see the module comment). */
export async function runReferenceStep(step: PlannedStepOf<'reference'>, ctx: StepContext): Promise<StepResult> {
  const params = step.params;
  const fetchDir = step.deps.length > 0 ? ctx.inputs[step.deps[0]!]?.dir : undefined;
  const recipe = referenceRecipe(ctx.recipe, params);
  const samples = await loadSamples(recipe, ctx.projectRoot, 'validation');
  if (samples.synthetic)
    ctx.log(`no validation samples: ${samples.samples.length} seeded random inputs (seed ${params.samples.seed})`);
  const { runner, modelPath } = referenceRunner(params, fetchDir, ctx);
  ctx.log(
    `reference: running the ${params.source.kind} source on ${samples.samples.length} samples in ${runner.runtime}`,
  );
  await runner.load(modelPath);
  try {
    const outputs = await runReference(runner, samples, recipe);
    await saveOutputs(ctx.outDir, outputs);
    return {
      status: 'ok',
      figures: { samples: samples.samples.length, synthetic: samples.synthetic, outputs: Object.keys(outputs).length },
    };
  } finally {
    await runner.dispose();
  }
}

function referenceRunner(
  params: ReferenceParams,
  fetchDir: string | undefined,
  ctx: StepContext,
): { runner: ModelRunner; modelPath: string } {
  const source = params.source;
  if (source.kind === 'pytorch') {
    const runner = new WorkerModelRunner('pytorch', stepWorker('torch', ctx), {
      torchSource: torchSourceOf(params, ctx.projectRoot, fetchDir),
    });
    return { runner, modelPath: source.factory.file };
  }
  if (!fetchDir)
    throw new EdgezooError('STEP_INPUT_MISSING', `${params.model}: no fetched source to run as the reference`);
  // A file source runs in the runtime of its own format.
  const runner = ctx.catalogue.requireFormat(source.kind).runtime.open({ worker: (env) => stepWorker(env, ctx) }, 1);
  return { runner, modelPath: path.join(fetchDir, FETCHED_FILE_NAMES[source.kind]) };
}
